//! Three instances on one PostgreSQL share 100 per-second schedules (`misfire: fire_all`, 3 s
//! leases). One is `kill -9`ed, another SIGSTOPped for longer than its lease and resumed. Every
//! (schedule, second) of the run must be fired exactly once.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use sqlx::Row;

const SCHEDULES: usize = 100;
const LEASE_MS: i64 = 3_000;

fn config(store: &str) -> String {
    let mut yaml = format!(
        "server: {{ listen: \"127.0.0.1:0\" }}\nstore: {{ url: \"{store}\", schedule_lease: 3s, max_connections: 4 }}\nschedules:\n"
    );
    for i in 0..SCHEDULES {
        yaml.push_str(&format!(
            "  s{i:03}: {{ cron: \"* * * * * *\", misfire: fire_all }}\n"
        ));
    }
    yaml
}

/// Owner id → number of schedules it holds, per the API.
async fn owners(server: &Server) -> BTreeMap<String, usize> {
    let (_, list) = get_json(&server.url("/v1/schedules")).await;
    let mut out = BTreeMap::new();
    for s in list["schedules"].as_array().into_iter().flatten() {
        if let Some(owner) = s["owner"]["id"].as_str() {
            *out.entry(owner.to_string()).or_default() += 1;
        }
    }
    out
}

fn pid_of(owner: &str) -> u32 {
    owner.split('-').next().unwrap().parse().unwrap()
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_fire_each_second_exactly_once_through_kill_and_stall() {
    let schema = PgSchema::create().await;
    let yaml = config(&schema.url);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut a = Server::start(dirs[0].path(), &yaml);
    let b = Server::start(dirs[1].path(), &yaml);
    let c = Server::start(dirs[2].path(), &yaml);

    // The share settles: every instance holds some schedules.
    eventually(
        Duration::from_secs(20),
        "all three instances holding schedules",
        || async {
            let o = owners(&a).await;
            (o.len() == 3 && o.values().sum::<usize>() == SCHEDULES).then_some(())
        },
    )
    .await;
    // The covered window starts at the next whole second.
    let start = (now_ms() / 1000 + 1) * 1000;
    let t0 = Instant::now();

    tokio::time::sleep(Duration::from_secs(6)).await;
    let before_kill = owners(&b).await;
    a.kill9();
    assert!(before_kill.len() == 3, "{before_kill:?}");

    tokio::time::sleep(Duration::from_secs(6)).await;
    // Stall B longer than its lease (the deliberate sleep), then wake it.
    let b_pid = b.pid();
    signal(b_pid, "-STOP");
    let stall = Duration::from_millis(2 * LEASE_MS as u64 + 1_000);
    tokio::time::sleep(stall).await;
    signal(b_pid, "-CONT");

    // Run on until 40 s after the start (the run length), then stop looking at new
    // seconds.
    let left = Duration::from_secs(40).saturating_sub(t0.elapsed());
    tokio::time::sleep(left).await;
    let end = (now_ms() / 1000 - 2) * 1000;

    // Every second of the window gets its fire (catch-ups included), polled with a deadline.
    let pool = sqlx::PgPool::connect(&schema.url).await.unwrap();
    let expected_per_schedule = ((end - start) / 1000 + 1) as usize;
    let fires = eventually(
        Duration::from_secs(20),
        "every fire of the window",
        || async {
            let rows = sqlx::query(
                "SELECT schedule, scheduled_time, outcome, owner FROM schedule_fires \
             WHERE scheduled_time BETWEEN $1 AND $2",
            )
            .bind(start)
            .bind(end)
            .fetch_all(&pool)
            .await
            .unwrap();
            (rows.len() >= SCHEDULES * expected_per_schedule).then_some(rows)
        },
    )
    .await;
    let mut seen = HashSet::new();
    let mut caught_up = 0;
    let mut owners_seen = HashSet::new();
    for r in &fires {
        let key: (String, i64) = (r.get(0), r.get(1));
        assert!(seen.insert(key.clone()), "fired twice: {key:?}");
        if r.get::<String, _>(2) == "caught_up" {
            caught_up += 1;
        }
        owners_seen.insert(r.get::<String, _>(3));
    }
    for i in 0..SCHEDULES {
        for k in 0..expected_per_schedule as i64 {
            let key = (format!("s{i:03}"), start + k * 1000);
            assert!(seen.contains(&key), "never fired: {key:?}");
        }
    }
    assert_eq!(fires.len(), SCHEDULES * expected_per_schedule);
    // Each fire is one event, with its derived id.
    let events: i64 = sqlx::query(
        "SELECT COUNT(*) FROM events WHERE source = 'signalbox.schedule' AND time BETWEEN $1 AND $2",
    )
    .bind(start)
    .bind(end)
    .fetch_one(&pool)
    .await
    .unwrap()
    .get(0);
    assert_eq!(events as usize, fires.len());
    assert!(
        caught_up > 0,
        "the kill and the stall left gaps to catch up"
    );
    assert!(owners_seen.len() >= 3, "{owners_seen:?}");
    let pids: HashSet<u32> = owners_seen.iter().map(|o| pid_of(o)).collect();
    assert!(pids.contains(&b_pid));
    eprintln!(
        "window {} s, {} fires, {} caught up, owners {:?}",
        expected_per_schedule,
        fires.len(),
        caught_up,
        owners(&c).await
    );
    pool.close().await;
    drop((b, c));
    schema.drop_schema().await;
}
