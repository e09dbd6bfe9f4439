#![forbid(unsafe_code)]
//! The `signalbox` binary: CLI and wiring. Everything it runs lives in the library crates.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Ingest allocates many small short-lived objects per request; glibc malloc showed up as ~10% of
// CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cron_cmd;
mod notify_cmd;
mod rules_cmd;
mod serve;
mod validate;

/// Event router, scheduler and monitor for CI/CD and operations.
#[derive(Debug, Parser)]
#[command(name = "signalbox", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: HTTP API, rules and the delivery dispatcher.
    Serve {
        /// Config file or directory of *.yaml files.
        #[arg(
            long,
            short,
            env = "SIGNALBOX_CONFIG",
            default_value = "signalbox.yaml"
        )]
        config: PathBuf,
    },
    /// Check a config file or directory; print every error with file, line and column.
    Validate {
        /// Config file or directory.
        path: PathBuf,
    },
    /// Test and explain rules without sending anything.
    Rules {
        #[command(subcommand)]
        command: rules_cmd::RulesCommand,
    },
    /// Cron expressions: next fire times.
    Cron {
        #[command(subcommand)]
        command: cron_cmd::CronCommand,
    },
    /// Notification channels: send a test message.
    Notify {
        #[command(subcommand)]
        command: notify_cmd::NotifyCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            init_logging();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve::run(&config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "signalbox stopped");
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Validate { path } => validate::run(&path),
        Command::Rules { command } => rules_cmd::run(command),
        Command::Cron { command } => cron_cmd::run(command),
        Command::Notify { command } => notify_cmd::run(command),
    }
}

/// JSON lines when stderr is not a terminal (a service manager, a container), pretty otherwise.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SIGNALBOX_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    }
}
