//! Per-user request rate: a token bucket refilled continuously.

use super::error::{BudgetError, RateLimited};
use super::limit::{show, RateSpec};
use super::MAX_SAFE_INTEGER;

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
        })
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
mod tests {
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
                retry_after_ms: 500
            })
        );
        assert_eq!(
            b.take(&rule, 400.0),
            Err(RateLimited {
                retry_after_ms: 100
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
}
