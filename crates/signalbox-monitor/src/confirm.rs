//! `confirm: 1`: before a check is declared down, another live instance probes it once.
//!
//! The instance whose run would send `Check Failed` writes a request row
//! (`check_confirmations`) and polls it for an answer; every instance in a cluster polls for
//! other instances' requests twice a second, probes the check with its own definition, and
//! answers. A failure confirmed elsewhere alerts with `detail.confirmed_by`; a success
//! elsewhere means the target is up and this instance's view is the problem, so the run counts
//! as a success and nothing is sent; without an answer (alone, or nobody answered in time) the
//! alert goes out with `confirmed_by: null`, logged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use signalbox_core::time::{Millis, now_millis};
use signalbox_store::Store;
use tokio_util::sync::CancellationToken;

use crate::check::CompiledCheck;

/// How long the asking run waits for an answer: a probe's time plus another instance's poll.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the asking run looks for the answer.
const ANSWER_POLL: Duration = Duration::from_millis(200);
/// How often an instance looks for others' requests.
const REQUEST_POLL: Duration = Duration::from_millis(500);
/// Requests taken per poll.
const TAKE: u32 = 32;

/// What another instance said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It failed there too.
    Failed { by: String },
    /// It succeeded there.
    Succeeded { by: String },
    /// No answer: alone, the store failed, or nobody answered in time.
    Unavailable(String),
    /// The monitor is stopping.
    Stopped,
}

/// Asks for and answers confirmations. Cheap to share.
pub(crate) struct Confirmer {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) owner: String,
    /// Live instances at the last census (see [`crate::lease`]).
    pub(crate) instances: Arc<AtomicU64>,
    /// This instance's checks by name, to probe on others' behalf.
    pub(crate) checks: Mutex<HashMap<String, Arc<CompiledCheck>>>,
}

impl Confirmer {
    /// Replaces the checks this instance can probe for others.
    pub(crate) fn set_checks(&self, checks: HashMap<String, Arc<CompiledCheck>>) {
        if let Ok(mut map) = self.checks.lock() {
            *map = checks;
        }
    }

    /// Asks another instance to probe `check` once and waits for its answer.
    pub(crate) async fn ask(&self, check: &str, stop: &CancellationToken) -> Verdict {
        if self.instances.load(Ordering::Relaxed) <= 1 {
            return Verdict::Unavailable("no other instance is alive".into());
        }
        let id = signalbox_core::ids::new_id();
        let asked = now_millis();
        if let Err(error) = self
            .store
            .request_check_confirmation(&id, check, &self.owner, asked)
            .await
        {
            return Verdict::Unavailable(format!("asking failed: {error}"));
        }
        let timeout = i64::try_from(CONFIRM_TIMEOUT.as_millis()).unwrap_or(i64::MAX);
        loop {
            tokio::select! {
                () = stop.cancelled() => return Verdict::Stopped,
                () = tokio::time::sleep(ANSWER_POLL) => {}
            }
            match self.store.check_confirmation(&id).await {
                Ok(Some(row)) => match (row.success, row.answered_by) {
                    (Some(true), Some(by)) => return Verdict::Succeeded { by },
                    (Some(false), Some(by)) => return Verdict::Failed { by },
                    _ => {}
                },
                Ok(None) => return Verdict::Unavailable("the request disappeared".into()),
                Err(error) => {
                    tracing::debug!(check, %error, "reading a confirmation failed; trying again");
                }
            }
            if now_millis() - asked >= timeout {
                return Verdict::Unavailable(format!(
                    "no answer within {} s",
                    CONFIRM_TIMEOUT.as_secs()
                ));
            }
        }
    }

    /// Answers other instances' requests until `stop`; looks only while there are others.
    pub(crate) async fn serve(self: Arc<Self>, stop: CancellationToken) {
        let max_age: Millis = i64::try_from(CONFIRM_TIMEOUT.as_millis()).unwrap_or(i64::MAX);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(REQUEST_POLL) => {}
            }
            if self.instances.load(Ordering::Relaxed) <= 1 {
                continue;
            }
            let requests = match self
                .store
                .claim_check_confirmations(&self.owner, now_millis(), max_age, TAKE)
                .await
            {
                Ok(r) => r,
                Err(error) => {
                    tracing::warn!(%error, "reading confirmation requests failed");
                    continue;
                }
            };
            for request in requests {
                let check = self
                    .checks
                    .lock()
                    .ok()
                    .and_then(|m| m.get(&request.check).cloned());
                let Some(check) = check else {
                    // Another instance may know it; this one lets the request's claim run out.
                    tracing::info!(check = %request.check, from = %request.requester, "confirmation asked for a check this instance does not have");
                    continue;
                };
                let me = Arc::clone(&self);
                let stop = stop.clone();
                tokio::spawn(async move {
                    let outcome = tokio::select! {
                        () = stop.cancelled() => return,
                        outcome = check.run_once() => outcome,
                    };
                    let success = outcome.success();
                    tracing::info!(check = %request.check, from = %request.requester, success, "confirmation probe");
                    if let Err(error) = me
                        .store
                        .answer_check_confirmation(&request.id, &me.owner, success, now_millis())
                        .await
                    {
                        tracing::warn!(check = %request.check, %error, "answering a confirmation failed");
                    }
                });
            }
        }
    }
}
