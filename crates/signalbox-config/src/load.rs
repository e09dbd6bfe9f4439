//! From paths to a [`Loaded`] config: find files, parse, substitute, merge, type, validate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::diagnostic::{Diagnostic, Location};
use crate::model::{Config, RuleConfig, TargetConfig};
use crate::substitute::{Env, Substitutions, substitute_tree};
use crate::tree::{self, DeError, Entry, Loc, Node, Value};
use crate::validate;

/// A loaded configuration and where its parts were written.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The merged, substituted and validated configuration.
    pub config: Config,
    /// Where things are written, for messages about them later: `"rules.<name>"` is the
    /// rule's key; `"server"`, `"store"` the first occurrence of the section key;
    /// `"server.<key>"`, `"store.<key>"` each setting's key.
    pub origins: BTreeMap<String, Location>,
}

const TOP_LEVEL_KEYS: [&str; 7] = [
    "server",
    "store",
    "monitor",
    "rules",
    "channels",
    "schedules",
    "checks",
];

/// Loads a file, or every `*.yaml`/`*.yml` file directly inside a directory (sorted by
/// name), using `env` for `${env:NAME}`.
pub fn load_with(path: &Path, env: &dyn Env) -> Result<Loaded, Vec<Diagnostic>> {
    let files = config_files(path).map_err(|diagnostic| vec![diagnostic])?;
    let mut diagnostics = Vec::new();
    let mut sources = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => sources.push((file, text)),
            Err(error) => diagnostics.push(Diagnostic::without_location(format!(
                "cannot read config file \"{}\": {error}",
                file.display()
            ))),
        }
    }
    build(sources, env, diagnostics)
}

/// Loads YAML text as if it were the file `file` (used in messages and as the base directory
/// of `${file:PATH}`).
pub fn load_str_with(text: &str, file: &Path, env: &dyn Env) -> Result<Loaded, Vec<Diagnostic>> {
    build(vec![(file.to_path_buf(), text.to_owned())], env, Vec::new())
}

fn config_files(path: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let metadata = std::fs::metadata(path).map_err(|error| {
        Diagnostic::without_location(format!(
            "config path \"{}\" cannot be read: {error}",
            path.display()
        ))
    })?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|error| {
        Diagnostic::without_location(format!(
            "config directory \"{}\" cannot be listed: {error}",
            path.display()
        ))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| {
            Diagnostic::without_location(format!(
                "config directory \"{}\" cannot be listed: {error}",
                path.display()
            ))
        })?;
        let file = entry.path();
        let is_yaml = file
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| matches!(extension, "yaml" | "yml"));
        // Follows symlinks, so a linked file (as Kubernetes ConfigMaps mount them) counts.
        if is_yaml && file.is_file() {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(Diagnostic::without_location(format!(
            "config directory \"{}\" holds no *.yaml or *.yml files",
            path.display()
        )));
    }
    files.sort();
    Ok(files)
}

/// Sections gathered from every file, each entry keeping its own position.
#[derive(Default)]
struct Merged {
    server: Section,
    store: Section,
    monitor: Section,
    rules: Vec<Entry>,
    channels: Vec<Entry>,
    schedules: Vec<Entry>,
    checks: Vec<Entry>,
}

#[derive(Default)]
struct Section {
    /// Position of the first `server:`/`store:` key.
    key_loc: Option<Loc>,
    /// Position of the first section's value, used for errors about the section as a whole.
    value_loc: Option<Loc>,
    entries: Vec<Entry>,
}

impl Section {
    fn node(&self) -> Option<Node> {
        let loc = self.value_loc.clone().or_else(|| self.key_loc.clone())?;
        Some(Node {
            value: Value::Map(self.entries.clone()),
            loc,
        })
    }
}

