#![forbid(unsafe_code)]
//! The monitor: health checks run on a schedule, judged by CEL assertions, turned into alert
//! events by a pure state machine.
//!
//! - [`probe`]: what one run observes ([`ProbeResult`]), by HTTP, TCP, DNS or TLS (one file
//!   each under `probe/`), behind the [`Probe`] trait.
//! - [`assertion`]: the check's `assert:` CEL expressions over a result; [`extract`]: its
//!   `extract:` JSONPaths.
//! - [`alert`]: unknown → healthy / failing with thresholds, and which runs send
//!   `Check Failed`, `Check Recovered` or `Check Reminder`. Pure, no clock.
//! - [`cadence`]: when a check runs next (cron via `signalbox-schedule`, or `every` offset by a
//!   hash of the name so checks do not all start at once).
//! - [`lease`]: which checks this instance runs — leases on partitions of check names, shared
//!   fairly between instances.
//! - [`lag`]: whether this instance is behind schedule (p99 start lag over `monitor.max_lag`).
//! - [`runner`]: one loop with one min-heap of run times per instance, runs as tasks, check
//!   groups replaced at runtime ([`MonitorHandle::set_group`]), and the emitter that hands
//!   alert events to ingest, so rules route them (`source: "signalbox.check"`).

pub mod alert;
pub mod assertion;
pub mod cadence;
pub mod check;
pub mod confirm;
pub mod extract;
pub mod heartbeat;
pub mod lag;
pub mod lease;
pub mod probe;
pub mod report;
pub mod runner;
pub mod state_store;
pub mod status;
pub mod watcher;

pub use alert::{Alert, AlertState, Health, Thresholds};
pub use assertion::{AssertionFailure, Assertions};
pub use check::{CheckOutcome, CompiledCheck, MonitorError};
pub use extract::Extracts;
pub use heartbeat::{HeartbeatNames, HeartbeatProbe};
pub use probe::{
    CertInfo, DnsProbe, HttpClients, HttpProbe, Probe, ProbeError, ProbeResult, TcpProbe, TlsProbe,
};
pub use report::{ReportOptions, Reporter};
pub use runner::{
    AlertSink, CONFIG_GROUP, EVENT_SOURCE, MONITOR_SOURCE, Monitor, MonitorHandle, MonitorOptions,
};
pub use state_store::{MemoryStates, StateStore, StoreStates};
pub use status::{CheckStatus, CheckStatuses};
