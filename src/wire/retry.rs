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
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const NOV_6_1994: f64 = 784_111_777_000.0; // Sun, 06 Nov 1994 08:49:37 GMT

    #[test]
    fn delta_seconds_become_milliseconds() {
        assert_eq!(retry_after_ms("0", 0.0), Some(0));
        assert_eq!(retry_after_ms("30", 0.0), Some(30_000));
        assert_eq!(retry_after_ms(" 2 ", 1e12), Some(2_000));
        assert_eq!(
            retry_after_ms("99999999999999999999999", 0.0),
            Some(u64::MAX)
        );
        for bad in ["", " ", "-1", "1.5", "+3", "3s", "٣", "soon"] {
            assert_eq!(retry_after_ms(bad, 0.0), None, "{bad:?}");
        }
    }

    #[test]
    fn imf_fixdates_are_relative_to_now() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(retry_after_ms(date, NOV_6_1994 - 5_000.0), Some(5_000));
        assert_eq!(retry_after_ms(date, NOV_6_1994 - 0.4), Some(1));
        assert_eq!(retry_after_ms(date, NOV_6_1994 + 60_000.0), Some(0));
        assert_eq!(retry_after_ms(date, f64::NAN), None);
        assert_eq!(
            retry_after_ms("Thu, 01 Jan 1970 00:00:00 GMT", -1_000.0),
            Some(1_000)
        );
        // Leap days, the 400-year rule and the year-end boundary.
        assert_eq!(
            imf_fixdate_ms("Tue, 29 Feb 2000 00:00:00 GMT"),
            Some(951_782_400_000)
        );
        assert_eq!(
            imf_fixdate_ms("Wed, 31 Dec 2025 23:59:59 GMT"),
            Some(1_767_225_599_000)
        );
        assert_eq!(
            imf_fixdate_ms("Thu, 01 Jan 2026 00:00:00 GMT"),
            Some(1_767_225_600_000)
        );
    }

    #[test]
    fn other_date_forms_and_impossible_dates_are_refused() {
        for bad in [
            "Sunday, 06-Nov-94 08:49:37 GMT", // RFC 850
            "Sun Nov  6 08:49:37 1994",       // asctime
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Mon, 29 Feb 2100 00:00:00 GMT",
            "Sun, 31 Apr 2024 00:00:00 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov +994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMTé",
            "Sün, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(retry_after_ms(bad, 0.0), None, "{bad:?}");
        }
    }

    #[test]
    fn backoff_grows_exponentially_within_the_cap() {
        let almost_one = 0.999_999;
        assert_eq!(backoff_ms(0, 500, 60_000, almost_one), 499);
        assert_eq!(backoff_ms(1, 500, 60_000, almost_one), 999);
        assert_eq!(backoff_ms(3, 500, 60_000, almost_one), 3_999);
        assert_eq!(backoff_ms(3, 500, 60_000, 0.5), 2_000);
        assert_eq!(backoff_ms(10, 500, 60_000, almost_one), 59_999);
        assert_eq!(backoff_ms(3, 500, 60_000, 0.0), 0);
    }

    #[test]
    fn backoff_never_overflows_and_clamps_bad_draws() {
        for attempt in [63, 64, 65, 1_000, u32::MAX] {
            assert_eq!(backoff_ms(attempt, 500, 30_000, 0.5), 15_000);
            assert_eq!(backoff_ms(attempt, u64::MAX, u64::MAX, 1.0), u64::MAX);
        }
        assert_eq!(backoff_ms(2, 100, 10_000, f64::NAN), 0);
        assert_eq!(backoff_ms(2, 100, 10_000, -3.0), 0);
        assert_eq!(backoff_ms(2, 100, 10_000, 7.0), 400);
        assert_eq!(backoff_ms(2, 100, 10_000, f64::INFINITY), 400);
        assert_eq!(backoff_ms(5, 0, 10_000, 0.9), 0);
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 409, 429, 500, 502, 503, 504, 529, 599] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 301, 400, 401, 403, 404, 413, 422, 600, 0] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }
}
