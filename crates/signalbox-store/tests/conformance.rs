//! The contract of [`Store`], run against every backend: SQLite (a fresh file per test) and
//! PostgreSQL (a fresh schema per test in `SIGNALBOX_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`). PostgreSQL must be reachable: these tests fail,
//! not skip, without it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use signalbox_store::{OpenOptions, PostgresStore, Store};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn postgres_url() -> String {
    std::env::var("SIGNALBOX_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into())
}

fn test_options() -> OpenOptions {
    // Tests run in parallel against one server; keep each pool small.
    OpenOptions {
        max_connections: 4,
        ..OpenOptions::default()
    }
}

/// Where a test's store lives, so it can be reopened and cleaned up.
enum Location {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        url: String,
        schema: String,
    },
}

/// A fresh, empty store for one test.
pub struct TestDb {
    store: Arc<dyn Store>,
    location: Location,
}

impl TestDb {
    async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        // A subdirectory that does not exist yet: opening must create it.
        let url = format!("sqlite://{}/data/signalbox.db", dir.path().display());
        let store = signalbox_store::open(&url, &test_options())
            .await
            .expect("open sqlite");
        TestDb {
            store: Arc::from(store),
            location: Location::Sqlite { _dir: dir, url },
        }
    }

    async fn postgres() -> TestDb {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let schema = format!(
            "conformance_{}_{}_{}",
            std::process::id(),
            nanos,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let url = postgres_url();
        let store = PostgresStore::open_in_schema(&url, &schema, &test_options())
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {url} must be reachable for these tests (set SIGNALBOX_TEST_POSTGRES_URL): {e}")
            });
        TestDb {
            store: Arc::new(store),
            location: Location::Postgres { url, schema },
        }
    }

    fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Opens the same database again, as a restarted process would.
    async fn reopen(&self) -> Box<dyn Store> {
        match &self.location {
            Location::Sqlite { url, .. } => signalbox_store::open(url, &test_options())
                .await
                .expect("reopen sqlite"),
            Location::Postgres { url, schema } => Box::new(
                PostgresStore::open_in_schema(url, schema, &test_options())
                    .await
                    .expect("reopen postgres"),
            ),
        }
    }

    /// Drops the test's schema (PostgreSQL); the SQLite directory goes with `TempDir`.
    async fn finish(self) {
        let TestDb { store, location } = self;
        drop(store);
        if let Location::Postgres { url, schema } = location {
            use sqlx::Connection as _;
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .expect("connect for cleanup");
            let drop_schema = format!("DROP SCHEMA \"{schema}\" CASCADE");
            sqlx::raw_sql(sqlx::AssertSqlSafe(drop_schema))
                .execute(&mut conn)
                .await
                .expect("drop test schema");
            let _ = conn.close().await;
        }
    }
}

/// Declares every case once per backend.
macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = super::TestDb::sqlite().await;
                    super::cases::$case(&db).await;
                    db.finish().await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = super::TestDb::postgres().await;
                    super::cases::$case(&db).await;
                    db.finish().await;
                }
            )+
        }
    };
}

conformance!(
    ingest_accepts_new_events_with_pending_deliveries,
    ingest_of_nothing_writes_nothing,
    duplicate_within_cutoff_writes_nothing,
    same_id_after_cutoff_is_accepted_again,
    repeated_id_in_one_batch_is_a_duplicate_of_the_first,
    thousand_event_batch,
    claim_returns_due_jobs_oldest_first_with_event_body,
    claim_respects_limit,
    claim_skips_future_deliveries,
    leased_deliveries_wait_for_lease_expiry,
    concurrent_claimers_never_share_a_delivery,
    concurrent_ingests_accept_each_id_once,
    record_attempt_transitions,
    record_attempt_needs_the_lease,
    release_returns_leases_without_counting_an_attempt,
    retry_delivery_resets,
    list_deliveries_pages_by_id,
    count_by_state_and_next_due,
    lookups,
    reopen_keeps_data_and_migrations_are_idempotent,
    config_schedules_sync_keeps_runtime_state,
    api_schedules_put_delete_and_config_conflicts,
    schedule_leases_claim_renew_release,
    concurrent_schedule_claimers_never_share,
    fire_is_unique_per_schedule_and_time,
    fire_needs_a_valid_lease_version_and_no_pause,
    fires_written_ahead_fall_due_at_their_time_and_changes_withdraw_them,
    heartbeat_counts_live_instances,
    check_states_are_upserted_and_survive_reopen,
    heartbeat_pings_keep_each_signal_and_the_last,
    check_partitions_claim_renew_release,
    concurrent_partition_claimers_never_share,
    monitor_census_counts_instances_yielding_and_expiry,
    check_confirmations_are_taken_once_and_answered,
);

mod cases {
    use std::collections::HashSet;

    use signalbox_store::{
        AttemptRecord, Delivery, DeliveryState, EventWrite, IngestOutcome, Job, NewDelivery,
        NewEvent, StateCounts, Store,
    };

    use super::TestDb;
    use IngestOutcome::{Accepted, Duplicate};

    const FAR: i64 = 1_000_000_000;

    fn write(id: &str, body: &str, deliveries: usize) -> EventWrite {
        EventWrite {
            event: NewEvent {
                id: id.into(),
                source: "shop.orders".into(),
                detail_type: "OrderPlaced".into(),
                time: 42,
                body: body.into(),
            },
            deliveries: (0..deliveries)
                .map(|i| NewDelivery {
                    id: format!("{id}/{body}/{i}"),
                    rule: format!("rule-{i}"),
                    target: u32::try_from(i).expect("small"),
                })
                .collect(),
        }
    }

    async fn ingest_one(store: &dyn Store, id: &str, now: i64) -> String {
        let out = store
            .ingest(&[write(id, "{}", 1)], now, 0)
            .await
            .expect("ingest");
        assert_eq!(out, [Accepted]);
        format!("{id}/{{}}/0")
    }

    async fn claim(store: &dyn Store, owner: &str, now: i64, until: i64, limit: u32) -> Vec<Job> {
        store
            .claim_due(owner, now, until, limit)
            .await
            .expect("claim")
    }

    async fn record(store: &dyn Store, id: &str, owner: &str, now: i64, r: &AttemptRecord) -> bool {
        store
            .record_attempt(id, owner, now, r)
            .await
            .expect("record")
    }

    fn ids(deliveries: &[Delivery]) -> Vec<&str> {
        deliveries.iter().map(|d| d.id.as_str()).collect()
    }

    async fn delivery(store: &dyn Store, id: &str) -> Delivery {
        store
            .delivery(id)
            .await
            .expect("delivery")
            .expect("delivery exists")
    }

    pub async fn ingest_accepts_new_events_with_pending_deliveries(db: &TestDb) {
        let store = db.store();
        let out = store
            .ingest(
                &[write("e1", "{\"a\":1}", 2), write("e2", "{\"b\":2}", 1)],
                1_000,
                0,
            )
            .await
            .expect("ingest");
        assert_eq!(out, [Accepted, Accepted]);

        let event = store.event("e1").await.expect("event").expect("stored");
        assert_eq!(event.id, "e1");
        assert_eq!(event.source, "shop.orders");
        assert_eq!(event.detail_type, "OrderPlaced");
        assert_eq!(event.time, 42);
        assert_eq!(event.accepted_at, 1_000);
        assert_eq!(event.body, "{\"a\":1}");

        let deliveries = store.event_deliveries("e1").await.expect("deliveries");
        assert_eq!(deliveries.len(), 2);
        for (i, d) in deliveries.iter().enumerate() {
            assert_eq!(d.event_id, "e1");
            assert_eq!(d.rule, format!("rule-{i}"));
            assert_eq!(d.target, u32::try_from(i).expect("small"));
            assert_eq!(d.state, DeliveryState::Pending);
            assert_eq!(d.attempts, 0);
            assert_eq!(
                (d.created_at, d.age_from, d.next_attempt_at, d.updated_at),
                (1_000, 1_000, 1_000, 1_000)
            );
            assert_eq!((d.last_error.as_deref(), d.last_status), (None, None));
        }
        assert_eq!(
            store.count_by_state().await.expect("count"),
            StateCounts {
                pending: 3,
                done: 0,
                dead: 0
            }
        );
    }

