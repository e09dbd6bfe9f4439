//! Schedules in the store: definitions, leases that say which instance fires which schedule,
//! and the fires themselves, unique per `(schedule, scheduled_time)`.
//!
//! Statements use `$N` placeholders, which both dialects accept; the claim differs only by
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::chunks::{SIZES, size_index};
use crate::rows::get;
use crate::{EventWrite, Millis, StoreError};

/// Where a schedule was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScheduleSource {
    /// A config file: read-only through the API, rewritten at every start.
    Config,
    /// `PUT /v1/schedules/{name}`.
    Api,
}

impl ScheduleSource {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleSource::Config => "config",
            ScheduleSource::Api => "api",
        }
    }
}

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRow {
    pub name: String,
    pub source: ScheduleSource,
    /// The schedule's settings without targets, as JSON (see `ScheduleConfig::definition_json`).
    pub definition: String,
    /// Paused now (by config or at runtime).
    pub paused: bool,
    /// Bumped whenever the definition changes: a fire computed from an older version is refused.
    pub version: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Millis,
    /// The latest scheduled time fired (or suppressed).
    pub last_scheduled_time: Option<Millis>,
    pub last_fired_at: Option<Millis>,
    /// `fired`, `caught_up` or `suppressed`.
    pub last_outcome: Option<String>,
    /// Fires are planned after `max(last_scheduled_time, anchor)`: creation, a definition
    /// change or a resume move it to that moment, so nothing before it is caught up.
    pub anchor: Millis,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl ScheduleRow {
    /// Where planning starts: nothing at or before this instant fires.
    pub fn plan_from(&self) -> Millis {
        self.last_scheduled_time
            .map_or(self.anchor, |t| t.max(self.anchor))
    }
}

/// A schedule just claimed, with who held it before (a takeover when that was someone else).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedSchedule {
    pub row: ScheduleRow,
    pub previous_owner: Option<String>,
}

/// A schedule from the config files, written at start.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigSchedule {
    pub name: String,
    pub definition: String,
    pub paused: bool,
}

/// What `put_schedule` did.
#[derive(Debug, Clone, PartialEq)]
pub enum PutScheduleOutcome {
    Created(ScheduleRow),
    Updated(ScheduleRow),
    /// A config file defines this name; nothing was written.
    ConfigOwned,
}

/// What `delete_schedule` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteScheduleOutcome {
    Deleted,
    NotFound,
    /// A config file defines this name; nothing was deleted.
    ConfigOwned,
}

/// How a scheduled time was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FireKind {
    /// Fired on time.
    Fired,
    /// Fired late, after a restart, takeover or stall.
    CaughtUp,
    /// In a quiet period: recorded, not run (no event).
    Suppressed,
}

impl FireKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FireKind::Fired => "fired",
            FireKind::CaughtUp => "caught_up",
            FireKind::Suppressed => "suppressed",
        }
    }
}

/// One scheduled time to record, with its event (none when suppressed).
#[derive(Debug, Clone, PartialEq)]
pub struct FireWrite {
    pub schedule: String,
    /// The schedule version the fire was planned from.
    pub version: i64,
    pub scheduled_time: Millis,
    pub kind: FireKind,
    pub event: Option<EventWrite>,
}

/// What became of one [`FireWrite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FireOutcome {
    /// Recorded, with its event and deliveries.
    Written,
    /// This `(schedule, scheduled_time)` was recorded before: nothing written.
    AlreadyFired,
    /// The caller does not hold a valid lease on the schedule, or it is paused, deleted or at
    /// another version: nothing written.
    NotOwner,
}

/// A recorded fire.
#[derive(Debug, Clone, PartialEq)]
pub struct FireRecord {
    pub schedule: String,
    pub scheduled_time: Millis,
    pub fired_at: Millis,
    pub outcome: String,
    pub event_id: Option<String>,
    pub owner: String,
}

/// What an instance needs to take its fair share of schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedulerCensus {
    /// Scheduler instances with a current heartbeat, the caller included.
    pub instances: u64,
    /// Schedules in the store.
    pub schedules: u64,
}

/// Columns in the order [`row`] decodes them.
macro_rules! schedule_columns {
    () => {
        "name, source, definition, paused, version, lease_owner, lease_until, \
         last_scheduled_time, last_fired_at, last_outcome, anchor, created_at, updated_at"
    };
}

pub(crate) const SELECT_ONE: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE name = $1"
);
pub(crate) const SELECT_ALL: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules ORDER BY name"
);

