#![forbid(unsafe_code)]
//! Durable state: accepted events and their deliveries (the outbox).
//!
//! [`Store`] is the one extension point; [`open`] picks the backend from the URL
//! (`sqlite://…`, `postgres://…`). Every backend passes the same conformance suite
//! (`tests/conformance.rs`).

use async_trait::async_trait;
use signalbox_core::time::Millis;

pub mod check_leases;
pub mod check_states;
mod chunks;
mod due;
mod heartbeats;
mod ingest_plan;
mod jobs;
mod postgres;
mod rows;
pub mod schedules;
mod sql;
mod sqlite;
mod sqlite_ingest;

pub use check_leases::{
    CHECK_PARTITIONS, ClaimedPartition, ConfirmationRequest, ConfirmationRow, MonitorCensus,
};
pub use check_states::CheckStateRow;
pub use heartbeats::{HeartbeatRow, HeartbeatSignal, MAX_FAIL_BODY};
pub use postgres::PostgresStore;
pub use schedules::{
    ClaimedSchedule, ConfigSchedule, DeleteScheduleOutcome, FireKind, FireOutcome, FireRecord,
    FireWrite, PutScheduleOutcome, ScheduleRow, ScheduleSource, SchedulerCensus,
};
pub use sqlite::SqliteStore;

/// Store failures. Callers treat them all as "store unavailable" except [`StoreError::InvalidUrl`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported backend or cannot be parsed.
    #[error("store url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// A migration failed at start.
    #[error("store migration failed: {0}")]
    Migration(String),
    /// The database answered with an error or could not be reached.
    #[error("store error: {0}")]
    Database(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// An event to write, already serialized in its EventBridge shape.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: String,
    pub source: String,
    pub detail_type: String,
    /// The event's own `time`, in store milliseconds.
    pub time: Millis,
    /// The whole envelope as JSON text.
    pub body: String,
}

/// A delivery to create with its event: one (rule, target) pair the event matched.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    /// Stable id, sent as `X-Signalbox-Delivery` on every attempt.
    pub id: String,
    pub rule: String,
    /// Index of the target in the rule's `targets` list.
    pub target: u32,
}

/// One event with the deliveries its rules produced, written atomically with it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventWrite {
    pub event: NewEvent,
    pub deliveries: Vec<NewDelivery>,
}

/// What became of one [`EventWrite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Stored with its deliveries.
    Accepted,
    /// An event with this id was accepted after the dedup cutoff: nothing was written.
    Duplicate,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its first or next attempt (possibly leased right now).
    Pending,
    /// The target accepted it.
    Done,
    /// Given up: a permanent error, or attempts/age exhausted.
    Dead,
}

impl DeliveryState {
    /// The name used in the store, the API and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Done => "done",
            DeliveryState::Dead => "dead",
        }
    }

    /// Parses [`DeliveryState::as_str`] back.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "done" => Some(DeliveryState::Done),
            "dead" => Some(DeliveryState::Dead),
            _ => None,
        }
    }
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub rule: String,
    pub target: u32,
    pub state: DeliveryState,
    /// Attempts made so far (since creation or the last manual retry).
    pub attempts: u32,
    pub created_at: Millis,
    /// `max_age` counts from here: creation, or the last manual retry.
    pub age_from: Millis,
    pub next_attempt_at: Millis,
    pub updated_at: Millis,
    pub last_error: Option<String>,
    /// HTTP status of the last attempt, when there was one.
    pub last_status: Option<u16>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: String,
    pub source: String,
    pub detail_type: String,
    pub time: Millis,
    pub accepted_at: Millis,
    pub body: String,
}

/// A claimed delivery with the event it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub delivery: Delivery,
    /// The event's JSON body (as in [`NewEvent::body`]).
    pub event_body: String,
    /// When the event was accepted, for end-to-end latency.
    pub accepted_at: Millis,
}

/// How an attempt ended, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptRecord {
    /// Delivered: state becomes `done` and `last_error` is cleared.
    Done { status: Option<u16> },
    /// Try again at `next_attempt_at`: state stays `pending`.
    Retry {
        next_attempt_at: Millis,
        error: String,
        status: Option<u16>,
    },
    /// Give up: state becomes `dead`.
    Dead { error: String, status: Option<u16> },
}

