//! The standard matcher workload (`shared/bench/matchbench`), one thread, events as raw JSON
//! bytes, with the `quamina` crate measured in the same run as the peer.
//!
//! ```sh
//! cargo bench -p signalbox-rules --bench matchbench
//! MATCHBENCH_FAMILIES=exact,mixed MATCHBENCH_SIZES=10,10000 cargo bench -p signalbox-rules --bench matchbench
//! ```
//!
//! Settings (environment): `MATCHBENCH_DATA` (workload directory; generated with
//! `MATCHBENCH_GEN`, default `../shared/bench/matchbench/gen.py` beside the repository, when
//! `events.jsonl` is missing), `MATCHBENCH_FAMILIES`, `MATCHBENCH_SIZES`, `MATCHBENCH_NO_PEER=1`,
//! `MATCHBENCH_MIN_SECS` (time per measurement, default 1).
//!
//! The total match count of every family and size in the workload README is asserted: a
//! mismatch aborts the run. Timings are the best of several passes over all events.

use std::fs;
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use signalbox_rules::{Matcher, compile, compile_linear};

const FAMILIES: [&str; 5] = ["exact", "mixed", "prefix", "anythingbut", "exists"];
const SIZES: [usize; 5] = [10, 100, 1_000, 10_000, 100_000];

/// Total matches over all 100,000 events, from the workload README (event-ruler 2.0.1).
fn expected_total(family: &str, size: usize) -> Option<usize> {
    let row = match family {
        "exact" => [5, 62, 675, 6_626],
        "mixed" => [20, 240, 2_448, 24_571],
        "prefix" => [3, 102, 1_130, 11_201],
        "anythingbut" => [67, 575, 5_991, 59_919],
        "exists" => [15, 199, 1_991, 20_015],
        _ => return None,
    };
    let column = SIZES.iter().position(|s| *s == size)?;
    row.get(column).copied()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn workload_dir() -> PathBuf {
    let dir = std::env::var_os("MATCHBENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/matchbench-data"));
    if !dir.join("events.jsonl").exists() {
        let generator = std::env::var_os("MATCHBENCH_GEN")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("../shared/bench/matchbench/gen.py"));
        eprintln!("generating the workload into {}", dir.display());
        let status = Command::new("python3")
            .arg(&generator)
            .arg(&dir)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", generator.display()));
        assert!(status.success(), "{} failed", generator.display());
    }
    dir
}

fn env_list(name: &str) -> Option<Vec<String>> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
}

fn min_time() -> Duration {
    let secs = std::env::var("MATCHBENCH_MIN_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(1.0);
    Duration::from_secs_f64(secs)
}

/// Runs `pass` (one pass over `events` events) repeatedly for at least `min` and at least
/// twice, returning the best rate in events/s. A first, untimed pass warms caches.
fn best_rate(events: usize, min: Duration, mut pass: impl FnMut()) -> f64 {
    pass();
    let started = Instant::now();
    let mut best = Duration::MAX;
    let mut runs = 0;
    while runs < 2 || started.elapsed() < min {
        let t = Instant::now();
        pass();
        best = best.min(t.elapsed());
        runs += 1;
        // A very slow peer gets two timed passes, not a minute each.
        if best > Duration::from_secs(5) && runs >= 1 {
            break;
        }
    }
    events as f64 / best.as_secs_f64()
}

fn rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.0} k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// The quamina crate, or why it could not be measured.
enum Peer {
    Ready(Box<quamina::Quamina<usize>>),
    Failed(String),
}

fn build_peer(patterns: &[String]) -> Peer {
    let built = quietly(|| {
        let mut q = quamina::Quamina::<usize>::new();
        for (i, p) in patterns.iter().enumerate() {
            if let Err(e) = q.add_pattern(i, p) {
                return Err(format!("refuses pattern {i}: {e}"));
            }
        }
        Ok(q)
    });
    match built {
        Ok(Ok(q)) => Peer::Ready(Box::new(q)),
        Ok(Err(why)) => Peer::Failed(why),
        Err(()) => Peer::Failed("panics".to_owned()),
    }
}

/// Runs `f`, turning a panic into `Err(())` without printing it.
fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, ()> {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| ());
    panic::set_hook(hook);
    result
}

fn count_peer(q: &quamina::Quamina<usize>, events: &[Vec<u8>]) -> Result<usize, String> {
    quietly(|| {
        let mut total = 0;
        for e in events {
            total += q
                .matches_for_event(e)
                .map_err(|e| format!("error: {e}"))?
                .len();
        }
        Ok(total)
    })
    .unwrap_or_else(|()| Err("panics while matching".to_owned()))
}

fn count_ours(m: &dyn Matcher, events: &[Vec<u8>]) -> usize {
    let mut out = Vec::new();
    let mut total = 0;
    for e in events {
        out.clear();
        m.matching_rules_json(e, &mut out)
            .unwrap_or_else(|err| panic!("event refused: {err}"));
        total += out.len();
    }
    total
}

