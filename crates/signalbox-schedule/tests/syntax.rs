//! Each syntax element against known fire times (UTC unless said; 2026-01-01 is a Thursday).

mod common;

use common::{error, fires, fires_named};
use signalbox_schedule::{Dialect, ExpressionKind, Schedule};

fn check(expr: &str, from: &str, expected: &[&str]) {
    assert_eq!(fires(expr, "UTC", from, expected.len()), expected, "{expr}");
}

// ---- Unix, 5 fields ----

#[test]
fn unix_steps_ranges_lists() {
    check(
        "*/15 * * * *",
        "2026-01-01T00:07:00Z",
        &[
            "2026-01-01T00:15:00+00:00",
            "2026-01-01T00:30:00+00:00",
            "2026-01-01T00:45:00+00:00",
            "2026-01-01T01:00:00+00:00",
        ],
    );
    check(
        "5,10-12 3 * * *",
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-01T03:05:00+00:00",
            "2026-01-01T03:10:00+00:00",
            "2026-01-01T03:11:00+00:00",
            "2026-01-01T03:12:00+00:00",
            "2026-01-02T03:05:00+00:00",
        ],
    );
    check(
        "0 9 * * 1-5",
        "2026-01-02T10:00:00Z",
        &["2026-01-05T09:00:00+00:00", "2026-01-06T09:00:00+00:00"],
    );
    // A reversed range wraps around midnight.
    check(
        "0 22-1 * * *",
        "2026-01-01T12:00:00Z",
        &[
            "2026-01-01T22:00:00+00:00",
            "2026-01-01T23:00:00+00:00",
            "2026-01-02T00:00:00+00:00",
            "2026-01-02T01:00:00+00:00",
            "2026-01-02T22:00:00+00:00",
        ],
    );
}

#[test]
fn unix_sunday_is_zero_seven_or_sun() {
    for expr in ["0 0 * * 0", "0 0 * * 7", "0 0 * * SUN", "0 0 * * sun"] {
        check(
            expr,
            "2026-01-01T00:00:00Z",
            &["2026-01-04T00:00:00+00:00", "2026-01-11T00:00:00+00:00"],
        );
    }
    check(
        "0 0 * * FRI-SUN",
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-02T00:00:00+00:00",
            "2026-01-03T00:00:00+00:00",
            "2026-01-04T00:00:00+00:00",
            "2026-01-09T00:00:00+00:00",
        ],
    );
    check(
        "0 0 * * 5-7",
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-02T00:00:00+00:00",
            "2026-01-03T00:00:00+00:00",
            "2026-01-04T00:00:00+00:00",
        ],
    );
}

#[test]
fn unix_month_names() {
    check(
        "0 0 1 JAN,jul *",
        "2026-01-01T00:00:00Z",
        &["2026-07-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"],
    );
}

#[test]
fn vixie_either_day_field_when_both_restricted() {
    // The 13th or any Friday.
    check(
        "0 0 13 * FRI",
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-02T00:00:00+00:00",
            "2026-01-09T00:00:00+00:00",
            "2026-01-13T00:00:00+00:00",
            "2026-01-16T00:00:00+00:00",
        ],
    );
}

#[test]
fn vixie_star_step_day_field_needs_both() {
    // `*/10` starts with `*`, so both fields must match: a 1st/11th/21st/31st that is a Monday.
    check(
        "0 0 */10 * 1",
        "2026-01-01T00:00:00Z",
        &[
            "2026-05-11T00:00:00+00:00",
            "2026-06-01T00:00:00+00:00",
            "2026-08-31T00:00:00+00:00",
        ],
    );
}

#[test]
fn shortcuts() {
    let from = "2026-01-01T00:30:00Z";
    check("@hourly", from, &["2026-01-01T01:00:00+00:00"]);
    check("@daily", from, &["2026-01-02T00:00:00+00:00"]);
    check("@midnight", from, &["2026-01-02T00:00:00+00:00"]);
    check("@weekly", from, &["2026-01-04T00:00:00+00:00"]);
    check("@monthly", from, &["2026-02-01T00:00:00+00:00"]);
    check("@yearly", from, &["2027-01-01T00:00:00+00:00"]);
    check("@ANNUALLY", from, &["2027-01-01T00:00:00+00:00"]);
}

