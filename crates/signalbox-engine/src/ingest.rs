//! Ingest with group commit: concurrent submissions are gathered into one store transaction, so
//! throughput does not fall to one fsync per request. A submission is answered only after the
//! transaction holding it (its events and all their deliveries) has committed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use signalbox_core::metric_names as m;
use signalbox_core::time::now_millis;
use signalbox_core::{Event, SerializedEvent};
use signalbox_store::{BlockingIngest, EventWrite, IngestOutcome, NewEvent, Store, StoreError};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::router::Router;

/// Group commit settings.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Most events in one transaction.
    pub max_batch_events: usize,
    /// An id seen within this window is a duplicate.
    pub dedup_window: Duration,
    /// Submissions that may wait for the committer before senders are slowed down.
    pub queue: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            max_batch_events: 1000,
            dedup_window: Duration::from_secs(24 * 3600),
            queue: 4096,
        }
    }
}

/// Why a submission was not accepted. Nothing of it was committed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store failed; the sender should retry.
    #[error(transparent)]
    Store(#[from] Arc<StoreError>),
    /// Ingest is shutting down.
    #[error("ingest is shutting down")]
    Closed,
}

/// The answer for one submitted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestResult {
    /// The event's id (generated when the sender gave none).
    pub id: String,
    /// True when the id had already been accepted within the dedup window.
    pub duplicate: bool,
    /// Deliveries created for it (0 for a duplicate).
    pub deliveries: usize,
}

struct Submission {
    writes: Vec<EventWrite>,
    reply: oneshot::Sender<Result<Vec<IngestOutcome>, IngestError>>,
}

/// Submits events to the committer. Cheap to clone.
#[derive(Clone)]
pub struct IngestHandle {
    tx: mpsc::Sender<Submission>,
    router: Arc<Router>,
}

/// The committer task.
pub struct Ingestor;

impl Ingestor {
    /// Starts the committer. `wake` is notified after each commit that created deliveries.
    /// The task ends once every [`IngestHandle`] is dropped and the queue is drained.
    pub fn start(
        store: Arc<dyn Store>,
        router: Arc<Router>,
        opts: IngestOptions,
        wake: Arc<Notify>,
    ) -> (IngestHandle, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        let task = match store.blocking_ingest() {
            Some(ingest) => tokio::task::spawn_blocking(move || {
                blocking_commit_loop(ingest, rx, opts, wake);
            }),
            None => tokio::spawn(commit_loop(store, rx, opts, wake)),
        };
        (IngestHandle { tx, router }, task)
    }
}

impl IngestHandle {
    /// Routes the events and waits until they and their deliveries are committed.
    pub async fn submit(&self, events: Vec<Event>) -> Result<Vec<IngestResult>, IngestError> {
        self.submit_stored(events.into_iter().map(SerializedEvent::from).collect())
            .await
    }

    /// [`IngestHandle::submit`] for events already in their stored form (the HTTP ingest path).
    pub async fn submit_stored(
        &self,
        events: Vec<SerializedEvent>,
    ) -> Result<Vec<IngestResult>, IngestError> {
        let writes: Vec<EventWrite> = events
            .into_iter()
            .map(|e| prepare_stored(&self.router, e))
            .collect();
        self.submit_writes(writes).await
    }

    /// A manual fire of `schedule`: routed like any event, plus the schedule's own targets.
    pub async fn submit_schedule_fire(
        &self,
        event: Event,
        schedule: &str,
    ) -> Result<IngestResult, IngestError> {
        let mut write = prepare(&self.router, event);
        write
            .deliveries
            .extend(self.router.schedule_deliveries(schedule));
        let mut results = self.submit_writes(vec![write]).await?;
        results.pop().ok_or(IngestError::Closed)
    }

    async fn submit_writes(
        &self,
        writes: Vec<EventWrite>,
    ) -> Result<Vec<IngestResult>, IngestError> {
        let counts: Vec<(String, usize)> = writes
            .iter()
            .map(|w| (w.event.id.clone(), w.deliveries.len()))
            .collect();
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Submission { writes, reply })
            .await
            .map_err(|_| IngestError::Closed)?;
        let outcomes = answer.await.map_err(|_| IngestError::Closed)??;
        Ok(counts
            .into_iter()
            .zip(outcomes)
            .map(|((id, n), o)| {
                let duplicate = o == IngestOutcome::Duplicate;
                IngestResult {
                    id,
                    duplicate,
                    deliveries: if duplicate { 0 } else { n },
                }
            })
            .collect())
    }
}

/// Serializes an event and works out its deliveries.
pub fn prepare(router: &Router, event: Event) -> EventWrite {
    prepare_stored(router, SerializedEvent::from(event))
}