fn standard_workload(peer: bool) {
    let dir = workload_dir();
    let events: Vec<Vec<u8>> = fs::read_to_string(dir.join("events.jsonl"))
        .expect("events.jsonl")
        .lines()
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let families = env_list("MATCHBENCH_FAMILIES")
        .unwrap_or_else(|| FAMILIES.iter().map(|s| s.to_string()).collect());
    let sizes: Vec<usize> = env_list("MATCHBENCH_SIZES")
        .map(|v| v.iter().filter_map(|s| s.parse().ok()).collect())
        .unwrap_or_else(|| SIZES.to_vec());
    let min = min_time();
    println!(
        "standard workload: {} events from {}; events/s, one thread, best pass",
        events.len(),
        dir.display()
    );
    println!(
        "| family | rules | matches | signalbox (bytes) | signalbox (serde Value + match) | quamina 0.7 (bytes) | signalbox / quamina | build ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    for family in &families {
        let mut at_10 = None;
        // Once quamina panics or refuses at one size it is not tried at larger ones: building
        // 100,000 prefix patterns before its panic took over 8 GB.
        let mut peer_gave_up: Option<String> = None;
        for &size in &sizes {
            let file = dir.join(format!("patterns_{family}_{size}.jsonl"));
            let lines: Vec<String> = fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
                .lines()
                .map(str::to_owned)
                .collect();
            let rules: Vec<(String, Value)> = lines
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    (
                        i.to_string(),
                        serde_json::from_str(l).expect("pattern json"),
                    )
                })
                .collect();
            let t = Instant::now();
            let matcher = compile(&rules).unwrap_or_else(|e| panic!("{family}/{size}: {e:?}"));
            let build_ms = t.elapsed().as_secs_f64() * 1e3;
            let total = count_ours(matcher.as_ref(), &events);
            if let Some(expected) = expected_total(family, size)
                && total != expected
            {
                failures.push(format!(
                    "{family}/{size}: {total} matches, the README says {expected}"
                ));
            }
            let ours = best_rate(events.len(), min, || {
                black_box(count_ours(matcher.as_ref(), &events));
            });
            let via_value = best_rate(events.len(), min / 2, || {
                let mut out = Vec::new();
                for e in &events {
                    out.clear();
                    let v: Value = serde_json::from_slice(e).expect("event json");
                    matcher.matching_rules(&v, &mut out);
                    black_box(&out);
                }
            });
            let (peer_cell, ratio_cell) = if !peer {
                ("not run".to_owned(), "–".to_owned())
            } else if let Some(why) = &peer_gave_up {
                (format!("not run ({why})"), "–".to_owned())
            } else {
                let outcome = match build_peer(&lines) {
                    Peer::Ready(q) => match count_peer(&q, &events) {
                        Ok(peer_total) => {
                            if peer_total != total {
                                failures.push(format!(
                                    "{family}/{size}: quamina counts {peer_total}, signalbox {total}"
                                ));
                            }
                            let r = best_rate(events.len(), min, || {
                                black_box(count_peer(&q, &events).ok());
                            });
                            (rate(r), format!("{:.2}×", ours / r))
                        }
                        Err(why) => (why, "–".to_owned()),
                    },
                    Peer::Failed(why) => (why, "–".to_owned()),
                };
                if outcome.1 == "–" {
                    peer_gave_up = Some(format!("failed at {size} rules"));
                }
                outcome
            };
            println!(
                "| {family} | {size} | {total} | {} | {} | {peer_cell} | {ratio_cell} | {build_ms:.0} |",
                rate(ours),
                rate(via_value)
            );
            if size == 10 {
                at_10 = Some(ours);
            }
            if size == 100_000
                && let Some(small) = at_10
            {
                println!(
                    "|   | 100,000 vs 10 | | {:.2}× slower | | | | |",
                    small / ours
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "match counts disagree:\n{}",
        failures.join("\n")
    );
}

/// A realistic rule set of `n` rules: CI, source-control and ECS alerts for many projects,
/// plus six rules that match the three realistic events.
fn realistic_rules(n: usize) -> Vec<(String, Value)> {
    let mut rules = vec![
        json!({"source": ["github"], "detail-type": ["push"], "detail": {"repository": {"full_name": ["Codertocat/Hello-World"]}, "deleted": [true]}}),
        json!({"source": ["github"], "detail": {"ref": [{"prefix": "refs/tags/"}]}}),
        json!({"source": ["circleci"], "detail": {"project": {"slug": ["github/acme/shop"]}, "workflow": {"status": ["failed", "error", "canceled"]}}}),
        json!({"source": ["circleci"], "detail": {"pipeline": {"vcs": {"branch": ["main"]}}, "workflow": {"status": [{"anything-but": "success"}]}}}),
        json!({"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"], "detail": {"lastStatus": ["STOPPED"], "stopCode": ["EssentialContainerExited"], "containers": {"exitCode": [{"numeric": [">", 0]}]}}}),
        json!({"source": ["aws.ecs"], "detail": {"clusterArn": [{"suffix": "/FargateCluster"}], "attachments": {"details": {"value": [{"cidr": "10.0.0.0/24"}]}}}}),
    ];
    let mut i = 0;
    while rules.len() < n {
        let rule = match i % 8 {
            0 => {
                json!({"source": ["github"], "detail-type": ["push"], "detail": {"repository": {"full_name": [format!("org{i}/repo{i}")]}, "ref": [{"prefix": "refs/heads/"}]}})
            }
            1 => {
                json!({"source": ["github"], "detail-type": ["push"], "detail": {"deleted": [true], "repository": {"full_name": [format!("org{i}/repo{i}")]}}})
            }
            2 => {
                json!({"source": ["circleci"], "detail": {"project": {"slug": [format!("github/org{i}/app{i}")]}, "workflow": {"status": ["failed", "error"]}}})
            }
            3 => {
                json!({"source": ["circleci"], "detail": {"organization": {"name": [format!("org{i}")]}, "workflow": {"name": [{"prefix": "deploy"}], "status": [{"anything-but": "success"}]}}})
            }
            4 => {
                json!({"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"], "detail": {"clusterArn": [format!("arn:aws:ecs:us-west-2:111122223333:cluster/c{i}")], "lastStatus": ["STOPPED"], "containers": {"exitCode": [{"numeric": [">", 0]}]}}})
            }
            5 => {
                json!({"source": ["aws.ecs"], "detail": {"group": [format!("family:svc{i}")], "stopCode": [{"anything-but": ["UserInitiated"]}]}})
            }
            6 => json!({"source": ["aws.ecs"], "resources": [{"suffix": format!("/task-{i}")}]}),
            _ => {
                json!({"detail": {"pusher": {"email": [{"equals-ignore-case": format!("Dev{i}@Example.com")}]}}})
            }
        };
        rules.push(rule);
        i += 1;
    }
    rules
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("rule-{i}"), p))
        .collect()
}

