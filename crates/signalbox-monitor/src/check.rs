//! A check ready to run: its probe, assertions, extracts, thresholds and cadence, built once
//! from its config.

use std::sync::Arc;

use serde_json::{Map, Value};
use signalbox_config::{CheckCadence, CheckConfig, MaintenanceWindow, ProbeKind};
use signalbox_schedule::chrono::{DateTime, Utc};

use crate::alert::Thresholds;
use crate::assertion::{AssertionFailure, Assertions};
use crate::extract::Extracts;
use crate::probe::{DnsProbe, HttpClients, HttpProbe, Probe, ProbeResult, TcpProbe, TlsProbe};

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
    /// What it points at: the URL, `host:port`, `dns://…` or `tls://…`
    /// ([`CheckConfig::target`]).
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
    /// What it was built from, to tell a changed check from an unchanged one on a reload.
    source: (CheckConfig, String),
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

    /// What a run found, as the API's `last_run` and reported results show it: `success`,
    /// `status`, `response_time_ms`, `assertion`, `reason`, `error`, `extracts`, and the fields
    /// only its probe kind fills.
    pub fn to_json_fields(&self) -> Map<String, Value> {
        let failure = self.failure.as_ref();
        let mut fields = Map::with_capacity(10);
        fields.insert("success".into(), Value::Bool(self.success()));
        fields.insert("status".into(), serde_json::json!(self.result.status));
        fields.insert(
            "response_time_ms".into(),
            serde_json::json!(self.result.response_time_ms),
        );
        fields.insert(
            "assertion".into(),
            serde_json::json!(failure.and_then(|f| f.assertion.clone())),
        );
        fields.insert(
            "reason".into(),
            serde_json::json!(failure.map(|f| f.reason.clone())),
        );
        fields.insert("error".into(), serde_json::json!(self.result.error));
        fields.insert("extracts".into(), Value::Object(self.extracts.clone()));
        fields.extend(self.result.kind_fields());
        fields
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
        let Some(kind) = config.probe() else {
            return Err(error(
                "a check needs a probe: `http`, `tcp`, `dns`, `tls` or `heartbeat`".into(),
            ));
        };
        let built = |e: crate::probe::ProbeError| error(e.to_string());
        // Built once here: a check with its own TLS settings gets its own client, not one per run.
        let probe: Arc<dyn Probe> = match kind {
            ProbeKind::Http(http) => Arc::new(HttpProbe::new(http, clients).map_err(built)?),
            ProbeKind::Tcp(tcp) => Arc::new(TcpProbe::new(tcp)),
            ProbeKind::Dns(dns) => Arc::new(DnsProbe::new(dns).map_err(built)?),
            ProbeKind::Tls(tls) => {
                Arc::new(TlsProbe::new(tls, clients.tls_verifier()).map_err(built)?)
            }
            ProbeKind::Heartbeat(heartbeat) => {
                let store = clients.heartbeat_store().cloned().ok_or_else(|| {
                    error("a heartbeat check needs the store its pings are written to".into())
                })?;
                Arc::new(
                    crate::heartbeat::HeartbeatProbe::new(name, heartbeat, default_tz, store)
                        .map_err(error)?,
                )
            }
        };
        Ok(CompiledCheck {
            name: name.to_owned(),
            target: match kind {
                // Where the job pings: the check's own name is part of it.
                ProbeKind::Heartbeat(_) => format!("/v1/heartbeats/{name}"),
                _ => config.target(),
            },
            cadence,
            thresholds: Thresholds {
                failure: config.failure_threshold,
                success: config.success_threshold,
                remind_every: config.remind_every,
            },
            maintenance,
            probe,
            assertions: Assertions::compile(&config.assert, kind.probe_type()).map_err(error)?,
            extracts: Extracts::compile(&config.extract).map_err(error)?,
            source: (config.clone(), default_tz.to_owned()),
        })
    }

    /// The config it was built from (the reporter reads its `report` settings).
    pub fn config(&self) -> &CheckConfig {
        &self.source.0
    }

    /// Whether `other` was built from the same config (and default zone): a reload keeps such
    /// a check running as it is, and restarts a changed one.
    pub fn same_definition(&self, other: &CompiledCheck) -> bool {
        self.source == other.source
    }

    /// `config` built with another probe: tests drive the loop with probes they control.
    #[cfg(test)]
    pub(crate) fn with_probe(
        name: &str,
        config: &CheckConfig,
        probe: Arc<dyn Probe>,
    ) -> CompiledCheck {
        let clients = HttpClients::new().expect("http clients");
        let mut check = CompiledCheck::build(name, config, "UTC", &clients).expect("valid check");
        check.probe = probe;
        check
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
