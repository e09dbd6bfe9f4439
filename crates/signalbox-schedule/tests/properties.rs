//! `next_after` against an obviously correct reference: scan instants one by one and ask, for
//! each, whether it is a fire under the daylight-saving rules.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use proptest::prelude::*;
use signalbox_schedule::{Schedule, Tz};

/// Whether instant `u` (whole seconds) is a fire time of `s` in `tz`, from the definitions:
/// its wall-clock time matches and `u` is that wall-clock time's first occurrence, or `u` is the
/// first instant after a spring-forward gap and some skipped wall-clock time matches.
fn is_fire(s: &Schedule, tz: Tz, u: DateTime<Utc>) -> bool {
    let local = u.with_timezone(&tz).naive_local();
    if s.matches_local(local) {
        let first = tz.from_local_datetime(&local).earliest().unwrap();
        if first.with_timezone(&Utc) == u {
            return true;
        }
    }
    let before = (u - Duration::seconds(1)).with_timezone(&tz).naive_local();
    let mut skipped = before + Duration::seconds(1);
    while skipped < local {
        if s.matches_local(skipped) {
            return true;
        }
        skipped += Duration::seconds(1);
    }
    false
}

/// Checks `next_after(after)` against a scan with `step` seconds over `horizon` seconds. Only
/// valid when every fire is on a multiple of `step` seconds (checked by the caller's choice of
/// expressions and zones).
fn check_next(s: &Schedule, tz: Tz, after: DateTime<Utc>, step: i64, horizon: i64) {
    let next = s.next_after(after, tz);
    if let Some(n) = next {
        assert!(
            n > after,
            "{}: next {n} is not after {after}",
            s.expression()
        );
        assert!(
            is_fire(s, tz, n),
            "{}: next {n} ({}) is not a fire time",
            s.expression(),
            n.with_timezone(&tz)
        );
    }
    let first = after.timestamp().div_euclid(step) * step + step;
    let end = after.timestamp() + horizon;
    let mut u = first;
    while u <= end {
        let at = DateTime::from_timestamp(u, 0).unwrap();
        if is_fire(s, tz, at) {
            assert_eq!(
                next,
                Some(at),
                "{} in {tz} after {after}: the scan finds {} first",
                s.expression(),
                at.with_timezone(&tz)
            );
            return;
        }
        if next == Some(at) {
            break;
        }
        u += step;
    }
    if let Some(n) = next {
        assert!(
            n.timestamp() > end,
            "{} in {tz} after {after}: next is {n} but the scan finds no fire up to it",
            s.expression()
        );
    }
}

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Sao_Paulo", // DST changes at midnight until 2019
];

/// Instants near DST changes, where bugs live.
const CHANGES: &[&str] = &[
    "2026-03-29T01:00:00Z",
    "2026-10-25T01:00:00Z",
    "2026-03-08T07:00:00Z",
    "2026-11-01T06:00:00Z",
    "2026-04-04T15:00:00Z",
    "2026-10-03T15:30:00Z",
    "2018-11-04T03:00:00Z",
    "2019-02-17T02:00:00Z",
    "2028-02-28T12:00:00Z",
    "2026-12-31T23:00:00Z",
];

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let near_change = (
        0..CHANGES.len(),
        -6 * 3600i64..6 * 3600,
        0u32..1_000_000_000,
    )
        .prop_map(|(i, offset, nanos)| {
            let base = DateTime::parse_from_rfc3339(CHANGES[i])
                .unwrap()
                .timestamp();
            DateTime::from_timestamp(base + offset, nanos % 3 * 400_000_000).unwrap()
        });
    let anywhere =
        (1_420_070_400i64..1_924_992_000).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap());
    prop_oneof![3 => near_change, 1 => anywhere]
}

