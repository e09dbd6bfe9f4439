//! `signalbox rules …`: test a pattern against an event, explain a config's routing.

use std::process::ExitCode;

use clap::Subcommand;

/// Subcommands of `signalbox rules`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {}

/// Runs a `rules` subcommand.
pub fn run(command: RulesCommand) -> ExitCode {
    match command {}
}
