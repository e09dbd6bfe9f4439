//! `rate_limit` of a channel: a sliding window in front of it.
//!
//! `rate_limit: N/per` means what it says: at most N sends start in any interval of length
//! `per` (a burst of up to N passes at once). A token bucket refilling at N/per would let up
//! to 2N−1 through in one interval (a full bucket, then the tokens that come back), which is
//! what providers such as Slack's one-message-per-second webhooks refuse.
//!
//! A send that finds the window full **waits** for its turn when that is at most
//! [`MAX_WAIT`] away (short enough to stay well inside a delivery's lease), and otherwise is
//! **rescheduled**: the attempt returns `Retry` with `retry_after` set to when a slot will be
//! free, without sending and without taking a slot. Nothing is dropped: a rescheduled delivery
//! stays pending in the store.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use signalbox_config::{ChannelType, RateLimit};

use super::{Answer, Channel, Notification};
use crate::outcome::AttemptOutcome;

/// Longest in-process wait for a slot; beyond it the delivery is rescheduled.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// The start times of the last `count` sends (some possibly still waiting for their time);
/// the next send may start `per` after the oldest of them.
#[derive(Debug)]
pub struct SlidingWindow {
    count: usize,
    per: Duration,
    /// Non-decreasing; at most `count` entries.
    sends: Mutex<VecDeque<Instant>>,
}

impl SlidingWindow {
    /// An empty window for `limit`.
    pub fn new(limit: RateLimit) -> SlidingWindow {
        let count = limit.count.max(1) as usize;
        SlidingWindow {
            count,
            per: limit.per,
            sends: Mutex::new(VecDeque::with_capacity(count)),
        }
    }

    /// Takes a slot at `now` if one is free within `max_wait`: `Ok(wait)` (sleep that long,
    /// the slot is yours), or `Err(until)` (no slot taken; one is free after `until`).
    pub fn reserve(&self, now: Instant, max_wait: Duration) -> Result<Duration, Duration> {
        let mut sends = self.sends.lock().unwrap_or_else(|e| e.into_inner());
        let mut at = now;
        if sends.len() >= self.count
            && let Some(oldest) = sends.get(sends.len() - self.count)
        {
            at = at.max(*oldest + self.per);
        }
        if let Some(last) = sends.back() {
            at = at.max(*last);
        }
        let wait = at - now;
        if wait > max_wait {
            return Err(wait);
        }
        sends.push_back(at);
        while sends.len() > self.count {
            sends.pop_front();
        }
        Ok(wait)
    }
}

/// A channel behind a [`SlidingWindow`].
pub struct RateLimited {
    inner: std::sync::Arc<dyn Channel>,
    window: SlidingWindow,
}

impl RateLimited {
    /// Wraps `inner`.
    pub fn new(inner: std::sync::Arc<dyn Channel>, window: SlidingWindow) -> RateLimited {
        RateLimited { inner, window }
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
        match self.window.reserve(Instant::now(), MAX_WAIT) {
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

    fn bucket(count: u32, per_secs: u64) -> SlidingWindow {
        SlidingWindow::new(RateLimit {
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
        // The fourth waits for the first to leave the window.
        assert_eq!(b.reserve(t0, Duration::ZERO), Err(Duration::from_secs(3)));
    }

    #[test]
    fn never_more_than_count_in_any_interval() {
        let b = bucket(2, 1);
        let t0 = Instant::now();
        let starts: Vec<Duration> = (0..7).map(|_| b.reserve(t0, MAX_WAIT).unwrap()).collect();
        let ms: Vec<u128> = starts.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 0, 1000, 1000, 2000, 2000, 3000]);
        for (i, start) in starts.iter().enumerate().skip(2) {
            assert!(*start >= starts[i - 2] + Duration::from_secs(1));
        }
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
