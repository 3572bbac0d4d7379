//! Audit files: one entry per line (JSON Lines), as the host persists them and as
//! `verify-audit` reads them.
//!
//! Line rules, the same in `pkg-template/cli/verify-audit.mjs`: the bytes are split at
//! `\n`; one empty piece after a final `\n` is not a line; every other line, blank ones
//! included, must be UTF-8 holding one entry object that names no key twice in any of its
//! objects (see `parse`; `\r` before the `\n` is JSON whitespace, so CRLF files read the
//! same). Line `L` is entry index `L - 1`.

use super::entry::{seq_of, Entry};
use super::error::AuditError;
use super::parse::parse_json;
use super::verify::{broken, verify, BreakReason, VerifyReport};
use serde_json::Value;

/// Verifies a whole chain stored as JSON lines. A malformed line ends the walk there:
/// entries before it are verified first (so an earlier break is reported instead), and
/// the wrong-key heuristic looks at those entries only.
pub fn verify_jsonl(bytes: &[u8], key: &[u8]) -> VerifyReport {
    let mut entries = Vec::new();
    let mut malformed = None;
    for (i, line) in lines(bytes).enumerate() {
        match parse_line(line) {
            Ok(e) => entries.push(e),
            Err(detail) => {
                malformed = Some((i, seq_hint(line), detail));
                break;
            }
        }
    }
    let report = verify(&entries, key);
    match malformed {
        Some((i, seq, detail)) if report.ok => broken(i, seq, BreakReason::Malformed { detail }),
        _ => report,
    }
}

/// Reads every entry of a JSON-lines file (to resume from its last entry, or to show
/// it), refusing the first malformed line. This does not verify anything.
pub fn parse_jsonl(bytes: &[u8]) -> Result<Vec<Entry>, AuditError> {
    lines(bytes)
        .enumerate()
        .map(|(i, line)| {
            parse_line(line)
                .map_err(|e| AuditError::input(format!("line {}: malformed entry: {e}", i + 1)))
        })
        .collect()
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let empty = bytes.is_empty();
    body.split(|b| *b == b'\n').filter(move |_| !empty)
}

fn parse_line(line: &[u8]) -> Result<Entry, String> {
    let text = std::str::from_utf8(line).map_err(|_| "not valid UTF-8".to_owned())?;
    Entry::parse_line(text)
}

/// The `seq` of a line that is JSON but not a valid entry, for the report.
fn seq_hint(line: &[u8]) -> Option<u64> {
    let v = parse_json(std::str::from_utf8(line).ok()?).ok()?;
    match v.get("seq")? {
        Value::Number(n) => seq_of(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