#[test]
fn leap_days() {
    check(
        "0 0 29 2 *",
        "2026-01-01T00:00:00Z",
        &["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"],
    );
    // 2100 is not a leap year.
    check(
        "0 0 29 2 *",
        "2096-03-01T00:00:00Z",
        &["2104-02-29T00:00:00+00:00"],
    );
    check(
        "0 0 12 L 2 ?",
        "2027-03-01T00:00:00Z",
        &["2028-02-29T12:00:00+00:00", "2029-02-28T12:00:00+00:00"],
    );
}

#[test]
fn thirty_first_skips_short_months() {
    check(
        "0 0 31 * *",
        "2026-01-31T00:00:00Z",
        &["2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00"],
    );
}

// ---- Quartz, 6 or 7 fields ----

#[test]
fn quartz_seconds() {
    check(
        "*/20 * * * * ?",
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-01T00:00:20+00:00",
            "2026-01-01T00:00:40+00:00",
            "2026-01-01T00:01:00+00:00",
        ],
    );
    check(
        "15/30 0 0 * * ?",
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-01T00:00:15+00:00",
            "2026-01-01T00:00:45+00:00",
            "2026-01-02T00:00:15+00:00",
        ],
    );
}

#[test]
fn quartz_weekdays_are_one_based() {
    // 2 = MON in Quartz.
    check(
        "0 0 9 ? * 2",
        "2026-01-01T00:00:00Z",
        &["2026-01-05T09:00:00+00:00"],
    );
    check(
        "0 0 9 ? * 1",
        "2026-01-01T00:00:00Z",
        &["2026-01-04T09:00:00+00:00"],
    );
    check(
        "0 0 9 ? * MON-FRI",
        "2026-01-02T10:00:00Z",
        &["2026-01-05T09:00:00+00:00"],
    );
    // `L` alone in day of week is Saturday (7).
    check(
        "0 0 9 ? * L",
        "2026-01-01T00:00:00Z",
        &["2026-01-03T09:00:00+00:00", "2026-01-10T09:00:00+00:00"],
    );
}

#[test]
fn quartz_nth_weekday() {
    check(
        "0 0 12 ? * MON#1",
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-05T12:00:00+00:00",
            "2026-02-02T12:00:00+00:00",
            "2026-03-02T12:00:00+00:00",
        ],
    );
    // The 5th Friday exists only in some months (2026: January, May, July, October).
    check(
        "0 0 12 ? * 6#5",
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-30T12:00:00+00:00",
            "2026-05-29T12:00:00+00:00",
            "2026-07-31T12:00:00+00:00",
            "2026-10-30T12:00:00+00:00",
        ],
    );
}

#[test]
fn quartz_last_weekday_of_month() {
    // 5L = last Thursday.
    check(
        "0 0 12 ? * 5L",
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-29T12:00:00+00:00",
            "2026-02-26T12:00:00+00:00",
            "2026-03-26T12:00:00+00:00",
            "2026-04-30T12:00:00+00:00",
        ],
    );
    check(
        "0 0 12 ? * FRIL",
        "2026-01-01T00:00:00Z",
        &["2026-01-30T12:00:00+00:00", "2026-02-27T12:00:00+00:00"],
    );
}

#[test]
fn quartz_last_day_and_offsets() {
    check(
        "0 0 12 L * ?",
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-31T12:00:00+00:00",
            "2026-02-28T12:00:00+00:00",
            "2026-03-31T12:00:00+00:00",
            "2026-04-30T12:00:00+00:00",
        ],
    );
    check(
        "0 0 12 L-3 * ?",
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-28T12:00:00+00:00",
            "2026-02-25T12:00:00+00:00",
            "2026-03-28T12:00:00+00:00",
        ],
    );
}