/// `$1` name, `$2` definition, `$3` paused, `$4` now. A changed definition takes the config's
/// `paused`, a new version and a new anchor; an unchanged one keeps the runtime state.
pub(crate) const UPSERT_CONFIG: &str = "INSERT INTO schedules \
     (name, source, definition, paused, version, lease_until, anchor, created_at, updated_at) \
     VALUES ($1, 'config', $2, $3, 1, 0, $4, $4, $4) \
     ON CONFLICT (name) DO UPDATE SET \
       paused = CASE WHEN schedules.definition = excluded.definition AND schedules.source = 'config' \
                THEN schedules.paused ELSE excluded.paused END, \
       version = CASE WHEN schedules.definition = excluded.definition AND schedules.source = 'config' \
                 THEN schedules.version ELSE schedules.version + 1 END, \
       anchor = CASE WHEN schedules.definition = excluded.definition AND schedules.source = 'config' \
                THEN schedules.anchor ELSE excluded.anchor END, \
       updated_at = CASE WHEN schedules.definition = excluded.definition AND schedules.source = 'config' \
                    THEN schedules.updated_at ELSE excluded.updated_at END, \
       source = 'config', definition = excluded.definition";

pub(crate) const CONFIG_NAMES: &str = "SELECT name FROM schedules WHERE source = 'config'";
pub(crate) const DELETE_CONFIG: &str =
    "DELETE FROM schedules WHERE name = $1 AND source = 'config'";

/// `$1` name, `$2` definition, `$3` paused, `$4` now.
pub(crate) const UPSERT_API: &str = concat!(
    "INSERT INTO schedules \
     (name, source, definition, paused, version, lease_until, anchor, created_at, updated_at) \
     VALUES ($1, 'api', $2, $3, 1, 0, $4, $4, $4) \
     ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, \
       paused = excluded.paused, version = schedules.version + 1, anchor = excluded.anchor, \
       updated_at = excluded.updated_at \
     WHERE schedules.source = 'api' \
     RETURNING ",
    schedule_columns!()
);

pub(crate) const DELETE_API: &str = "DELETE FROM schedules WHERE name = $1 AND source = 'api'";

/// The statements that withdraw fires recorded ahead of their time (the scheduler writes fires
/// up to its look-ahead early, due at their time) with their events and deliveries, for the
/// fires whose `fire_column` is `$1` and later than `$2` (now). The last statement moves
/// `last_scheduled_time` of the schedules whose `schedule_column` is `$1` back to the last fire
/// that remains, so the withdrawn times are planned again.
fn withdraw_statements(fire_column: &str, schedule_column: &str) -> [String; 4] {
    let ahead = format!("{fire_column} = $1 AND scheduled_time > $2");
    [
        format!(
            "DELETE FROM deliveries WHERE event_id IN (SELECT event_id FROM schedule_fires \
             WHERE {ahead} AND event_id IS NOT NULL)"
        ),
        format!(
            "DELETE FROM events WHERE id IN (SELECT event_id FROM schedule_fires \
             WHERE {ahead} AND event_id IS NOT NULL)"
        ),
        format!("DELETE FROM schedule_fires WHERE {ahead}"),
        format!(
            "UPDATE schedules SET last_scheduled_time = \
             (SELECT MAX(f.scheduled_time) FROM schedule_fires f WHERE f.schedule = schedules.name) \
             WHERE {schedule_column} = $1 AND last_scheduled_time > $2"
        ),
    ]
}

/// `$1` name, `$2` now: a pause, a replacement or a deletion applies to every fire not yet due.
pub(crate) static WITHDRAW_AHEAD: LazyLock<[String; 4]> =
    LazyLock::new(|| withdraw_statements("schedule", "name"));

/// `$1` owner, `$2` now: a stopping instance (before its leases are released) leaves no fire
/// recorded ahead behind.
pub(crate) static WITHDRAW_AHEAD_OF_OWNER: LazyLock<[String; 4]> =
    LazyLock::new(|| withdraw_statements("owner", "lease_owner"));

/// Runs `$statements` ([`WITHDRAW_AHEAD`] or [`WITHDRAW_AHEAD_OF_OWNER`]) for `$key` in the
/// transaction `$tx` (of either backend).
macro_rules! withdraw_ahead {
    ($tx:ident, $statements:expr, $key:expr, $now:expr) => {
        for sql in $statements.iter() {
            sqlx::query(sql.as_str())
                .bind($key)
                .bind($now)
                .execute(&mut *$tx)
                .await?;
        }
    };
}
pub(crate) use withdraw_ahead;

