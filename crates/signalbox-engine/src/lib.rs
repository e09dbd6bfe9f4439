#![forbid(unsafe_code)]
//! The moving parts: the router (rules → deliveries), ingest with group commit, and the
//! dispatcher that delivers the outbox.

pub mod backoff;
pub mod dispatcher;
pub mod echo;
pub mod ingest;
pub mod router;
pub mod scheduler;

pub use dispatcher::{Dispatcher, DispatcherOptions};
pub use ingest::{IngestError, IngestHandle, IngestOptions, IngestResult, Ingestor};
pub use router::{ApiScheduleTargets, DynamicReports, MatchedRule, Router, RouterError};
pub use scheduler::{Scheduler, SchedulerHandle, SchedulerOptions};
