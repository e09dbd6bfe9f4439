//! Next-fire computation: signalbox-schedule against the `cron` crate, same expressions, same
//! instants, same run. Prints a ns/op table with the ratio at the end.
//!
//! `cargo bench -p signalbox-schedule --bench next_fire`

use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use criterion::{BenchmarkId, Criterion};
use signalbox_schedule::Schedule;

/// (label, expression understood the same way by both crates: Quartz-style, seconds first).
const CASES: &[(&str, &str)] = &[
    ("every_second", "* * * * * *"),
    ("every_5_minutes", "0 */5 * * * *"),
    ("weekdays_0930", "0 30 9 * * Mon-Fri"),
    ("first_of_month", "0 0 0 1 * *"),
];

const ZONES: &[&str] = &["UTC", "Europe/Paris"];

/// 64 instants spread over two years, so neither side benefits from a single hot input.
fn instants() -> Vec<DateTime<Utc>> {
    let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .timestamp();
    (0..64)
        .map(|i| DateTime::from_timestamp(start + i * 987_654 + i * i * 13, 0).unwrap())
        .collect()
}

fn ours(expr: &str) -> Schedule {
    Schedule::parse(expr, "bench").unwrap()
}

fn theirs(expr: &str) -> cron::Schedule {
    cron::Schedule::from_str(expr).unwrap()
}

fn check_agreement() {
    let times = instants();
    for (label, expr) in CASES {
        for zone in ZONES {
            let tz: Tz = zone.parse().unwrap();
            let (a, b) = (ours(expr), theirs(expr));
            for t in &times {
                let x = a.next_after(*t, tz);
                let y = b
                    .after(&t.with_timezone(&tz))
                    .next()
                    .map(|d| d.with_timezone(&Utc));
                assert_eq!(x, y, "{label} in {zone} after {t}");
            }
        }
    }
}

fn criterion_benches(c: &mut Criterion) {
    let times = instants();
    let mut group = c.benchmark_group("next_fire");
    for (label, expr) in CASES {
        for zone in ZONES {
            let tz: Tz = zone.parse().unwrap();
            let id = format!("{label}/{zone}");
            let a = ours(expr);
            group.bench_with_input(BenchmarkId::new("signalbox", &id), &a, |bench, s| {
                let mut i = 0;
                bench.iter(|| {
                    i = (i + 1) & 63;
                    black_box(s.next_after(black_box(times[i]), tz))
                })
            });
            let b = theirs(expr);
            group.bench_with_input(BenchmarkId::new("cron_crate", &id), &b, |bench, s| {
                let local: Vec<DateTime<Tz>> = times.iter().map(|t| t.with_timezone(&tz)).collect();
                let mut i = 0;
                bench.iter(|| {
                    i = (i + 1) & 63;
                    black_box(s.after(black_box(&local[i])).next())
                })
            });
        }
    }
    group.finish();
}

/// ns per call over a fixed budget, for the summary table.
fn measure(mut f: impl FnMut(usize)) -> f64 {
    for i in 0..10_000 {
        f(i & 63);
    }
    let budget = Duration::from_millis(300);
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < budget {
        for _ in 0..1000 {
            f(n & 63);
            n += 1;
        }
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn summary() {
    let times = instants();
    println!();
    println!(
        "{:<28} {:>14} {:>14} {:>8}",
        "case", "signalbox ns", "cron crate ns", "ratio"
    );
    for (label, expr) in CASES {
        for zone in ZONES {
            let tz: Tz = zone.parse().unwrap();
            let (a, b) = (ours(expr), theirs(expr));
            let local: Vec<DateTime<Tz>> = times.iter().map(|t| t.with_timezone(&tz)).collect();
            let x = measure(|i| {
                black_box(a.next_after(black_box(times[i]), tz));
            });
            let y = measure(|i| {
                black_box(b.after(black_box(&local[i])).next());
            });
            println!(
                "{:<28} {:>14.1} {:>14.1} {:>7.2}x",
                format!("{label}/{zone}"),
                x,
                y,
                y / x
            );
        }
    }
    println!("ratio = cron crate time / signalbox time (above 1: signalbox is faster)");
}

fn main() {
    check_agreement();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
    summary();
}
