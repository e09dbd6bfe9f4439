//! Every metric name signalbox exports, in one place so dashboards have one reference.

/// Events accepted by ingest (label `outcome`: `new` or `duplicate`).
pub const EVENTS_ACCEPTED: &str = "signalbox_events_accepted_total";
/// Events rejected by ingest (label `code`: the error code).
pub const EVENTS_REJECTED: &str = "signalbox_events_rejected_total";
/// Deliveries created by rule matches.
pub const DELIVERIES_CREATED: &str = "signalbox_deliveries_created_total";
/// Delivery attempts (label `outcome`: `done`, `retry`, `dead`).
pub const DELIVERY_ATTEMPTS: &str = "signalbox_delivery_attempts_total";
/// Deliveries that reached a final state (label `outcome`: `done` or `dead`).
pub const DELIVERIES_FINISHED: &str = "signalbox_deliveries_finished_total";
/// Seconds from an event's acceptance to its delivery's success.
pub const DELIVERY_LATENCY: &str = "signalbox_delivery_latency_seconds";
/// Seconds one target call took.
pub const ATTEMPT_DURATION: &str = "signalbox_attempt_duration_seconds";
/// Deliveries by state (label `state`), read from the store at scrape time.
pub const QUEUE_DEPTH: &str = "signalbox_deliveries";
/// Events per ingest transaction (group commit size).
pub const INGEST_BATCH_SIZE: &str = "signalbox_ingest_batch_events";
/// Seconds one ingest transaction took.
pub const INGEST_COMMIT_DURATION: &str = "signalbox_ingest_commit_seconds";
/// Scheduled times handled (label `outcome`: `fired`, `caught_up`, `missed`, `suppressed`,
/// `failed`). `missed` counts times older than the catch-up window; `failed` fires whose
/// transaction failed (they are planned again from the store).
pub const SCHEDULE_FIRES: &str = "signalbox_schedule_fires_total";
/// Seconds from a scheduled time to the commit of its on-time fire.
pub const SCHEDULE_LATENESS: &str = "signalbox_schedule_fire_lateness_seconds";
/// Schedules this instance holds (label `state`: `active`, `paused`, `invalid`); an `invalid`
/// one is an API or config definition this instance cannot compile.
pub const SCHEDULES: &str = "signalbox_schedules";
/// Schedules taken over from another instance whose lease had expired.
pub const SCHEDULE_LEASE_TAKEOVERS: &str = "signalbox_schedule_lease_takeovers_total";
/// Check runs (labels `check`, `result`: `success` or `failure`).
pub const CHECK_RUNS: &str = "signalbox_check_runs_total";
/// 1 when a check's last run succeeded, 0 when it failed (label `check`).
pub const CHECK_UP: &str = "signalbox_check_up";
/// Seconds a check's probe took (label `check`).
pub const CHECK_DURATION: &str = "signalbox_check_duration_seconds";
/// Seconds from a check's scheduled time to the start of its run (label `check`).
pub const CHECK_LAG: &str = "signalbox_check_lag_seconds";