#[test]
fn quartz_last_weekday() {
    // Jan 31 2026 is a Saturday, Feb 28 a Saturday, May 31 a Sunday.
    check(
        "0 0 12 LW * ?",
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-30T12:00:00+00:00",
            "2026-02-27T12:00:00+00:00",
            "2026-03-31T12:00:00+00:00",
            "2026-04-30T12:00:00+00:00",
            "2026-05-29T12:00:00+00:00",
        ],
    );
}

#[test]
fn quartz_nearest_weekday() {
    // Feb 15 2026 is a Sunday → Monday 16th; Aug 15 is a Saturday → Friday 14th.
    check(
        "0 0 12 15W 2 ?",
        "2026-01-01T00:00:00Z",
        &["2026-02-16T12:00:00+00:00"],
    );
    check(
        "0 0 12 15W 8 ?",
        "2026-01-01T00:00:00Z",
        &["2026-08-14T12:00:00+00:00"],
    );
    // Aug 1 2026 is a Saturday: the 1W does not go back into July but forward to Monday the 3rd.
    check(
        "0 0 12 1W 8 ?",
        "2026-01-01T00:00:00Z",
        &["2026-08-03T12:00:00+00:00"],
    );
    // May 31 2026 is a Sunday: 31W does not go into June but back to Friday the 29th.
    check(
        "0 0 12 31W 5 ?",
        "2026-01-01T00:00:00Z",
        &["2026-05-29T12:00:00+00:00"],
    );
    // 31W never fires in a 30-day month.
    check(
        "0 0 12 31W * ?",
        "2026-03-01T00:00:00Z",
        &["2026-03-31T12:00:00+00:00", "2026-05-29T12:00:00+00:00"],
    );
}

#[test]
fn quartz_star_beside_restricted_day_is_question_mark() {
    check(
        "0 0 12 * * MON",
        "2026-01-01T00:00:00Z",
        &["2026-01-05T12:00:00+00:00", "2026-01-12T12:00:00+00:00"],
    );
    check(
        "0 0 12 15 * *",
        "2026-01-01T00:00:00Z",
        &["2026-01-15T12:00:00+00:00", "2026-02-15T12:00:00+00:00"],
    );
}

#[test]
fn quartz_year_field() {
    check(
        "0 0 0 1 1 ? 2028,2030",
        "2026-01-01T00:00:00Z",
        &["2028-01-01T00:00:00+00:00", "2030-01-01T00:00:00+00:00"],
    );
    assert_eq!(
        fires("0 0 0 1 1 ? 2028,2030", "UTC", "2026-01-01T00:00:00Z", 5).len(),
        2
    );
    // Leap day, only in the allowed years.
    check(
        "0 0 12 29 2 ? 2025-2030",
        "2020-01-01T00:00:00Z",
        &["2028-02-29T12:00:00+00:00"],
    );
    assert_eq!(
        fires("0 0 12 29 2 ? 2025-2030", "UTC", "2020-01-01T00:00:00Z", 3).len(),
        1
    );
    check(
        "0 0 0 1 1 ? 2030/10",
        "2026-01-01T00:00:00Z",
        &["2030-01-01T00:00:00+00:00", "2040-01-01T00:00:00+00:00"],
    );
}

// ---- H ----

#[test]
fn hash_tokens_are_stable_and_in_range() {
    // Pinned: the values must never change between versions.
    let a = fires_named(
        "H H * * *",
        "nightly-build",
        "UTC",
        "2026-01-01T00:00:00Z",
        2,
    );
    assert_eq!(
        a,
        fires_named(
            "H H * * *",
            "nightly-build",
            "UTC",
            "2026-01-01T00:00:00Z",
            2
        )
    );
    assert_eq!(a, PINNED_NIGHTLY);
    // Different names spread.
    let b = fires_named("H H * * *", "other-job", "UTC", "2026-01-01T00:00:00Z", 1);
    assert_ne!(a[0], b[0]);
}

const PINNED_NIGHTLY: [&str; 2] = ["2026-01-01T11:54:00+00:00", "2026-01-02T11:54:00+00:00"];

