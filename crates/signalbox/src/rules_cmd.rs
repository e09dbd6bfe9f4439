//! `signalbox rules …`: test a pattern against an event, explain a config's routing. Nothing is
//! sent and no store is opened.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;
use signalbox_engine::Router;
use signalbox_rules::Pattern;
use signalbox_targets::{BuildContext, DeliveryRequest};

/// Subcommands of `signalbox rules`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Does an EventBridge pattern match an event? Prints `matched` (exit 0) or `no match`
    /// (exit 1); an invalid pattern or unreadable file exits 2.
    Test {
        /// The pattern, JSON or YAML; `-` reads stdin.
        pattern: PathBuf,
        /// The event, JSON or YAML, as matched (not completed like an ingested event); `-`
        /// reads stdin.
        event: PathBuf,
    },
    /// Which rules of a config match an event, and what each of their targets would send.
    /// Nothing is sent. Exit 0 when a rule matches, 1 when none does, 2 on an error.
    Explain {
        /// Config file or directory.
        config: PathBuf,
        /// The event as it would be POSTed to /v1/events, JSON or YAML; `-` reads stdin.
        event: PathBuf,
    },
}

const MATCHED: ExitCode = ExitCode::SUCCESS;
const NO_MATCH: u8 = 1;
const ERROR: u8 = 2;

/// Runs a `rules` subcommand.
pub fn run(command: RulesCommand) -> ExitCode {
    let result = match command {
        RulesCommand::Test { pattern, event } => test(&pattern, &event),
        RulesCommand::Explain { config, event } => explain(&config, &event),
    };
    result.unwrap_or_else(|problems| {
        for problem in problems {
            eprintln!("{problem}");
        }
        ExitCode::from(ERROR)
    })
}

fn test(pattern_file: &Path, event_file: &Path) -> Result<ExitCode, Vec<String>> {
    one_stdin(&[pattern_file, event_file])?;
    let pattern = read_document(pattern_file)?;
    let event = read_document(event_file)?;
    let compiled = Pattern::compile(&pattern).map_err(|e| {
        let at = if e.path.is_empty() {
            "pattern".to_owned()
        } else {
            format!("pattern.{}", e.path)
        };
        vec![format!("{}: {at}: {}", shown(pattern_file), e.reason)]
    })?;
    if compiled.matches(&event) {
        println!("matched");
        Ok(MATCHED)
    } else {
        println!("no match");
        Ok(ExitCode::from(NO_MATCH))
    }
}

fn explain(config: &Path, event_file: &Path) -> Result<ExitCode, Vec<String>> {
    let loaded = signalbox_config::load(config)
        .map_err(|ds| ds.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let ctx =
        BuildContext::new().map_err(|e| vec![format!("cannot build the HTTP client: {e}")])?;
    let router = Router::build(&loaded.config, &ctx).map_err(|errors| {
        errors
            .iter()
            .map(
                |e| match loaded.origins.get(&format!("rules.{}", e.rule())) {
                    Some(at) => format!("{at}: {e}"),
                    None => e.to_string(),
                },
            )
            .collect::<Vec<_>>()
    })?;
    let event = read_event(event_file)?;

    let matching = router.matching(&event);
    let accepted_at = signalbox_core::time::now_millis();
    for rule in &matching {
        println!("rule {} matches", rule.name);
        for (index, entry) in rule.targets.iter().enumerate() {
            // The same render the dispatcher runs on delivery, with a delivery id for show.
            let request = DeliveryRequest {
                delivery_id: "explain",
                event: &event,
                rule: rule.name,
                attempt: 1,
                accepted_at,
            };
            match entry.target.render(&request) {
                Ok(rendered) => {
                    println!("  target {}: {}", index + 1, rendered.destination);
                    for line in rendered.body.lines() {
                        println!("    {line}");
                    }
                }
                Err(error) => println!(
                    "  target {}: {} would fail to render (the delivery would be dead): {error}",
                    index + 1,
                    entry.target.kind()
                ),
            }
        }
    }
    let enabled = loaded.config.rules.values().filter(|r| r.enabled).count();
    println!(
        "{} of {enabled} enabled rules match; nothing was sent",
        matching.len()
    );
    Ok(if matching.is_empty() {
        ExitCode::from(NO_MATCH)
    } else {
        MATCHED
    })
}

/// Reads the event and completes it as ingest does (id, time, version), so templates see what
/// a delivery would see.
fn read_event(file: &Path) -> Result<Value, Vec<String>> {
    let raw = read_document(file)?;
    let bytes = serde_json::to_vec(&raw).map_err(|e| vec![e.to_string()])?;
    let mut events =
        signalbox_core::parse_events(&bytes, chrono::Utc::now(), signalbox_core::ids::new_id)
            .map_err(|e| vec![format!("{}: {e}", shown(file))])?;
    if events.len() != 1 {
        return Err(vec![format!(
            "{}: explain takes one event; the file holds {}",
            shown(file),
            events.len()
        )]);
    }
    Ok(events.remove(0).into_value())
}

/// `-` may stand for stdin once: it can only be read once.
fn one_stdin(files: &[&Path]) -> Result<(), Vec<String>> {
    if files.iter().filter(|f| is_stdin(f)).count() > 1 {
        return Err(vec!["only one of the files can be `-` (stdin)".to_owned()]);
    }
    Ok(())
}

fn is_stdin(file: &Path) -> bool {
    file.as_os_str() == "-"
}

fn shown(file: &Path) -> String {
    if is_stdin(file) {
        "<stdin>".to_owned()
    } else {
        file.display().to_string()
    }
}

/// A JSON or YAML document. A `.json` file must be JSON; anything else is read as JSON when it
/// is, and as YAML otherwise (YAML 1.2 booleans, as config files).
fn read_document(file: &Path) -> Result<Value, Vec<String>> {
    let text = if is_stdin(file) {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| vec![format!("cannot read stdin: {e}")])?;
        text
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| vec![format!("cannot read \"{}\": {e}", file.display())])?
    };
    let json_error = match serde_json::from_str::<Value>(&text) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    if file.extension().is_some_and(|ext| ext == "json") {
        return Err(vec![format!(
            "{}:{}:{}: invalid JSON: {json_error}",
            shown(file),
            json_error.line(),
            json_error.column()
        )]);
    }
    let name = PathBuf::from(shown(file));
    signalbox_config::parse_document(&text, &name).map_err(|d| vec![d.to_string()])
}
