// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn spec(requests: f64, per_ms: f64, burst: Option<f64>) -> RateSpec {
    RateSpec {
        requests,
        per_ms,
        burst,
    }
}

#[test]
fn bursts_then_refills_at_the_sustained_rate_with_an_exact_retry_after() {
    let rule = RateRule::new(&spec(2.0, 1000.0, Some(3.0)), "r").unwrap();
    let mut b = TokenBucket::full(&rule, 0.0);
    for _ in 0..3 {
        b.take(&rule, 0.0).unwrap();
    }
    // Two per second: the next token is 500 ms away.
    assert_eq!(
        b.take(&rule, 0.0),
        Err(RateLimited {
            retry_after_ms: 500,
            scope: Scope::User,
        })
    );
    assert_eq!(
        b.take(&rule, 400.0),
        Err(RateLimited {
            retry_after_ms: 100,
            scope: Scope::User,
        })
    );
    b.take(&rule, 500.0).unwrap();
    assert!(!b.is_full_at(&rule, 1000.0));
    assert!(b.is_full_at(&rule, 2000.0));
    // Time going backwards refills nothing.
    assert!(b.take(&rule, 0.0).is_err());
}

#[test]
fn burst_defaults_to_requests() {
    let rule = RateRule::new(&spec(2.0, 1000.0, None), "r").unwrap();
    let mut b = TokenBucket::full(&rule, 0.0);
    assert!(b.take(&rule, 0.0).is_ok() && b.take(&rule, 0.0).is_ok());
    assert!(b.take(&rule, 0.0).is_err());
}

#[test]
fn refuses_bad_specs_naming_the_field() {
    let field = |s: RateSpec| {
        RateRule::new(&s, "rateLimit.perUser")
            .unwrap_err()
            .details()["field"]
            .clone()
    };
    assert_eq!(field(spec(0.0, 1000.0, None)), "rateLimit.perUser.requests");
    assert_eq!(
        field(spec(f64::NAN, 1000.0, None)),
        "rateLimit.perUser.requests"
    );
    assert_eq!(field(spec(1.5, 1000.0, None)), "rateLimit.perUser.requests");
    assert_eq!(field(spec(1.0, 0.0, None)), "rateLimit.perUser.perMs");
    assert_eq!(
        field(spec(1.0, f64::INFINITY, None)),
        "rateLimit.perUser.perMs"
    );
    assert_eq!(
        field(spec(1.0, 10.0, Some(-1.0))),
        "rateLimit.perUser.burst"
    );
}