#[test]
fn hash_ranges_and_steps() {
    for name in ["a", "b", "c", "deploy-prod", "nightly"] {
        let s = Schedule::parse("0 H(0-29) * * * ?", name).unwrap();
        let first = s
            .upcoming(
                common::t("2026-01-01T00:00:00Z"),
                signalbox_schedule::Tz::UTC,
            )
            .next()
            .unwrap();
        assert!(chrono::Timelike::minute(&first) < 30, "{name}: {first}");

        let times = fires_named("H/15 * * * *", name, "UTC", "2026-01-01T00:00:00Z", 5);
        let minutes: Vec<u32> = times.iter().map(|t| t[14..16].parse().unwrap()).collect();
        assert!(minutes[0] < 15, "{name}: {minutes:?}");
        assert_eq!(minutes[1], minutes[0] + 15);
        assert_eq!(minutes[3], minutes[0] + 45);

        let times = fires_named("H(0-29)/10 * * * *", name, "UTC", "2026-01-01T00:00:00Z", 4);
        let minutes: Vec<u32> = times.iter().map(|t| t[14..16].parse().unwrap()).collect();
        assert!(
            minutes[0] < 10 && minutes[2] == minutes[0] + 20 && minutes[2] < 30,
            "{name}: {minutes:?}"
        );
        assert_eq!(&times[3][11..13], "01");

        let hours = fires_named("0 0 H/6 * * ?", name, "UTC", "2026-01-01T00:00:00Z", 4);
        assert_eq!(hours.len(), 4);
    }
}

// ---- EventBridge ----

#[test]
fn eventbridge_cron() {
    check(
        "cron(0 10 ? * MON-FRI *)",
        "2026-01-02T10:00:00Z",
        &["2026-01-05T10:00:00+00:00"],
    );
    // 2 = MON, as in Quartz.
    check(
        "cron(0 10 ? * 2 *)",
        "2026-01-01T00:00:00Z",
        &["2026-01-05T10:00:00+00:00"],
    );
    check(
        "cron(15 12 * * ? *)",
        "2026-01-01T13:00:00Z",
        &["2026-01-02T12:15:00+00:00"],
    );
    check(
        "cron(0/15 * * * ? *)",
        "2026-01-01T00:01:00Z",
        &["2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00"],
    );
    check(
        "cron(0 18 ? * 6L 2026-2027)",
        "2026-12-01T00:00:00Z",
        &["2026-12-25T18:00:00+00:00", "2027-01-29T18:00:00+00:00"],
    );
    check(
        "cron(0 8 1 * ? 2026)",
        "2026-11-15T00:00:00Z",
        &["2026-12-01T08:00:00+00:00"],
    );
    assert_eq!(
        fires("cron(0 8 1 * ? 2026)", "UTC", "2026-11-15T00:00:00Z", 5).len(),
        1
    );
    let s = Schedule::parse("cron(0 10 ? * MON-FRI *)", "j").unwrap();
    assert_eq!(s.kind(), ExpressionKind::Cron(Dialect::EventBridge));
}

#[test]
fn eventbridge_rate() {
    // Multiples of the interval since the Unix epoch by default.
    check(
        "rate(5 minutes)",
        "2026-01-01T00:07:00Z",
        &["2026-01-01T00:10:00+00:00", "2026-01-01T00:15:00+00:00"],
    );
    check(
        "rate(1 minute)",
        "2026-01-01T00:07:30Z",
        &["2026-01-01T00:08:00+00:00"],
    );
    check(
        "rate(1 hour)",
        "2026-01-01T00:07:00Z",
        &["2026-01-01T01:00:00+00:00", "2026-01-01T02:00:00+00:00"],
    );
    check(
        "rate(2 days)",
        "2026-01-01T00:00:00Z",
        &["2026-01-03T00:00:00+00:00"],
    );
    // With the creation time as anchor.
    let s = Schedule::parse("rate(1 day)", "j")
        .unwrap()
        .with_rate_anchor(common::t("2026-01-01T09:41:07Z"));
    let next = s
        .next_after(
            common::t("2026-01-05T00:00:00Z"),
            signalbox_schedule::Tz::UTC,
        )
        .unwrap();
    assert_eq!(next.to_rfc3339(), "2026-01-05T09:41:07+00:00");
    // Time zones do not move a rate.
    assert_eq!(
        fires(
            "rate(1 hour)",
            "Australia/Lord_Howe",
            "2026-01-01T00:07:00Z",
            1
        ),
        ["2026-01-01T12:00:00+11:00"]
    );
}

