//! SQLite ingest run by the committer's own thread, on a connection of its own (rusqlite).
//!
//! Why not sqlx here: sqlx runs every SQLite statement on a worker thread and answers through a
//! channel, so one group-commit transaction (begin, duplicate check, inserts, commit) is several
//! hand-offs between threads, and after each one the async committer waits to be polled again
//! behind the HTTP tasks. Ingest is the hot path; profiled under `bench/ingest.sh` those
//! hand-offs, not the fsync, set the commit time (about 1 ms for 30 events). Here the thread that
//! gathered the group runs the whole transaction with prepared statements and answers at once.
//!
//! One writer at a time: before writing, the ingester takes the only connection of the sqlx
//! writer pool and keeps it while requests keep coming, for at most [`HOLD`]. The store's other
//! writers (scheduler, monitor, API) wait for it in that pool's queue, in order, instead of
//! meeting SQLITE_BUSY and SQLite's sleeping retries.
//!
//! The dispatcher's claims and outcome records run on this connection too (from a blocking
//! thread, between ingest transactions): through sqlx every claimed row crossed a channel from
//! its worker thread, about half of a delivery's CPU. When no ingest holds the turn, such a write
//! takes it and a timer hands it back after [`HOLD`], so back-to-back claims and records do not
//! pay for the hand-over each time and the other writers still get their turn.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior, named_params, params};
use sqlx::Sqlite;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqlitePool;
use tokio::runtime::Handle;

use crate::jobs::{self, AttemptColumns};
use crate::sql::{self, batch};
use crate::{
    AttemptRecord, BlockingIngest, Delivery, DeliveryState, EventWrite, IngestOutcome, Job, Millis,
    StoreError, ingest_plan, rows,
};

/// Longest the ingester keeps the write connection across back-to-back transactions. Handing it
/// over costs a task hop on the runtime, so it is not done after every transaction under load;
/// other writers wait at most this long (plus one transaction).
pub(crate) const HOLD: Duration = Duration::from_millis(5);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// Writes ingest transactions on the calling thread. See the module docs.
pub(crate) struct SqliteIngester {
    state: Mutex<State>,
    /// The sqlx writer pool (one connection): holding its connection is the right to write.
    writer: SqlitePool,
    /// Where sqlx's futures run: acquiring the writer waits on it, and a released connection is
    /// handed back by a task spawned there.
    runtime: Handle,
}

struct State {
    conn: Connection,
    /// The writer pool's connection while held, and since when.
    turn: Option<(PoolConnection<Sqlite>, Instant)>,
    /// A timer will end a turn the dispatcher's writes took (see `in_transaction`).
    release_scheduled: bool,
}

impl SqliteIngester {
    /// Opens a connection to the database file at `path`, which the sqlx pools have already
    /// created and migrated. Call from within the runtime that owns `writer`.
    pub(crate) fn open(
        path: &Path,
        fsync_every_commit: bool,
        writer: SqlitePool,
    ) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        // The same settings as the sqlx connections (see SqliteStore::open).
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!(
                "{}: journal mode is {mode}, expected wal",
                path.display()
            )));
        }
        conn.pragma_update(
            None,
            "synchronous",
            if fsync_every_commit { "FULL" } else { "NORMAL" },
        )?;
        conn.pragma_update(None, "cache_size", -2048)?;
        conn.pragma_update(None, "foreign_keys", false)?;
        // Only other processes could make us wait: this process's writers take turns above.
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(SqliteIngester {
            state: Mutex::new(State {
                conn,
                turn: None,
                release_scheduled: false,
            }),
            writer,
            runtime: Handle::current(),
        })
    }

    fn take_turn(&self, state: &mut State) -> Result<(), StoreError> {
        if state.turn.is_none() {
            let conn = self.runtime.block_on(self.writer.acquire())?;
            state.turn = Some((conn, Instant::now()));
        }
        Ok(())
    }

    fn end_turn(runtime: &Handle, state: &mut State) {
        if let Some((conn, _)) = state.turn.take() {
            // Dropping a pool connection spawns the task that returns it to the pool, so it
            // needs the runtime, also when the store is dropped outside it.
            let _runtime = runtime.enter();
            drop(conn);
        }
    }
}

/// The dispatcher's writes on the same connection: claims return a row per delivery, and sqlx
/// hands every row from its worker thread to the task through a channel, which made claiming
/// and recording about half of the CPU of a delivery.
impl SqliteIngester {
    /// Runs `write` in one transaction. Under ingest load the turn is usually held already;
    /// when it is not, this takes it and a timer hands it back after [`HOLD`], since no ingest
    /// thread would.
    fn in_transaction<T>(
        self: &Arc<Self>,
        write: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let borrowed = state.turn.is_none();
        self.take_turn(&mut state)?;
        let result = immediate(&mut state.conn, write);
        if borrowed && !state.release_scheduled {
            // Keep the turn for the dispatcher's next claim or record, but not past HOLD:
            // nothing else would hand it back to the scheduler and monitor.
            state.release_scheduled = true;
            self.release_after(HOLD);
        }
        result
    }

