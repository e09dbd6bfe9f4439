//! The alert state machine: a pure function from (state, run succeeded?, now) to the next state
//! and the alert to send, if any.
//!
//! A check starts [`Health::Unknown`]. `failure_threshold` consecutive failures make it
//! [`Health::Failing`] and send [`Alert::Failed`] (from unknown too: a check that is down from
//! the start is an alert). `success_threshold` consecutive successes make it
//! [`Health::Healthy`]; that sends [`Alert::Recovered`] only when it was failing, because
//! nothing was announced for an unknown check. While failing, [`Alert::Reminder`] is sent every
//! `remind_every` (measured from the last alert sent).

use std::time::Duration;

/// What is known about a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    /// Not enough runs yet to say (the start state).
    #[default]
    Unknown,
    /// `success_threshold` consecutive successes since the last failing state (or the start).
    Healthy,
    /// `failure_threshold` consecutive failures; `Check Failed` was sent.
    Failing,
}

impl Health {
    /// Reads [`Health::as_str`] back; anything else is `Unknown`.
    pub fn parse(text: &str) -> Health {
        match text {
            "healthy" => Health::Healthy,
            "failing" => Health::Failing,
            _ => Health::Unknown,
        }
    }

    /// Lowercase name for events and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Healthy => "healthy",
            Health::Failing => "failing",
        }
    }
}

/// An alert decided by a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// The check became failing.
    Failed,
    /// A failing check became healthy.
    Recovered,
    /// The check is still failing and `remind_every` has passed since the last alert.
    Reminder,
}

impl Alert {
    /// The event's `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            Alert::Failed => "Check Failed",
            Alert::Recovered => "Check Recovered",
            Alert::Reminder => "Check Reminder",
        }
    }
}

/// A check's thresholds, from its config. Both counts are at least 1 after loading; 0 is taken
/// as 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive failures that make a check failing.
    pub failure: u32,
    /// Consecutive successes that make a check healthy.
    pub success: u32,
    /// Reminder period while failing; none when `None`.
    pub remind_every: Option<Duration>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            failure: 3,
            success: 2,
            remind_every: None,
        }
    }
}

/// One check's alert state. Small and `Copy` so it can be persisted as a row later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AlertState {
    /// Current health.
    pub health: Health,
    /// Failed runs in a row (0 after a success).
    pub consecutive_failures: u32,
    /// Successful runs in a row (0 after a failure).
    pub consecutive_successes: u32,
    /// When the last `Check Failed` or `Check Reminder` was decided, in Unix milliseconds.
    pub last_alert_ms: Option<i64>,
}

