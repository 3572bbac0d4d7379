//! Facts about one user, bi-temporal: when each was true in the world (`validFrom` up to
//! `validUntil`) and when the agent believed it (`recordedAt` up to `supersededAt`). A new
//! value for a (subject, predicate) closes the old value's validity and supersedes the
//! old record instead of rewriting it, so both "what was true at T" and "what did we know
//! at T" keep their answers. Records leave only by `forget`, or, past the per-user bound,
//! the oldest superseded ones first.

use crate::error::{Error, Result};
use crate::limits::{MAX_FACT_OBJECT_BYTES, MAX_FACT_RECORDS, MAX_FACT_TERM_BYTES};
use serde::{Deserialize, Serialize};

/// One record: a value of (subject, predicate) over a stretch of valid time, as believed
/// over a stretch of recorded time. Also the stored and exported form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fact {
    pub subject: String,
    pub predicate: String,
    pub object: String,
    pub valid_from: f64,
    pub valid_until: Option<f64>,
    pub recorded_at: f64,
    pub superseded_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What a host (or the memory tools) asks to remember.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewFact {
    pub subject: String,
    pub predicate: String,
    pub object: String,
    /// When it became true; now when absent.
    pub valid_from: Option<f64>,
    pub source: Option<String>,
}

/// Which records a read returns. Without `known_at`, what is believed now (superseded
/// records left out); without `valid_at`, every stretch of valid time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FactQuery {
    pub valid_at: Option<f64>,
    pub known_at: Option<f64>,
    pub subject: Option<String>,
    pub predicate: Option<String>,
}

