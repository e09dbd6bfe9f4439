//! What `GET /v1/checks` shows: each check's alert state and last run, kept in memory by the
//! check tasks of this instance.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use signalbox_core::time::millis_to_rfc3339;

use crate::alert::AlertState;
use crate::check::CheckOutcome;

/// One check as last seen by this instance.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckStatus {
    /// The URL or `host:port`.
    pub target: String,
    /// The alert state after the last run.
    pub state: AlertState,
    /// When the last run started (Unix ms) and what it found.
    pub last_run: Option<(i64, CheckOutcome)>,
    /// When the next run is due (Unix ms), if any.
    pub next_run_ms: Option<i64>,
    /// Whether the last run fell in a maintenance window.
    pub in_maintenance: bool,
}

impl CheckStatus {
    /// The JSON the API answers with.
    pub fn to_json(&self, name: &str) -> Value {
        let last_run = self.last_run.as_ref().map(|(at, outcome)| {
            let mut run = serde_json::Map::with_capacity(11);
            run.insert("at".into(), json!(millis_to_rfc3339(*at)));
            run.extend(outcome.to_json_fields());
            Value::Object(run)
        });
        json!({
            "name": name,
            "target": self.target,
            "state": self.state.health.as_str(),
            "consecutive_failures": self.state.consecutive_failures,
            "consecutive_successes": self.state.consecutive_successes,
            "last_alert_at": self.state.last_alert_ms.map(millis_to_rfc3339),
            "in_maintenance": self.in_maintenance,
            "last_run": last_run,
            "next_run_at": self.next_run_ms.map(millis_to_rfc3339),
        })
    }
}

/// Every check's status, shared between the check tasks and the API. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CheckStatuses(Arc<Mutex<BTreeMap<String, CheckStatus>>>);

impl CheckStatuses {
    /// Replaces one check's status.
    pub fn set(&self, name: &str, status: CheckStatus) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(name.to_owned(), status);
        }
    }

    /// Forgets a check that no longer exists.
    pub fn remove(&self, name: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(name);
        }
    }

    /// Changes one check's status in place, if it is known.
    pub fn update(&self, name: &str, change: impl FnOnce(&mut CheckStatus)) {
        if let Ok(mut map) = self.0.lock()
            && let Some(status) = map.get_mut(name)
        {
            change(status);
        }
    }

    /// One check's status.
    pub fn get(&self, name: &str) -> Option<CheckStatus> {
        self.0.lock().ok()?.get(name).cloned()
    }

    /// Every check's status, by name.
    pub fn all(&self) -> BTreeMap<String, CheckStatus> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}