/// Works out the deliveries of an event already in its stored form.
pub fn prepare_stored(router: &Router, event: SerializedEvent) -> EventWrite {
    let deliveries = router.route_stored(&event.source, &event.body);
    EventWrite {
        event: NewEvent {
            id: event.id,
            source: event.source,
            detail_type: event.detail_type,
            time: event.time_ms,
            body: event.body,
        },
        deliveries,
    }
}

/// The committer on the runtime, for stores without a blocking ingest (PostgreSQL).
async fn commit_loop(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Submission>,
    opts: IngestOptions,
    wake: Arc<Notify>,
) {
    let window_ms = window_ms(&opts);
    while let Some(first) = rx.recv().await {
        let group = Group::gather(first, &mut rx, opts.max_batch_events);
        let now = now_millis();
        let started = Instant::now();
        let result = store
            .ingest(&group.writes, now, now.saturating_sub(window_ms))
            .await;
        group.answer(result, started, &wake);
    }
}

/// The committer on a thread of its own, for stores with a blocking ingest (SQLite): the
/// transaction runs without waiting to be polled among the HTTP tasks.
fn blocking_commit_loop(
    ingest: Arc<dyn BlockingIngest>,
    mut rx: mpsc::Receiver<Submission>,
    opts: IngestOptions,
    wake: Arc<Notify>,
) {
    let window_ms = window_ms(&opts);
    loop {
        let first = match rx.try_recv() {
            Ok(first) => first,
            Err(mpsc::error::TryRecvError::Empty) => {
                // Idle: let the store's other writers in while we wait.
                ingest.pause();
                match rx.blocking_recv() {
                    Some(first) => first,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        let group = Group::gather(first, &mut rx, opts.max_batch_events);
        let now = now_millis();
        let started = Instant::now();
        let result = ingest.ingest(&group.writes, now, now.saturating_sub(window_ms));
        group.answer(result, started, &wake);
    }
    ingest.pause();
}

fn window_ms(opts: &IngestOptions) -> i64 {
    i64::try_from(opts.dedup_window.as_millis()).unwrap_or(i64::MAX)
}

/// The submissions of one transaction.
struct Group {
    writes: Vec<EventWrite>,
    sizes: Vec<usize>,
    replies: Vec<oneshot::Sender<Result<Vec<IngestOutcome>, IngestError>>>,
}

impl Group {
    /// `first` and whatever queued up while the previous transaction ran, up to `max_events`.
    fn gather(first: Submission, rx: &mut mpsc::Receiver<Submission>, max_events: usize) -> Self {
        let mut batch = vec![first];
        let mut events = batch[0].writes.len();
        while events < max_events {
            match rx.try_recv() {
                Ok(s) => {
                    events += s.writes.len();
                    batch.push(s);
                }
                Err(_) => break,
            }
        }
        let mut group = Group {
            writes: Vec::with_capacity(events),
            sizes: Vec::with_capacity(batch.len()),
            replies: Vec::with_capacity(batch.len()),
        };
        for s in batch {
            group.sizes.push(s.writes.len());
            group.replies.push(s.reply);
            group.writes.extend(s.writes);
        }
        group
    }

    /// Records the transaction's metrics and answers every submission.
    fn answer(
        self,
        result: Result<Vec<IngestOutcome>, StoreError>,
        started: Instant,
        wake: &Notify,
    ) {
        let events = self.writes.len();
        metrics::histogram!(m::INGEST_COMMIT_DURATION).record(started.elapsed().as_secs_f64());
        metrics::histogram!(m::INGEST_BATCH_SIZE).record(events as f64);
        match result {
            Ok(outcomes) => {
                let mut created = 0usize;
                let (mut new, mut dup) = (0u64, 0u64);
                for (w, o) in self.writes.iter().zip(&outcomes) {
                    if *o == IngestOutcome::Accepted {
                        new += 1;
                        created += w.deliveries.len();
                    } else {
                        dup += 1;
                    }
                }
                metrics::counter!(m::EVENTS_ACCEPTED, "outcome" => "new").increment(new);
                metrics::counter!(m::EVENTS_ACCEPTED, "outcome" => "duplicate").increment(dup);
                metrics::counter!(m::DELIVERIES_CREATED).increment(created as u64);
                if created > 0 {
                    wake.notify_one();
                }
                let mut rest = outcomes.into_iter();
                for (n, reply) in self.sizes.into_iter().zip(self.replies) {
                    let mine: Vec<IngestOutcome> = rest.by_ref().take(n).collect();
                    // The sender may have gone (client hung up): its events are committed anyway.
                    let _ = reply.send(Ok(mine));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events, "ingest transaction failed");
                let e = Arc::new(e);
                for reply in self.replies {
                    let _ = reply.send(Err(IngestError::Store(e.clone())));
                }
            }
        }
    }
}