impl AlertState {
    /// Records one run's verdict at `now_ms` and returns the alert to send, if any.
    pub fn observe(
        &mut self,
        success: bool,
        now_ms: i64,
        thresholds: &Thresholds,
    ) -> Option<Alert> {
        if success {
            self.consecutive_failures = 0;
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            if self.health != Health::Healthy
                && self.consecutive_successes >= thresholds.success.max(1)
            {
                let was = self.health;
                self.health = Health::Healthy;
                self.last_alert_ms = None;
                return (was == Health::Failing).then_some(Alert::Recovered);
            }
            return None;
        }
        self.consecutive_successes = 0;
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        match self.health {
            Health::Unknown | Health::Healthy => {
                if self.consecutive_failures >= thresholds.failure.max(1) {
                    self.health = Health::Failing;
                    self.last_alert_ms = Some(now_ms);
                    Some(Alert::Failed)
                } else {
                    None
                }
            }
            Health::Failing => {
                let every = thresholds.remind_every?;
                let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
                let last = self.last_alert_ms.unwrap_or(now_ms);
                if now_ms.saturating_sub(last) >= every_ms {
                    self.last_alert_ms = Some(now_ms);
                    Some(Alert::Reminder)
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        failure: 3,
        success: 2,
        remind_every: None,
    };

    /// Runs a sequence of verdicts one second apart; returns each run's alert.
    fn run(state: &mut AlertState, t: &Thresholds, verdicts: &str) -> Vec<Option<Alert>> {
        verdicts
            .chars()
            .enumerate()
            .map(|(i, c)| state.observe(c == '+', i as i64 * 1000, t))
            .collect()
    }

    fn alerts(t: &Thresholds, verdicts: &str) -> (Vec<(usize, Alert)>, AlertState) {
        let mut s = AlertState::default();
        let all = run(&mut s, t, verdicts);
        let fired = all
            .into_iter()
            .enumerate()
            .filter_map(|(i, a)| a.map(|a| (i, a)))
            .collect();
        (fired, s)
    }

    #[test]
    fn starts_unknown() {
        assert_eq!(AlertState::default().health, Health::Unknown);
    }

    #[test]
    fn unknown_to_healthy_is_silent() {
        let (fired, s) = alerts(&T, "+");
        assert!(fired.is_empty());
        assert_eq!(s.health, Health::Unknown);
        let (fired, s) = alerts(&T, "++++");
        assert!(fired.is_empty());
        assert_eq!(s.health, Health::Healthy);
    }

    #[test]
    fn unknown_to_failing_alerts_at_the_threshold() {
        let (fired, s) = alerts(&T, "---");
        assert_eq!(fired, [(2, Alert::Failed)]);
        assert_eq!(s.health, Health::Failing);
    }

    #[test]
    fn healthy_to_failing_needs_consecutive_failures() {
        let (fired, s) = alerts(&T, "++--+--+--");
        assert!(fired.is_empty(), "{fired:?}");
        assert_eq!(s.health, Health::Healthy);
        let (fired, _) = alerts(&T, "++---");
        assert_eq!(fired, [(4, Alert::Failed)]);
    }

    #[test]
    fn failed_is_sent_once_while_down() {
        let (fired, s) = alerts(&T, "++----------");
        assert_eq!(fired, [(4, Alert::Failed)]);
        assert_eq!(s.consecutive_failures, 10);
    }

    #[test]
    fn recovery_needs_consecutive_successes() {
        let (fired, s) = alerts(&T, "++---+-+-+-");
        assert_eq!(fired, [(4, Alert::Failed)]);
        assert_eq!(s.health, Health::Failing);
        let (fired, s) = alerts(&T, "++---++");
        assert_eq!(fired, [(4, Alert::Failed), (6, Alert::Recovered)]);
        assert_eq!(s.health, Health::Healthy);
        assert_eq!(s.last_alert_ms, None);
    }

    #[test]
    fn recovered_is_sent_once_then_a_new_outage_alerts_again() {
        let (fired, _) = alerts(&T, "---++++---++");
        assert_eq!(
            fired,
            [
                (2, Alert::Failed),
                (4, Alert::Recovered),
                (9, Alert::Failed),
                (11, Alert::Recovered)
            ]
        );
    }

    #[test]
    fn thresholds_of_one_flip_on_every_change() {
        let t = Thresholds {
            failure: 1,
            success: 1,
            remind_every: None,
        };
        let (fired, _) = alerts(&t, "+-+-");
        assert_eq!(
            fired,
            [
                (1, Alert::Failed),
                (2, Alert::Recovered),
                (3, Alert::Failed)
            ]
        );
        // Zero is read as one rather than alerting before any run.
        let zero = Thresholds {
            failure: 0,
            success: 0,
            remind_every: None,
        };
        assert_eq!(alerts(&zero, "-").0, [(0, Alert::Failed)]);
    }

    #[test]
    fn reminders_repeat_every_period_while_failing() {
        let t = Thresholds {
            remind_every: Some(Duration::from_secs(3)),
            ..T
        };
        // Failed at t=2s; reminders at 5s and 8s; nothing after recovery.
        let (fired, _) = alerts(&t, "---------++--");
        assert_eq!(
            fired,
            [
                (2, Alert::Failed),
                (5, Alert::Reminder),
                (8, Alert::Reminder),
                (10, Alert::Recovered),
            ]
        );
    }

    #[test]
    fn no_reminders_without_a_period() {
        let (fired, _) = alerts(&T, "-------------");
        assert_eq!(fired, [(2, Alert::Failed)]);
    }

    #[test]
    fn a_success_while_failing_does_not_reset_the_reminder_clock() {
        let t = Thresholds {
            remind_every: Some(Duration::from_secs(3)),
            ..T
        };
        let (fired, _) = alerts(&t, "---+-+-");
        assert_eq!(fired, [(2, Alert::Failed), (6, Alert::Reminder)]);
    }

    #[test]
    fn detail_types_are_the_documented_ones() {
        assert_eq!(Alert::Failed.detail_type(), "Check Failed");
        assert_eq!(Alert::Recovered.detail_type(), "Check Recovered");
        assert_eq!(Alert::Reminder.detail_type(), "Check Reminder");
        assert_eq!(Health::Failing.as_str(), "failing");
    }
}
