#![forbid(unsafe_code)]
//! The monitor: health checks run on a schedule, judged by CEL assertions, turned into alert
//! events by a pure state machine.
//!
//! - [`probe`]: what one run observes ([`ProbeResult`]), by HTTP or TCP, behind the [`Probe`]
//!   trait.
//! - [`assertion`]: the check's `assert:` CEL expressions over a result; [`extract`]: its
//!   `extract:` JSONPaths.
//! - [`alert`]: unknown → healthy / failing with thresholds, and which runs send
//!   `Check Failed`, `Check Recovered` or `Check Reminder`. Pure, no clock.
//! - [`cadence`]: when a check runs next (cron via `signalbox-schedule`, or `every` offset by a
//!   hash of the name so checks do not all start at once).
//! - [`runner`]: one task per check, and the emitter that hands alert events to ingest, so rules
//!   route them (`source: "signalbox.check"`).

pub mod alert;
pub mod assertion;
pub mod cadence;
pub mod check;
pub mod extract;
pub mod probe;
pub mod runner;
pub mod state_store;
pub mod status;

pub use alert::{Alert, AlertState, Health, Thresholds};
pub use assertion::{AssertionFailure, Assertions};
pub use check::{CheckOutcome, CompiledCheck, MonitorError};
pub use extract::Extracts;
pub use probe::{HttpClients, HttpProbe, Probe, ProbeResult, TcpProbe};
pub use runner::{AlertSink, EVENT_SOURCE, Monitor};
pub use state_store::{MemoryStates, StateStore, StoreStates};
pub use status::{CheckStatus, CheckStatuses};
