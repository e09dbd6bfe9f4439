//! Daylight saving: a skipped local time fires once at the first instant after the gap; a
//! repeated local time fires once, at its first occurrence.

mod common;

use common::fires;

fn check(expr: &str, zone: &str, from: &str, expected: &[&str]) {
    assert_eq!(
        fires(expr, zone, from, expected.len()),
        expected,
        "{expr} in {zone}"
    );
}

// Europe/Paris 2026: 29 March 02:00 CET → 03:00 CEST; 25 October 03:00 CEST → 02:00 CET.

#[test]
fn paris_spring_gap_fires_once_after_the_gap() {
    check(
        "30 2 * * *",
        "Europe/Paris",
        "2026-03-27T12:00:00Z",
        &[
            "2026-03-28T02:30:00+01:00",
            "2026-03-29T03:00:00+02:00",
            "2026-03-30T02:30:00+02:00",
        ],
    );
    // Several times inside the gap (02:00, 02:30) and 03:00 itself: one fire at 03:00.
    check(
        "*/30 * * * *",
        "Europe/Paris",
        "2026-03-29T00:00:00Z",
        &[
            "2026-03-29T01:30:00+01:00",
            "2026-03-29T03:00:00+02:00",
            "2026-03-29T03:30:00+02:00",
        ],
    );
    // Quartz with seconds inside the gap.
    check(
        "15 45 2 * * ?",
        "Europe/Paris",
        "2026-03-28T12:00:00Z",
        &["2026-03-29T03:00:00+02:00", "2026-03-30T02:45:15+02:00"],
    );
}

#[test]
fn paris_autumn_repeat_fires_first_occurrence_only() {
    check(
        "30 2 * * *",
        "Europe/Paris",
        "2026-10-23T12:00:00Z",
        &[
            "2026-10-24T02:30:00+02:00",
            "2026-10-25T02:30:00+02:00",
            "2026-10-26T02:30:00+01:00",
        ],
    );
    // Every half hour: the second 02:00 and 02:30 (CET) are skipped.
    check(
        "*/30 * * * *",
        "Europe/Paris",
        "2026-10-24T23:30:00Z",
        &[
            "2026-10-25T02:00:00+02:00",
            "2026-10-25T02:30:00+02:00",
            "2026-10-25T03:00:00+01:00",
            "2026-10-25T03:30:00+01:00",
        ],
    );
    // Starting inside the second pass of the repeated hour.
    check(
        "45 2 * * *",
        "Europe/Paris",
        "2026-10-25T01:10:00Z",
        &["2026-10-26T02:45:00+01:00"],
    );
}

// America/New_York 2026: 8 March 02:00 EST → 03:00 EDT; 1 November 02:00 EDT → 01:00 EST.

#[test]
fn new_york_spring_and_autumn() {
    check(
        "30 2 * * *",
        "America/New_York",
        "2026-03-07T12:00:00Z",
        &["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
    );
    check(
        "30 1 * * *",
        "America/New_York",
        "2026-10-31T12:00:00Z",
        &["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
    );
    // A daily job keeps its wall-clock time across both changes.
    check(
        "0 0 9 * * ?",
        "America/New_York",
        "2026-03-07T00:00:00Z",
        &[
            "2026-03-07T09:00:00-05:00",
            "2026-03-08T09:00:00-04:00",
            "2026-03-09T09:00:00-04:00",
        ],
    );
    // Hourly across the autumn change: 01:00 EDT fires, 01:00 EST does not.
    check(
        "0 * * * *",
        "America/New_York",
        "2026-11-01T04:30:00Z",
        &[
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T02:00:00-05:00",
            "2026-11-01T03:00:00-05:00",
        ],
    );
}

// Australia/Lord_Howe: +10:30 standard, +11:00 in summer, a 30-minute shift.
// 2026: 5 April 02:00 (+11) → 01:30 (+10:30); 4 October 02:00 (+10:30) → 02:30 (+11).

#[test]
fn lord_howe_half_hour_gap() {
    check(
        "15 2 * * *",
        "Australia/Lord_Howe",
        "2026-10-02T00:00:00Z",
        &[
            "2026-10-03T02:15:00+10:30",
            "2026-10-04T02:30:00+11:00",
            "2026-10-05T02:15:00+11:00",
        ],
    );
    check(
        "*/15 * * * *",
        "Australia/Lord_Howe",
        "2026-10-03T15:10:00Z",
        &[
            "2026-10-04T01:45:00+10:30",
            "2026-10-04T02:30:00+11:00",
            "2026-10-04T02:45:00+11:00",
        ],
    );
}

#[test]
fn lord_howe_half_hour_repeat() {
    check(
        "45 1 * * *",
        "Australia/Lord_Howe",
        "2026-04-03T12:00:00Z",
        &[
            "2026-04-04T01:45:00+11:00",
            "2026-04-05T01:45:00+11:00",
            "2026-04-06T01:45:00+10:30",
        ],
    );
    check(
        "*/15 * * * *",
        "Australia/Lord_Howe",
        "2026-04-04T14:10:00Z",
        &[
            "2026-04-05T01:15:00+11:00",
            "2026-04-05T01:30:00+11:00",
            "2026-04-05T01:45:00+11:00",
            "2026-04-05T02:00:00+10:30",
        ],
    );
}

#[test]
fn at_in_a_gap_and_in_a_repeat() {
    check(
        "at(2026-03-29T02:30:00)",
        "Europe/Paris",
        "2026-01-01T00:00:00Z",
        &["2026-03-29T03:00:00+02:00"],
    );
    check(
        "at(2026-10-25T02:30:00)",
        "Europe/Paris",
        "2026-01-01T00:00:00Z",
        &["2026-10-25T02:30:00+02:00"],
    );
}

#[test]
fn zone_without_dst_and_utc() {
    check(
        "0 9 * * *",
        "Asia/Kolkata",
        "2026-03-29T00:00:00Z",
        &["2026-03-29T09:00:00+05:30"],
    );
    check(
        "0 9 * * *",
        "UTC",
        "2026-03-29T00:00:00Z",
        &["2026-03-29T09:00:00+00:00"],
    );
}

#[test]
fn unknown_zone_is_an_error() {
    let err = signalbox_schedule::parse_time_zone("Mars/Olympus").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown time zone \"Mars/Olympus\"; use an IANA name such as Europe/Paris or UTC"
    );
}