/// Number of deliveries in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub pending: u64,
    pub done: u64,
    pub dead: u64,
}

/// [`Store::ingest`] run on the calling thread, for a committer that has a thread of its own
/// (SQLite: see `sqlite_ingest.rs` for why that is faster there).
pub trait BlockingIngest: Send + Sync + 'static {
    /// The contract of [`Store::ingest`]. Blocks; never call it from an async task.
    fn ingest(
        &self,
        writes: &[EventWrite],
        now: Millis,
        dedup_cutoff: Millis,
    ) -> Result<Vec<IngestOutcome>, StoreError>;

    /// Nothing more to write for now: lets the store's other writers in.
    fn pause(&self);
}

/// Durable storage of events and deliveries. Implementations must be safe to share by several
/// processes on one database (PostgreSQL) — leases decide who attempts a delivery.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes every event and its deliveries in ONE transaction, committed before returning.
    /// An event whose id already exists with `accepted_at >= dedup_cutoff` is a duplicate: it and
    /// its deliveries are not written. An existing id accepted before the cutoff is replaced
    /// (`accepted_at = now`, new body) and its new deliveries are added. Within `writes`, a
    /// repeated id is a duplicate of its first occurrence. Deliveries are created `pending`, due at
    /// `now`, with `attempts = 0`. Returns one outcome per write, in order.
    async fn ingest(
        &self,
        writes: &[EventWrite],
        now: Millis,
        dedup_cutoff: Millis,
    ) -> Result<Vec<IngestOutcome>, StoreError>;

    /// The same ingest for a dedicated thread, where the backend has a faster one that way.
    fn blocking_ingest(&self) -> Option<std::sync::Arc<dyn BlockingIngest>> {
        None
    }

    /// Leases up to `limit` pending deliveries due at `now` whose lease has expired (or never
    /// existed) to `owner` until `lease_until`, oldest due first (ties by id). A lease is valid
    /// while `now < lease_until`. Two concurrent callers never get the same delivery while a
    /// lease is valid.
    async fn claim_due(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// Records an attempt's outcome (attempts += 1, `updated_at = now`, lease cleared) if `owner`
    /// still holds the lease on this pending delivery (an expired lease nobody took over still
    /// counts). Returns false when the lease was lost, released or never held (nothing written).
    async fn record_attempt(
        &self,
        delivery_id: &str,
        owner: &str,
        now: Millis,
        record: &AttemptRecord,
    ) -> Result<bool, StoreError> {
        let one = [(delivery_id.to_string(), record.clone())];
        let done = self.record_attempts(owner, now, &one).await?;
        Ok(done.first().copied().unwrap_or(false))
    }

    /// [`Store::record_attempt`] for many deliveries in ONE transaction (one fsync), so the
    /// dispatcher's outcomes do not each cost a commit. Returns one flag per record, in order.
    async fn record_attempts(
        &self,
        owner: &str,
        now: Millis,
        records: &[(String, AttemptRecord)],
    ) -> Result<Vec<bool>, StoreError>;

    /// Clears `owner`'s leases on these deliveries without counting an attempt (graceful stop).
    async fn release(&self, delivery_ids: &[String], owner: &str) -> Result<(), StoreError>;

    /// The event with this id.
    async fn event(&self, id: &str) -> Result<Option<StoredEvent>, StoreError>;

    /// The deliveries of one event, oldest first.
    async fn event_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>, StoreError>;

    /// One delivery.
    async fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError>;

    /// Deliveries, optionally of one state, ordered by id (bytewise), starting after the id
    /// `after` (keyset pagination), at most `limit`.
    async fn list_deliveries(
        &self,
        state: Option<DeliveryState>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Manual retry: puts the delivery back to `pending`, due now, `attempts = 0`, `age_from = now`,
    /// lease cleared. Returns the updated delivery, or None when there is no such id.
    async fn retry_delivery(&self, id: &str, now: Millis) -> Result<Option<Delivery>, StoreError>;

    /// Deliveries per state.
    async fn count_by_state(&self) -> Result<StateCounts, StoreError>;

    /// The earliest time a pending delivery can be claimed, if any (to sleep until then): its
    /// `next_attempt_at`, or its lease's end when leased past that, so deliveries in flight do
    /// not make a dispatcher spin. May be early, never late, when very many are leased.
    async fn next_due(&self) -> Result<Option<Millis>, StoreError>;

    /// A cheap round trip, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Writes the config files' schedules in one transaction: new ones are created, changed
    /// ones get their new definition (and the config's `paused`, a new version and anchor), an
    /// API schedule of the same name becomes a config one, and config schedules no longer in
    /// `schedules` are deleted. Unchanged ones keep their runtime state (paused, leases).
    async fn sync_config_schedules(
        &self,
        schedules: &[ConfigSchedule],
        now: Millis,
    ) -> Result<(), StoreError>;

    /// Creates or replaces an API schedule (a replacement bumps the version and moves the
    /// anchor to `now`). A config schedule of that name is left alone: `ConfigOwned`.
    async fn put_schedule(
        &self,
        name: &str,
        definition: &str,
        paused: bool,
        now: Millis,
    ) -> Result<PutScheduleOutcome, StoreError>;

    /// Deletes an API schedule (its recorded fires stay).
    async fn delete_schedule(&self, name: &str) -> Result<DeleteScheduleOutcome, StoreError>;

    /// Pauses or resumes any schedule; a resume moves the anchor to `now` so the paused span
    /// is not caught up. None when there is no such schedule.
    async fn set_schedule_paused(
        &self,
        name: &str,
        paused: bool,
        now: Millis,
    ) -> Result<Option<ScheduleRow>, StoreError>;

    /// One schedule.
    async fn schedule(&self, name: &str) -> Result<Option<ScheduleRow>, StoreError>;

    /// Every schedule, by name.
    async fn list_schedules(&self) -> Result<Vec<ScheduleRow>, StoreError>;

    /// The latest recorded fires of a schedule, newest first.
    async fn schedule_fires(
        &self,
        schedule: &str,
        limit: u32,
    ) -> Result<Vec<FireRecord>, StoreError>;

    /// Says `owner` is alive until `until`, and counts live instances (`owner` included) and
    /// schedules, so each instance can take a fair share.
    async fn scheduler_heartbeat(
        &self,
        owner: &str,
        now: Millis,
        until: Millis,
    ) -> Result<SchedulerCensus, StoreError>;

    /// Leases up to `limit` schedules whose lease has expired (or never existed) to `owner`
    /// until `lease_until`. Two concurrent callers never get the same schedule.
    async fn claim_schedules(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<ClaimedSchedule>, StoreError>;

    /// Extends `owner`'s still valid leases to `lease_until`, for the first `limit` of them
    /// named after `after` (`""` to start), in name order, and returns their names, sorted.
    /// An expired lease is not renewed. Called in chunks (the next `after` is the last name
    /// returned) so that no single statement holds the database for long; the rows themselves
    /// are read back only when changed ([`Store::changed_schedules`]).
    async fn renew_schedule_leases(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        after: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;

    /// The schedules `owner` holds a valid lease on whose definition or pause changed
    /// (`updated_at`) at or after `since`, as they are now, by name.
    async fn changed_schedules(
        &self,
        owner: &str,
        now: Millis,
        since: Millis,
    ) -> Result<Vec<ScheduleRow>, StoreError>;

    /// Gives up `owner`'s leases on `names`, or on all its schedules (and its heartbeat) when
    /// `names` is None.
    async fn release_schedules(
        &self,
        owner: &str,
        names: Option<&[String]>,
    ) -> Result<(), StoreError>;

    /// Records fires with their events and deliveries in ONE transaction. Per schedule, the
    /// transaction first checks that `owner` holds a valid lease (`lease_until > now`), that the
    /// schedule is not paused and is at the fire's version; if not, that schedule's fires are
    /// `NotOwner` and nothing of them is written. A `(schedule, scheduled_time)` recorded before
    /// is `AlreadyFired`, also with nothing written. Returns one outcome per fire, in order.
    async fn fire(
        &self,
        owner: &str,
        now: Millis,
        fires: &[FireWrite],
    ) -> Result<Vec<FireOutcome>, StoreError>;

    /// Every check's stored alert state (see `docs/checks.md`).
    async fn load_check_states(&self) -> Result<Vec<CheckStateRow>, StoreError>;

    /// Writes one check's alert state, replacing what was stored.
    async fn save_check_state(&self, row: &CheckStateRow) -> Result<(), StoreError>;

    /// Says monitor instance `owner` is alive until `until` (and whether it is `yielding`
    /// work because it is behind schedule), and counts live instances (`owner` included),
    /// check partitions and the earliest expiry of another instance's lease.
    async fn monitor_heartbeat(
        &self,
        owner: &str,
        now: Millis,
        until: Millis,
        yielding: bool,
    ) -> Result<MonitorCensus, StoreError>;

    /// Leases up to `limit` check partitions whose lease has expired (or never existed) to
    /// `owner` until `lease_until`, those free longest first. Two concurrent callers never get
    /// the same partition.
    async fn claim_check_partitions(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<ClaimedPartition>, StoreError>;

    /// Extends `owner`'s still valid partition leases to `lease_until` and returns those
    /// partitions, sorted. An expired lease is not renewed (another instance may have run its
    /// checks meanwhile): it must be claimed again.
    async fn renew_check_partitions(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Vec<u32>, StoreError>;

    /// Gives up `owner`'s leases on `partitions`, or on all of them (and its monitor
    /// heartbeat) when `partitions` is None.
    async fn release_check_partitions(
        &self,
        owner: &str,
        partitions: Option<&[u32]>,
    ) -> Result<(), StoreError>;

    /// Asks other instances to probe `check` once (`confirm: 1`): a request `id` from
    /// `requester` at `now`.
    async fn request_check_confirmation(
        &self,
        id: &str,
        check: &str,
        requester: &str,
        now: Millis,
    ) -> Result<(), StoreError>;

    /// Takes up to `limit` unanswered requests of other instances, no older than `max_age`,
    /// that nobody took in the last 30 s, oldest first. Two concurrent callers never get the
    /// same request. Forgets requests older than an hour.
    async fn claim_check_confirmations(
        &self,
        owner: &str,
        now: Millis,
        max_age: Millis,
        limit: u32,
    ) -> Result<Vec<ConfirmationRequest>, StoreError>;

    /// Answers a request `owner` took; false when it did not take it or it was answered.
    async fn answer_check_confirmation(
        &self,
        id: &str,
        owner: &str,
        success: bool,
        now: Millis,
    ) -> Result<bool, StoreError>;

    /// A request and its answer, if any.
    async fn check_confirmation(&self, id: &str) -> Result<Option<ConfirmationRow>, StoreError>;

    /// Records a heartbeat ping for check `name` at `now` and returns the row as it is now:
    /// the signal's own time is set, `last_kind`/`last_signal_at` become this signal, `pings`
    /// counts it. A `Fail` keeps `body` (clipped to [`MAX_FAIL_BODY`]) as `last_fail_body`;
    /// other signals ignore `body`. The first ping creates the row.
    async fn record_heartbeat(
        &self,
        name: &str,
        signal: HeartbeatSignal,
        body: Option<&str>,
        now: Millis,
    ) -> Result<HeartbeatRow, StoreError>;

    /// The pings of heartbeat check `name`; None before its first ping.
    async fn heartbeat(&self, name: &str) -> Result<Option<HeartbeatRow>, StoreError>;
}

/// Options for [`open`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Pool size (SQLite: readers; the writer is always one connection).
    pub max_connections: u32,
    /// SQLite: fsync every commit (`true`, survives power loss) or only at WAL checkpoints
    /// (`false`, survives a process crash).
    pub sqlite_fsync_every_commit: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            max_connections: 8,
            sqlite_fsync_every_commit: true,
        }
    }
}

/// Opens the store named by `url` (`sqlite://PATH`, `sqlite::memory:`, `postgres://…`,
/// `postgresql://…`), creating the SQLite file and its directory if needed, and applies
/// migrations.
pub async fn open(url: &str, opts: &OpenOptions) -> Result<Box<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Box::new(SqliteStore::open(url, opts).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(PostgresStore::open(url, opts).await?))
    } else {
        Err(StoreError::InvalidUrl {
            url: url.to_string(),
            reason: "expected sqlite://PATH or postgres://…".into(),
        })
    }
}
