//! `signalbox validate PATH`.

use std::path::Path;
use std::process::ExitCode;

use signalbox_engine::Router;
use signalbox_targets::BuildContext;

/// Prints every problem with its place; exit 1 when there is one.
pub fn run(path: &Path) -> ExitCode {
    match check(path) {
        Ok(rules) => {
            println!("{}: ok ({rules} rules)", path.display());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!("{} error(s)", problems.len());
            ExitCode::FAILURE
        }
    }
}

/// Loads and builds everything `serve` would, without opening the store or a port.
pub fn check(path: &Path) -> Result<usize, Vec<String>> {
    let loaded = signalbox_config::load(path)
        .map_err(|ds| ds.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    // `serve` skips a broken endpoint file and runs the rest; here it is an error to fix.
    let watcher = signalbox_monitor::watcher::problems(
        &loaded.config.monitor.endpoint_dirs,
        &loaded.config.server.timezone,
        &signalbox_config::ProcessEnv,
    );
    if !watcher.is_empty() {
        return Err(watcher);
    }
    let ctx =
        BuildContext::new().map_err(|e| vec![format!("cannot build the HTTP client: {e}")])?;
    match Router::build(&loaded.config, &ctx) {
        Ok(r) => Ok(r.rule_count()),
        Err(errors) => Err(errors
            .iter()
            .map(
                |e| match loaded.origins.get(&format!("rules.{}", e.rule())) {
                    Some(at) => format!("{at}: {e}"),
                    None => e.to_string(),
                },
            )
            .collect()),
    }
}
