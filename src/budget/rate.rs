//! Per-user request rate: a token bucket refilled continuously.

use super::config::RateSpec;
use super::error::{BudgetError, RateLimited, Scope};
use super::field::{show, MAX_SAFE_INTEGER};

const TOKEN_EPSILON: f64 = 1e-9;

/// A validated `rateLimit.perUser`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RateRule {
    capacity: f64,
    /// Tokens regained per millisecond.
    per_ms: f64,
}

impl RateRule {
    pub fn new(spec: &RateSpec, path: &str) -> Result<Self, BudgetError> {
        let whole = |field: &str, v: f64| {
            if v.is_finite() && v.fract() == 0.0 && (1.0..=MAX_SAFE_INTEGER).contains(&v) {
                Ok(v)
            } else {
                Err(BudgetError::config(
                    format!("{path}.{field}"),
                    format!("must be a whole number, at least 1, got {}", show(v)),
                ))
            }
        };
        let requests = whole("requests", spec.requests)?;
        if !(spec.per_ms.is_finite() && spec.per_ms > 0.0) {
            return Err(BudgetError::config(
                format!("{path}.perMs"),
                format!(
                    "must be a positive number of milliseconds, got {}",
                    show(spec.per_ms)
                ),
            ));
        }
        let capacity = match spec.burst {
            Some(b) => whole("burst", b)?,
            None => requests,
        };
        Ok(RateRule {
            capacity,
            per_ms: requests / spec.per_ms,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TokenBucket {
    pub tokens: f64,
    pub at: f64,
}

impl TokenBucket {
    pub fn full(rule: &RateRule, now: f64) -> Self {
        TokenBucket {
            tokens: rule.capacity,
            at: now,
        }
    }

    /// A bucket restored from a document: never above capacity, never in the future.
    pub fn restored(rule: &RateRule, tokens: f64, at: f64, now: f64) -> Self {
        TokenBucket {
            tokens: tokens.min(rule.capacity),
            at: at.min(now),
        }
    }

    fn refill(&mut self, rule: &RateRule, now: f64) {
        // `now` is monotonic and finite (the ledger sees to it), so this never goes NaN.
        if now > self.at {
            self.tokens = (self.tokens + (now - self.at) * rule.per_ms).min(rule.capacity);
            self.at = now;
        }
    }

    pub fn take(&mut self, rule: &RateRule, now: f64) -> Result<(), RateLimited> {
        self.refill(rule, now);
        // Float refill can land a hair under a whole token exactly when `retry_after_ms`
        // said it would be there; accept that hair rather than send the caller back.
        if self.tokens >= 1.0 - TOKEN_EPSILON {
            self.tokens = (self.tokens - 1.0).max(0.0);
            return Ok(());
        }
        let wait = ((1.0 - self.tokens) / rule.per_ms).ceil().max(1.0);
        Err(RateLimited {
            retry_after_ms: wait.min(MAX_SAFE_INTEGER) as u64,
            scope: Scope::User,
        })
    }

    /// Whether `take` would pass at `now`, without taking anything.
    pub fn check(&self, rule: &RateRule, now: f64) -> Result<(), RateLimited> {
        let mut b = *self;
        b.take(rule, now)
    }

    /// The bucket with fewer tokens at `now`, as it was recorded.
    pub fn tighter(self, other: TokenBucket, rule: &RateRule, now: f64) -> TokenBucket {
        let (mut a, mut b) = (self, other);
        a.refill(rule, now);
        b.refill(rule, now);
        if b.tokens < a.tokens {
            other
        } else {
            self
        }
    }

    pub fn is_full_at(&self, rule: &RateRule, now: f64) -> bool {
        let mut b = *self;
        b.refill(rule, now);
        b.tokens >= rule.capacity - TOKEN_EPSILON
    }
}

#[cfg(test)]
mod tests;