    /// [`crate::Store::claim_due`].
    pub(crate) fn claim_due(
        self: &Arc<Self>,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        self.in_transaction(|tx| {
            let mut claim = tx.prepare_cached(sql::CLAIM_SQLITE)?;
            let mut rows = claim.query(named_params! {
                "$1": owner, "$2": lease_until, "$3": now, "$4": i64::from(limit),
            })?;
            let mut deliveries = Vec::new();
            while let Some(row) = rows.next()? {
                deliveries.push(delivery(row)?);
            }
            // One cached statement per event rather than the IN-list batches the sqlx path
            // uses: each list length is its own statement and would crowd the ingest
            // statements out of the connection's statement cache.
            let mut body = tx.prepare_cached(sql::SELECT_EVENT_BODY)?;
            let mut events = HashMap::with_capacity(deliveries.len());
            for id in jobs::event_ids(&deliveries) {
                let (body, accepted_at) =
                    body.query_row([id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
                events.insert(id.to_owned(), (body, accepted_at));
            }
            jobs::assemble(deliveries, &events)
        })
    }

    /// [`crate::Store::record_attempts`].
    pub(crate) fn record_attempts(
        self: &Arc<Self>,
        owner: &str,
        now: Millis,
        records: &[(String, AttemptRecord)],
    ) -> Result<Vec<bool>, StoreError> {
        self.in_transaction(|tx| {
            let mut record = tx.prepare_cached(sql::RECORD_ATTEMPT)?;
            let mut done = Vec::with_capacity(records.len());
            for (id, r) in records {
                let cols = AttemptColumns::of(r);
                let changed = record.execute(named_params! {
                    "$1": id, "$2": owner, "$3": cols.state, "$4": now,
                    "$5": cols.next_attempt_at, "$6": cols.last_error, "$7": cols.last_status,
                })?;
                done.push(changed == 1);
            }
            Ok(done)
        })
    }
}

impl SqliteIngester {
    /// Runs [`SqliteIngester::release_stale_turn`] after `delay`.
    fn release_after(self: &Arc<Self>, delay: Duration) {
        let ingester = Arc::downgrade(self);
        self.runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(ingester) = ingester.upgrade() {
                // The lock may wait for a transaction: not on a runtime worker.
                tokio::task::spawn_blocking(move || ingester.release_stale_turn());
            }
        });
    }

    /// The timer set by `in_transaction`: ends a turn held for [`HOLD`] or longer, and looks
    /// again later at one taken since (by another claim after the ingest thread handed the
    /// first back), so a turn is never left with nobody to end it.
    fn release_stale_turn(self: &Arc<Self>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let age = state.turn.as_ref().map(|(_, since)| since.elapsed());
        match age {
            Some(age) if age < HOLD => self.release_after(HOLD - age),
            Some(_) => {
                Self::end_turn(&self.runtime, &mut state);
                state.release_scheduled = false;
            }
            None => state.release_scheduled = false,
        }
    }
}

/// A delivery from a row of `delivery_columns!`.
fn delivery(row: &rusqlite::Row<'_>) -> Result<Delivery, StoreError> {
    let state: String = row.get(4)?;
    let state = DeliveryState::parse(&state)
        .ok_or_else(|| StoreError::Database(format!("unknown delivery state {state:?}")))?;
    let last_status: Option<i32> = row.get(11)?;
    Ok(Delivery {
        id: row.get(0)?,
        event_id: row.get(1)?,
        rule: row.get(2)?,
        target: rows::narrow(row.get(3)?, "target")?,
        state,
        attempts: rows::narrow(row.get(5)?, "attempts")?,
        created_at: row.get(6)?,
        age_from: row.get(7)?,
        next_attempt_at: row.get(8)?,
        updated_at: row.get(9)?,
        last_error: row.get(10)?,
        last_status: last_status
            .map(|s| rows::narrow(s, "last_status"))
            .transpose()?,
    })
}

impl Drop for SqliteIngester {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        Self::end_turn(&self.runtime, state);
    }
}

impl BlockingIngest for SqliteIngester {
    fn ingest(
        &self,
        writes: &[EventWrite],
        now: Millis,
        dedup_cutoff: Millis,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.take_turn(&mut state)?;
        let result = write(&mut state.conn, writes, now, dedup_cutoff);
        if state
            .turn
            .as_ref()
            .is_some_and(|(_, since)| since.elapsed() >= HOLD)
        {
            Self::end_turn(&self.runtime, &mut state);
        }
        result
    }

    fn pause(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        Self::end_turn(&self.runtime, &mut state);
    }
}

/// One transaction: the first occurrence of each id not accepted since the cutoff is written
/// with its deliveries, one prepared statement execution per row.
fn write(
    conn: &mut Connection,
    writes: &[EventWrite],
    now: Millis,
    dedup_cutoff: Millis,
) -> Result<Vec<IngestOutcome>, StoreError> {
    let firsts = ingest_plan::first_occurrences(writes);
    let written = immediate(conn, |tx| {
        let mut written = HashSet::with_capacity(firsts.len());
        let mut upsert = tx.prepare_cached(&batch::SQLITE_INGEST_EVENT)?;
        let mut deliver = tx.prepare_cached(batch::SQLITE_INSERT_DELIVERIES.get(1))?;
        for w in firsts {
            let e = &w.event;
            let params = params![
                e.id,
                e.source,
                e.detail_type,
                e.time,
                now,
                e.body,
                dedup_cutoff
            ];
            if upsert.execute(params)? == 0 {
                // Accepted since the cutoff: a duplicate, written by nobody else meanwhile
                // (this transaction holds the write lock).
                continue;
            }
            for d in &w.deliveries {
                let target = rows::to_i32(d.target, "target")?;
                deliver.execute(params![d.id, e.id, d.rule, target, now, now, now, now])?;
            }
            written.insert(e.id.as_str());
        }
        Ok(written)
    })?;
    Ok(ingest_plan::outcomes(writes, |id| written.contains(id)))
}

/// Runs `write` in one transaction that takes the write lock at its start (`BEGIN IMMEDIATE`),
/// committed when `write` succeeds and rolled back when it fails.
fn immediate<T>(
    conn: &mut Connection,
    write: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = write(&tx)?;
    tx.commit()?;
    Ok(value)
}
