//! Pure retry policy helpers for the HTTP layer, which owns the clock and the randomness
//! so that these stay deterministic and testable.

/// How long a `Retry-After` header asks to wait, in milliseconds from `now_ms` (Unix
/// epoch milliseconds, as `Date.now()` gives). Accepts delta-seconds and the IMF-fixdate
/// form of HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form RFC 9110 lets
/// senders generate; the obsolete RFC 850 and asctime forms are not parsed and yield
/// `None`, as does anything unparseable. A date already past yields `Some(0)`.
pub fn retry_after_ms(header_value: &str, now_ms: f64) -> Option<u64> {
    let value = header_value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Saturating, so an absurd value means "very long", never a wrapped short wait.
        let seconds = value.bytes().fold(0u64, |n, b| {
            n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
        });
        return Some(seconds.saturating_mul(1000));
    }
    let at_ms = imf_fixdate_ms(value)?;
    if !now_ms.is_finite() {
        return None;
    }
    let wait = (at_ms as f64 - now_ms).ceil();
    // `as` saturates for out-of-range floats; the `max` turns a past date into zero.
    Some(wait.max(0.0) as u64)
}

/// Exponential backoff with full jitter: a uniform wait in `[0, min(max_ms, base_ms *
/// 2^attempt))`, `attempt` counting from 0. Full jitter spreads out clients that failed
/// together (say, every tenant hitting the same 529) instead of retrying in lockstep.
/// `random01` is a draw from `[0, 1)`; out-of-range or NaN draws are clamped.
pub fn backoff_ms(attempt: u32, base_ms: u64, max_ms: u64, random01: f64) -> u64 {
    let factor = 1u64.checked_shl(attempt).unwrap_or(u64::MAX);
    let cap = base_ms.saturating_mul(factor).min(max_ms);
    let r = if random01.is_nan() {
        0.0
    } else {
        random01.clamp(0.0, 1.0)
    };
    ((cap as f64 * r) as u64).min(cap)
}

/// Statuses worth retrying: request timeout, conflict (OpenAI's transient lock
/// contention), rate limiting, and server errors (including Anthropic's 529 overloaded).
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429 | 500..=599)
}

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Sun, 06 Nov 1994 08:49:37 GMT` to Unix epoch milliseconds.
fn imf_fixdate_ms(s: &str) -> Option<i64> {
    // `str::get` rather than indexing: it returns None on a non-ASCII boundary.
    let field = |a: usize, b: usize| s.get(a..b);
    let number = |a: usize, b: usize| -> Option<i64> {
        let digits = field(a, b)?;
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    if s.len() != 29
        || !DAY_NAMES.contains(&field(0, 3)?)
        || field(3, 5)? != ", "
        || field(7, 8)? != " "
        || field(11, 12)? != " "
        || field(16, 17)? != " "
        || field(19, 20)? != ":"
        || field(22, 23)? != ":"
        || field(25, 29)? != " GMT"
    {
        return None;
    }
    let day = number(5, 7)?;
    let month = MONTHS.iter().position(|m| Some(*m) == field(8, 11))? as i64 + 1;
    let year = number(12, 16)?;
    let (hour, minute, second) = (number(17, 19)?, number(20, 22)?, number(23, 25)?);
    // Second 60 is a leap second, which RFC 9110's grammar allows.
    if day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((((days * 24 + hour) * 60 + minute) * 60 + second) * 1000)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm:
/// shift the year to start in March so the leap day is last, then count eras of 400y).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests;