fn unix_expr() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["*", "*/5", "0", "30", "0,15,45", "10-20", "*/7", "59"]),
        prop::sample::select(vec!["*", "2", "1-3", "*/3", "0", "22-1", "23"]),
        prop::sample::select(vec!["*", "1", "15", "31", "*/10", "29", "1-7"]),
        prop::sample::select(vec!["*", "3", "10", "*/2", "FEB,MAR", "11-4"]),
        prop::sample::select(vec!["*", "0", "1-5", "SAT", "6,0", "7"]),
    )
        .prop_map(|(mi, h, dom, mo, dow)| format!("{mi} {h} {dom} {mo} {dow}"))
}

fn quartz_expr() -> impl Strategy<Value = String> {
    let days = prop_oneof![
        prop::sample::select(vec!["L", "LW", "15W", "L-2", "1W", "*/3", "31"])
            .prop_map(|d| (d, "?")),
        prop::sample::select(vec!["MON#2", "6L", "2-6", "1", "SUN#5", "L"]).prop_map(|d| ("?", d)),
        Just(("*", "*")),
    ];
    (
        prop::sample::select(vec!["*/15", "0", "*/7", "30", "5,10", "*"]),
        prop::sample::select(vec!["*", "*/5", "0-10", "30", "H"]),
        prop::sample::select(vec!["*", "2", "1-3", "0", "H/6"]),
        days,
        prop::sample::select(vec!["*", "*/2", "3,10", "2"]),
        prop::sample::select(vec!["", " *", " 2026-2028", " 2019,2026"]),
    )
        .prop_map(|(s, mi, h, (dom, dow), mo, y)| format!("{s} {mi} {h} {dom} {mo} {dow}{y}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn unix_next_is_the_first_fire_after(expr in unix_expr(), zone in prop::sample::select(ZONES), after in instant()) {
        let Ok(schedule) = Schedule::parse(&expr, "prop") else { return Ok(()) };
        let tz: Tz = zone.parse().unwrap();
        check_next(&schedule, tz, after, 60, 3 * 86_400);
    }

    #[test]
    fn quartz_next_is_the_first_fire_after(expr in quartz_expr(), zone in prop::sample::select(ZONES), after in instant()) {
        let Ok(schedule) = Schedule::parse(&expr, "prop") else { return Ok(()) };
        let tz: Tz = zone.parse().unwrap();
        check_next(&schedule, tz, after, 1, 4 * 3600);
    }

    #[test]
    fn upcoming_is_strictly_increasing(expr in unix_expr(), zone in prop::sample::select(ZONES), after in instant()) {
        let Ok(schedule) = Schedule::parse(&expr, "prop") else { return Ok(()) };
        let tz: Tz = zone.parse().unwrap();
        let times: Vec<_> = schedule.upcoming(after, tz).take(20).collect();
        prop_assert!(times.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn rate_is_strictly_after_and_aligned(minutes in 1u32..2000, after in instant()) {
        let expr = if minutes == 1 { "rate(1 minute)".to_string() } else { format!("rate({minutes} minutes)") };
        let schedule = Schedule::parse(&expr, "prop").unwrap();
        let next = schedule.next_after(after, Tz::UTC).unwrap();
        let every = i64::from(minutes) * 60;
        prop_assert!(next > after);
        prop_assert!(next.timestamp() % every == 0);
        prop_assert!(next.timestamp() - every <= after.timestamp());
    }
}

#[test]
fn reference_itself_sees_gap_and_repeat() {
    let s = Schedule::parse("30 2 * * *", "x").unwrap();
    let tz: Tz = "Europe/Paris".parse().unwrap();
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    assert!(is_fire(&s, tz, at("2026-03-29T01:00:00Z")));
    assert!(is_fire(&s, tz, at("2026-10-25T00:30:00Z")));
    assert!(!is_fire(&s, tz, at("2026-10-25T01:30:00Z")));
    let _: NaiveDateTime = at("2026-01-01T00:00:00Z").naive_utc();
}
