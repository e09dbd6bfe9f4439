//! SQLite backend: one file in WAL mode, one writer connection, a pool of readers.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::jobs::{self, AttemptColumns};
use crate::sql::batch;
use crate::sqlite_ingest::SqliteIngester;
use crate::{
    AttemptRecord, BlockingIngest, Delivery, DeliveryState, EventWrite, IngestOutcome, Job, Millis,
    OpenOptions, StateCounts, Store, StoreError, StoredEvent, chunks, due, ingest_plan, rows, sql,
};

use crate::schedules::{
    ClaimedSchedule, ConfigSchedule, DeleteScheduleOutcome, FireOutcome, FireRecord, FireWrite,
    PutScheduleOutcome, ScheduleRow, SchedulerCensus,
};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Every write transaction takes the write lock up front, so it never fails half-way with
/// SQLITE_BUSY when another process holds the file.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// A [`Store`] in one SQLite file (`sqlite://PATH`) or in memory (`sqlite::memory:`).
#[derive(Clone)]
pub struct SqliteStore {
    /// A single connection: SQLite has one writer at a time, and queueing here is cheaper than
    /// retrying on SQLITE_BUSY.
    writer: SqlitePool,
    /// Readers run beside the writer (WAL). The same pool as `writer` in memory.
    reader: SqlitePool,
    /// Ingest on a connection of its own, taking turns with `writer` (a file, not in memory).
    ingester: Option<Arc<SqliteIngester>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("writer", &self.writer)
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if missing, with its directory) the database named by `url` and applies
    /// migrations. `opts.max_connections` sizes the reader pool.
    pub async fn open(url: &str, opts: &OpenOptions) -> Result<Self, StoreError> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl {
                url: url.to_string(),
                reason: e.to_string(),
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Accepted means durable, even across power loss; batching amortizes the fsync.
            .synchronous(if opts.sqlite_fsync_every_commit {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(false)
            // 2 MiB of page cache per connection (SQLite's default size): pages beyond it come
            // from the OS's file cache. 64 MiB each (writer and up to 8 readers, filled as the
            // database grows) was most of the process's memory under a steady fire load, and
            // was not faster in bench/ingest.sh.
            .pragma("cache_size", "-2048");

        if is_in_memory(url) {
            // One connection that never closes: the database lives exactly as long as it.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(connect)
                .await?;
            migrate(&pool).await?;
            return Ok(SqliteStore {
                writer: pool.clone(),
                reader: pool,
                ingester: None,
            });
        }

        if let Some(dir) = connect
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                StoreError::Database(format!("creating directory {}: {e}", dir.display()))
            })?;
        }
        // The writer's one connection is also the ingester's turn to write (sqlite_ingest.rs):
        // it stays open, and taking it does not ping the worker thread first.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(connect.clone())
            .await?;
        migrate(&writer).await?;
        let ingester = SqliteIngester::open(
            connect.get_filename(),
            opts.sqlite_fsync_every_commit,
            writer.clone(),
        )?;
        let reader = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .connect_with(connect)
            .await?;
        Ok(SqliteStore {
            writer,
            reader,
            ingester: Some(Arc::new(ingester)),
        })
    }

    /// Closes both pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| StoreError::Migration(e.to_string()))
}

/// Runs a call of the ingester's connection on a blocking thread.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| StoreError::Database(format!("store thread: {e}")))?
}

#[async_trait]
impl Store for SqliteStore {
    async fn ingest(
        &self,
        writes: &[EventWrite],
        now: Millis,
        dedup_cutoff: Millis,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(ingester) = &self.ingester {
            // The committer calls the ingester from its own thread; other callers get one.
            let ingester = ingester.clone();
            let writes = writes.to_vec();
            return blocking(move || {
                let result = ingester.ingest(&writes, now, dedup_cutoff);
                ingester.pause();
                result
            })
            .await;
        }
        // In memory: the one connection is the writer's.
        let firsts = ingest_plan::first_occurrences(writes);
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;

        // Duplicates are the ids accepted at or after the cutoff. This transaction holds the
        // write lock, so that stays true until it commits; everything else is written.
        let mut recent = HashSet::new();
        for chunk in chunks::split(&firsts) {
            let mut query =
                sqlx::query(batch::SQLITE_RECENT_EVENTS.get(chunk.len())).bind(dedup_cutoff);
            for w in chunk {
                query = query.bind(w.event.id.as_str());
            }
            for row in query.fetch_all(&mut *tx).await? {
                recent.insert(row.try_get::<String, _>(0)?);
            }
        }
        let accepted: Vec<&EventWrite> = firsts
            .into_iter()
            .filter(|w| !recent.contains(&w.event.id))
            .collect();

        Self::write_events(&mut tx, &accepted, now).await?;

        tx.commit().await?;
        let written: HashSet<&str> = accepted.iter().map(|w| w.event.id.as_str()).collect();
        Ok(ingest_plan::outcomes(writes, |id| written.contains(id)))
    }