fn build(
    sources: Vec<(PathBuf, String)>,
    env: &dyn Env,
    mut diagnostics: Vec<Diagnostic>,
) -> Result<Loaded, Vec<Diagnostic>> {
    let mut substitutions = Substitutions::default();
    let mut merged = Merged::default();
    for (path, text) in sources {
        let file: Arc<Path> = Arc::from(path.as_path());
        let mut root = match tree::parse(&text, &file) {
            Ok(root) => root,
            Err(diagnostic) => {
                diagnostics.push(diagnostic);
                continue;
            }
        };
        let base_dir = path.parent().unwrap_or_else(|| Path::new(""));
        substitute_tree(
            &mut root,
            base_dir,
            env,
            &mut diagnostics,
            &mut substitutions,
        );
        merge_file(root, &mut merged, &mut diagnostics);
    }

    let mut later = Vec::new();
    let (config, origins) = typed(&merged, &mut later);
    // A value whose substitution failed has already been reported; checking its raw text
    // would only add noise.
    later.retain(|diagnostic| {
        !substitutions
            .failed
            .iter()
            .any(|loc| diagnostic.location.as_ref() == Some(&loc.to_location()))
    });
    // Substituted values are often secrets; a message about one must not print it.
    for diagnostic in &mut later {
        for (loc, secret) in &substitutions.secrets {
            if diagnostic.location.as_ref() == Some(&loc.to_location()) {
                // Only quoted occurrences: a short value such as "1" must not mangle the text.
                diagnostic.message = diagnostic
                    .message
                    .replace(&format!("\"{secret}\""), "\"***\"")
                    .replace(&format!("{secret:?}"), "\"***\"");
            }
        }
    }
    diagnostics.extend(later);

    if diagnostics.is_empty() {
        Ok(Loaded { config, origins })
    } else {
        diagnostics.sort_by(|a, b| a.location.cmp(&b.location));
        Err(diagnostics)
    }
}

fn merge_file(root: Node, merged: &mut Merged, diagnostics: &mut Vec<Diagnostic>) {
    let entries = match root.value {
        Value::Map(entries) => entries,
        // An empty (or comment-only) file is an empty config.
        Value::Null => return,
        _ => {
            diagnostics.push(Diagnostic::at(
                root.loc.to_location(),
                "a config file must be a mapping with keys server, store, rules",
            ));
            return;
        }
    };
    for entry in entries {
        match entry.key.as_str() {
            "server" | "store" | "monitor" => {
                let section = match entry.key.as_str() {
                    "server" => &mut merged.server,
                    "store" => &mut merged.store,
                    _ => &mut merged.monitor,
                };
                merge_section(&entry.key, entry.key_loc, entry.value, section, diagnostics);
            }
            "rules" => match entry.value.value {
                Value::Map(rules) => {
                    for rule in rules {
                        if let Some(first) = merged.rules.iter().find(|r| r.key == rule.key) {
                            diagnostics.push(Diagnostic::at(
                                rule.key_loc.to_location(),
                                format!(
                                    "rule \"{}\" is defined twice: at {} and at {}",
                                    rule.key, first.key_loc, rule.key_loc
                                ),
                            ));
                        } else {
                            merged.rules.push(rule);
                        }
                    }
                }
                Value::Null => {}
                _ => diagnostics.push(Diagnostic::at(
                    entry.value.loc.to_location(),
                    "rules must be a mapping from rule name to rule",
                )),
            },
            "schedules" => {
                crate::schedule::merge_schedules(entry.value, &mut merged.schedules, diagnostics)
            }
            "checks" => crate::checks::merge_checks(entry.value, &mut merged.checks, diagnostics),
            "channels" => {
                crate::channels::merge_channels(entry.value, &mut merged.channels, diagnostics)
            }
            other => diagnostics.push(Diagnostic::at(
                entry.key_loc.to_location(),
                format!(
                    "unknown top-level key `{other}`, expected one of {}",
                    TOP_LEVEL_KEYS.map(|key| format!("`{key}`")).join(", ")
                ),
            )),
        }
    }
}

/// Adds one file's `server:`/`store:` settings; a setting already given by another file is
/// an error naming both places.
fn merge_section(
    name: &str,
    key_loc: Loc,
    value: Node,
    section: &mut Section,
    diagnostics: &mut Vec<Diagnostic>,
) {
    section.key_loc.get_or_insert(key_loc);
    section.value_loc.get_or_insert_with(|| value.loc.clone());
    match value.value {
        Value::Map(entries) => {
            for entry in entries {
                if let Some(first) = section.entries.iter().find(|e| e.key == entry.key) {
                    diagnostics.push(Diagnostic::at(
                        entry.key_loc.to_location(),
                        format!(
                            "{name}.{} is set twice: at {} and at {}",
                            entry.key, first.key_loc, entry.key_loc
                        ),
                    ));
                } else {
                    section.entries.push(entry);
                }
            }
        }
        Value::Null => {}
        _ => diagnostics.push(Diagnostic::at(
            value.loc.to_location(),
            format!("{name} must be a mapping of settings"),
        )),
    }
}