#[test]
fn eventbridge_at() {
    assert_eq!(
        fires(
            "at(2026-12-01T10:00:00)",
            "Europe/Paris",
            "2026-01-01T00:00:00Z",
            3
        ),
        ["2026-12-01T10:00:00+01:00"]
    );
    assert!(fires("at(2026-12-01T10:00:00)", "UTC", "2026-12-01T10:00:00Z", 1).is_empty());
    let s = Schedule::parse("at(2026-12-01T10:00:00)", "j").unwrap();
    assert_eq!(s.kind(), ExpressionKind::At);
}

// ---- errors ----

#[test]
fn error_messages_name_field_token_and_range() {
    assert_eq!(
        error("0 0 32 * *"),
        "cron field 3 (day of month) \"32\" is out of range 1-31"
    );
    assert_eq!(
        error("0 0 0 32 * ?"),
        "cron field 4 (day of month) \"32\" is out of range 1-31"
    );
    assert_eq!(
        error("60 * * * *"),
        "cron field 1 (minute) \"60\" is out of range 0-59"
    );
    assert_eq!(
        error("0 0 1-32 * *"),
        "cron field 3 (day of month) \"1-32\" is out of range 1-31"
    );
    assert_eq!(
        error("0 0 * 13 *"),
        "cron field 4 (month) \"13\" is out of range 1-12 or JAN-DEC"
    );
    assert_eq!(
        error("0 0 * * 8"),
        "cron field 5 (day of week) \"8\" is out of range 0-7 or SUN-SAT"
    );
    assert_eq!(
        error("0 0 0 ? * 0"),
        "cron field 6 (day of week) \"0\" is out of range 1-7 or SUN-SAT"
    );
    assert_eq!(
        error("0 0 0 1 1 ? 1969"),
        "cron field 7 (year) \"1969\" is out of range 1970-2199"
    );
    assert_eq!(
        error("0 0 0 ? * MON#6"),
        "cron field 6 (day of week) \"MON#6\" is out of range #1-#5"
    );
    assert_eq!(
        error("0 0 * FOO *"),
        "cron field 4 (month) \"FOO\" is not valid: expected a number, a name, a range or a step; allowed 1-12 or JAN-DEC"
    );
    assert!(error("0 0 H * *").contains("H is only allowed in the second, minute and hour fields"));
    assert!(error("0 0 L * *").contains("need a 6 or 7 field"));
    assert!(error("0 0 * * 5L").contains("need a 6 or 7 field"));
}

#[test]
fn structural_errors() {
    assert_eq!(error(""), "the expression is empty");
    assert!(error("* * * *").starts_with("expected 5 fields"));
    assert!(error("* * * * * * * *").ends_with("got 8"));
    assert_eq!(
        error("0 0 12 15 * MON"),
        "day of month \"15\" and day of week \"MON\" are both restricted; put ? in one of them"
    );
    assert_eq!(
        error("0 0 30 2 *"),
        "the expression never fires (no date matches it)"
    );
    assert_eq!(
        error("0 0 0 29 2 ? 2027"),
        "the expression never fires (no date matches it)"
    );
    assert!(error("@reboot").starts_with("unknown shortcut \"@reboot\""));
    assert!(error("cron(0 10 * * MON *)").contains("needs ? in exactly one"));
    assert!(error("cron(0 10 ? * ? *)").contains("needs ? in exactly one"));
    assert!(error("cron(0 10 * * ?)").contains("takes 6 fields"));
    assert!(error("rate(1 hours)").contains("singular"));
    assert!(error("rate(5 minute)").contains("plural"));
    assert!(error("rate(0 minutes)").contains("at least 1"));
    assert!(error("rate(5 weeks)").contains("minute(s), hour(s) or day(s)"));
    assert!(error("at(2026-13-01T10:00:00)").contains("expected at(yyyy-mm-ddThh:mm:ss)"));
    assert!(error("*/0 * * * *").contains("step 1-60"));
}