fn realistic(peer: bool) {
    let dir = repo_root().join("bench/matchbench/realistic");
    let names = [
        "github_push",
        "circleci_workflow_completed",
        "ecs_task_state_change",
    ];
    let min = min_time();
    println!();
    println!("realistic events (bench/matchbench/realistic), each matched repeatedly; events/s");
    println!(
        "| event | bytes | rules | matches | signalbox (bytes) | quamina 0.7 (bytes) | signalbox / quamina |"
    );
    println!("|---|---|---|---|---|---|---|");
    for n in [1_000, 10_000] {
        let rules = realistic_rules(n);
        let matcher = compile(&rules).expect("realistic rules compile");
        let reference = compile_linear(&rules).expect("realistic rules compile");
        let lines: Vec<String> = rules.iter().map(|(_, p)| p.to_string()).collect();
        let peer_built = if peer { Some(build_peer(&lines)) } else { None };
        for name in names {
            let path = dir.join(format!("{name}.json"));
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let value: Value = serde_json::from_slice(&bytes).expect("event json");
            let mut ours = Vec::new();
            matcher
                .matching_rules_json(&bytes, &mut ours)
                .expect("event reads");
            let mut expected = Vec::new();
            reference.matching_rules(&value, &mut expected);
            assert_eq!(ours, expected, "{name}: engine and reference disagree");
            assert_eq!(ours.len(), 2, "{name}: expected two matching rules");
            let batch: Vec<Vec<u8>> = vec![bytes.clone(); 10_000];
            let r = best_rate(batch.len(), min / 2, || {
                black_box(count_ours(matcher.as_ref(), &batch));
            });
            let (peer_cell, ratio_cell) = match &peer_built {
                None => ("not run".to_owned(), "–".to_owned()),
                Some(Peer::Failed(why)) => (why.clone(), "–".to_owned()),
                Some(Peer::Ready(q)) => match count_peer(q, &batch[..1]) {
                    Ok(c) if c == ours.len() => {
                        let pr = best_rate(batch.len(), min / 2, || {
                            black_box(count_peer(q, &batch).ok());
                        });
                        (rate(pr), format!("{:.2}×", r / pr))
                    }
                    Ok(c) => (format!("counts {c}"), "–".to_owned()),
                    Err(why) => (why, "–".to_owned()),
                },
            };
            println!(
                "| {name} | {} | {n} | {} | {} | {peer_cell} | {ratio_cell} |",
                bytes.len(),
                ours.len(),
                rate(r)
            );
        }
    }
}

fn main() {
    let peer = std::env::var("MATCHBENCH_NO_PEER").is_err();
    if std::env::var("MATCHBENCH_SKIP_STANDARD").is_err() {
        standard_workload(peer);
    }
    realistic(peer);
}
