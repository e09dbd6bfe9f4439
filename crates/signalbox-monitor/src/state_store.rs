//! Where alert state survives restarts. Only the health and the last alert time are kept,
//! written when they change (a few writes per outage, never one per run): after a restart a
//! failing check is still failing, so it neither alerts a second time nor misses its
//! `Check Recovered`. The run counters start again from 0.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use signalbox_store::{CheckStateRow, Store};

use crate::alert::{AlertState, Health};

/// Loads and saves checks' alert state.
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// Every stored state, by check name.
    async fn load(&self) -> Result<HashMap<String, AlertState>, String>;
    /// Stores one check's state at `now_ms`.
    async fn save(&self, check: &str, state: &AlertState, now_ms: i64) -> Result<(), String>;
}

/// [`StateStore`] on the signalbox store (`check_states` table, SQLite or PostgreSQL).
pub struct StoreStates(pub Arc<dyn Store>);

#[async_trait]
impl StateStore for StoreStates {
    async fn load(&self) -> Result<HashMap<String, AlertState>, String> {
        let rows = self
            .0
            .load_check_states()
            .await
            .map_err(|e| e.to_string())?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let state = AlertState {
                    health: Health::parse(&row.health),
                    consecutive_failures: 0,
                    consecutive_successes: 0,
                    last_alert_ms: row.last_alert_at,
                };
                (row.name, state)
            })
            .collect())
    }

    async fn save(&self, check: &str, state: &AlertState, now_ms: i64) -> Result<(), String> {
        let row = CheckStateRow {
            name: check.to_owned(),
            health: state.health.as_str().to_owned(),
            last_alert_at: state.last_alert_ms,
            updated_at: now_ms,
        };
        self.0
            .save_check_state(&row)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Keeps state in memory: for tests, and for running without a store.
#[derive(Debug, Default)]
pub struct MemoryStates(pub std::sync::Mutex<HashMap<String, AlertState>>);

#[async_trait]
impl StateStore for MemoryStates {
    async fn load(&self) -> Result<HashMap<String, AlertState>, String> {
        Ok(self.0.lock().map_err(|e| e.to_string())?.clone())
    }

    async fn save(&self, check: &str, state: &AlertState, _now_ms: i64) -> Result<(), String> {
        let kept = AlertState {
            consecutive_failures: 0,
            consecutive_successes: 0,
            ..*state
        };
        self.0
            .lock()
            .map_err(|e| e.to_string())?
            .insert(check.to_owned(), kept);
        Ok(())
    }
}