/// Builds the typed config, reporting every error it can find rather than the first.
fn typed(merged: &Merged, out: &mut Vec<Diagnostic>) -> (Config, BTreeMap<String, Location>) {
    let mut config = Config::default();
    let mut origins = BTreeMap::new();

    for (name, section) in [
        ("server", &merged.server),
        ("store", &merged.store),
        ("monitor", &merged.monitor),
    ] {
        if let Some(loc) = &section.key_loc {
            origins.insert(name.to_owned(), loc.to_location());
        }
        for entry in &section.entries {
            origins.insert(format!("{name}.{}", entry.key), entry.key_loc.to_location());
        }
    }
    if let Some(node) = merged.server.node()
        && let Some(server) = typed_section(&node, "server", out)
    {
        validate::check_server(&server, &node, out);
        config.server = server;
    }
    if let Some(node) = merged.store.node()
        && let Some(store) = typed_section(&node, "store", out)
    {
        validate::check_store(&store, &node, out);
        config.store = store;
    }
    if let Some(node) = merged.monitor.node()
        && let Some(mut monitor) =
            typed_section::<crate::monitor::MonitorConfig>(&node, "monitor", out)
    {
        crate::report::check_monitor_report(&mut monitor, &node, out);
        config.monitor = monitor;
    }

    for entry in &merged.rules {
        origins.insert(format!("rules.{}", entry.key), entry.key_loc.to_location());
        if let Some(rule) = typed_rule(&entry.key, &entry.value, out) {
            config.rules.insert(entry.key.clone(), rule);
        }
    }
    for entry in &merged.channels {
        origins.insert(
            format!("channels.{}", entry.key),
            entry.key_loc.to_location(),
        );
        let context = format!("channel \"{}\"", entry.key);
        if let Some(channel) = typed_section(&entry.value, &context, out) {
            crate::channels::check_channel(&entry.key, &channel, &entry.value, out);
            config.channels.insert(entry.key.clone(), channel);
        }
    }
    crate::channels::check_channel_names(&config, &merged.rules, &merged.channels, out);
    for entry in &merged.schedules {
        origins.insert(
            format!("schedules.{}", entry.key),
            entry.key_loc.to_location(),
        );
        let default_tz = config.server.timezone.clone();
        if let Some(s) = crate::schedule::typed_schedule(&entry.key, &entry.value, &default_tz, out)
        {
            config.schedules.insert(entry.key.clone(), s);
        }
    }
    for entry in &merged.checks {
        origins.insert(format!("checks.{}", entry.key), entry.key_loc.to_location());
        let default_tz = config.server.timezone.clone();
        if let Some(c) = crate::checks::typed_check(&entry.key, &entry.value, &default_tz, out) {
            config.checks.insert(entry.key.clone(), c);
        }
    }
    (config, origins)
}

/// Deserializes `T` from a mapping, reporting each bad key; `None` when anything was wrong.
pub(crate) fn typed_section<T: DeserializeOwned>(
    node: &Node,
    context: &str,
    out: &mut Vec<Diagnostic>,
) -> Option<T> {
    let errors = tree::entry_errors::<T>(node);
    if !errors.is_empty() {
        out.extend(
            errors
                .into_iter()
                .map(|error| located(error, node, context)),
        );
        return None;
    }
    match tree::from_node::<T>(node) {
        Ok(value) => Some(value),
        Err(error) => {
            out.push(located(error, node, context));
            None
        }
    }
}

/// Checks each target on its own first so one bad target does not hide the others, then the
/// rule around them.
fn typed_rule(name: &str, node: &Node, out: &mut Vec<Diagnostic>) -> Option<RuleConfig> {
    let context = format!("rule \"{name}\"");
    // `None` once any target is bad; stays empty when `targets` is not a list (the rule's own
    // typing reports that).
    let mut checked_targets = Some(Vec::new());
    let mut targets_apart = false;
    if let Some(targets) = node.get("targets")
        && let Value::Seq(items) = &targets.value.value
    {
        targets_apart = true;
        for (index, item) in items.iter().enumerate() {
            let context = format!("target {} of rule \"{name}\"", index + 1);
            let target = typed_section::<TargetConfig>(item, &context, out).map(|mut target| {
                validate::check_target(name, index, &mut target, item, out);
                target
            });
            checked_targets = checked_targets.zip(target).map(|(mut all, target)| {
                all.push(target);
                all
            });
        }
    }
    // The rule itself is typed with its targets emptied: they were typed (and reported) above.
    let mut without_targets = node.clone();
    if targets_apart && let Value::Map(entries) = &mut without_targets.value {
        for entry in entries.iter_mut().filter(|entry| entry.key == "targets") {
            entry.value.value = Value::Seq(Vec::new());
        }
    }
    let mut rule = typed_section::<RuleConfig>(&without_targets, &context, out)?;
    if targets_apart {
        rule.targets = checked_targets?;
    }
    validate::check_rule(name, &rule, node, out);
    Some(rule)
}

fn located(error: DeError, fallback: &Node, context: &str) -> Diagnostic {
    let loc = error.loc.unwrap_or_else(|| fallback.loc.clone());
    Diagnostic::at(loc.to_location(), format!("{context}: {}", error.message))
}