/// The `now` of a deletion or a release, which the trait's methods do not pass.
pub(crate) fn now_for_withdraw() -> Millis {
    signalbox_core::time::now_millis()
}

/// `$1` now: config schedules whose definition changed in the sync that ran at `now`.
pub(crate) const CHANGED_IN_SYNC: &str =
    "SELECT name FROM schedules WHERE source = 'config' AND updated_at = $1";

/// `$1` name, `$2` paused, `$3` now. A resume moves the anchor: the paused span is not caught up.
pub(crate) const SET_PAUSED: &str = concat!(
    "UPDATE schedules SET paused = $2, updated_at = $3, \
       anchor = CASE WHEN paused AND NOT $2 THEN $3 ELSE anchor END \
     WHERE name = $1 RETURNING ",
    schedule_columns!()
);

/// `$1` owner, `$2` seen_until.
pub(crate) const HEARTBEAT: &str = "INSERT INTO scheduler_instances (owner, seen_until) \
     VALUES ($1, $2) ON CONFLICT (owner) DO UPDATE SET seen_until = excluded.seen_until";
/// `$1` cutoff: instances silent for long are forgotten.
pub(crate) const FORGET_INSTANCES: &str = "DELETE FROM scheduler_instances WHERE seen_until < $1";
/// `$1` now.
pub(crate) const COUNT_INSTANCES: &str =
    "SELECT COUNT(*) FROM scheduler_instances WHERE seen_until > $1";
pub(crate) const COUNT_SCHEDULES: &str = "SELECT COUNT(*) FROM schedules";
/// `$1` owner.
pub(crate) const FORGET_INSTANCE: &str = "DELETE FROM scheduler_instances WHERE owner = $1";

/// `$1` now, `$2` limit: schedules nobody holds a valid lease on.
pub(crate) const CLAIMABLE_SQLITE: &str = "SELECT name, lease_owner FROM schedules \
     WHERE lease_until <= $1 ORDER BY lease_until, name LIMIT $2";
pub(crate) const CLAIMABLE_POSTGRES: &str = "SELECT name, lease_owner FROM schedules \
     WHERE lease_until <= $1 ORDER BY lease_until, name LIMIT $2 FOR UPDATE SKIP LOCKED";
/// `$1` name, `$2` owner, `$3` lease_until, `$4` now.
pub(crate) const CLAIM_ONE: &str = concat!(
    "UPDATE schedules SET lease_owner = $2, lease_until = $3 \
     WHERE name = $1 AND lease_until <= $4 RETURNING ",
    schedule_columns!()
);

/// `$1` owner, `$2` now, `$3` lease_until, `$4` after (a name), `$5` limit: renews the first
/// `limit` of `owner`'s valid leases named after `$4`, in name order, and returns their names
/// only (a renewal is frequent and touches every held row; the rows themselves are read back
/// only when changed, see [`CHANGED`]). Only valid leases are renewed: one that expired may have
/// been fired by another instance in between, so its owner must claim it again. In chunks, so a
/// renewal never holds the (SQLite: only) writer for long. The `+` keeps SQLite on the name
/// index (a walk from `$4`) instead of visiting every row of the owner for each chunk.
pub(crate) const RENEW_CHUNK_SQLITE: &str = "UPDATE schedules SET lease_until = $3 \
     WHERE name IN (SELECT name FROM schedules WHERE +lease_owner = $1 AND +lease_until > $2 \
       AND name > $4 ORDER BY name LIMIT $5) \
     AND +lease_owner = $1 AND +lease_until > $2 RETURNING name";
pub(crate) const RENEW_CHUNK_POSTGRES: &str = "UPDATE schedules SET lease_until = $3 \
     WHERE name IN (SELECT name FROM schedules WHERE lease_owner = $1 AND lease_until > $2 \
       AND name > $4 ORDER BY name LIMIT $5) \
     AND lease_owner = $1 AND lease_until > $2 RETURNING name";

/// `$1` owner, `$2` now, `$3` since: `owner`'s validly held schedules changed (definition,
/// pause) at or after `since`.
pub(crate) const CHANGED: &str = concat!(
    "SELECT ",
    schedule_columns!(),
    " FROM schedules WHERE lease_owner = $1 AND lease_until > $2 AND updated_at >= $3 ORDER BY name"
);