impl FactQuery {
    /// A time that is not a finite number selects nothing rather than everything: refused.
    pub fn check(&self) -> Result<()> {
        if let Some(t) = self.valid_at {
            check_time("validAt", t)?;
        }
        if let Some(t) = self.known_at {
            check_time("knownAt", t)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    records: Vec<Fact>,
}

fn invalid(reason: String) -> Error {
    Error::InvalidInput { reason }
}

fn check_term(what: &str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() || value.len() > max {
        return Err(invalid(format!(
            "a fact's {what} must be 1 to {max} bytes of text, got {} bytes",
            value.len()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "a fact's {what} must not contain control characters"
        )));
    }
    Ok(())
}

fn check_time(what: &str, t: f64) -> Result<()> {
    if !t.is_finite() {
        return Err(invalid(format!(
            "a fact's {what} must be a finite time in ms, got {t}"
        )));
    }
    Ok(())
}

impl Fact {
    fn is_key(&self, subject: &str, predicate: &str) -> bool {
        self.subject == subject && self.predicate == predicate
    }

    pub fn known_at(&self, t: f64) -> bool {
        self.recorded_at <= t && self.superseded_at.is_none_or(|s| s > t)
    }

    pub fn valid_at(&self, t: f64) -> bool {
        self.valid_from <= t && self.valid_until.is_none_or(|u| u > t)
    }

    fn check(&self) -> Result<()> {
        check_term("subject", &self.subject, MAX_FACT_TERM_BYTES)?;
        check_term("predicate", &self.predicate, MAX_FACT_TERM_BYTES)?;
        check_term("object", &self.object, MAX_FACT_OBJECT_BYTES)?;
        if let Some(s) = &self.source {
            check_term("source", s, MAX_FACT_TERM_BYTES)?;
        }
        check_time("validFrom", self.valid_from)?;
        check_time("recordedAt", self.recorded_at)?;
        if let Some(u) = self.valid_until {
            check_time("validUntil", u)?;
            if u <= self.valid_from {
                return Err(invalid(
                    "a fact's validUntil must follow its validFrom".into(),
                ));
            }
        }
        if let Some(s) = self.superseded_at {
            check_time("supersededAt", s)?;
            if s < self.recorded_at {
                return Err(invalid(
                    "a fact's supersededAt must not precede its recordedAt".into(),
                ));
            }
        }
        Ok(())
    }
}

impl Facts {
    /// Records as stored or imported, each checked: a document cannot smuggle in what
    /// `remember` would refuse.
    pub fn from_records(records: Vec<Fact>) -> Result<Facts> {
        if records.len() > MAX_FACT_RECORDS {
            return Err(invalid(format!(
                "{} fact records; the limit is {MAX_FACT_RECORDS}",
                records.len()
            )));
        }
        for f in &records {
            f.check()?;
        }
        Ok(Facts { records })
    }

    pub fn records(&self) -> &[Fact] {
        &self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records after remembering `new` at `now`, computed without changing these (so
    /// a storage write can go first), and the record now current for its key; `None` when
    /// the same value is already current, which changes nothing.
    pub fn with(&self, new: NewFact, now: f64) -> Result<Option<(Facts, Fact)>> {
        let valid_from = new.valid_from.unwrap_or(now);
        let fact = Fact {
            subject: new.subject,
            predicate: new.predicate,
            object: new.object,
            valid_from,
            valid_until: None,
            recorded_at: now,
            superseded_at: None,
            source: new.source,
        };
        fact.check()?;
        let open = self.records.iter().position(|f| {
            f.is_key(&fact.subject, &fact.predicate)
                && f.superseded_at.is_none()
                && f.valid_until.is_none()
        });
        let mut records = self.records.clone();
        if let Some(i) = open {
            let old = &mut records[i];
            if old.object == fact.object {
                return Ok(None);
            }
            old.superseded_at = Some(now);
            // The old value held until the new one began; a new value that began before
            // the old one corrects it outright, leaving no stretch where the old held.
            if valid_from > old.valid_from {
                let closed = Fact {
                    valid_until: Some(valid_from),
                    recorded_at: now,
                    superseded_at: None,
                    ..old.clone()
                };
                records.push(closed);
            }
        }
        records.push(fact.clone());
        prune(&mut records)?;
        Ok(Some((Facts { records }, fact)))
    }

    /// The records after withdrawing the current value of (subject, predicate): superseded
    /// at `now`, not deleted. `None` when nothing is current for that key.
    pub fn without(&self, subject: &str, predicate: &str, now: f64) -> Option<Facts> {
        let mut records = self.records.clone();
        let mut changed = false;
        for f in records
            .iter_mut()
            .filter(|f| f.is_key(subject, predicate) && f.known_at(now) && f.valid_until.is_none())
        {
            f.superseded_at = Some(now);
            changed = true;
        }
        changed.then_some(Facts { records })
    }

    /// The records a query selects, in the order they were recorded.
    pub fn query(&self, q: &FactQuery, now: f64) -> Vec<&Fact> {
        let known_at = q.known_at.unwrap_or(now);
        self.records
            .iter()
            .filter(|f| {
                f.known_at(known_at)
                    && q.valid_at.is_none_or(|t| f.valid_at(t))
                    && q.subject.as_deref().is_none_or(|s| f.subject == s)
                    && q.predicate.as_deref().is_none_or(|p| f.predicate == p)
            })
            .collect()
    }

    /// What is believed now to be true now: what a prompt is told, newest first.
    pub fn current(&self, now: f64) -> impl Iterator<Item = &Fact> {
        self.records
            .iter()
            .rev()
            .filter(move |f| f.known_at(now) && f.valid_at(now))
    }

    pub fn approx_bytes(&self) -> usize {
        self.records
            .iter()
            .map(|f| {
                96 + f.subject.len()
                    + f.predicate.len()
                    + f.object.len()
                    + f.source.as_ref().map_or(0, String::len)
            })
            .sum()
    }
}

/// Keeps a user's records within the bound by dropping the oldest superseded ones; refuses
/// when what is still believed alone is over it.
fn prune(records: &mut Vec<Fact>) -> Result<()> {
    let over = records.len().saturating_sub(MAX_FACT_RECORDS);
    if over == 0 {
        return Ok(());
    }
    let mut superseded: Vec<(f64, usize)> = records
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.superseded_at.map(|s| (s, i)))
        .collect();
    if superseded.len() < over {
        return Err(invalid(format!(
            "this user already has {} facts believed now; the limit is {MAX_FACT_RECORDS} records",
            records.len() - superseded.len() - 1
        )));
    }
    superseded.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut drop: Vec<usize> = superseded[..over].iter().map(|&(_, i)| i).collect();
    drop.sort_unstable();
    let mut k = 0;
    let mut i = 0;
    records.retain(|_| {
        let gone = drop.get(k) == Some(&i);
        if gone {
            k += 1;
        }
        i += 1;
        !gone
    });
    Ok(())
}

#[cfg(test)]
mod tests;
