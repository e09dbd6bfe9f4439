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
/// Heartbeat pings received (labels `check`, `signal`: `success`, `start` or `fail`).
pub const HEARTBEAT_PINGS: &str = "signalbox_heartbeat_pings_total";
/// Watcher endpoint files skipped because they do not load (label `file`); counted once per
/// version of the file's text.
pub const WATCHER_FILE_ERRORS: &str = "signalbox_watcher_file_errors_total";
/// Endpoints loaded from `monitor.endpoint_dirs`.
pub const WATCHER_ENDPOINTS: &str = "signalbox_watcher_endpoints";
/// Check partitions this instance holds leases on (its share of the checks).
pub const MONITOR_PARTITIONS: &str = "signalbox_monitor_partitions";
/// Check partitions taken over from another instance whose lease had expired.
pub const MONITOR_PARTITION_TAKEOVERS: &str = "signalbox_monitor_partition_takeovers_total";
/// The largest start lag (start time − scheduled time) of this instance's check runs over the
/// last 10 seconds, in seconds.
pub const MONITOR_LAG: &str = "signalbox_monitor_lag_seconds";
/// 1 while this instance is behind schedule (more than 1% of its runs later than
/// `monitor.max_lag` over the last 10 seconds), else 0.
pub const MONITOR_BEHIND: &str = "signalbox_monitor_behind_schedule";
/// Check runs failed by one of the check's `assert:` expressions (label `check`); runs failed
/// by the default rule (no `assert:`: a non-2xx status, no connection) are not counted.
pub const CHECK_ASSERTION_FAILURES: &str = "signalbox_check_assertion_failures_total";
/// Check results handed to ingest in report events (`Check Results` / `Check Result`).
pub const CHECK_RESULTS_REPORTED: &str = "signalbox_check_results_reported_total";
/// Check results not reported (label `reason`: `queue_full` when the reporter was behind and
/// a run did not wait for it, `ingest` when ingest refused the event after retries).
pub const CHECK_RESULTS_DROPPED: &str = "signalbox_check_results_dropped_total";
