//! SQLite's ingest thread (`sqlite_ingest.rs`): it writes on a connection of its own and takes
//! turns with the sqlx writer, so neither side meets SQLITE_BUSY or waits forever. The ingest
//! contract itself is in the conformance suite, which on SQLite files runs through this path, as
//! do the dispatcher's claims and outcome records.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use signalbox_store::{
    EventWrite, HeartbeatSignal, NewDelivery, NewEvent, OpenOptions, Store, StoreError,
};

fn batch(tag: &str, n: usize) -> Vec<EventWrite> {
    (0..n)
        .map(|i| EventWrite {
            event: NewEvent {
                id: format!("{tag}-{i:03}"),
                source: "test".into(),
                detail_type: "Tick".into(),
                time: 0,
                body: format!("{{\"n\":{i}}}"),
            },
            deliveries: vec![NewDelivery {
                id: format!("{tag}-{i:03}-d"),
                rule: "r".into(),
                target: 0,
            }],
        })
        .collect()
}

async fn open_file(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let url = format!("sqlite://{}/signalbox.db", dir.path().display());
    Arc::from(
        signalbox_store::open(&url, &OpenOptions::default())
            .await
            .expect("open sqlite"),
    )
}

#[tokio::test]
async fn only_a_database_file_has_an_ingest_thread() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(open_file(&dir).await.blocking_ingest().is_some());
    let memory = signalbox_store::open("sqlite::memory:", &OpenOptions::default())
        .await
        .expect("open memory");
    assert!(memory.blocking_ingest().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_writers_get_their_turn_while_ingest_writes_back_to_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_file(&dir).await;
    let ingest = store.blocking_ingest().expect("ingest thread");
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));

    let writer = {
        let (stop, started) = (stop.clone(), started.clone());
        tokio::task::spawn_blocking(move || -> Result<(usize, bool), StoreError> {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut batches = 0;
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() > deadline {
                    return Ok((batches, false));
                }
                ingest.ingest(&batch(&format!("b{batches:05}"), 10), 1_000, 0)?;
                batches += 1;
                started.store(true, Ordering::Relaxed);
            }
            ingest.pause();
            Ok((batches, true))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !started.load(Ordering::Relaxed) {
        assert!(Instant::now() < deadline, "the ingest thread never wrote");
        tokio::task::yield_now().await;
    }

    // A sqlx writer, 50 times, while the thread keeps writing: each waits for a turn.
    for i in 0..50 {
        store
            .record_heartbeat("hb", HeartbeatSignal::Success, None, 2_000 + i)
            .await
            .expect("the sqlx writer got its turn");
    }
    stop.store(true, Ordering::Relaxed);
    let (batches, stopped) = writer.await.expect("join").expect("ingest");
    assert!(
        stopped,
        "the ingest thread ran into its deadline: the heartbeats waited 30 s"
    );

    assert_eq!(
        store.heartbeat("hb").await.expect("read").map(|h| h.pings),
        Some(50)
    );
    let counts = store.count_by_state().await.expect("counts");
    assert_eq!(counts.pending, batches as u64 * 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_and_records_run_on_the_ingest_connection_and_hand_the_writer_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_file(&dir).await;
    store
        .ingest(&batch("c", 5), 1_000, 0)
        .await
        .expect("ingest");

    // The claim takes the writer turn for itself (the ingest thread is idle)...
    let jobs = store
        .claim_due("me", 2_000, 60_000, 3)
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 3);
    assert!(jobs.iter().all(|j| j.event_body.starts_with("{\"n\":")));
    let records: Vec<_> = jobs
        .iter()
        .map(|j| {
            (
                j.delivery.id.clone(),
                signalbox_store::AttemptRecord::Done { status: Some(200) },
            )
        })
        .collect();
    assert_eq!(
        store
            .record_attempts("me", 2_100, &records)
            .await
            .expect("record"),
        vec![true; 3]
    );
    // ...and a lease held by someone else is not overwritten.
    let other = store
        .claim_due("other", 2_200, 60_000, 10)
        .await
        .expect("claim rest");
    assert_eq!(other.len(), 2);
    let stolen = [(
        other[0].delivery.id.clone(),
        signalbox_store::AttemptRecord::Done { status: Some(200) },
    )];
    assert_eq!(
        store
            .record_attempts("me", 2_300, &stolen)
            .await
            .expect("record"),
        vec![false]
    );

    // The ingest thread ends the claim's turn; a claim right after takes a new one while the
    // first claim's timer is still pending: that turn must be handed back too.
    let ingest = store.blocking_ingest().expect("ingest thread");
    tokio::task::spawn_blocking(move || {
        ingest.ingest(&batch("d", 2), 2_400, 0)?;
        ingest.pause();
        Ok::<_, StoreError>(())
    })
    .await
    .expect("join")
    .expect("ingest");
    let more = store
        .claim_due("me", 2_500, 60_000, 1)
        .await
        .expect("claim again");
    assert_eq!(more.len(), 1);

    // A sqlx writer gets the connection back without any ingest to hand it over.
    tokio::time::timeout(
        Duration::from_secs(5),
        store.record_heartbeat("hb", HeartbeatSignal::Success, None, 3_000),
    )
    .await
    .expect("the writer turn came back")
    .expect("heartbeat");
    let counts = store.count_by_state().await.expect("counts");
    assert_eq!((counts.done, counts.pending), (3, 4));
}

#[test]
fn a_store_dropped_outside_its_runtime_hands_back_the_writer_quietly() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = runtime.block_on(open_file(&dir));
    let ingest = store.blocking_ingest().expect("ingest thread");
    // From a plain thread (this one), as the committer does: the turn is now held.
    ingest.ingest(&batch("a", 3), 1_000, 0).expect("ingest");
    drop(ingest);
    drop(store); // must not panic for want of a runtime context

    let store = runtime.block_on(open_file(&dir));
    let event = runtime.block_on(store.event("a-002")).expect("read");
    assert_eq!(event.map(|e| e.body), Some("{\"n\":2}".to_string()));
}
