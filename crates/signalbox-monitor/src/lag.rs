//! Is this instance behind schedule? Pure: times are arguments.
//!
//! Each run's lag (start time − scheduled time) goes into a window of the last
//! [`WINDOW_SECONDS`] seconds, one bucket per second, counting runs, runs later than
//! `monitor.max_lag`, and the largest lag. The instance is behind while more than 1% of the
//! window's runs were late — that is, while the window's p99 lag exceeds `max_lag` — so one
//! stray slow start does not raise an alarm among thousands of runs, but a loop that cannot
//! keep up does within seconds. [`BehindSchedule`] turns that into at most one
//! `Monitor Behind Schedule` per [`ANNOUNCE_INTERVAL_MS`] and a `Monitor Caught Up` after it.

/// Seconds of runs the verdict looks at.
pub const WINDOW_SECONDS: usize = 10;
/// Least time between two `Monitor Behind Schedule` events: a flapping instance does not
/// flood the rules with them.
pub const ANNOUNCE_INTERVAL_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    second: i64,
    runs: u64,
    late: u64,
    max_ms: i64,
}

/// Runs' lag over the last [`WINDOW_SECONDS`] seconds.
#[derive(Debug, Clone)]
pub struct LagWindow {
    threshold_ms: i64,
    buckets: [Bucket; WINDOW_SECONDS],
}

/// What the window holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LagSummary {
    /// Runs started in the window.
    pub runs: u64,
    /// Of those, the ones later than the threshold.
    pub late: u64,
    /// The largest lag, in milliseconds.
    pub max_ms: i64,
}

impl LagSummary {
    /// More than 1% of the runs were late (p99 above the threshold).
    pub fn behind(&self) -> bool {
        self.late > 0 && self.late * 100 > self.runs
    }
}

impl LagWindow {
    /// A window judging lag against `threshold_ms` (`monitor.max_lag`).
    pub fn new(threshold_ms: i64) -> LagWindow {
        LagWindow {
            threshold_ms,
            buckets: [Bucket::default(); WINDOW_SECONDS],
        }
    }

    /// The threshold, in milliseconds.
    pub fn threshold_ms(&self) -> i64 {
        self.threshold_ms
    }

    /// Counts a run that started `lag_ms` after its time, at `now_ms`.
    pub fn record(&mut self, now_ms: i64, lag_ms: i64) {
        let second = now_ms.div_euclid(1000);
        let slot = &mut self.buckets[second.rem_euclid(WINDOW_SECONDS as i64) as usize];
        if slot.second != second {
            *slot = Bucket {
                second,
                ..Bucket::default()
            };
        }
        slot.runs += 1;
        if lag_ms > self.threshold_ms {
            slot.late += 1;
        }
        slot.max_ms = slot.max_ms.max(lag_ms);
    }

    /// The runs of the last [`WINDOW_SECONDS`] seconds before `now_ms`.
    pub fn summary(&self, now_ms: i64) -> LagSummary {
        let second = now_ms.div_euclid(1000);
        let oldest = second - WINDOW_SECONDS as i64 + 1;
        self.buckets
            .iter()
            .filter(|b| b.runs > 0 && (oldest..=second).contains(&b.second))
            .fold(LagSummary::default(), |acc, b| LagSummary {
                runs: acc.runs + b.runs,
                late: acc.late + b.late,
                max_ms: acc.max_ms.max(b.max_ms),
            })
    }
}

/// A change worth an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LagChange {
    /// The window went over the threshold; `announce` says whether to send
    /// `Monitor Behind Schedule` (false within [`ANNOUNCE_INTERVAL_MS`] of the last one).
    FellBehind {
        /// Send the event.
        announce: bool,
    },
    /// Back under the threshold; `announce` is true when the fall behind was announced.
    CaughtUp {
        /// Send the event.
        announce: bool,
    },
}

/// Behind or not, and what was last announced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BehindSchedule {
    /// Behind schedule now.
    pub behind: bool,
    announced: bool,
    last_announced_ms: Option<i64>,
}

impl BehindSchedule {
    /// Looks at the window's `summary` at `now_ms`; returns the change, if any.
    pub fn observe(&mut self, summary: &LagSummary, now_ms: i64) -> Option<LagChange> {
        match (self.behind, summary.behind()) {
            (false, true) => {
                self.behind = true;
                let announce = self
                    .last_announced_ms
                    .is_none_or(|t| now_ms - t >= ANNOUNCE_INTERVAL_MS);
                if announce {
                    self.last_announced_ms = Some(now_ms);
                }
                self.announced = announce;
                Some(LagChange::FellBehind { announce })
            }
            (true, false) => {
                self.behind = false;
                let announce = std::mem::take(&mut self.announced);
                Some(LagChange::CaughtUp { announce })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_late_run_among_many_is_not_behind() {
        let mut w = LagWindow::new(100);
        for i in 0..1000 {
            w.record(10_000 + i, 5);
        }
        w.record(10_999, 5_000);
        let s = w.summary(10_999);
        assert_eq!((s.runs, s.late, s.max_ms), (1001, 1, 5_000));
        assert!(!s.behind());
        for i in 0..10 {
            w.record(10_999, 200 + i);
        }
        assert!(w.summary(10_999).behind(), "11 of 1011 late: p99 is late");
    }

    #[test]
    fn the_window_forgets_old_seconds() {
        let mut w = LagWindow::new(100);
        w.record(1_000, 500);
        assert!(w.summary(1_500).behind());
        // Still inside the ten seconds 1..=10.
        assert!(w.summary(10_999).behind());
        // Second 11: second 1 has left the window, and a fresh bucket replaces it.
        assert_eq!(w.summary(11_000), LagSummary::default());
        w.record(11_000, 10);
        let s = w.summary(11_000);
        assert_eq!((s.runs, s.late, s.max_ms), (1, 0, 10));
    }

    #[test]
    fn a_few_runs_late_are_behind() {
        let mut w = LagWindow::new(5_000);
        w.record(0, 4_999);
        assert!(!w.summary(0).behind(), "at the threshold is not late");
        w.record(0, 5_001);
        assert!(w.summary(0).behind());
    }

    #[test]
    fn events_are_announced_once_and_rate_limited() {
        let behind = LagSummary {
            runs: 10,
            late: 5,
            max_ms: 9_000,
        };
        let fine = LagSummary {
            runs: 10,
            late: 0,
            max_ms: 3,
        };
        let mut b = BehindSchedule::default();
        assert_eq!(b.observe(&fine, 0), None);
        assert_eq!(
            b.observe(&behind, 1_000),
            Some(LagChange::FellBehind { announce: true })
        );
        assert_eq!(b.observe(&behind, 2_000), None, "one event while behind");
        assert_eq!(
            b.observe(&fine, 3_000),
            Some(LagChange::CaughtUp { announce: true })
        );
        // Flapping within the interval: silent both ways.
        assert_eq!(
            b.observe(&behind, 4_000),
            Some(LagChange::FellBehind { announce: false })
        );
        assert_eq!(
            b.observe(&fine, 5_000),
            Some(LagChange::CaughtUp { announce: false })
        );
        // After the interval, announced again.
        assert_eq!(
            b.observe(&behind, 1_000 + ANNOUNCE_INTERVAL_MS),
            Some(LagChange::FellBehind { announce: true })
        );
        assert!(b.behind);
    }
}
