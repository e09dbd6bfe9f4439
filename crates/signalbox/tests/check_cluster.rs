//! Three instances on one PostgreSQL share 45 checks that run every second against a local
//! HTTP server (3 s leases). One is `kill -9`ed, another SIGSTOPped for longer than its lease
//! and resumed. Every check must keep its cadence — no gap between two runs longer than the
//! period plus one lease (and a small margin) — and no check may run on two instances at once.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use common::*;

const CHECKS: usize = 45;
const PERIOD_MS: u64 = 1_000;
const LEASE_MS: u64 = 3_000;
/// Scheduling jitter, a takeover's store round trips and a loaded CI machine.
const MARGIN_MS: u64 = 1_500;

/// One probe request as the server saw it.
#[derive(Debug, Clone)]
struct Hit {
    check: String,
    instance: String,
    /// Milliseconds since the test's start.
    at: u64,
}

#[derive(Clone)]
struct Hits {
    t0: Instant,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Hits {
    fn all(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    fn now(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    /// Instances seen since `since`.
    fn instances_since(&self, since: u64) -> HashSet<String> {
        self.all()
            .into_iter()
            .filter(|h| h.at >= since)
            .map(|h| h.instance)
            .collect()
    }
}

async fn hit(
    State(hits): State<Hits>,
    Path(check): Path<String>,
    headers: HeaderMap,
) -> &'static str {
    let instance = headers
        .get("x-instance")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_string();
    let at = hits.now();
    hits.hits.lock().unwrap().push(Hit {
        check,
        instance,
        at,
    });
    "ok"
}

async fn start_target() -> (String, Hits) {
    let hits = Hits {
        t0: Instant::now(),
        hits: Arc::default(),
    };
    let app = Router::new()
        .route("/hit/{check}", get(hit))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

/// The same checks on every instance; only the header naming the instance differs.
fn config(store: &str, target: &str, instance: &str) -> String {
    let mut yaml = format!(
        "server: {{ listen: \"127.0.0.1:0\" }}\nstore: {{ url: \"{store}\", max_connections: 4 }}\n\
         monitor: {{ lease_ttl: 3s }}\nchecks:\n"
    );
    for i in 0..CHECKS {
        yaml.push_str(&format!(
            "  c{i:02}: {{ http: {{ url: \"{target}/hit/c{i:02}\", timeout: 2s, headers: {{ X-Instance: \"{instance}\" }} }}, schedule: {{ every: 1s }} }}\n"
        ));
    }
    yaml
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_keep_every_check_on_cadence_through_kill_and_stall() {
    let schema = PgSchema::create().await;
    let (target, hits) = start_target().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut a = Server::start(dirs[0].path(), &config(&schema.url, &target, "a"));
    let b = Server::start(dirs[1].path(), &config(&schema.url, &target, "b"));
    let c = Server::start(dirs[2].path(), &config(&schema.url, &target, "c"));

    // The share settles: every instance runs some checks.
    let settled = eventually(
        Duration::from_secs(20),
        "all three instances running checks",
        || async {
            let since = hits.now().saturating_sub(1_500);
            (hits.instances_since(since).len() == 3).then(|| hits.now())
        },
    )
    .await;

    tokio::time::sleep(Duration::from_secs(3)).await;
    let killed = hits.now();
    a.kill9();

    // A's checks move to B and C within the lease; then B stalls past its lease.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let stalled = hits.now();
    signal(b.pid(), "-STOP");
    tokio::time::sleep(Duration::from_millis(2 * LEASE_MS + 1_000)).await;
    signal(b.pid(), "-CONT");
    let resumed = hits.now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let end = hits.now();

    let all = hits.all();
    let mut by_check: BTreeMap<String, Vec<&Hit>> = BTreeMap::new();
    for h in all.iter().filter(|h| h.at >= settled && h.at <= end) {
        by_check.entry(h.check.clone()).or_default().push(h);
    }
    assert_eq!(by_check.len(), CHECKS, "every check ran");
    let max_gap = PERIOD_MS + LEASE_MS + MARGIN_MS;
    let mut worst = 0;
    for (check, runs) in &by_check {
        let mut times: Vec<u64> = runs.iter().map(|h| h.at).collect();
        times.sort_unstable();
        // Runs up to the end, not only before the kill.
        assert!(
            end - times.last().unwrap() <= max_gap,
            "{check} stopped running: last run at {} ms, end {end} ms",
            times.last().unwrap()
        );
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            worst = worst.max(gap);
            assert!(
                gap <= max_gap,
                "{check}: no run between {} ms and {} ms (kill at {killed}, stall {stalled}..{resumed})",
                pair[0],
                pair[1]
            );
            // Two instances running one check would land within a few milliseconds of each
            // other (same hashed offset). A probe B had started just before the SIGSTOP may
            // only reach the server after the SIGCONT: that one started under a valid lease.
            let just_resumed = (resumed..resumed + 1_500).contains(&pair[1]);
            assert!(
                gap >= PERIOD_MS / 2 || just_resumed,
                "{check} ran twice at {} ms and {} ms: {:?}",
                pair[0],
                pair[1],
                runs.iter()
                    .filter(|h| h.at == pair[0] || h.at == pair[1])
                    .map(|h| &h.instance)
                    .collect::<Vec<_>>()
            );
        }
    }
    // A stopped with its kill; B, stalled, ran nothing during the stall.
    assert!(
        all.iter()
            .all(|h| h.instance != "a" || h.at <= killed + 100)
    );
    assert!(
        all.iter()
            .all(|h| h.instance != "b" || h.at <= stalled + 100 || h.at >= resumed),
        "b ran while stopped"
    );
    // C took over everything while B was stopped.
    let during_stall: HashSet<&str> = all
        .iter()
        .filter(|h| h.at > stalled + LEASE_MS + MARGIN_MS && h.at < resumed)
        .map(|h| h.check.as_str())
        .collect();
    assert_eq!(
        during_stall.len(),
        CHECKS,
        "c ran every check during b's stall"
    );
    eprintln!(
        "{} runs, worst gap {worst} ms, instances after the stall: {:?}",
        all.len(),
        hits.instances_since(resumed)
    );
    drop((b, c));
    schema.drop_schema().await;
}

/// A target per instance and check (`/{instance}/{check}`) whose paths can be broken one by one.
#[derive(Clone, Default)]
struct Switchboard {
    broken: Arc<Mutex<HashSet<String>>>,
}

async fn switch(
    State(board): State<Switchboard>,
    Path((instance, check)): Path<(String, String)>,
) -> axum::http::StatusCode {
    let path = format!("{instance}/{check}");
    if board.broken.lock().unwrap().contains(&path) {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    } else {
        axum::http::StatusCode::OK
    }
}

fn confirm_config(store: &str, target: &str, instance: &str) -> String {
    let mut yaml = format!(
        "server: {{ listen: \"127.0.0.1:0\" }}\nstore: {{ url: \"{store}\", max_connections: 4 }}\n\
         monitor: {{ lease_ttl: 3s }}\nchecks:\n"
    );
    for check in ["flaky", "down"] {
        yaml.push_str(&format!(
            "  {check}: {{ http: {{ url: \"{target}/{instance}/{check}\", timeout: 2s }}, schedule: {{ every: 1s }}, failure_threshold: 1, confirm: 1 }}\n"
        ));
    }
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_asks_another_instance_before_a_check_fails() {
    use sqlx::Row;
    let schema = PgSchema::create().await;
    let board = Switchboard::default();
    let app = Router::new()
        .route("/{instance}/{check}", get(switch))
        .with_state(board.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = Server::start(dirs[0].path(), &confirm_config(&schema.url, &target, "a"));
    let b = Server::start(dirs[1].path(), &confirm_config(&schema.url, &target, "b"));
    let pool = sqlx::PgPool::connect(&schema.url).await.unwrap();

    // The partitions settle between the two.
    let owners: Vec<String> = eventually(Duration::from_secs(20), "both instances holding partitions", || async {
        let now = chrono::Utc::now().timestamp_millis();
        let rows = sqlx::query(
            "SELECT lease_owner, COUNT(*) FROM check_partitions WHERE lease_until > $1 GROUP BY lease_owner",
        )
        .bind(now)
        .fetch_all(&pool)
        .await
        .unwrap();
        let total: i64 = rows.iter().map(|r| r.get::<i64, _>(1)).sum();
        (rows.len() == 2
                && total == 256
                // Neither above its share plus slack: nothing moves any more.
                && rows.iter().all(|r| r.get::<i64, _>(1) <= 128 + 12)).then(|| rows.iter().map(|r| r.get(0)).collect())
    })
    .await;
    let instance_of = |owner: &str| {
        let pid: u32 = owner.split('-').next().unwrap().parse().unwrap();
        if pid == a.pid() {
            "a"
        } else {
            assert_eq!(pid, b.pid());
            "b"
        }
    };
    assert_eq!(
        owners
            .iter()
            .map(|o| instance_of(o))
            .collect::<HashSet<_>>()
            .len(),
        2
    );
    // Who runs `flaky`: the holder of its partition, now that the shares are settled.
    let partition = i64::from(signalbox_monitor::lease::partition_of("flaky"));
    let flaky_owner: String = sqlx::query("SELECT lease_owner FROM check_partitions WHERE id = $1")
        .bind(partition)
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    let runner = instance_of(&flaky_owner);
    let other = if runner == "a" { "b" } else { "a" };
    let other_owner = owners
        .iter()
        .find(|o| instance_of(o) == other)
        .unwrap()
        .clone();
    {
        let mut broken = board.broken.lock().unwrap();
        // `flaky` is down only as its runner sees it; `down` is down everywhere.
        broken.insert(format!("{runner}/flaky"));
        broken.insert("a/down".into());
        broken.insert("b/down".into());
    }

    // `down` fails, confirmed by the instance that does not run it.
    let failed = eventually(
        Duration::from_secs(30),
        "a confirmed Check Failed of down",
        || async {
            let rows = sqlx::query("SELECT body FROM events WHERE detail_type = 'Check Failed'")
                .fetch_all(&pool)
                .await
                .unwrap();
            rows.iter()
                .map(|r| serde_json::from_str::<serde_json::Value>(&r.get::<String, _>(0)).unwrap())
                .find(|e| e["detail"]["check"] == "down")
        },
    )
    .await;
    let down_runner_owner = owners
        .iter()
        .find(|o| *o != failed["detail"]["confirmed_by"].as_str().unwrap())
        .unwrap();
    assert!(
        owners.contains(
            &failed["detail"]["confirmed_by"]
                .as_str()
                .unwrap()
                .to_string()
        ),
        "{failed}"
    );
    assert_ne!(
        down_runner_owner,
        failed["detail"]["confirmed_by"].as_str().unwrap()
    );

    // `flaky`: its runner asks, the other instance reaches it: answered, and no alert.
    eventually(
        Duration::from_secs(30),
        "flaky confirmations answered",
        || async {
            let n: i64 = sqlx::query(
                "SELECT COUNT(*) FROM check_confirmations WHERE check_name = 'flaky' \
             AND result = 'success' AND answered_by = $1",
            )
            .bind(&other_owner)
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
            (n >= 2).then_some(())
        },
    )
    .await;
    let flaky_failed: i64 = sqlx::query(
        "SELECT COUNT(*) FROM events WHERE detail_type = 'Check Failed' AND body LIKE '%\"check\":\"flaky\"%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap()
    .get(0);
    assert_eq!(
        flaky_failed, 0,
        "a failure seen by one instance only is not an alert"
    );
    let server = if runner == "a" { &a } else { &b };
    let (_, flaky) = get_json(&server.url("/v1/checks/flaky")).await;
    assert_ne!(flaky["state"], "failing", "{flaky}");
    assert_eq!(flaky["last_run"]["success"], false, "{flaky}");
    pool.close().await;
    drop((a, b));
    schema.drop_schema().await;
}
