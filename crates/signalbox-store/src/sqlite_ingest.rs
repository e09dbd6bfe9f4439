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
//! writers (dispatcher, scheduler, monitor) wait for it in that pool's queue, in order, instead of
//! meeting SQLITE_BUSY and SQLite's sleeping retries.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior, params};
use sqlx::Sqlite;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqlitePool;
use tokio::runtime::Handle;

use crate::sql::batch;
use crate::{BlockingIngest, EventWrite, IngestOutcome, Millis, StoreError, ingest_plan, rows};

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
            state: Mutex::new(State { conn, turn: None }),
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
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut written = HashSet::with_capacity(firsts.len());
    {
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
    }
    tx.commit()?;
    Ok(ingest_plan::outcomes(writes, |id| written.contains(id)))
}
