//! PostgreSQL backend: several instances may share one database; `FOR UPDATE SKIP LOCKED`
//! keeps their claims apart.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::jobs::{self, AttemptColumns};
use crate::sql::batch;
use crate::{
    AttemptRecord, Delivery, DeliveryState, EventWrite, IngestOutcome, Job, Millis, OpenOptions,
    StateCounts, Store, StoreError, StoredEvent, chunks, due, ingest_plan, rows, sql,
};

use crate::schedules::{
    ClaimedSchedule, ConfigSchedule, DeleteScheduleOutcome, FireOutcome, FireRecord, FireWrite,
    PutScheduleOutcome, ScheduleRow, SchedulerCensus,
};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// A [`Store`] in a PostgreSQL database (`postgres://…`).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database named by `url` and applies migrations, in the connection's
    /// default schema.
    pub async fn open(url: &str, opts: &OpenOptions) -> Result<Self, StoreError> {
        Self::connect(url, None, opts).await
    }

    /// As [`PostgresStore::open`], but every table lives in `schema`, which is created if
    /// missing: every pooled connection sets its `search_path` to it. Lets tests (or tenants)
    /// share one database. `schema` is lowercase ASCII letters, digits and `_`, not starting
    /// with a digit, at most 63 bytes.
    pub async fn open_in_schema(
        url: &str,
        schema: &str,
        opts: &OpenOptions,
    ) -> Result<Self, StoreError> {
        if !is_plain_identifier(schema) {
            return Err(StoreError::InvalidUrl {
                url: url.to_string(),
                reason: format!(
                    "schema {schema:?}: use 1-63 lowercase letters, digits and _, not starting \
                     with a digit"
                ),
            });
        }
        Self::connect(url, Some(schema), opts).await
    }

    async fn connect(
        url: &str,
        schema: Option<&str>,
        opts: &OpenOptions,
    ) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let mut pool = PgPoolOptions::new().max_connections(opts.max_connections.max(1));
        if let Some(schema) = schema {
            // The name was checked by `is_plain_identifier`, so quoting it is enough.
            let set_path: Arc<str> = format!("SET search_path TO \"{schema}\"").into();
            pool = pool.after_connect(move |conn, _meta| {
                let set_path = Arc::clone(&set_path);
                Box::pin(async move {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(set_path))
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(connect).await?;
        if let Some(schema) = schema {
            let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
            sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                .execute(&pool)
                .await?;
        }
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(PostgresStore { pool })
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A schema name safe to splice into SQL between double quotes.
fn is_plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[async_trait]
impl Store for PostgresStore {
    async fn ingest(
        &self,
        writes: &[EventWrite],
        now: Millis,
        dedup_cutoff: Millis,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let firsts = ingest_plan::first_occurrences(writes);
        let mut tx = self.pool.begin().await?;

        let written = Self::upsert_events(&mut tx, &firsts, now, dedup_cutoff).await?;
        let accepted: Vec<&EventWrite> = firsts
            .into_iter()
            .filter(|w| written.contains(&w.event.id))
            .collect();
        Self::write_deliveries(&mut tx, &accepted, now).await?;

        tx.commit().await?;
        Ok(ingest_plan::outcomes(writes, |id| written.contains(id)))
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
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(sql::CLAIM_POSTGRES)
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
            let mut query = sqlx::query(batch::POSTGRES_EVENT_BODIES.get(chunk.len()));
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
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
        for chunk in chunks::split(delivery_ids) {
            let mut query = sqlx::query(batch::POSTGRES_RELEASE.get(chunk.len())).bind(owner);
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
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::event).transpose()
    }

    async fn event_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let found = sqlx::query(sql::SELECT_EVENT_DELIVERIES)
            .bind(event_id)
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::delivery).collect()
    }

    async fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        let row = sqlx::query(sql::SELECT_DELIVERY)
            .bind(id)
            .fetch_optional(&self.pool)
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
        let found = query.bind(i64::from(limit)).fetch_all(&self.pool).await?;
        found.iter().map(rows::delivery).collect()
    }

    async fn retry_delivery(&self, id: &str, now: Millis) -> Result<Option<Delivery>, StoreError> {
        let row = sqlx::query(sql::RETRY_DELIVERY)
            .bind(id)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::delivery).transpose()
    }

    async fn count_by_state(&self) -> Result<StateCounts, StoreError> {
        let found = sqlx::query(sql::COUNT_BY_STATE)
            .fetch_all(&self.pool)
            .await?;
        let mut counts = Vec::with_capacity(found.len());
        for row in &found {
            counts.push((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?));
        }
        Ok(rows::state_counts(counts))
    }

    async fn next_due(&self) -> Result<Option<Millis>, StoreError> {
        let found = sqlx::query(sql::PENDING_HEAD)
            .bind(i64::from(due::HEAD))
            .fetch_all(&self.pool)
            .await?;
        let mut head = Vec::with_capacity(found.len());
        for row in &found {
            head.push((row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?));
        }
        let complete = head.len() < due::HEAD as usize;
        Ok(due::earliest_claimable(&head, complete))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
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
    PostgresStore,
    writer = pool,
    begin = begin_write,
    claimable = crate::check_leases::CLAIMABLE_POSTGRES,
    open_confirmations = crate::check_leases::OPEN_CONFIRMATIONS_POSTGRES
);
crate::check_states::check_state_methods!(PostgresStore, writer = pool, reader = pool);
crate::heartbeats::heartbeat_methods!(
    PostgresStore,
    writer = pool,
    reader = pool,
    row = sqlx::postgres::PgRow
);

async fn begin_write(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin().await
}

crate::schedules::schedule_methods!(
    PostgresStore,
    writer = pool,
    reader = pool,
    begin = begin_write,
    claimable = crate::schedules::CLAIMABLE_POSTGRES,
    renew = crate::schedules::RENEW_CHUNK_POSTGRES
);

impl PostgresStore {
    /// The lease check of one chunk of a fire batch; the names that passed.
    async fn fire_lease_check(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        owner: &str,
        now: Millis,
        checks: &[crate::schedules::LeaseCheck<'_>],
    ) -> Result<Vec<String>, StoreError> {
        let mut query = sqlx::query(crate::schedules::POSTGRES_FIRE_LEASE_CHECK.get(checks.len()))
            .bind(owner)
            .bind(now);
        for c in checks {
            query = query
                .bind(c.name)
                .bind(c.version)
                .bind(c.latest)
                .bind(c.outcome);
        }
        let rows = query.fetch_all(&mut **tx).await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?)
    }

    /// One chunk of fire records; the keys inserted.
    async fn insert_fires(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        owner: &str,
        now: Millis,
        fires: &[crate::schedules::FireRow<'_>],
    ) -> Result<Vec<(String, Millis)>, StoreError> {
        let mut query = sqlx::query(crate::schedules::POSTGRES_INSERT_FIRES.get(fires.len()))
            .bind(now)
            .bind(owner);
        for (schedule, time, outcome, event_id) in fires {
            query = query
                .bind(*schedule)
                .bind(*time)
                .bind(*outcome)
                .bind(*event_id);
        }
        let rows = query.fetch_all(&mut **tx).await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
            .collect()
    }

    /// Fire events and their deliveries, inside the fire transaction (ids are unique already,
    /// so an existing event of the same id is replaced).
    async fn write_events(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        events: &[&EventWrite],
        now: Millis,
    ) -> Result<(), StoreError> {
        Self::upsert_events(tx, events, now, Millis::MAX).await?;
        Self::write_deliveries(tx, events, now).await
    }

    /// Upserts events; one accepted before `cutoff` is replaced. Returns the ids written
    /// (inserted or replaced); the others were accepted at or after the cutoff.
    async fn upsert_events(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        events: &[&EventWrite],
        now: Millis,
        cutoff: Millis,
    ) -> Result<HashSet<String>, StoreError> {
        let mut written = HashSet::with_capacity(events.len());
        for chunk in chunks::split(events) {
            let mut query = sqlx::query(batch::POSTGRES_UPSERT_EVENTS.get(chunk.len()))
                .bind(now)
                .bind(cutoff);
            for w in chunk {
                let e = &w.event;
                query = query
                    .bind(e.id.as_str())
                    .bind(e.source.as_str())
                    .bind(e.detail_type.as_str())
                    .bind(e.time)
                    .bind(e.body.as_str());
            }
            for row in query.fetch_all(&mut **tx).await? {
                written.insert(row.try_get::<String, _>(0)?);
            }
        }
        Ok(written)
    }

    /// The deliveries of `events`, due now.
    async fn write_deliveries(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        events: &[&EventWrite],
        now: Millis,
    ) -> Result<(), StoreError> {
        let deliveries: Vec<_> = events
            .iter()
            .flat_map(|w| w.deliveries.iter().map(move |d| (w.event.id.as_str(), d)))
            .collect();
        for chunk in chunks::split(&deliveries) {
            let mut query =
                sqlx::query(batch::POSTGRES_INSERT_DELIVERIES.get(chunk.len())).bind(now);
            for (event_id, d) in chunk {
                query = query
                    .bind(d.id.as_str())
                    .bind(*event_id)
                    .bind(d.rule.as_str())
                    .bind(rows::to_i32(d.target, "target")?);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_plain_identifier;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(is_plain_identifier("t_0123abc"));
        assert!(!is_plain_identifier(""));
        assert!(!is_plain_identifier("1abc"));
        assert!(!is_plain_identifier("a\"; drop"));
        assert!(!is_plain_identifier("Upper"));
        assert!(!is_plain_identifier(&"a".repeat(64)));
    }
}
