//! Retry timing: exponential backoff with jitter, and the give-up rule. Pure functions.

use std::time::Duration;

/// Retry settings of one target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts before giving up (1 = no retry).
    pub max_attempts: u32,
    /// Time after creation (or manual retry) after which no attempt is made.
    pub max_age: Duration,
    /// Delay before the second attempt.
    pub initial_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
}

/// The delay after failed attempt number `attempt` (1-based): `initial * 2^(attempt-1)` capped
/// at `max`, then "equal jitter" — half fixed, half random — so that a burst of failures does
/// not retry in lockstep while no retry comes sooner than half the nominal delay.
/// `unit` is a random number in [0, 1).
pub fn backoff(policy: &RetryPolicy, attempt: u32, unit: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(32);
    let nominal = policy
        .initial_backoff
        .saturating_mul(1u32 << exp.min(31))
        .min(policy.max_backoff);
    let half = nominal / 2;
    half + half.mul_f64(unit.clamp(0.0, 1.0))
}

/// What to do after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after this delay.
    After(Duration),
    /// Attempts exhausted.
    OutOfAttempts,
    /// The next attempt would come after `max_age`.
    TooOld,
}

/// Decides the retry after transient failure number `attempts` (attempts made so far, ≥ 1).
/// `age` is the time since the delivery's age origin; `retry_after` is the server's wish.
pub fn decide(
    policy: &RetryPolicy,
    attempts: u32,
    age: Duration,
    retry_after: Option<Duration>,
    unit: f64,
) -> RetryDecision {
    if attempts >= policy.max_attempts {
        return RetryDecision::OutOfAttempts;
    }
    let delay = retry_after.unwrap_or_else(|| backoff(policy, attempts, unit));
    if age.saturating_add(delay) > policy.max_age {
        return RetryDecision::TooOld;
    }
    RetryDecision::After(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            max_age: Duration::from_secs(3600),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }

    #[test]
    fn grows_and_caps() {
        let p = policy();
        assert_eq!(backoff(&p, 1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(&p, 1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(&p, 3, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(&p, 30, 1.0), Duration::from_secs(60));
        assert_eq!(backoff(&p, u32::MAX, 0.5), Duration::from_secs(45));
    }

    #[test]
    fn jitter_stays_in_band() {
        let p = policy();
        for i in 0..100 {
            let d = backoff(&p, 4, i as f64 / 100.0);
            assert!(
                d >= Duration::from_secs(4) && d <= Duration::from_secs(8),
                "{d:?}"
            );
        }
    }

    #[test]
    fn gives_up() {
        let p = policy();
        assert_eq!(
            decide(&p, 5, Duration::ZERO, None, 0.0),
            RetryDecision::OutOfAttempts
        );
        assert_eq!(
            decide(
                &p,
                1,
                Duration::from_secs(3599),
                Some(Duration::from_secs(2)),
                0.0
            ),
            RetryDecision::TooOld
        );
        assert_eq!(
            decide(&p, 1, Duration::ZERO, Some(Duration::from_secs(7)), 0.0),
            RetryDecision::After(Duration::from_secs(7))
        );
    }
}