/// `$1` owner.
pub(crate) const RELEASE_ALL: &str =
    "UPDATE schedules SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = $1";
/// `$1` owner, `$2` name.
pub(crate) const RELEASE_ONE: &str = "UPDATE schedules SET lease_owner = NULL, lease_until = 0 \
     WHERE lease_owner = $1 AND name = $2";

/// Multi-row fire statements, one text per chunk size (see [`crate::chunks`]), built once.
pub(crate) struct FireBatch([String; SIZES.len()]);

impl FireBatch {
    fn build(statement: impl Fn(usize) -> String) -> FireBatch {
        FireBatch(SIZES.map(statement))
    }

    /// The statement for `rows` rows, a size from [`SIZES`].
    pub(crate) fn get(&self, rows: usize) -> &str {
        &self.0[size_index(rows)]
    }
}

fn values(rows: usize, item: impl Fn(usize) -> String) -> String {
    (0..rows).map(item).collect::<Vec<_>>().join(", ")
}

/// The lease check of a fire batch, and its bookkeeping, for many schedules in one statement.
/// SQLite (anonymous `?`, bound in textual order): fired_at, then per schedule name, version,
/// latest scheduled time, its outcome; then owner, now. Returns the names that passed.
pub(crate) static SQLITE_FIRE_LEASE_CHECK: LazyLock<FireBatch> = LazyLock::new(|| {
    FireBatch::build(|rows| {
        format!(
            "UPDATE schedules SET \
               last_scheduled_time = CASE WHEN last_scheduled_time IS NULL \
                 OR last_scheduled_time < v.column3 THEN v.column3 ELSE last_scheduled_time END, \
               last_fired_at = ?, last_outcome = v.column4 \
             FROM (VALUES {}) AS v \
             WHERE schedules.name = v.column1 AND +lease_owner = ? AND +lease_until > ? \
               AND version = v.column2 AND NOT paused RETURNING schedules.name",
            values(rows, |_| "(?, ?, ?, ?)".into())
        )
    })
});

/// PostgreSQL: `$1` owner, `$2` now, then per schedule name, version, latest, outcome.
pub(crate) static POSTGRES_FIRE_LEASE_CHECK: LazyLock<FireBatch> = LazyLock::new(|| {
    FireBatch::build(|rows| {
        let list = values(rows, |i| {
            let p = 3 + i * 4;
            if i == 0 {
                format!(
                    "(${p}::text, ${}::bigint, ${}::bigint, ${}::text)",
                    p + 1,
                    p + 2,
                    p + 3
                )
            } else {
                format!("(${p}, ${}, ${}, ${})", p + 1, p + 2, p + 3)
            }
        });
        format!(
            "UPDATE schedules SET \
               last_scheduled_time = CASE WHEN schedules.last_scheduled_time IS NULL \
                 OR schedules.last_scheduled_time < v.latest THEN v.latest \
                 ELSE schedules.last_scheduled_time END, \
               last_fired_at = $2, last_outcome = v.outcome \
             FROM (VALUES {list}) AS v(name, version, latest, outcome) \
             WHERE schedules.name = v.name AND schedules.lease_owner = $1 \
               AND schedules.lease_until > $2 AND schedules.version = v.version \
               AND NOT schedules.paused RETURNING schedules.name"
        )
    })
});

const INSERT_FIRES: &str = "INSERT INTO schedule_fires \
     (schedule, scheduled_time, fired_at, outcome, event_id, owner) VALUES ";
const INSERT_FIRES_END: &str =
    " ON CONFLICT (schedule, scheduled_time) DO NOTHING RETURNING schedule, scheduled_time";

/// SQLite: per fire schedule, scheduled_time, fired_at, outcome, event_id, owner. Returns the
/// keys written (a key recorded before is skipped).
pub(crate) static SQLITE_INSERT_FIRES: LazyLock<FireBatch> = LazyLock::new(|| {
    FireBatch::build(|rows| {
        format!(
            "{INSERT_FIRES}{}{INSERT_FIRES_END}",
            values(rows, |_| "(?, ?, ?, ?, ?, ?)".into())
        )
    })
});

/// PostgreSQL: `$1` fired_at, `$2` owner, then per fire schedule, scheduled_time, outcome,
/// event_id.
pub(crate) static POSTGRES_INSERT_FIRES: LazyLock<FireBatch> = LazyLock::new(|| {
    FireBatch::build(|rows| {
        let list = values(rows, |i| {
            let p = 3 + i * 4;
            format!("(${p}, ${}, $1, ${}, ${}, $2)", p + 1, p + 2, p + 3)
        });
        format!("{INSERT_FIRES}{list}{INSERT_FIRES_END}")
    })
});

