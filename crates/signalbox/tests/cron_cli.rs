//! `signalbox cron next` through the real binary.

use std::process::Command;

fn signalbox(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn prints_next_times_with_the_zone_offset_across_a_dst_gap() {
    let (code, out, err) = signalbox(&[
        "cron",
        "next",
        "30 2 * * *",
        "--tz",
        "Europe/Paris",
        "--from",
        "2026-03-27T12:00:00Z",
        "--count",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "2026-03-28T02:30:00+01:00\n2026-03-29T03:00:00+02:00\n2026-03-30T02:30:00+02:00\n"
    );
    assert_eq!(err, "");
}

#[test]
fn default_count_is_five_and_utc_prints_an_offset() {
    let (code, out, _) = signalbox(&[
        "cron",
        "next",
        "0 */20 * * * ?",
        "--from",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "2026-01-01T00:20:00+00:00",
            "2026-01-01T00:40:00+00:00",
            "2026-01-01T01:00:00+00:00",
            "2026-01-01T01:20:00+00:00",
            "2026-01-01T01:40:00+00:00"
        ]
    );
}

#[test]
fn describe_goes_to_stderr_only() {
    let (code, out, err) = signalbox(&[
        "cron",
        "next",
        "cron(0 10 ? * MON-FRI *)",
        "--tz",
        "America/New_York",
        "--from",
        "2026-01-02T16:00:00Z",
        "--count",
        "1",
        "--describe",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "2026-01-05T10:00:00-05:00\n");
    assert_eq!(
        err.trim(),
        "at 10:00, on Monday through Friday (America/New_York)"
    );
}

#[test]
fn hash_tokens_use_the_name() {
    let run = |name: &str| {
        signalbox(&[
            "cron",
            "next",
            "H H * * *",
            "--name",
            name,
            "--from",
            "2026-01-01T00:00:00Z",
            "--count",
            "1",
        ])
        .1
    };
    assert_eq!(run("nightly-build"), "2026-01-01T11:54:00+00:00\n");
    assert_eq!(run("nightly-build"), run("nightly-build"));
}

#[test]
fn without_from_starts_now() {
    let (code, out, _) = signalbox(&["cron", "next", "rate(1 minute)", "--count", "2"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2);
}

#[test]
fn invalid_expression_zone_or_time_exits_2() {
    let (code, out, err) = signalbox(&["cron", "next", "0 0 32 * *"]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert!(
        err.contains("cron field 3 (day of month) \"32\" is out of range 1-31"),
        "{err}"
    );

    let (code, out, err) = signalbox(&["cron", "next", "* * * * *", "--tz", "Mars/Olympus"]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert!(err.contains("unknown time zone \"Mars/Olympus\""), "{err}");

    let (code, _, err) = signalbox(&["cron", "next", "* * * * *", "--from", "yesterday"]);
    assert_eq!(code, 2);
    assert!(err.contains("--from \"yesterday\""), "{err}");
}

#[test]
fn one_time_schedule_prints_what_there_is() {
    let (code, out, err) = signalbox(&[
        "cron",
        "next",
        "at(2026-12-01T10:00:00)",
        "--tz",
        "Europe/Paris",
        "--from",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(code, 0);
    assert_eq!(out, "2026-12-01T10:00:00+01:00\n");
    assert!(err.contains("no further fire times"), "{err}");
}
