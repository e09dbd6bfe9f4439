//! `monitor:` — settings of the health-check monitor as a whole (the checks themselves are
//! `checks.<name>`, see `checks.rs`). See `docs/checks.md`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::units::duration;

/// `monitor:` — how this instance runs checks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Directories of endpoint files in the watcher format (`docs/checks.md`, "Watcher
    /// format"); relative paths are relative to the working directory.
    pub endpoint_dirs: Vec<PathBuf>,
    /// How late a check may start (start time − scheduled time) before this instance says it
    /// is behind schedule.
    #[serde(with = "duration")]
    pub max_lag: Duration,
    /// How long an instance holds its share of the checks without renewing it; a dead
    /// instance's checks move to the others within this time.
    #[serde(with = "duration")]
    pub lease_ttl: Duration,
    /// Where every check's run results are reported (targets as a rule's); a check opts out
    /// with `report_global: false` (see `docs/checks.md`, "Reporting results").
    pub report: Vec<crate::model::TargetConfig>,
    /// `report` gets many results per event (`Check Results`); `false`: one event per run.
    pub report_batch: bool,
    /// Longest a result waits before its batch is sent.
    #[serde(with = "duration")]
    pub report_flush: Duration,
    /// Most results in one `Check Results` event; a full batch is sent at once.
    pub report_max_batch: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            endpoint_dirs: Vec::new(),
            max_lag: Duration::from_secs(5),
            lease_ttl: Duration::from_secs(10),
            report: Vec::new(),
            report_batch: true,
            report_flush: Duration::from_secs(1),
            report_max_batch: 500,
        }
    }
}