    pub async fn ingest_of_nothing_writes_nothing(db: &TestDb) {
        let store = db.store();
        assert!(
            store
                .ingest(&[], 1_000, 0)
                .await
                .expect("ingest")
                .is_empty()
        );
        // An event without deliveries (no rule matched) is still stored.
        assert_eq!(
            store
                .ingest(&[write("e", "{}", 0)], 1_000, 0)
                .await
                .expect("ingest"),
            [Accepted]
        );
        assert!(store.event("e").await.expect("event").is_some());
        assert_eq!(
            store.count_by_state().await.expect("count"),
            StateCounts::default()
        );
    }

    pub async fn duplicate_within_cutoff_writes_nothing(db: &TestDb) {
        let store = db.store();
        store
            .ingest(&[write("e1", "first", 1)], 1_000, 0)
            .await
            .expect("ingest");
        // Accepted at 1000, cutoff 1000: still inside the dedup window.
        let out = store
            .ingest(&[write("e1", "second", 2)], 2_000, 1_000)
            .await
            .expect("ingest");
        assert_eq!(out, [Duplicate]);
        let event = store.event("e1").await.expect("event").expect("stored");
        assert_eq!((event.body.as_str(), event.accepted_at), ("first", 1_000));
        assert_eq!(
            ids(&store.event_deliveries("e1").await.expect("deliveries")),
            ["e1/first/0"]
        );
    }

    pub async fn same_id_after_cutoff_is_accepted_again(db: &TestDb) {
        let store = db.store();
        store
            .ingest(&[write("e1", "first", 1)], 1_000, 0)
            .await
            .expect("ingest");
        let out = store
            .ingest(&[write("e1", "second", 2)], 5_000, 1_001)
            .await
            .expect("ingest");
        assert_eq!(out, [Accepted]);
        let event = store.event("e1").await.expect("event").expect("stored");
        assert_eq!((event.body.as_str(), event.accepted_at), ("second", 5_000));
        let deliveries = store.event_deliveries("e1").await.expect("deliveries");
        assert_eq!(
            ids(&deliveries),
            ["e1/first/0", "e1/second/0", "e1/second/1"]
        );
        assert!(
            deliveries[1..]
                .iter()
                .all(|d| d.created_at == 5_000 && d.attempts == 0)
        );
    }

    pub async fn repeated_id_in_one_batch_is_a_duplicate_of_the_first(db: &TestDb) {
        let store = db.store();
        let batch = [
            write("a", "one", 1),
            write("b", "two", 1),
            write("a", "three", 1),
        ];
        assert_eq!(
            store.ingest(&batch, 1_000, 0).await.expect("ingest"),
            [Accepted, Accepted, Duplicate]
        );
        assert_eq!(
            store.event("a").await.expect("event").expect("stored").body,
            "one"
        );
        assert_eq!(
            ids(&store.event_deliveries("a").await.expect("deliveries")),
            ["a/one/0"]
        );

        // Repeats of a stored duplicate are duplicates too; a new id beside them is accepted.
        let batch = [
            write("a", "four", 1),
            write("c", "five", 1),
            write("a", "six", 1),
        ];
        assert_eq!(
            store.ingest(&batch, 2_000, 0).await.expect("ingest"),
            [Duplicate, Accepted, Duplicate]
        );
        assert_eq!(store.count_by_state().await.expect("count").pending, 3);
    }

    pub async fn thousand_event_batch(db: &TestDb) {
        let store = db.store();
        let batch: Vec<EventWrite> = (0..1_000)
            .map(|i| write(&format!("e{i:04}"), "{}", 2))
            .collect();
        let out = store.ingest(&batch, 1_000, 0).await.expect("ingest");
        assert_eq!(out, vec![Accepted; 1_000]);
        assert_eq!(store.count_by_state().await.expect("count").pending, 2_000);

        // Half known (inside the window), half new: chunked statements keep outcomes in order.
        let batch: Vec<EventWrite> = (500..1_500)
            .map(|i| write(&format!("e{i:04}"), "{}", 1))
            .collect();
        let out = store.ingest(&batch, 2_000, 0).await.expect("ingest");
        let expected: Vec<IngestOutcome> = (500..1_500)
            .map(|i| if i < 1_000 { Duplicate } else { Accepted })
            .collect();
        assert_eq!(out, expected);
        assert_eq!(store.count_by_state().await.expect("count").pending, 2_500);
        let last = store.event("e1499").await.expect("event").expect("stored");
        assert_eq!(last.accepted_at, 2_000);
    }

    pub async fn claim_returns_due_jobs_oldest_first_with_event_body(db: &TestDb) {
        let store = db.store();
        store
            .ingest(&[write("late", "{\"n\":3}", 1)], 3_000, 0)
            .await
            .expect("ingest");
        store
            .ingest(&[write("early", "{\"n\":1}", 1)], 1_000, 0)
            .await
            .expect("ingest");
        store
            .ingest(&[write("mid", "{\"n\":2}", 2)], 2_000, 0)
            .await
            .expect("ingest");

        let jobs = claim(store, "w1", 10_000, 20_000, 10).await;
        let got: Vec<(&str, &str, i64)> = jobs
            .iter()
            .map(|j| {
                (
                    j.delivery.event_id.as_str(),
                    j.event_body.as_str(),
                    j.accepted_at,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("early", "{\"n\":1}", 1_000),
                ("mid", "{\"n\":2}", 2_000),
                ("mid", "{\"n\":2}", 2_000),
                ("late", "{\"n\":3}", 3_000),
            ]
        );
        assert!(
            jobs.iter()
                .all(|j| j.delivery.state == DeliveryState::Pending)
        );
        assert!(jobs.iter().all(|j| j.delivery.attempts == 0));
        assert!(claim(store, "w2", 10_000, 20_000, 10).await.is_empty());
    }

    pub async fn claim_respects_limit(db: &TestDb) {
        let store = db.store();
        for (i, id) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            ingest_one(store, id, 1_000 + i64::try_from(i).expect("small")).await;
        }
        assert!(claim(store, "w", 5_000, FAR, 0).await.is_empty());
        let first = claim(store, "w", 5_000, FAR, 2).await;
        let events: Vec<&str> = first.iter().map(|j| j.delivery.event_id.as_str()).collect();
        assert_eq!(events, ["a", "b"]);
        let rest = claim(store, "w", 5_000, FAR, 10).await;
        let events: Vec<&str> = rest.iter().map(|j| j.delivery.event_id.as_str()).collect();
        assert_eq!(events, ["c", "d", "e"]);
    }

