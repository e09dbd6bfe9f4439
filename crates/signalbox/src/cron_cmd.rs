//! `signalbox cron …`: inspect cron expressions.

use std::process::ExitCode;

use clap::Subcommand;
use signalbox_schedule::chrono::{DateTime, SecondsFormat, Utc};
use signalbox_schedule::{ExpressionKind, Schedule, parse_time_zone};

/// Subcommands of `signalbox cron`.
#[derive(Debug, Subcommand)]
pub enum CronCommand {
    /// Print the next fire times of an expression, one RFC 3339 time (with the zone's offset) a
    /// line. Exit 2 for an invalid expression, zone or start time.
    Next {
        /// Unix (5 fields), Quartz (6-7 fields), @daily…, cron(…), rate(…) or at(…); quote it.
        expr: String,
        /// IANA time zone the expression is read in.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// How many fire times to print.
        #[arg(long, default_value_t = 5)]
        count: usize,
        /// Start after this RFC 3339 time instead of now.
        #[arg(long)]
        from: Option<String>,
        /// Schedule name, the seed of H tokens.
        #[arg(long, default_value = "")]
        name: String,
        /// Also print a human description on stderr.
        #[arg(long)]
        describe: bool,
    },
}

const INVALID: u8 = 2;

/// Runs a `cron` subcommand.
pub fn run(command: CronCommand) -> ExitCode {
    match command {
        CronCommand::Next {
            expr,
            tz,
            count,
            from,
            name,
            describe,
        } => next(&expr, &tz, count, from.as_deref(), &name, describe),
    }
}

fn next(
    expr: &str,
    zone: &str,
    count: usize,
    from: Option<&str>,
    name: &str,
    describe: bool,
) -> ExitCode {
    let fail = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(INVALID)
    };
    let schedule = match Schedule::parse(expr, name) {
        Ok(s) => s,
        Err(e) => return fail(format!("expression \"{expr}\": {e}")),
    };
    let tz = match parse_time_zone(zone) {
        Ok(tz) => tz,
        Err(e) => return fail(e.to_string()),
    };
    let after = match from {
        None => Utc::now(),
        Some(text) => match DateTime::parse_from_rfc3339(text) {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => {
                return fail(format!(
                    "--from \"{text}\" is not an RFC 3339 time ({e}), e.g. 2026-03-29T00:00:00+01:00"
                ));
            }
        },
    };
    if describe {
        match schedule.kind() {
            ExpressionKind::Rate => eprintln!("{}", schedule.describe()),
            _ => eprintln!("{} ({tz})", schedule.describe()),
        }
    }
    let mut printed = 0;
    for fire in schedule.upcoming(after, tz).take(count) {
        println!(
            "{}",
            fire.with_timezone(&tz)
                .to_rfc3339_opts(SecondsFormat::Secs, false)
        );
        printed += 1;
    }
    if printed < count {
        eprintln!("no further fire times after the {printed} shown");
    }
    ExitCode::SUCCESS
}