    fn blocking_ingest(&self) -> Option<Arc<dyn BlockingIngest>> {
        self.ingester.clone().map(|i| i as Arc<dyn BlockingIngest>)
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        if let Some(ingester) = &self.ingester {
            let (ingester, owner) = (ingester.clone(), owner.to_owned());
            return blocking(move || ingester.claim_due(&owner, now, lease_until, limit)).await;
        }
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let claimed = sqlx::query(sql::CLAIM_SQLITE)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        let deliveries = claimed
            .iter()
            .map(rows::delivery)
            .collect::<Result<Vec<_>, _>>()?;

        let mut events = HashMap::with_capacity(deliveries.len());
        for chunk in chunks::split(&jobs::event_ids(&deliveries)) {
            let mut query = sqlx::query(batch::SQLITE_EVENT_BODIES.get(chunk.len()));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *tx).await? {
                let (id, body, accepted_at) = rows::event_body(&row)?;
                events.insert(id, (body, accepted_at));
            }
        }
        tx.commit().await?;
        jobs::assemble(deliveries, &events)
    }

    async fn record_attempts(
        &self,
        owner: &str,
        now: Millis,
        records: &[(String, AttemptRecord)],
    ) -> Result<Vec<bool>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(ingester) = &self.ingester {
            let (ingester, owner, records) = (ingester.clone(), owner.to_owned(), records.to_vec());
            return blocking(move || ingester.record_attempts(&owner, now, &records)).await;
        }
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let mut done = Vec::with_capacity(records.len());
        for (delivery_id, record) in records {
            let cols = AttemptColumns::of(record);
            let result = sqlx::query(sql::RECORD_ATTEMPT)
                .bind(delivery_id.as_str())
                .bind(owner)
                .bind(cols.state)
                .bind(now)
                .bind(cols.next_attempt_at)
                .bind(cols.last_error)
                .bind(cols.last_status)
                .execute(&mut *tx)
                .await?;
            done.push(result.rows_affected() == 1);
        }
        tx.commit().await?;
        Ok(done)
    }

    async fn release(&self, delivery_ids: &[String], owner: &str) -> Result<(), StoreError> {
        if delivery_ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        for chunk in chunks::split(delivery_ids) {
            let mut query = sqlx::query(batch::SQLITE_RELEASE.get(chunk.len())).bind(owner);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn event(&self, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let row = sqlx::query(sql::SELECT_EVENT)
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(rows::event).transpose()
    }

    async fn event_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let found = sqlx::query(sql::SELECT_EVENT_DELIVERIES)
            .bind(event_id)
            .fetch_all(&self.reader)
            .await?;
        found.iter().map(rows::delivery).collect()
    }

    async fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        let row = sqlx::query(sql::SELECT_DELIVERY)
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(rows::delivery).transpose()
    }

    async fn list_deliveries(
        &self,
        state: Option<DeliveryState>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut query = sqlx::query(sql::list_deliveries(state.is_some(), after.is_some()));
        if let Some(state) = state {
            query = query.bind(state.as_str());
        }
        if let Some(after) = after {
            query = query.bind(after);
        }
        let found = query.bind(i64::from(limit)).fetch_all(&self.reader).await?;
        found.iter().map(rows::delivery).collect()
    }

    async fn retry_delivery(&self, id: &str, now: Millis) -> Result<Option<Delivery>, StoreError> {
        let row = sqlx::query(sql::RETRY_DELIVERY)
            .bind(id)
            .bind(now)
            .fetch_optional(&self.writer)
            .await?;
        row.as_ref().map(rows::delivery).transpose()
    }

    async fn count_by_state(&self) -> Result<StateCounts, StoreError> {
        let found = sqlx::query(sql::COUNT_BY_STATE)
            .fetch_all(&self.reader)
            .await?;
        let mut counts = Vec::with_capacity(found.len());
        for row in &found {
            counts.push((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?));
        }
        Ok(rows::state_counts(counts))
    }

    async fn next_due(&self) -> Result<Option<Millis>, StoreError> {
        let found = sqlx::query(sql::PENDING_HEAD_SQLITE)
            .bind(i64::from(due::HEAD))
            .fetch_all(&self.reader)
            .await?;
        let mut head = Vec::with_capacity(found.len());
        for row in &found {
            head.push((row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?));
        }
        let complete = head.len() < due::HEAD as usize;
        Ok(due::earliest_claimable(&head, complete))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn sync_config_schedules(
        &self,
        schedules: &[ConfigSchedule],
        now: Millis,
    ) -> Result<(), StoreError> {
        self.sync_config_schedules_impl(schedules, now).await
    }

    async fn put_schedule(
        &self,
        name: &str,
        definition: &str,
        paused: bool,
        now: Millis,
    ) -> Result<PutScheduleOutcome, StoreError> {
        self.put_schedule_impl(name, definition, paused, now).await
    }

    async fn delete_schedule(&self, name: &str) -> Result<DeleteScheduleOutcome, StoreError> {
        self.delete_schedule_impl(name).await
    }

    async fn set_schedule_paused(
        &self,
        name: &str,
        paused: bool,
        now: Millis,
    ) -> Result<Option<ScheduleRow>, StoreError> {
        self.set_schedule_paused_impl(name, paused, now).await
    }

    async fn schedule(&self, name: &str) -> Result<Option<ScheduleRow>, StoreError> {
        self.schedule_impl(name).await
    }

    async fn list_schedules(&self) -> Result<Vec<ScheduleRow>, StoreError> {
        self.list_schedules_impl().await
    }

    async fn schedule_fires(
        &self,
        schedule: &str,
        limit: u32,
    ) -> Result<Vec<FireRecord>, StoreError> {
        self.schedule_fires_impl(schedule, limit).await
    }

    async fn scheduler_heartbeat(
        &self,
        owner: &str,
        now: Millis,
        until: Millis,
    ) -> Result<SchedulerCensus, StoreError> {
        self.scheduler_heartbeat_impl(owner, now, until).await
    }

    async fn claim_schedules(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<ClaimedSchedule>, StoreError> {
        self.claim_schedules_impl(owner, now, lease_until, limit)
            .await
    }

    async fn renew_schedule_leases(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        after: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        self.renew_schedule_leases_impl(owner, now, lease_until, after, limit)
            .await
    }

    async fn changed_schedules(
        &self,
        owner: &str,
        now: Millis,
        since: Millis,
    ) -> Result<Vec<ScheduleRow>, StoreError> {
        self.changed_schedules_impl(owner, now, since).await
    }

    async fn release_schedules(
        &self,
        owner: &str,
        names: Option<&[String]>,
    ) -> Result<(), StoreError> {
        self.release_schedules_impl(owner, names).await
    }

    async fn fire(
        &self,
        owner: &str,
        now: Millis,
        fires: &[FireWrite],
    ) -> Result<Vec<FireOutcome>, StoreError> {
        self.fire_impl(owner, now, fires).await
    }

    async fn load_check_states(&self) -> Result<Vec<crate::CheckStateRow>, StoreError> {
        self.load_check_states_impl().await
    }

    async fn save_check_state(&self, row: &crate::CheckStateRow) -> Result<(), StoreError> {
        self.save_check_state_impl(row).await
    }

    async fn monitor_heartbeat(
        &self,
        owner: &str,
        now: Millis,
        until: Millis,
        yielding: bool,
    ) -> Result<crate::MonitorCensus, StoreError> {
        self.monitor_heartbeat_impl(owner, now, until, yielding)
            .await
    }

    async fn claim_check_partitions(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<crate::ClaimedPartition>, StoreError> {
        self.claim_check_partitions_impl(owner, now, lease_until, limit)
            .await
    }

    async fn renew_check_partitions(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Vec<u32>, StoreError> {
        self.renew_check_partitions_impl(owner, now, lease_until)
            .await
    }

    async fn release_check_partitions(
        &self,
        owner: &str,
        partitions: Option<&[u32]>,
    ) -> Result<(), StoreError> {
        self.release_check_partitions_impl(owner, partitions).await
    }

    async fn request_check_confirmation(
        &self,
        id: &str,
        check: &str,
        requester: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.request_check_confirmation_impl(id, check, requester, now)
            .await
    }

    async fn claim_check_confirmations(
        &self,
        owner: &str,
        now: Millis,
        max_age: Millis,
        limit: u32,
    ) -> Result<Vec<crate::ConfirmationRequest>, StoreError> {
        self.claim_check_confirmations_impl(owner, now, max_age, limit)
            .await
    }

    async fn answer_check_confirmation(
        &self,
        id: &str,
        owner: &str,
        success: bool,
        now: Millis,
    ) -> Result<bool, StoreError> {
        self.answer_check_confirmation_impl(id, owner, success, now)
            .await
    }

    async fn check_confirmation(
        &self,
        id: &str,
    ) -> Result<Option<crate::ConfirmationRow>, StoreError> {
        self.check_confirmation_impl(id).await
    }

    async fn record_heartbeat(
        &self,
        name: &str,
        signal: crate::HeartbeatSignal,
        body: Option<&str>,
        now: Millis,
    ) -> Result<crate::HeartbeatRow, StoreError> {
        self.record_heartbeat_impl(name, signal, body, now).await
    }

    async fn heartbeat(&self, name: &str) -> Result<Option<crate::HeartbeatRow>, StoreError> {
        self.heartbeat_impl(name).await
    }
}

crate::check_leases::check_lease_methods!(
    SqliteStore,
    writer = writer,
    begin = begin_write,
    claimable = crate::check_leases::CLAIMABLE_SQLITE,
    open_confirmations = crate::check_leases::OPEN_CONFIRMATIONS_SQLITE
);
crate::check_states::check_state_methods!(SqliteStore, writer = writer, reader = reader);
crate::heartbeats::heartbeat_methods!(
    SqliteStore,
    writer = writer,
    reader = reader,
    row = sqlx::sqlite::SqliteRow
);

async fn begin_write(
    pool: &SqlitePool,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with(BEGIN_WRITE).await
}

crate::schedules::schedule_methods!(
    SqliteStore,
    writer = writer,
    reader = reader,
    begin = begin_write,
    claimable = crate::schedules::CLAIMABLE_SQLITE,
    renew = crate::schedules::RENEW_CHUNK_SQLITE
);

impl SqliteStore {
    /// The lease check of one chunk of a fire batch; the names that passed.
    async fn fire_lease_check(
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        owner: &str,
        now: Millis,
        checks: &[crate::schedules::LeaseCheck<'_>],
    ) -> Result<Vec<String>, StoreError> {
        let mut query =
            sqlx::query(crate::schedules::SQLITE_FIRE_LEASE_CHECK.get(checks.len())).bind(now);
        for c in checks {
            query = query
                .bind(c.name)
                .bind(c.version)
                .bind(c.latest)
                .bind(c.outcome);
        }
        let rows = query.bind(owner).bind(now).fetch_all(&mut **tx).await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?)
    }

    /// One chunk of fire records; the keys inserted.
    async fn insert_fires(
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        owner: &str,
        now: Millis,
        fires: &[crate::schedules::FireRow<'_>],
    ) -> Result<Vec<(String, Millis)>, StoreError> {
        let mut query = sqlx::query(crate::schedules::SQLITE_INSERT_FIRES.get(fires.len()));
        for (schedule, time, outcome, event_id) in fires {
            query = query
                .bind(*schedule)
                .bind(*time)
                .bind(now)
                .bind(*outcome)
                .bind(*event_id)
                .bind(owner);
        }
        let rows = query.fetch_all(&mut **tx).await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
            .collect()
    }

    /// Events and their deliveries, inside the caller's write transaction (for ingest: the
    /// accepted ones; for fires: ids are unique already).
    async fn write_events(
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        events: &[&EventWrite],
        now: Millis,
    ) -> Result<(), StoreError> {
        for chunk in chunks::split(events) {
            let mut query = sqlx::query(batch::SQLITE_UPSERT_EVENTS.get(chunk.len()));
            for w in chunk {
                let e = &w.event;
                query = query
                    .bind(e.id.as_str())
                    .bind(e.source.as_str())
                    .bind(e.detail_type.as_str())
                    .bind(e.time)
                    .bind(now)
                    .bind(e.body.as_str());
            }
            query.execute(&mut **tx).await?;
        }
        let deliveries: Vec<_> = events
            .iter()
            .flat_map(|w| w.deliveries.iter().map(move |d| (w.event.id.as_str(), d)))
            .collect();
        for chunk in chunks::split(&deliveries) {
            let mut query = sqlx::query(batch::SQLITE_INSERT_DELIVERIES.get(chunk.len()));
            for (event_id, d) in chunk {
                query = query
                    .bind(d.id.as_str())
                    .bind(*event_id)
                    .bind(d.rule.as_str())
                    .bind(rows::to_i32(d.target, "target")?)
                    .bind(now)
                    .bind(now)
                    .bind(now)
                    .bind(now);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for `sql`, one detail line per step.
    async fn plan(store: &SqliteStore, sql: &str, binds: usize) -> Vec<String> {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        // Our own constants, not input.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(explain));
        for _ in 0..binds {
            query = query.bind(0_i64);
        }
        let rows = query.fetch_all(&store.reader).await.expect("explain");
        rows.iter()
            .map(|r| r.try_get::<String, _>(3).expect("detail"))
            .collect()
    }

    #[tokio::test]
    async fn claims_and_the_due_head_walk_the_due_index_without_sorting_the_backlog() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/plan.db", dir.path().display());
        let store = SqliteStore::open(&url, &OpenOptions::default())
            .await
            .expect("open");
        for (sql, binds) in [(sql::CLAIM_SQLITE, 4), (sql::PENDING_HEAD_SQLITE, 1)] {
            let steps = plan(&store, sql, binds).await;
            assert!(
                steps.iter().any(|s| s.contains("deliveries_due")),
                "{sql}: {steps:?}"
            );
            assert!(
                !steps.iter().any(|s| s.contains("TEMP B-TREE")),
                "{sql}: {steps:?}"
            );
        }
    }
}