    pub async fn claim_skips_future_deliveries(db: &TestDb) {
        let store = db.store();
        ingest_one(store, "now", 1_000).await;
        ingest_one(store, "later", 5_000).await;
        let jobs = claim(store, "w", 4_999, FAR, 10).await;
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].delivery.event_id, "now");
        // Due exactly at `now` counts.
        let jobs = claim(store, "w", 5_000, FAR, 10).await;
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].delivery.event_id, "later");
    }

    pub async fn leased_deliveries_wait_for_lease_expiry(db: &TestDb) {
        let store = db.store();
        let id = ingest_one(store, "e", 1_000).await;
        assert_eq!(claim(store, "a", 1_000, 2_000, 10).await.len(), 1);
        assert!(claim(store, "b", 1_999, 9_000, 10).await.is_empty());
        // The lease ends at 2000: from then on anyone may take it over.
        let taken = claim(store, "b", 2_000, 9_000, 10).await;
        assert_eq!(
            ids(&taken.into_iter().map(|j| j.delivery).collect::<Vec<_>>()),
            [id.as_str()]
        );

        let done = AttemptRecord::Done { status: Some(200) };
        assert!(!record(store, &id, "a", 2_500, &done).await);
        assert_eq!(delivery(store, &id).await.attempts, 0);
        assert!(record(store, &id, "b", 2_500, &done).await);
        assert_eq!(delivery(store, &id).await.state, DeliveryState::Done);
    }

    pub async fn concurrent_claimers_never_share_a_delivery(db: &TestDb) {
        let store = &db.store;
        let batch: Vec<EventWrite> = (0..150)
            .map(|i| write(&format!("e{i:03}"), "{}", 2))
            .collect();
        store.ingest(&batch, 1_000, 0).await.expect("ingest");

        let claimer = |owner: &'static str| {
            let store = std::sync::Arc::clone(store);
            tokio::spawn(async move {
                let mut got = Vec::new();
                for _ in 0..20 {
                    let jobs = claim(&*store, owner, 2_000, FAR, 10).await;
                    got.extend(jobs.into_iter().map(|j| j.delivery.id));
                    tokio::task::yield_now().await;
                }
                got
            })
        };
        let (a, b) = (claimer("a"), claimer("b"));
        let (a, b) = (a.await.expect("claimer a"), b.await.expect("claimer b"));
        let rest: Vec<String> = claim(&**store, "c", 2_000, FAR, 1_000)
            .await
            .into_iter()
            .map(|j| j.delivery.id)
            .collect();

        let all: Vec<&String> = a.iter().chain(&b).chain(&rest).collect();
        let unique: HashSet<&String> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len(), "a delivery was claimed twice");
        assert_eq!(all.len(), 300, "every delivery is claimed exactly once");
        assert!(
            !a.is_empty() && !b.is_empty(),
            "both claimers made progress"
        );
    }

    pub async fn concurrent_ingests_accept_each_id_once(db: &TestDb) {
        let store = &db.store;
        // The same ids in opposite orders: overlapping batches must neither deadlock nor both win.
        let ingester = |reverse: bool| {
            let store = std::sync::Arc::clone(store);
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for round in 0..10 {
                    let mut ids: Vec<usize> = (round * 20..round * 20 + 40).collect();
                    if reverse {
                        ids.reverse();
                    }
                    let batch: Vec<EventWrite> = ids
                        .iter()
                        .map(|i| write(&format!("e{i:03}"), &format!("{reverse}"), 1))
                        .collect();
                    let out = store.ingest(&batch, 1_000, 0).await.expect("ingest");
                    outcomes.extend(batch.iter().map(|w| w.event.id.clone()).zip(out));
                }
                outcomes
            })
        };
        let (a, b) = (ingester(false), ingester(true));
        let (a, b) = (a.await.expect("ingester a"), b.await.expect("ingester b"));
        let accepted: Vec<&String> = a
            .iter()
            .chain(&b)
            .filter(|(_, o)| *o == Accepted)
            .map(|(id, _)| id)
            .collect();
        let unique: HashSet<&String> = accepted.iter().copied().collect();
        assert_eq!(unique.len(), accepted.len(), "an id was accepted twice");
        assert_eq!(unique.len(), 220);
        assert_eq!(store.count_by_state().await.expect("count").pending, 220);
    }

    pub async fn record_attempt_transitions(db: &TestDb) {
        let store = db.store();
        let id = ingest_one(store, "e", 1_000).await;

        claim(store, "w", 1_000, 2_000, 10).await;
        let retry = AttemptRecord::Retry {
            next_attempt_at: 3_000,
            error: "target answered 503".into(),
            status: Some(503),
        };
        assert!(record(store, &id, "w", 1_100, &retry).await);
        let d = delivery(store, &id).await;
        assert_eq!(
            (d.state, d.attempts, d.next_attempt_at, d.updated_at),
            (DeliveryState::Pending, 1, 3_000, 1_100)
        );
        assert_eq!(
            (d.last_error.as_deref(), d.last_status),
            (Some("target answered 503"), Some(503))
        );
        // The lease was cleared: recording again without a claim is refused.
        assert!(!record(store, &id, "w", 1_200, &retry).await);

        assert!(claim(store, "w", 2_999, 9_000, 10).await.is_empty());
        let jobs = claim(store, "w", 3_000, 9_000, 10).await;
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].delivery.attempts, 1);
        let done = AttemptRecord::Done { status: Some(204) };
        assert!(record(store, &id, "w", 3_100, &done).await);
        let d = delivery(store, &id).await;
        assert_eq!(
            (d.state, d.attempts, d.next_attempt_at, d.updated_at),
            (DeliveryState::Done, 2, 3_000, 3_100)
        );
        assert_eq!((d.last_error.as_deref(), d.last_status), (None, Some(204)));
        // Done is final: no more claims, no more records.
        assert!(claim(store, "w", FAR, FAR + 1, 10).await.is_empty());
        assert!(!record(store, &id, "w", 3_200, &done).await);

        let dead_id = ingest_one(store, "f", 4_000).await;
        claim(store, "w", 4_000, 9_000, 10).await;
        let dead = AttemptRecord::Dead {
            error: "connection refused".into(),
            status: None,
        };
        assert!(record(store, &dead_id, "w", 4_100, &dead).await);
        let d = delivery(store, &dead_id).await;
        assert_eq!(
            (d.state, d.attempts, d.updated_at),
            (DeliveryState::Dead, 1, 4_100)
        );
        assert_eq!(
            (d.last_error.as_deref(), d.last_status),
            (Some("connection refused"), None)
        );
        assert_eq!(
            store.count_by_state().await.expect("count"),
            StateCounts {
                pending: 0,
                done: 1,
                dead: 1
            }
        );
    }

    pub async fn record_attempt_needs_the_lease(db: &TestDb) {
        let store = db.store();
        let id = ingest_one(store, "e", 1_000).await;
        let done = AttemptRecord::Done { status: Some(200) };
        // Never claimed.
        assert!(!record(store, &id, "w", 1_000, &done).await);
        claim(store, "owner", 1_000, 5_000, 10).await;
        assert!(!record(store, &id, "intruder", 1_100, &done).await);
        assert!(!record(store, "no-such-id", "owner", 1_100, &done).await);
        let d = delivery(store, &id).await;
        assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
        assert!(record(store, &id, "owner", 1_100, &done).await);
    }

    pub async fn release_returns_leases_without_counting_an_attempt(db: &TestDb) {
        let store = db.store();
        let a = ingest_one(store, "a", 1_000).await;
        let b = ingest_one(store, "b", 1_000).await;
        assert_eq!(claim(store, "w1", 1_000, FAR, 10).await.len(), 2);

        // Someone else's release changes nothing.
        store
            .release(&[a.clone(), b.clone()], "w2")
            .await
            .expect("release");
        assert!(claim(store, "w3", 1_000, FAR, 10).await.is_empty());

        store
            .release(std::slice::from_ref(&a), "w1")
            .await
            .expect("release");
        store.release(&[], "w1").await.expect("release nothing");
        let jobs = claim(store, "w3", 1_000, FAR, 10).await;
        assert_eq!(
            ids(&jobs.into_iter().map(|j| j.delivery).collect::<Vec<_>>()),
            [a.as_str()]
        );
        assert_eq!(delivery(store, &a).await.attempts, 0);
        // The released lease is gone: the old owner cannot record on it.
        let done = AttemptRecord::Done { status: None };
        assert!(!record(store, &a, "w1", 1_100, &done).await);
        assert!(record(store, &b, "w1", 1_100, &done).await);
    }

    pub async fn retry_delivery_resets(db: &TestDb) {
        let store = db.store();
        let id = ingest_one(store, "e", 1_000).await;
        claim(store, "w", 1_000, 5_000, 10).await;
        let dead = AttemptRecord::Dead {
            error: "410 gone".into(),
            status: Some(410),
        };
        assert!(record(store, &id, "w", 1_500, &dead).await);

        let d = store
            .retry_delivery(&id, 9_000)
            .await
            .expect("retry")
            .expect("exists");
        assert_eq!(d.id, id);
        assert_eq!(d.state, DeliveryState::Pending);
        assert_eq!(d.attempts, 0);
        assert_eq!(
            (d.age_from, d.next_attempt_at, d.updated_at, d.created_at),
            (9_000, 9_000, 9_000, 1_000)
        );
        assert_eq!(delivery(store, &id).await, d);
        assert!(claim(store, "w", 8_999, FAR, 10).await.is_empty());
        assert_eq!(claim(store, "w", 9_000, 9_500, 10).await.len(), 1);

        // Retrying a leased delivery clears the lease: its holder can no longer record.
        store
            .retry_delivery(&id, 9_100)
            .await
            .expect("retry")
            .expect("exists");
        let done = AttemptRecord::Done { status: None };
        assert!(!record(store, &id, "w", 9_200, &done).await);
        assert_eq!(claim(store, "v", 9_100, 9_500, 10).await.len(), 1);

        assert_eq!(
            store
                .retry_delivery("no-such-id", 9_000)
                .await
                .expect("retry"),
            None
        );
    }

    pub async fn list_deliveries_pages_by_id(db: &TestDb) {
        let store = db.store();
        let batch: Vec<EventWrite> = ["q", "c", "x", "a", "m", "z", "f"]
            .iter()
            .map(|id| write(id, "{}", 1))
            .collect();
        store.ingest(&batch, 1_000, 0).await.expect("ingest");
        let mut all: Vec<String> = batch.iter().map(|w| w.deliveries[0].id.clone()).collect();
        all.sort();

        // Two dead, one done.
        claim(store, "w", 1_000, FAR, 10).await;
        let dead = AttemptRecord::Dead {
            error: "no".into(),
            status: None,
        };
        let done = AttemptRecord::Done { status: None };
        for (id, outcome) in [(&all[1], &dead), (&all[4], &dead), (&all[2], &done)] {
            assert!(record(store, id, "w", 1_100, outcome).await);
        }

        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store
                .list_deliveries(None, after.as_deref(), 3)
                .await
                .expect("list");
            assert!(page.len() <= 3);
            if page.is_empty() {
                break;
            }
            after = page.last().map(|d| d.id.clone());
            seen.extend(page.into_iter().map(|d| d.id));
        }
        assert_eq!(seen, all);

        let pending = store
            .list_deliveries(Some(DeliveryState::Pending), None, 3)
            .await
            .expect("list");
        assert_eq!(
            ids(&pending),
            [&all[0], &all[3], &all[5]].map(String::as_str)
        );
        let rest = store
            .list_deliveries(Some(DeliveryState::Pending), Some(&all[5]), 3)
            .await
            .expect("list");
        assert_eq!(ids(&rest), [all[6].as_str()]);
        let dead = store
            .list_deliveries(Some(DeliveryState::Dead), None, 10)
            .await
            .expect("list");
        assert_eq!(ids(&dead), [all[1].as_str(), all[4].as_str()]);
        assert!(dead.iter().all(|d| d.state == DeliveryState::Dead));
        let done = store
            .list_deliveries(Some(DeliveryState::Done), None, 10)
            .await
            .expect("list");
        assert_eq!(ids(&done), [all[2].as_str()]);
        assert!(
            store
                .list_deliveries(None, None, 0)
                .await
                .expect("list")
                .is_empty()
        );
    }

    pub async fn count_by_state_and_next_due(db: &TestDb) {
        let store = db.store();
        assert_eq!(
            store.count_by_state().await.expect("count"),
            StateCounts::default()
        );
        assert_eq!(store.next_due().await.expect("next due"), None);

        let a = ingest_one(store, "a", 2_000).await;
        let b = ingest_one(store, "b", 3_000).await;
        assert_eq!(store.next_due().await.expect("next due"), Some(2_000));

        // A leased delivery is due again when its lease ends, not before.
        let jobs = claim(store, "w", 2_000, 10_000, 1).await;
        assert_eq!(jobs.len(), 1);
        assert_eq!(store.next_due().await.expect("next due"), Some(3_000));
        let retry = AttemptRecord::Retry {
            next_attempt_at: 7_000,
            error: "e".into(),
            status: None,
        };
        assert!(record(store, &a, "w", 2_100, &retry).await);
        claim(store, "w", 3_000, 5_000, 10).await;
        assert_eq!(store.next_due().await.expect("next due"), Some(5_000));

        let done = AttemptRecord::Done { status: Some(200) };
        assert!(record(store, &b, "w", 3_100, &done).await);
        assert_eq!(store.next_due().await.expect("next due"), Some(7_000));
        assert_eq!(
            store.count_by_state().await.expect("count"),
            StateCounts {
                pending: 1,
                done: 1,
                dead: 0
            }
        );
        claim(store, "w", 7_000, 8_000, 10).await;
        let dead = AttemptRecord::Dead {
            error: "e".into(),
            status: None,
        };
        assert!(record(store, &a, "w", 7_100, &dead).await);
        assert_eq!(store.next_due().await.expect("next due"), None);
        assert_eq!(
            store.count_by_state().await.expect("count"),
            StateCounts {
                pending: 0,
                done: 1,
                dead: 1
            }
        );
    }

    pub async fn lookups(db: &TestDb) {
        let store = db.store();
        store.ping().await.expect("ping");
        assert_eq!(store.event("missing").await.expect("event"), None);
        assert_eq!(store.delivery("missing").await.expect("delivery"), None);
        assert!(
            store
                .event_deliveries("missing")
                .await
                .expect("deliveries")
                .is_empty()
        );

        store
            .ingest(&[write("e", "{}", 3)], 1_000, 0)
            .await
            .expect("ingest");
        let deliveries = store.event_deliveries("e").await.expect("deliveries");
        assert_eq!(deliveries.len(), 3);
        for d in &deliveries {
            assert_eq!(&delivery(store, &d.id).await, d);
        }
        // Deliveries added later (replacement after the cutoff) come after the older ones.
        store
            .ingest(&[write("e", "0", 1)], 5_000, 2_000)
            .await
            .expect("ingest");
        let deliveries = store.event_deliveries("e").await.expect("deliveries");
        assert_eq!(deliveries.last().map(|d| d.id.as_str()), Some("e/0/0"));
    }

    pub async fn reopen_keeps_data_and_migrations_are_idempotent(db: &TestDb) {
        let id = ingest_one(db.store(), "e", 1_000).await;
        db.store()
            .claim_due("w", 1_000, 5_000, 10)
            .await
            .expect("claim");
        for _ in 0..2 {
            let again = db.reopen().await;
            assert_eq!(
                again
                    .event("e")
                    .await
                    .expect("event")
                    .map(|e| e.accepted_at),
                Some(1_000)
            );
            assert_eq!(
                again
                    .delivery(&id)
                    .await
                    .expect("delivery")
                    .map(|d| d.attempts),
                Some(0)
            );
            // The lease survived the restart.
            assert!(claim(&*again, "v", 1_000, 5_000, 10).await.is_empty());
            assert_eq!(
                again
                    .ingest(&[write("e", "{}", 1)], 2_000, 0)
                    .await
                    .expect("ingest"),
                [Duplicate]
            );
        }
    }

    // ---- schedules ----

    use signalbox_store::{
        ConfigSchedule, DeleteScheduleOutcome, FireKind, FireOutcome, FireWrite,
        PutScheduleOutcome, ScheduleSource,
    };

    fn config_schedule(name: &str, def: &str) -> ConfigSchedule {
        ConfigSchedule {
            name: name.into(),
            definition: def.into(),
            paused: false,
        }
    }

    fn fire_write(schedule: &str, version: i64, t: i64, deliveries: usize) -> FireWrite {
        let id = format!("schedule:{schedule}:{t}");
        FireWrite {
            schedule: schedule.into(),
            version,
            scheduled_time: t,
            kind: FireKind::Fired,
            event: Some(write(&id, "{}", deliveries)),
        }
    }

    async fn sync(store: &dyn Store, names: &[&str], now: i64) {
        let defs: Vec<_> = names
            .iter()
            .map(|n| config_schedule(n, "{\"cron\":\"* * * * * *\"}"))
            .collect();
        store.sync_config_schedules(&defs, now).await.expect("sync");
    }

    pub async fn config_schedules_sync_keeps_runtime_state(db: &TestDb) {
        let store = db.store();
        sync(store, &["a", "b"], 1_000).await;
        let a = store.schedule("a").await.unwrap().expect("a");
        assert_eq!(a.source, ScheduleSource::Config);
        assert_eq!((a.version, a.anchor, a.paused), (1, 1_000, false));
        // Paused at runtime, then the same config again: still paused, same version.
        store
            .set_schedule_paused("a", true, 2_000)
            .await
            .unwrap()
            .expect("a");
        sync(store, &["a"], 3_000).await;
        let a = store.schedule("a").await.unwrap().expect("a");
        assert_eq!((a.version, a.anchor, a.paused), (1, 1_000, true));
        assert!(
            store.schedule("b").await.unwrap().is_none(),
            "b left the config"
        );
        // A changed definition takes the config's paused, a new version and anchor.
        store
            .sync_config_schedules(&[config_schedule("a", "{\"cron\":\"@daily\"}")], 4_000)
            .await
            .unwrap();
        let a = store.schedule("a").await.unwrap().expect("a");
        assert_eq!((a.version, a.anchor, a.paused), (2, 4_000, false));
        assert_eq!(a.definition, "{\"cron\":\"@daily\"}");
        // Resume moves the anchor.
        store.set_schedule_paused("a", true, 5_000).await.unwrap();
        let a = store
            .set_schedule_paused("a", false, 6_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((a.paused, a.anchor), (false, 6_000));
        assert!(
            store
                .set_schedule_paused("nope", true, 1)
                .await
                .unwrap()
                .is_none()
        );
    }

    pub async fn api_schedules_put_delete_and_config_conflicts(db: &TestDb) {
        let store = db.store();
        sync(store, &["cfg"], 1_000).await;
        assert_eq!(
            store.put_schedule("cfg", "{}", false, 2_000).await.unwrap(),
            PutScheduleOutcome::ConfigOwned
        );
        let PutScheduleOutcome::Created(row) = store
            .put_schedule("api", "{\"v\":1}", false, 2_000)
            .await
            .unwrap()
        else {
            panic!("created")
        };
        assert_eq!(
            (row.source, row.version, row.anchor),
            (ScheduleSource::Api, 1, 2_000)
        );
        let PutScheduleOutcome::Updated(row) = store
            .put_schedule("api", "{\"v\":2}", true, 3_000)
            .await
            .unwrap()
        else {
            panic!("updated")
        };
        assert_eq!((row.version, row.anchor, row.paused), (2, 3_000, true));
        let names: Vec<String> = store
            .list_schedules()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["api", "cfg"]);
        // Config sync leaves API schedules alone.
        sync(store, &["cfg"], 4_000).await;
        assert!(store.schedule("api").await.unwrap().is_some());
        assert_eq!(
            store.delete_schedule("cfg").await.unwrap(),
            DeleteScheduleOutcome::ConfigOwned
        );
        assert_eq!(
            store.delete_schedule("api").await.unwrap(),
            DeleteScheduleOutcome::Deleted
        );
        assert_eq!(
            store.delete_schedule("api").await.unwrap(),
            DeleteScheduleOutcome::NotFound
        );
    }

    pub async fn schedule_leases_claim_renew_release(db: &TestDb) {
        let store = db.store();
        sync(store, &["a", "b", "c"], 1_000).await;
        let mine = store.claim_schedules("x", 1_000, 4_000, 2).await.unwrap();
        assert_eq!(mine.len(), 2);
        assert!(mine.iter().all(|c| c.previous_owner.is_none()));
        assert!(
            mine.iter()
                .all(|c| c.row.lease_owner.as_deref() == Some("x"))
        );
        let theirs = store.claim_schedules("y", 1_000, 4_000, 10).await.unwrap();
        assert_eq!(theirs.len(), 1, "only the unleased one is left");
        // Renewal extends valid leases only, in name order and in chunks, and returns names.
        let mut names: Vec<String> = mine.iter().map(|c| c.row.name.clone()).collect();
        names.sort();
        let first = store
            .renew_schedule_leases("x", 2_000, 5_000, "", 1)
            .await
            .unwrap();
        assert_eq!(first, names[..1]);
        let rest = store
            .renew_schedule_leases("x", 2_000, 5_000, &first[0], 10)
            .await
            .unwrap();
        assert_eq!(rest, names[1..]);
        for n in &names {
            let row = store.schedule(n).await.unwrap().unwrap();
            assert_eq!(row.lease_until, 5_000);
        }
        // Changes made since a time are read back (only those), for the holder only.
        assert!(
            store
                .changed_schedules("x", 2_000, 1_001)
                .await
                .unwrap()
                .is_empty()
        );
        store
            .set_schedule_paused(&names[1], true, 2_500)
            .await
            .unwrap();
        let changed = store.changed_schedules("x", 2_600, 2_000).await.unwrap();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].name, names[1]);
        assert!(changed[0].paused);
        assert!(
            store
                .changed_schedules("y", 2_600, 2_000)
                .await
                .unwrap()
                .is_empty()
        );
        store
            .set_schedule_paused(&names[1], false, 2_700)
            .await
            .unwrap();
        assert!(
            store
                .renew_schedule_leases("y", 4_000, 7_000, "", 10)
                .await
                .unwrap()
                .is_empty()
        );
        // y's lease expired at 4000: x takes it over and sees y as the previous owner.
        let taken = store.claim_schedules("x", 4_500, 8_000, 10).await.unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].previous_owner.as_deref(), Some("y"));
        // Releasing one, then all.
        let one = vec![taken[0].row.name.clone()];
        store.release_schedules("x", Some(&one)).await.unwrap();
        assert_eq!(
            store
                .claim_schedules("y", 4_600, 9_000, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        store.release_schedules("x", None).await.unwrap();
        assert_eq!(
            store
                .claim_schedules("y", 4_700, 9_000, 10)
                .await
                .unwrap()
                .len(),
            2
        );
        assert!(
            store
                .renew_schedule_leases("x", 4_800, 9_000, "", 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn concurrent_schedule_claimers_never_share(db: &TestDb) {
        let store = db.store.clone();
        let names: Vec<String> = (0..200).map(|i| format!("s{i:03}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        sync(&*store, &refs, 1_000).await;
        let mut tasks = Vec::new();
        for w in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let claimed = store
                        .claim_schedules(&format!("w{w}"), 1_000, 60_000, 7)
                        .await
                        .expect("claim");
                    if claimed.is_empty() {
                        break;
                    }
                    got.extend(claimed.into_iter().map(|c| c.row.name));
                }
                got
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(all.len(), 200, "every schedule claimed once");
        assert_eq!(unique.len(), 200);
    }

    pub async fn fire_is_unique_per_schedule_and_time(db: &TestDb) {
        let store = db.store();
        sync(store, &["a"], 1_000).await;
        assert_eq!(
            store
                .claim_schedules("x", 1_000, 60_000, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        let out = store
            .fire(
                "x",
                2_000,
                &[fire_write("a", 1, 2_000, 2), fire_write("a", 1, 3_000, 0)],
            )
            .await
            .unwrap();
        assert_eq!(out, [FireOutcome::Written, FireOutcome::Written]);
        assert_eq!(
            store
                .event_deliveries("schedule:a:2000")
                .await
                .unwrap()
                .len(),
            2
        );
        // The same (schedule, time) again: nothing written, not even deliveries.
        let mut again = fire_write("a", 1, 2_000, 3);
        again.event.as_mut().unwrap().deliveries[0].id = "other".into();
        let out = store.fire("x", 3_500, &[again]).await.unwrap();
        assert_eq!(out, [FireOutcome::AlreadyFired]);
        assert_eq!(
            store
                .event_deliveries("schedule:a:2000")
                .await
                .unwrap()
                .len(),
            2
        );
        assert!(store.delivery("other").await.unwrap().is_none());
        let a = store.schedule("a").await.unwrap().unwrap();
        assert_eq!(a.last_scheduled_time, Some(3_000));
        assert_eq!(a.last_fired_at, Some(3_500));
        let fires = store.schedule_fires("a", 10).await.unwrap();
        let times: Vec<i64> = fires.iter().map(|f| f.scheduled_time).collect();
        assert_eq!(times, [3_000, 2_000]);
        assert_eq!(fires[0].owner, "x");
        assert_eq!(fires[1].event_id.as_deref(), Some("schedule:a:2000"));
        // Suppressed fires are recorded without an event.
        let quiet = FireWrite {
            kind: FireKind::Suppressed,
            event: None,
            ..fire_write("a", 1, 4_000, 0)
        };
        assert_eq!(
            store.fire("x", 4_000, &[quiet]).await.unwrap(),
            [FireOutcome::Written]
        );
        let a = store.schedule("a").await.unwrap().unwrap();
        assert_eq!(a.last_outcome.as_deref(), Some("suppressed"));
    }

    pub async fn fires_written_ahead_fall_due_at_their_time_and_changes_withdraw_them(db: &TestDb) {
        let store = db.store();
        sync(store, &["a"], 1_000).await;
        store.claim_schedules("x", 1_000, 60_000, 10).await.unwrap();
        // Recorded at 1000 for 5000: accepted, but its deliveries are not due before 5000.
        let out = store
            .fire("x", 1_000, &[fire_write("a", 1, 5_000, 2)])
            .await
            .unwrap();
        assert_eq!(out, [FireOutcome::Written]);
        assert!(
            store
                .claim_due("d", 4_999, 10_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.next_due().await.unwrap(), Some(5_000));
        // A pause before 5000 withdraws the fire with its event and deliveries.
        store.set_schedule_paused("a", true, 2_000).await.unwrap();
        assert!(store.event("schedule:a:5000").await.unwrap().is_none());
        assert!(store.schedule_fires("a", 10).await.unwrap().is_empty());
        assert_eq!(store.next_due().await.unwrap(), None);
        let a = store.schedule("a").await.unwrap().unwrap();
        assert_eq!(a.last_scheduled_time, None, "planned again after a resume");
        // Resumed, the time can be fired again, and falls due at its time.
        store.set_schedule_paused("a", false, 3_000).await.unwrap();
        let out = store
            .fire("x", 3_000, &[fire_write("a", 1, 5_000, 1)])
            .await
            .unwrap();
        assert_eq!(out, [FireOutcome::Written]);
        let due = store.claim_due("d", 5_000, 10_000, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        // A fire already due is history: a pause leaves it alone.
        store.set_schedule_paused("a", true, 6_000).await.unwrap();
        assert!(store.event("schedule:a:5000").await.unwrap().is_some());

        // API schedules: a replacement or a deletion withdraws what was written ahead.
        assert!(matches!(
            store
                .put_schedule("b", "{\"cron\":\"* * * * * *\"}", false, 1_000)
                .await
                .unwrap(),
            PutScheduleOutcome::Created(_)
        ));
        // Real time: `delete_schedule` withdraws what is not yet due by the clock.
        let now = signalbox_core_now();
        store
            .claim_schedules("x", now, now + 120_000, 10)
            .await
            .unwrap();
        let ahead = |t: i64| fire_write("b", 1, t, 1);
        assert_eq!(
            store.fire("x", now, &[ahead(now + 60_000)]).await.unwrap(),
            [FireOutcome::Written]
        );
        store
            .put_schedule("b", "{\"cron\":\"@daily\"}", false, now)
            .await
            .unwrap();
        let b_id = format!("schedule:b:{}", now + 60_000);
        assert!(store.event(&b_id).await.unwrap().is_none(), "replaced");
        let out = store
            .fire("x", now, &[fire_write("b", 2, now + 60_000, 1)])
            .await
            .unwrap();
        assert_eq!(out, [FireOutcome::Written]);
        assert_eq!(
            store.delete_schedule("b").await.unwrap(),
            DeleteScheduleOutcome::Deleted
        );
        assert!(store.event(&b_id).await.unwrap().is_none(), "deleted");

        // A stopping owner (release of all its leases) leaves nothing recorded ahead.
        store
            .put_schedule("c", "{\"cron\":\"* * * * * *\"}", false, now)
            .await
            .unwrap();
        store
            .claim_schedules("x", now, now + 120_000, 10)
            .await
            .unwrap();
        let out = store
            .fire(
                "x",
                now,
                &[
                    fire_write("c", 1, now - 1_000, 1),
                    fire_write("c", 1, now + 60_000, 1),
                ],
            )
            .await
            .unwrap();
        assert_eq!(out, [FireOutcome::Written, FireOutcome::Written]);
        store.release_schedules("x", None).await.unwrap();
        let c_ahead = format!("schedule:c:{}", now + 60_000);
        assert!(store.event(&c_ahead).await.unwrap().is_none(), "released");
        let c = store.schedule("c").await.unwrap().unwrap();
        assert_eq!(c.last_scheduled_time, Some(now - 1_000));
        assert_eq!(c.lease_owner, None);
    }

    fn signalbox_core_now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }

    pub async fn fire_needs_a_valid_lease_version_and_no_pause(db: &TestDb) {
        let store = db.store();
        sync(store, &["a", "b"], 1_000).await;
        store.claim_schedules("x", 1_000, 5_000, 1).await.unwrap(); // a
        store.claim_schedules("y", 1_000, 5_000, 1).await.unwrap(); // b
        // Not the owner, an expired lease, a stale version: nothing is written.
        let out = store
            .fire(
                "x",
                2_000,
                &[fire_write("b", 1, 2_000, 1), fire_write("a", 1, 2_000, 1)],
            )
            .await
            .unwrap();
        assert_eq!(out, [FireOutcome::NotOwner, FireOutcome::Written]);
        assert!(store.event("schedule:b:2000").await.unwrap().is_none());
        assert_eq!(
            store
                .fire("x", 2_000, &[fire_write("a", 7, 2_500, 1)])
                .await
                .unwrap(),
            [FireOutcome::NotOwner]
        );
        assert_eq!(
            store
                .fire("x", 5_000, &[fire_write("a", 1, 3_000, 1)])
                .await
                .unwrap(),
            [FireOutcome::NotOwner],
            "the lease ended at 5000"
        );
        assert!(store.event("schedule:a:3000").await.unwrap().is_none());
        // Taken over after expiry: the stalled owner cannot fire any more.
        store.claim_schedules("y", 6_000, 20_000, 10).await.unwrap();
        assert_eq!(
            store
                .fire("x", 6_500, &[fire_write("a", 1, 6_000, 1)])
                .await
                .unwrap(),
            [FireOutcome::NotOwner]
        );
        assert_eq!(
            store
                .fire("y", 6_500, &[fire_write("a", 1, 6_000, 1)])
                .await
                .unwrap(),
            [FireOutcome::Written]
        );
        // Paused: no fire.
        store.set_schedule_paused("a", true, 7_000).await.unwrap();
        assert_eq!(
            store
                .fire("y", 7_500, &[fire_write("a", 1, 7_000, 1)])
                .await
                .unwrap(),
            [FireOutcome::NotOwner]
        );
        let a = store.schedule("a").await.unwrap().unwrap();
        assert_eq!(a.last_scheduled_time, Some(6_000));
    }

    pub async fn check_states_are_upserted_and_survive_reopen(db: &TestDb) {
        use signalbox_store::CheckStateRow;
        let store = db.store();
        assert!(store.load_check_states().await.unwrap().is_empty());
        let row = |name: &str, health: &str, last: Option<i64>, at: i64| CheckStateRow {
            name: name.into(),
            health: health.into(),
            last_alert_at: last,
            updated_at: at,
        };
        store
            .save_check_state(&row("b", "healthy", None, 1_000))
            .await
            .unwrap();
        store
            .save_check_state(&row("a", "failing", Some(2_000), 2_000))
            .await
            .unwrap();
        // A second write replaces the row, also back to no alert time.
        store
            .save_check_state(&row("b", "failing", Some(3_000), 3_000))
            .await
            .unwrap();
        store
            .save_check_state(&row("a", "healthy", None, 4_000))
            .await
            .unwrap();
        let expected = vec![
            row("a", "healthy", None, 4_000),
            row("b", "failing", Some(3_000), 3_000),
        ];
        assert_eq!(store.load_check_states().await.unwrap(), expected);
        let reopened = db.reopen().await;
        assert_eq!(reopened.load_check_states().await.unwrap(), expected);
        // The table refuses a health it does not know.
        assert!(
            store
                .save_check_state(&row("c", "sideways", None, 5_000))
                .await
                .is_err()
        );
    }

    pub async fn heartbeat_pings_keep_each_signal_and_the_last(db: &TestDb) {
        use signalbox_store::{HeartbeatSignal as S, MAX_FAIL_BODY};
        let store = db.store();
        assert_eq!(store.heartbeat("backup").await.unwrap(), None);
        let row = store
            .record_heartbeat("backup", S::Start, Some("ignored"), 1_000)
            .await
            .unwrap();
        assert_eq!(row.name, "backup");
        assert_eq!((row.last_kind, row.last_signal_at), (S::Start, 1_000));
        assert_eq!(
            (row.last_ping_at, row.last_start_at, row.last_fail_at),
            (None, Some(1_000), None)
        );
        assert_eq!((row.last_fail_body, row.pings), (None, 1));
        store
            .record_heartbeat("backup", S::Success, None, 2_000)
            .await
            .unwrap();
        let failed = store
            .record_heartbeat("backup", S::Fail, Some("disk full"), 3_000)
            .await
            .unwrap();
        assert_eq!((failed.last_kind, failed.last_signal_at), (S::Fail, 3_000));
        assert_eq!(
            (
                failed.last_ping_at,
                failed.last_start_at,
                failed.last_fail_at
            ),
            (Some(2_000), Some(1_000), Some(3_000))
        );
        assert_eq!(failed.last_fail_body.as_deref(), Some("disk full"));
        assert_eq!(failed.pings, 3);
        // A later success keeps the fail's time and body, and becomes the last signal.
        let ok = store
            .record_heartbeat("backup", S::Success, Some("not kept"), 4_000)
            .await
            .unwrap();
        assert_eq!((ok.last_kind, ok.last_ping_at), (S::Success, Some(4_000)));
        assert_eq!(ok.last_fail_at, Some(3_000));
        assert_eq!(ok.last_fail_body.as_deref(), Some("disk full"));
        assert_eq!(store.heartbeat("backup").await.unwrap(), Some(ok.clone()));
        // A long fail body is clipped; a fail without body clears the old one.
        let long = "x".repeat(MAX_FAIL_BODY + 10);
        let clipped = store
            .record_heartbeat("backup", S::Fail, Some(&long), 5_000)
            .await
            .unwrap();
        assert_eq!(clipped.last_fail_body.map(|b| b.len()), Some(MAX_FAIL_BODY));
        let bare = store
            .record_heartbeat("backup", S::Fail, None, 6_000)
            .await
            .unwrap();
        assert_eq!(bare.last_fail_body, None);
        // Other names are separate rows, and everything survives a reopen.
        store
            .record_heartbeat("nightly", S::Success, None, 7_000)
            .await
            .unwrap();
        let reopened = db.reopen().await;
        assert_eq!(
            reopened.heartbeat("backup").await.unwrap().unwrap().pings,
            6
        );
        assert_eq!(
            reopened.heartbeat("nightly").await.unwrap().unwrap().pings,
            1
        );
    }

    pub async fn heartbeat_counts_live_instances(db: &TestDb) {
        let store = db.store();
        sync(store, &["a", "b", "c"], 1_000).await;
        let c = store.scheduler_heartbeat("x", 1_000, 4_000).await.unwrap();
        assert_eq!((c.instances, c.schedules), (1, 3));
        let c = store.scheduler_heartbeat("y", 2_000, 5_000).await.unwrap();
        assert_eq!(c.instances, 2);
        // x went silent at 4000.
        let c = store.scheduler_heartbeat("y", 4_500, 7_500).await.unwrap();
        assert_eq!(c.instances, 1);
        store.scheduler_heartbeat("x", 4_600, 8_000).await.unwrap();
        store.release_schedules("x", None).await.unwrap();
        let c = store.scheduler_heartbeat("y", 4_700, 8_000).await.unwrap();
        assert_eq!(c.instances, 1, "a released instance is forgotten");
    }
    pub async fn check_partitions_claim_renew_release(db: &TestDb) {
        use signalbox_store::CHECK_PARTITIONS;
        let store = db.store();
        let all = CHECK_PARTITIONS as usize;
        // Everything is free at first; claims go up to the limit.
        let a = store
            .claim_check_partitions("a", 1_000, 4_000, 100)
            .await
            .unwrap();
        assert_eq!(a.len(), 100);
        assert!(a.iter().all(|c| c.previous_owner.is_none()));
        let b = store
            .claim_check_partitions("b", 1_000, 4_000, 1_000)
            .await
            .unwrap();
        assert_eq!(b.len(), all - 100, "the rest, and nothing twice");
        assert!(
            store
                .claim_check_partitions("c", 1_500, 4_500, 10)
                .await
                .unwrap()
                .is_empty()
        );

        // Renewal returns what is still validly held, sorted.
        let held = store
            .renew_check_partitions("a", 2_000, 5_000)
            .await
            .unwrap();
        let mut expected: Vec<u32> = a.iter().map(|c| c.partition).collect();
        expected.sort_unstable();
        assert_eq!(held, expected);

        // b stops renewing: its leases expire at 4000 and c takes them over, naming b.
        let c = store
            .claim_check_partitions("c", 4_000, 7_000, 1_000)
            .await
            .unwrap();
        assert_eq!(c.len(), all - 100);
        assert!(c.iter().all(|c| c.previous_owner.as_deref() == Some("b")));
        // A returning b finds nothing to renew: expired leases are not renewed.
        assert!(
            store
                .renew_check_partitions("b", 4_100, 7_100)
                .await
                .unwrap()
                .is_empty()
        );
        // a renewed to 5000, so its partitions are still its own.
        assert_eq!(
            store
                .renew_check_partitions("a", 4_200, 7_200)
                .await
                .unwrap()
                .len(),
            100
        );

        // Releasing some makes exactly those claimable at once, with no previous owner.
        let give: Vec<u32> = expected[..10].to_vec();
        store
            .release_check_partitions("a", Some(&give))
            .await
            .unwrap();
        // Releasing what one does not hold changes nothing.
        store
            .release_check_partitions("b", Some(&expected[10..20]))
            .await
            .unwrap();
        let taken = store
            .claim_check_partitions("c", 4_300, 7_300, 1_000)
            .await
            .unwrap();
        let mut got: Vec<u32> = taken.iter().map(|c| c.partition).collect();
        got.sort_unstable();
        assert_eq!(got, give);
        assert!(taken.iter().all(|c| c.previous_owner.is_none()));
        assert_eq!(
            store
                .renew_check_partitions("a", 4_400, 7_400)
                .await
                .unwrap()
                .len(),
            90
        );

        // Releasing all frees every partition of the owner.
        store.release_check_partitions("a", None).await.unwrap();
        assert!(
            store
                .renew_check_partitions("a", 4_500, 7_500)
                .await
                .unwrap()
                .is_empty()
        );
        let d = store
            .claim_check_partitions("d", 4_600, 7_600, 1_000)
            .await
            .unwrap();
        assert_eq!(d.len(), 90);
    }

    pub async fn concurrent_partition_claimers_never_share(db: &TestDb) {
        let store = db.store.clone();
        let mut tasks = Vec::new();
        for w in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let claimed = store
                        .claim_check_partitions(&format!("w{w}"), 1_000, 60_000, 7)
                        .await
                        .expect("claim");
                    if claimed.is_empty() {
                        break;
                    }
                    got.extend(claimed.into_iter().map(|c| c.partition));
                }
                got
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        let unique: HashSet<u32> = all.iter().copied().collect();
        assert_eq!(all.len(), signalbox_store::CHECK_PARTITIONS as usize);
        assert_eq!(unique.len(), all.len(), "every partition claimed once");
    }

    pub async fn monitor_census_counts_instances_yielding_and_expiry(db: &TestDb) {
        let store = db.store();
        let c = store
            .monitor_heartbeat("x", 1_000, 4_000, false)
            .await
            .unwrap();
        assert_eq!((c.instances, c.yielding), (1, 0));
        assert_eq!(c.partitions, u64::from(signalbox_store::CHECK_PARTITIONS));
        assert_eq!(c.next_expiry, None, "nobody holds a lease");
        store
            .claim_check_partitions("x", 1_000, 4_000, 3)
            .await
            .unwrap();
        store
            .claim_check_partitions("y", 1_000, 3_500, 3)
            .await
            .unwrap();
        let c = store
            .monitor_heartbeat("y", 2_000, 5_000, true)
            .await
            .unwrap();
        assert_eq!((c.instances, c.yielding), (2, 1));
        assert_eq!(c.next_expiry, Some(4_000), "x's leases, not y's own");
        let c = store
            .monitor_heartbeat("x", 2_100, 5_100, false)
            .await
            .unwrap();
        assert_eq!(c.next_expiry, Some(3_500));
        // y went silent at 5000; x's own expired leases do not count.
        let c = store
            .monitor_heartbeat("x", 5_050, 8_000, false)
            .await
            .unwrap();
        assert_eq!((c.instances, c.yielding), (1, 0));
        assert_eq!(c.next_expiry, None);
        store
            .monitor_heartbeat("y", 5_100, 8_000, false)
            .await
            .unwrap();
        store.release_check_partitions("y", None).await.unwrap();
        let c = store
            .monitor_heartbeat("x", 5_200, 8_000, false)
            .await
            .unwrap();
        assert_eq!(c.instances, 1, "a released instance is forgotten");
    }
    pub async fn check_confirmations_are_taken_once_and_answered(db: &TestDb) {
        let store = db.store();
        store
            .request_check_confirmation("r1", "api", "a", 1_000)
            .await
            .unwrap();
        let row = store.check_confirmation("r1").await.unwrap().unwrap();
        assert_eq!(
            (row.check.as_str(), row.success, row.answered_by),
            ("api", None, None)
        );
        // The requester does not answer its own request; too old a request is ignored.
        assert!(
            store
                .claim_check_confirmations("a", 1_100, 5_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .claim_check_confirmations("b", 9_000, 5_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let taken = store
            .claim_check_confirmations("b", 1_100, 5_000, 10)
            .await
            .unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(
            (
                taken[0].id.as_str(),
                taken[0].check.as_str(),
                taken[0].requester.as_str()
            ),
            ("r1", "api", "a")
        );
        // Taken: nobody else gets it meanwhile, and only the taker answers.
        assert!(
            store
                .claim_check_confirmations("c", 1_200, 5_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            !store
                .answer_check_confirmation("r1", "c", true, 1_300)
                .await
                .unwrap()
        );
        assert!(
            store
                .answer_check_confirmation("r1", "b", false, 1_300)
                .await
                .unwrap()
        );
        assert!(
            !store
                .answer_check_confirmation("r1", "b", true, 1_400)
                .await
                .unwrap(),
            "answered once"
        );
        let row = store.check_confirmation("r1").await.unwrap().unwrap();
        assert_eq!(
            (row.success, row.answered_by.as_deref()),
            (Some(false), Some("b"))
        );
        // An answered request is not taken again, even after the claim ran out.
        assert!(
            store
                .claim_check_confirmations("c", 60_000, 100_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // A taker that never answers loses the request after 30 s.
        store
            .request_check_confirmation("r2", "db", "a", 2_000)
            .await
            .unwrap();
        assert_eq!(
            store
                .claim_check_confirmations("b", 2_000, 60_000, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            store
                .claim_check_confirmations("c", 31_999, 60_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let retaken = store
            .claim_check_confirmations("c", 32_000, 60_000, 10)
            .await
            .unwrap();
        assert_eq!(retaken.len(), 1);
        assert!(
            store
                .answer_check_confirmation("r2", "c", true, 32_100)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .check_confirmation("r2")
                .await
                .unwrap()
                .unwrap()
                .success,
            Some(true)
        );
        assert_eq!(store.check_confirmation("nope").await.unwrap(), None);
    }
}

#[tokio::test]
async fn in_memory_sqlite_works() {
    let store = signalbox_store::open("sqlite::memory:", &OpenOptions::default())
        .await
        .expect("open in memory");
    let write = signalbox_store::EventWrite {
        event: signalbox_store::NewEvent {
            id: "e".into(),
            source: "s".into(),
            detail_type: "d".into(),
            time: 1,
            body: "{}".into(),
        },
        deliveries: vec![signalbox_store::NewDelivery {
            id: "d".into(),
            rule: "r".into(),
            target: 0,
        }],
    };
    store.ingest(&[write], 1_000, 0).await.expect("ingest");
    let jobs = store.claim_due("w", 1_000, 2_000, 10).await.expect("claim");
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        store.event("e").await.expect("event").map(|e| e.body),
        Some("{}".into())
    );
}

#[tokio::test]
async fn unknown_url_schemes_are_rejected() {
    let Err(err) = signalbox_store::open("mysql://localhost/x", &OpenOptions::default()).await
    else {
        panic!("mysql is not a backend");
    };
    assert!(
        matches!(err, signalbox_store::StoreError::InvalidUrl { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn postgres_schema_names_are_checked() {
    let Err(err) =
        PostgresStore::open_in_schema(&postgres_url(), "bad\"name", &test_options()).await
    else {
        panic!("quotes are refused");
    };
    assert!(
        matches!(err, signalbox_store::StoreError::InvalidUrl { .. }),
        "{err}"
    );
}
