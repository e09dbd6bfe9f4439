//! `signalbox cron …`: inspect cron expressions.

use std::process::ExitCode;

use clap::Subcommand;

/// Subcommands of `signalbox cron`.
#[derive(Debug, Subcommand)]
pub enum CronCommand {}

/// Runs a `cron` subcommand.
pub fn run(command: CronCommand) -> ExitCode {
    match command {}
}