/// A fire to insert: schedule, scheduled time, outcome, event id.
pub(crate) type FireRow<'a> = (&'a str, Millis, &'static str, Option<&'a str>);

/// Outcomes in order, given which fires passed the lease check and which keys were inserted.
/// A key repeated within the batch is written once (its first occurrence).
pub(crate) fn fire_outcomes(
    fires: &[FireWrite],
    owned: &std::collections::HashSet<String>,
    mut inserted: std::collections::HashSet<(String, Millis)>,
) -> Vec<FireOutcome> {
    fires
        .iter()
        .map(|f| {
            if !owned.contains(f.schedule.as_str()) {
                FireOutcome::NotOwner
            } else if inserted.remove(&(f.schedule.clone(), f.scheduled_time)) {
                FireOutcome::Written
            } else {
                FireOutcome::AlreadyFired
            }
        })
        .collect()
}

/// `$1` schedule, `$2` limit: the latest fires first.
pub(crate) const SELECT_FIRES: &str = "SELECT schedule, scheduled_time, fired_at, outcome, \
     event_id, owner FROM schedule_fires WHERE schedule = $1 \
     ORDER BY scheduled_time DESC LIMIT $2";

/// Per schedule of a fire batch: its version and the latest time with that time's outcome.
pub(crate) struct LeaseCheck<'a> {
    pub(crate) name: &'a str,
    pub(crate) version: i64,
    pub(crate) latest: Millis,
    pub(crate) outcome: &'static str,
}

/// Groups a batch by schedule, sorted by name so concurrent transactions lock in one order.
pub(crate) fn lease_checks(fires: &[FireWrite]) -> Vec<LeaseCheck<'_>> {
    let mut by_name: BTreeMap<&str, LeaseCheck<'_>> = BTreeMap::new();
    for f in fires {
        let entry = by_name.entry(&f.schedule).or_insert(LeaseCheck {
            name: &f.schedule,
            version: f.version,
            latest: f.scheduled_time,
            outcome: f.kind.as_str(),
        });
        if f.scheduled_time >= entry.latest {
            entry.latest = f.scheduled_time;
            entry.outcome = f.kind.as_str();
        }
        // Two versions in one batch: the check must fail for the stale one, so keep the lowest.
        entry.version = entry.version.min(f.version);
    }
    by_name.into_values().collect()
}

/// [`row`] for `try_map`, so each row is converted as it arrives. Many rows fetched whole would
/// all be alive at once, and SQLite copies every value it returns with the C allocator, whose
/// arenas keep such a peak (100,000 schedules: about 100 MB) long after it is freed.
pub(crate) fn owned_row<R>(r: R) -> Result<ScheduleRow, sqlx::Error>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
{
    row(&r).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// A schedule from a row of `schedule_columns!`.
pub(crate) fn row<R>(row: &R) -> Result<ScheduleRow, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
{
    let source: String = get(row, 1, "source")?;
    let source = match source.as_str() {
        "config" => ScheduleSource::Config,
        "api" => ScheduleSource::Api,
        other => {
            return Err(StoreError::Database(format!(
                "unknown schedule source {other:?}"
            )));
        }
    };
    Ok(ScheduleRow {
        name: get(row, 0, "name")?,
        source,
        definition: get(row, 2, "definition")?,
        paused: get(row, 3, "paused")?,
        version: get(row, 4, "version")?,
        lease_owner: get(row, 5, "lease_owner")?,
        lease_until: get(row, 6, "lease_until")?,
        last_scheduled_time: get(row, 7, "last_scheduled_time")?,
        last_fired_at: get(row, 8, "last_fired_at")?,
        last_outcome: get(row, 9, "last_outcome")?,
        anchor: get(row, 10, "anchor")?,
        created_at: get(row, 11, "created_at")?,
        updated_at: get(row, 12, "updated_at")?,
    })
}

/// A fire from a row of [`SELECT_FIRES`].
pub(crate) fn fire_record<R>(row: &R) -> Result<FireRecord, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(FireRecord {
        schedule: get(row, 0, "schedule")?,
        scheduled_time: get(row, 1, "scheduled_time")?,
        fired_at: get(row, 2, "fired_at")?,
        outcome: get(row, 3, "outcome")?,
        event_id: get(row, 4, "event_id")?,
        owner: get(row, 5, "owner")?,
    })
}

