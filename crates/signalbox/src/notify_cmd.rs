//! `signalbox notify test CHANNEL [--event FILE] --config PATH`: sends one notification now
//! through a configured channel and prints the provider's answer.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;
use signalbox_targets::channels::{Notification, Severity};
use signalbox_targets::{AttemptOutcome, BuildContext};

/// `signalbox notify …`
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send one message through CHANNEL now and print the provider's answer.
    Test {
        /// The channel's name under `channels:`.
        channel: String,
        /// An event (JSON or YAML) to render with the default template; a test message when
        /// absent.
        #[arg(long)]
        event: Option<PathBuf>,
        /// Config file or directory.
        #[arg(
            long,
            short,
            env = "SIGNALBOX_CONFIG",
            default_value = "signalbox.yaml"
        )]
        config: PathBuf,
        /// Print what would be sent (secrets hidden) without sending.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a `notify` subcommand; exit 0 when the provider accepted the message.
pub fn run(command: NotifyCommand) -> ExitCode {
    let NotifyCommand::Test {
        channel,
        event,
        config,
        dry_run,
    } = command;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(test(&config, &channel, event.as_deref(), dry_run)) {
        Ok(code) => code,
        Err(problems) => {
            for p in problems {
                eprintln!("error: {p}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn test(
    config: &Path,
    name: &str,
    event: Option<&Path>,
    dry_run: bool,
) -> Result<ExitCode, Vec<String>> {
    let loaded = signalbox_config::load(config)
        .map_err(|ds| ds.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let Some(channel_config) = loaded.config.channels.get(name) else {
        let names: Vec<&str> = loaded.config.channels.keys().map(String::as_str).collect();
        return Err(vec![format!(
            "no channel \"{name}\" in {} (channels: {})",
            config.display(),
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        )]);
    };
    let ctx =
        BuildContext::new().map_err(|e| vec![format!("cannot build the HTTP client: {e}")])?;
    let channels = std::collections::BTreeMap::from([(name.to_owned(), channel_config.clone())]);
    let ctx = ctx.with_channels(&channels)?;
    let channel = ctx
        .channels
        .get(name)
        .ok_or_else(|| vec![format!("channel \"{name}\" was not built")])?;
    let notification = match event {
        Some(file) => {
            signalbox_targets::notify::default_notification(&read_event(file)?, "notify-test")
        }
        None => test_notification(name),
    };
    if dry_run {
        println!("{}", channel.preview(&notification).map_err(|e| vec![e])?);
        return Ok(ExitCode::SUCCESS);
    }
    let key = format!("notify-test-{}", signalbox_core::ids::new_id());
    let answer = channel.send(&notification, &key).await;
    println!("{}", answer.response);
    Ok(match answer.outcome {
        AttemptOutcome::Delivered { .. } => {
            println!("sent through {name} ({})", channel.kind());
            ExitCode::SUCCESS
        }
        AttemptOutcome::Retry { error, .. } => {
            eprintln!("not sent (a delivery would retry): {error}");
            ExitCode::FAILURE
        }
        AttemptOutcome::Permanent { error, .. } => {
            eprintln!("not sent (a delivery would be dead): {error}");
            ExitCode::FAILURE
        }
    })
}

/// What `notify test` sends without `--event`.
pub fn test_notification(channel: &str) -> Notification {
    let mut n = Notification::new(
        "signalbox test message",
        format!("If you can read this, channel {channel} works."),
    );
    n.severity = Severity::Info;
    n.dedup_key = format!("signalbox/test/{channel}");
    n.time = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    n
}

fn read_event(file: &Path) -> Result<Value, Vec<String>> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| vec![format!("cannot read {}: {e}", file.display())])?;
    let raw = signalbox_config::parse_document(&text, file).map_err(|d| vec![d.to_string()])?;
    let bytes = serde_json::to_vec(&raw).map_err(|e| vec![e.to_string()])?;
    let mut events =
        signalbox_core::parse_events(&bytes, chrono::Utc::now(), signalbox_core::ids::new_id)
            .map_err(|e| vec![format!("{}: {e}", file.display())])?;
    if events.len() != 1 {
        return Err(vec![format!(
            "{}: notify test takes one event; the file holds {}",
            file.display(),
            events.len()
        )]);
    }
    Ok(events.remove(0).into_value())
}
