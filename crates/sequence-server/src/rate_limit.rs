//! Per-key rate limiting: a token bucket per API key (`governor`'s GCRA, which is a token bucket
//! without a refill timer), *N* requests of burst refilled at *N* per minute, as Sequence's
//! Platform v1 API does (100 per minute there, and by default here).
//!
//! **Where it sits.** [`crate::keyed`] checks the bucket right after the key is verified and
//! before the generated router validates anything, so an over-limit request costs one hash and
//! one atomic update, and has no effect. Requests without a valid key are not counted: they are
//! answered `401` before reaching a bucket.
//!
//! **Replicas.** Buckets live in this process's memory. With *R* replicas behind a load balancer
//! a key may make up to *R* × *N* requests per minute in total; the spec and README say so, and
//! `tests/api/limits.rs` shows two replicas over one database keeping separate buckets. Sharing
//! buckets through PostgreSQL would put a write on every request's path; an operator who needs a
//! global limit sets `--rate-limit` to *N* / *R*.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use sequence_core::ids::ApiKeyId;

type Limiter = RateLimiter<
    ApiKeyId,
    DefaultKeyedStateStore<ApiKeyId>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// The default limit: requests per minute per key.
pub const DEFAULT_PER_MINUTE: u32 = 100;

/// The buckets of every key. Cheap to clone.
#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<Limiter>,
    per_minute: NonZeroU32,
}

/// What a request may still do, for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// `RateLimit-Limit`: the bucket's size (= requests per minute).
    pub limit: u32,
    /// `RateLimit-Remaining`: tokens left after this request.
    pub remaining: u32,
    /// `RateLimit-Reset`: whole seconds until the bucket is full again.
    pub reset_seconds: u64,
}

/// A refused request: its allowance (remaining 0) and how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The headers every response carries.
    pub allowance: Allowance,
    /// `Retry-After`: whole seconds until one more request is accepted (at least 1).
    pub retry_after_seconds: u64,
}

impl RateLimit {
    /// `per_minute` requests per minute per key; `None` when it is 0 (limiting off).
    pub fn per_minute(per_minute: u32) -> Option<RateLimit> {
        let per_minute = NonZeroU32::new(per_minute)?;
        let limiter = RateLimiter::keyed(Quota::per_minute(per_minute))
            .with_middleware::<StateInformationMiddleware>();
        Some(RateLimit { limiter: Arc::new(limiter), per_minute })
    }

    /// Takes a token from `key`'s bucket.
    pub fn check(&self, key: &ApiKeyId) -> Result<Allowance, Refusal> {
        let limit = self.per_minute.get();
        let refill = self.refill_interval();
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let missing = limit.saturating_sub(remaining);
                Ok(Allowance { limit, remaining, reset_seconds: ceil_seconds(refill * missing) })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                // Empty bucket: full again after `wait` plus `limit - 1` more refills.
                let full = wait + refill * (limit - 1);
                Err(Refusal {
                    allowance: Allowance { limit, remaining: 0, reset_seconds: ceil_seconds(full) },
                    retry_after_seconds: ceil_seconds(wait).max(1),
                })
            }
        }
    }

    /// Forgets the buckets of keys that are full again (they would start full anyway), so memory
    /// stays bounded by the keys active within the last minute.
    pub fn forget_idle_keys(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    fn refill_interval(&self) -> Duration {
        Duration::from_secs(60) / self.per_minute.get()
    }
}

fn ceil_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

impl Allowance {
    /// Writes `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset_seconds));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_the_limit_then_refuses_with_a_wait() {
        let limit = RateLimit::per_minute(3).expect("on");
        let key = ApiKeyId::from_raw("key_a");
        let remaining: Vec<u32> =
            (0..3).map(|_| limit.check(&key).expect("within the burst").remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limit.check(&key).expect_err("the fourth is over the limit");
        assert_eq!(refused.allowance.remaining, 0);
        assert_eq!(refused.allowance.limit, 3);
        // One token comes back every 20 s.
        assert!((1..=20).contains(&refused.retry_after_seconds), "{refused:?}");
        assert!((41..=60).contains(&refused.allowance.reset_seconds), "{refused:?}");
    }

    #[test]
    fn the_default_refuses_the_101st_request_of_a_burst() {
        let limit = RateLimit::per_minute(DEFAULT_PER_MINUTE).expect("on");
        let key = ApiKeyId::from_raw("key_a");
        for n in 1..=100 {
            assert_eq!(limit.check(&key).map(|a| a.remaining), Ok(100 - n));
        }
        let refused = limit.check(&key).expect_err("the 101st");
        // One token comes back every 0.6 s.
        assert_eq!(refused.retry_after_seconds, 1);
        assert_eq!(refused.allowance.reset_seconds, 60);
    }

    #[test]
    fn keys_have_separate_buckets_and_zero_turns_limiting_off() {
        assert!(RateLimit::per_minute(0).is_none());
        let limit = RateLimit::per_minute(1).expect("on");
        assert!(limit.check(&ApiKeyId::from_raw("key_a")).is_ok());
        assert!(limit.check(&ApiKeyId::from_raw("key_a")).is_err());
        assert!(limit.check(&ApiKeyId::from_raw("key_b")).is_ok());
    }
}