/// The schedule methods of a backend, written once: `$writer` and `$reader` are pools,
/// `$begin` opens a write transaction on the writer, `$claimable` selects claimable schedules,
/// `$renew` renews a chunk of leases. The backend supplies
/// `write_events(&mut tx, &[&EventWrite], now)`, `fire_lease_check(&mut tx, owner, now,
/// &[LeaseCheck]) -> Vec<String>` (the names that passed) and `insert_fires(&mut tx, owner, now,
/// &[FireRow]) -> Vec<(String, Millis)>` (the keys inserted).
macro_rules! schedule_methods {
    ($store:ty, writer = $writer:ident, reader = $reader:ident, begin = $begin:expr, claimable = $claimable:expr, renew = $renew:expr) => {
        impl $store {
            pub(crate) async fn sync_config_schedules_impl(
                &self,
                schedules: &[$crate::schedules::ConfigSchedule],
                now: $crate::Millis,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = ($begin)(&self.$writer).await?;
                let mut sorted: Vec<&$crate::schedules::ConfigSchedule> =
                    schedules.iter().collect();
                sorted.sort_by(|a, b| a.name.cmp(&b.name));
                for s in &sorted {
                    sqlx::query($crate::schedules::UPSERT_CONFIG)
                        .bind(s.name.as_str())
                        .bind(s.definition.as_str())
                        .bind(s.paused)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                // Names only, each row dropped as it is read: a first sync changes every
                // schedule, and 100,000 rows held at once would stay in the C allocator's
                // arenas (SQLite copies every value it returns) long after they are freed.
                let changed: Vec<String> = sqlx::query_scalar($crate::schedules::CHANGED_IN_SYNC)
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?;
                for name in changed {
                    $crate::schedules::withdraw_ahead!(
                        tx,
                        $crate::schedules::WITHDRAW_AHEAD,
                        &name,
                        now
                    );
                }
                let keep: std::collections::HashSet<&str> =
                    sorted.iter().map(|s| s.name.as_str()).collect();
                let existing: Vec<String> = sqlx::query_scalar($crate::schedules::CONFIG_NAMES)
                    .fetch_all(&mut *tx)
                    .await?;
                for name in existing {
                    if !keep.contains(name.as_str()) {
                        sqlx::query($crate::schedules::DELETE_CONFIG)
                            .bind(name.as_str())
                            .execute(&mut *tx)
                            .await?;
                        $crate::schedules::withdraw_ahead!(
                            tx,
                            $crate::schedules::WITHDRAW_AHEAD,
                            &name,
                            now
                        );
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn put_schedule_impl(
                &self,
                name: &str,
                definition: &str,
                paused: bool,
                now: $crate::Millis,
            ) -> Result<$crate::schedules::PutScheduleOutcome, $crate::StoreError> {
                use $crate::schedules::PutScheduleOutcome;
                let mut tx = ($begin)(&self.$writer).await?;
                let row = sqlx::query($crate::schedules::UPSERT_API)
                    .bind(name)
                    .bind(definition)
                    .bind(paused)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                let outcome = match row {
                    None => PutScheduleOutcome::ConfigOwned,
                    Some(row) => {
                        let row = $crate::schedules::row(&row)?;
                        if row.version == 1 {
                            PutScheduleOutcome::Created(row)
                        } else {
                            $crate::schedules::withdraw_ahead!(
                                tx,
                                $crate::schedules::WITHDRAW_AHEAD,
                                name,
                                now
                            );
                            PutScheduleOutcome::Updated(row)
                        }
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }

            pub(crate) async fn delete_schedule_impl(
                &self,
                name: &str,
            ) -> Result<$crate::schedules::DeleteScheduleOutcome, $crate::StoreError> {
                use $crate::schedules::DeleteScheduleOutcome;
                let mut tx = ($begin)(&self.$writer).await?;
                let done = sqlx::query($crate::schedules::DELETE_API)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() > 0 {
                    let now = $crate::schedules::now_for_withdraw();
                    $crate::schedules::withdraw_ahead!(
                        tx,
                        $crate::schedules::WITHDRAW_AHEAD,
                        name,
                        now
                    );
                    tx.commit().await?;
                    return Ok(DeleteScheduleOutcome::Deleted);
                }
                tx.rollback().await?;
                Ok(match self.schedule_impl(name).await? {
                    Some(_) => DeleteScheduleOutcome::ConfigOwned,
                    None => DeleteScheduleOutcome::NotFound,
                })
            }

            pub(crate) async fn set_schedule_paused_impl(
                &self,
                name: &str,
                paused: bool,
                now: $crate::Millis,
            ) -> Result<Option<$crate::schedules::ScheduleRow>, $crate::StoreError> {
                let mut tx = ($begin)(&self.$writer).await?;
                let row = sqlx::query($crate::schedules::SET_PAUSED)
                    .bind(name)
                    .bind(paused)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                if paused && row.is_some() {
                    $crate::schedules::withdraw_ahead!(
                        tx,
                        $crate::schedules::WITHDRAW_AHEAD,
                        name,
                        now
                    );
                }
                let row = match row {
                    // Read back: the withdrawal may have moved `last_scheduled_time`.
                    Some(_) if paused => {
                        sqlx::query($crate::schedules::SELECT_ONE)
                            .bind(name)
                            .fetch_optional(&mut *tx)
                            .await?
                    }
                    other => other,
                };
                tx.commit().await?;
                row.as_ref().map($crate::schedules::row).transpose()
            }

            pub(crate) async fn schedule_impl(
                &self,
                name: &str,
            ) -> Result<Option<$crate::schedules::ScheduleRow>, $crate::StoreError> {
                let row = sqlx::query($crate::schedules::SELECT_ONE)
                    .bind(name)
                    .fetch_optional(&self.$reader)
                    .await?;
                row.as_ref().map($crate::schedules::row).transpose()
            }

            pub(crate) async fn list_schedules_impl(
                &self,
            ) -> Result<Vec<$crate::schedules::ScheduleRow>, $crate::StoreError> {
                Ok(sqlx::query($crate::schedules::SELECT_ALL)
                    .try_map($crate::schedules::owned_row)
                    .fetch_all(&self.$reader)
                    .await?)
            }

            pub(crate) async fn schedule_fires_impl(
                &self,
                schedule: &str,
                limit: u32,
            ) -> Result<Vec<$crate::schedules::FireRecord>, $crate::StoreError> {
                let rows = sqlx::query($crate::schedules::SELECT_FIRES)
                    .bind(schedule)
                    .bind(i64::from(limit))
                    .fetch_all(&self.$reader)
                    .await?;
                rows.iter().map($crate::schedules::fire_record).collect()
            }

            pub(crate) async fn scheduler_heartbeat_impl(
                &self,
                owner: &str,
                now: $crate::Millis,
                until: $crate::Millis,
            ) -> Result<$crate::schedules::SchedulerCensus, $crate::StoreError> {
                use sqlx::Row as _;
                let mut tx = ($begin)(&self.$writer).await?;
                sqlx::query($crate::schedules::HEARTBEAT)
                    .bind(owner)
                    .bind(until)
                    .execute(&mut *tx)
                    .await?;
                // An hour of silence: that instance is gone, not stalled.
                sqlx::query($crate::schedules::FORGET_INSTANCES)
                    .bind(now - 3_600_000)
                    .execute(&mut *tx)
                    .await?;
                let instances: i64 = sqlx::query($crate::schedules::COUNT_INSTANCES)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
                let schedules: i64 = sqlx::query($crate::schedules::COUNT_SCHEDULES)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
                tx.commit().await?;
                Ok($crate::schedules::SchedulerCensus {
                    instances: u64::try_from(instances).unwrap_or(0).max(1),
                    schedules: u64::try_from(schedules).unwrap_or(0),
                })
            }

            pub(crate) async fn claim_schedules_impl(
                &self,
                owner: &str,
                now: $crate::Millis,
                lease_until: $crate::Millis,
                limit: u32,
            ) -> Result<Vec<$crate::schedules::ClaimedSchedule>, $crate::StoreError> {
                use sqlx::Row as _;
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let mut tx = ($begin)(&self.$writer).await?;
                let candidates = sqlx::query($claimable)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                let mut claimed = Vec::with_capacity(candidates.len());
                for c in &candidates {
                    let name: String = c.try_get(0)?;
                    let previous_owner: Option<String> = c.try_get(1)?;
                    let row = sqlx::query($crate::schedules::CLAIM_ONE)
                        .bind(name.as_str())
                        .bind(owner)
                        .bind(lease_until)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some(row) = row {
                        claimed.push($crate::schedules::ClaimedSchedule {
                            row: $crate::schedules::row(&row)?,
                            previous_owner,
                        });
                    }
                }
                tx.commit().await?;
                Ok(claimed)
            }

            pub(crate) async fn renew_schedule_leases_impl(
                &self,
                owner: &str,
                now: $crate::Millis,
                lease_until: $crate::Millis,
                after: &str,
                limit: u32,
            ) -> Result<Vec<String>, $crate::StoreError> {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let mut names: Vec<String> = sqlx::query_scalar($renew)
                    .bind(owner)
                    .bind(now)
                    .bind(lease_until)
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.$writer)
                    .await?;
                names.sort_unstable();
                Ok(names)
            }

            pub(crate) async fn changed_schedules_impl(
                &self,
                owner: &str,
                now: $crate::Millis,
                since: $crate::Millis,
            ) -> Result<Vec<$crate::schedules::ScheduleRow>, $crate::StoreError> {
                // Right after a start every schedule counts as changed: 100,000 rows.
                Ok(sqlx::query($crate::schedules::CHANGED)
                    .bind(owner)
                    .bind(now)
                    .bind(since)
                    .try_map($crate::schedules::owned_row)
                    .fetch_all(&self.$reader)
                    .await?)
            }

            pub(crate) async fn release_schedules_impl(
                &self,
                owner: &str,
                names: Option<&[String]>,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = ($begin)(&self.$writer).await?;
                match names {
                    None => {
                        // A stopping instance leaves no fire recorded ahead behind: the next
                        // owner plans those times by the misfire policy.
                        let now = $crate::schedules::now_for_withdraw();
                        $crate::schedules::withdraw_ahead!(
                            tx,
                            $crate::schedules::WITHDRAW_AHEAD_OF_OWNER,
                            owner,
                            now
                        );
                        sqlx::query($crate::schedules::RELEASE_ALL)
                            .bind(owner)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query($crate::schedules::FORGET_INSTANCE)
                            .bind(owner)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Some(names) => {
                        for name in names {
                            sqlx::query($crate::schedules::RELEASE_ONE)
                                .bind(owner)
                                .bind(name.as_str())
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn fire_impl(
                &self,
                owner: &str,
                now: $crate::Millis,
                fires: &[$crate::schedules::FireWrite],
            ) -> Result<Vec<$crate::schedules::FireOutcome>, $crate::StoreError> {
                use $crate::schedules::FireOutcome;
                if fires.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = ($begin)(&self.$writer).await?;
                let checks = $crate::schedules::lease_checks(fires);
                let mut owned = std::collections::HashSet::with_capacity(checks.len());
                for chunk in $crate::chunks::split(&checks) {
                    owned.extend(Self::fire_lease_check(&mut tx, owner, now, chunk).await?);
                }
                let rows: Vec<$crate::schedules::FireRow<'_>> = fires
                    .iter()
                    .filter(|f| owned.contains(f.schedule.as_str()))
                    .map(|f| {
                        (
                            f.schedule.as_str(),
                            f.scheduled_time,
                            f.kind.as_str(),
                            f.event.as_ref().map(|e| e.event.id.as_str()),
                        )
                    })
                    .collect();
                let mut inserted = std::collections::HashSet::with_capacity(rows.len());
                for chunk in $crate::chunks::split(&rows) {
                    inserted.extend(Self::insert_fires(&mut tx, owner, now, chunk).await?);
                }
                let outcomes = $crate::schedules::fire_outcomes(fires, &owned, inserted);
                // A fire recorded ahead of its time is accepted as of that time, and its
                // deliveries fall due then: the later of its time and now.
                let mut events: Vec<($crate::Millis, &$crate::EventWrite)> = fires
                    .iter()
                    .zip(&outcomes)
                    .filter(|(_, o)| **o == FireOutcome::Written)
                    .filter_map(|(f, _)| f.event.as_ref().map(|e| (f.scheduled_time.max(now), e)))
                    .collect();
                events.sort_by(|a, b| (a.0, &a.1.event.id).cmp(&(b.0, &b.1.event.id)));
                events.dedup_by(|a, b| a.1.event.id == b.1.event.id);
                for group in events.chunk_by(|a, b| a.0 == b.0) {
                    let due = group[0].0;
                    let writes: Vec<&$crate::EventWrite> = group.iter().map(|(_, e)| *e).collect();
                    Self::write_events(&mut tx, &writes, due).await?;
                }
                tx.commit().await?;
                Ok(outcomes)
            }
        }
    };
}
pub(crate) use schedule_methods;
