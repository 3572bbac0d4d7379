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
