//! `rate_limit` of a channel: a token bucket in front of it.
//!
//! A send that finds the bucket empty **waits** for its turn when that is at most
//! [`MAX_WAIT`] away (short enough to stay well inside a delivery's lease), and otherwise is
//! **rescheduled**: the attempt returns `Retry` with `retry_after` set to when a token will be
//! free, without sending and without taking a token. Nothing is dropped: a rescheduled delivery
//! stays pending in the store.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use signalbox_config::{ChannelType, RateLimit};

use super::{Answer, Channel, Notification};
use crate::outcome::AttemptOutcome;

/// Longest in-process wait for a token; beyond it the delivery is rescheduled.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// A token bucket in its GCRA form: one "theoretical arrival time" instead of a token count.
/// `count` tokens per `per`, bursts of up to `count`.
#[derive(Debug)]
pub struct TokenBucket {
    /// Time one token takes to come back.
    interval: Duration,
    /// How far ahead of the schedule a burst may run.
    tolerance: Duration,
    /// When the bucket is next full again, roughly; `None` until first use.
    tat: Mutex<Option<Instant>>,
}

impl TokenBucket {
    /// A full bucket for `limit`.
    pub fn new(limit: RateLimit) -> TokenBucket {
        let interval = limit.per / limit.count.max(1);
        TokenBucket {
            interval,
            tolerance: interval * limit.count.saturating_sub(1),
            tat: Mutex::new(None),
        }
    }

    /// Takes a token at `now` if one is free within `max_wait`: `Ok(wait)` (sleep that long,
    /// the token is yours), or `Err(until)` (no token taken; one is free after `until`).
    pub fn reserve(&self, now: Instant, max_wait: Duration) -> Result<Duration, Duration> {
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        let current = tat.map_or(now, |t| t.max(now));
        let allowed_at = current.checked_sub(self.tolerance).unwrap_or(now).max(now);
        let wait = allowed_at - now;
        if wait > max_wait {
            return Err(wait);
        }
        *tat = Some(current + self.interval);
        Ok(wait)
    }
}

/// A channel behind a [`TokenBucket`].
pub struct RateLimited {
    inner: std::sync::Arc<dyn Channel>,
    bucket: TokenBucket,
}

impl RateLimited {
    /// Wraps `inner`.
    pub fn new(inner: std::sync::Arc<dyn Channel>, bucket: TokenBucket) -> RateLimited {
        RateLimited { inner, bucket }
    }
}

#[async_trait]
impl Channel for RateLimited {
    fn kind(&self) -> ChannelType {
        self.inner.kind()
    }

    fn preview(&self, notification: &Notification) -> Result<String, String> {
        self.inner.preview(notification)
    }

    async fn send(&self, notification: &Notification, key: &str) -> Answer {
        match self.bucket.reserve(Instant::now(), MAX_WAIT) {
            Ok(wait) => {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                self.inner.send(notification, key).await
            }
            Err(until) => {
                let error = format!(
                    "rate_limit reached; rescheduled in {}s",
                    until.as_secs_f64().ceil()
                );
                Answer {
                    response: error.clone(),
                    outcome: AttemptOutcome::Retry {
                        error,
                        status: None,
                        retry_after: Some(until),
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(count: u32, per_secs: u64) -> TokenBucket {
        TokenBucket::new(RateLimit {
            count,
            per: Duration::from_secs(per_secs),
        })
    }

    #[test]
    fn one_per_second_spaces_sends() {
        let b = bucket(1, 1);
        let t0 = Instant::now();
        assert_eq!(b.reserve(t0, MAX_WAIT), Ok(Duration::ZERO));
        assert_eq!(b.reserve(t0, MAX_WAIT), Ok(Duration::from_secs(1)));
        assert_eq!(b.reserve(t0, MAX_WAIT), Ok(Duration::from_secs(2)));
        // After the wait the schedule is back to normal.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.reserve(later, MAX_WAIT), Ok(Duration::ZERO));
    }

    #[test]
    fn bursts_up_to_count() {
        let b = bucket(3, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.reserve(t0, Duration::ZERO), Ok(Duration::ZERO));
        }
        assert_eq!(b.reserve(t0, Duration::ZERO), Err(Duration::from_secs(1)));
    }

    #[test]
    fn too_long_a_wait_takes_no_token() {
        let b = bucket(1, 60);
        let t0 = Instant::now();
        assert_eq!(b.reserve(t0, MAX_WAIT), Ok(Duration::ZERO));
        assert_eq!(b.reserve(t0, MAX_WAIT), Err(Duration::from_secs(60)));
        assert_eq!(b.reserve(t0, MAX_WAIT), Err(Duration::from_secs(60)));
        assert_eq!(
            b.reserve(t0 + Duration::from_secs(60), MAX_WAIT),
            Ok(Duration::ZERO)
        );
    }
}
