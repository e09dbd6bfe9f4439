//! A check ready to run: its probe, assertions, extracts, thresholds and cadence, built once
//! from its config.

use std::sync::Arc;

use serde_json::{Map, Value};
use signalbox_config::{CheckCadence, CheckConfig, MaintenanceWindow, ProbeKind};
use signalbox_schedule::chrono::{DateTime, Utc};

use crate::alert::Thresholds;
use crate::assertion::{AssertionFailure, Assertions};
use crate::extract::Extracts;
use crate::probe::{HttpClients, HttpProbe, Probe, ProbeResult, TcpProbe};

/// Why a check could not be built. A loaded config never produces one; it guards hand-built
/// configs (and the API, later).
#[derive(Debug, thiserror::Error)]
#[error("check \"{check}\": {message}")]
pub struct MonitorError {
    /// The check's name.
    pub check: String,
    /// What is wrong.
    pub message: String,
}

/// One check, compiled.
pub struct CompiledCheck {
    /// The check's name (`detail.check` of its events).
    pub name: String,
    /// What it points at: the URL or `host:port`.
    pub target: String,
    /// When it runs.
    pub cadence: CheckCadence,
    /// When runs become alerts.
    pub thresholds: Thresholds,
    /// When verdicts leave the alert state alone.
    pub maintenance: Vec<MaintenanceWindow>,
    probe: Arc<dyn Probe>,
    assertions: Assertions,
    extracts: Extracts,
}

impl std::fmt::Debug for CompiledCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledCheck")
            .field("name", &self.name)
            .field("target", &self.target)
            .field("cadence", &self.cadence)
            .field("thresholds", &self.thresholds)
            .field("assertions", &self.assertions)
            .finish_non_exhaustive()
    }
}

/// What one run found.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome {
    /// What the probe observed.
    pub result: ProbeResult,
    /// `None` when the run succeeded.
    pub failure: Option<AssertionFailure>,
    /// The `extract:` values.
    pub extracts: Map<String, Value>,
}

impl CheckOutcome {
    /// Whether the run succeeded.
    pub fn success(&self) -> bool {
        self.failure.is_none()
    }
}

impl CompiledCheck {
    /// Builds `config` (named `name`); `default_tz` is `server.timezone`.
    pub fn build(
        name: &str,
        config: &CheckConfig,
        default_tz: &str,
        clients: &HttpClients,
    ) -> Result<CompiledCheck, MonitorError> {
        let error = |message: String| MonitorError {
            check: name.to_owned(),
            message,
        };
        let cadence = config.compile(name, default_tz).map_err(|problems| {
            error(
                problems
                    .into_iter()
                    .map(|p| p.message)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let maintenance = config
            .maintenance_windows(name, default_tz)
            .map_err(|problems| {
                error(
                    problems
                        .into_iter()
                        .map(|p| p.message)
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
        let (probe, http): (Arc<dyn Probe>, bool) = match config.probe() {
            Some(ProbeKind::Http(http)) => (
                Arc::new(HttpProbe::new(http, clients).map_err(error)?),
                true,
            ),
            Some(ProbeKind::Tcp(tcp)) => (Arc::new(TcpProbe::new(tcp)), false),
            None => return Err(error("a check needs a probe: `http` or `tcp`".into())),
        };
        Ok(CompiledCheck {
            name: name.to_owned(),
            target: config.target(),
            cadence,
            thresholds: Thresholds {
                failure: config.failure_threshold,
                success: config.success_threshold,
                remind_every: config.remind_every,
            },
            maintenance,
            probe,
            assertions: Assertions::compile(&config.assert, http).map_err(error)?,
            extracts: Extracts::compile(&config.extract).map_err(error)?,
        })
    }

    /// Whether a run scheduled at `at_ms` falls in a maintenance window.
    pub fn in_maintenance(&self, at_ms: i64) -> bool {
        DateTime::<Utc>::from_timestamp_millis(at_ms)
            .is_some_and(|t| self.maintenance.iter().any(|w| w.contains(t)))
    }

    /// Probes once and judges the result.
    pub async fn run_once(&self) -> CheckOutcome {
        let result = self.probe.run().await;
        let failure = self.assertions.evaluate(&result).err();
        let extracts = self.extracts.apply(result.json.as_ref());
        CheckOutcome {
            result,
            failure,
            extracts,
        }
    }
}
