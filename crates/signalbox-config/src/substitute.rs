//! `${env:NAME}` and `${file:PATH}` substitution inside string values of the parsed tree.
//!
//! Substitution runs on parsed scalars, never on the raw text, so a value containing `: `,
//! `#` or newlines stays one string and cannot add keys. The replacement is literal: a `${`
//! inside an environment variable or file is not expanded again.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::diagnostic::Diagnostic;
use crate::tree::{Loc, Node, Value};

/// Where `${env:NAME}` values come from. Tests pass a map; production passes [`ProcessEnv`].
pub trait Env {
    /// The value of `name`, or `None` when it is not set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment, through `std::env::var`. A value that is not valid Unicode
/// counts as unset.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: std::hash::BuildHasher> Env for HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// What substitution did to a tree, for the diagnostics that follow.
#[derive(Debug, Default)]
pub(crate) struct Substitutions {
    /// Scalars whose substitution failed: already reported, so later checks of their raw text
    /// would only add noise.
    pub(crate) failed: Vec<Loc>,
    /// Scalars that received a substituted value, which may be a secret and must not be
    /// echoed in a later diagnostic.
    pub(crate) secrets: Vec<(Loc, String)>,
}

/// Substitutes in every string value under `node` (keys are left alone). Each problem becomes
/// a diagnostic at the scalar.
pub(crate) fn substitute_tree(
    node: &mut Node,
    base_dir: &Path,
    env: &dyn Env,
    diagnostics: &mut Vec<Diagnostic>,
    done: &mut Substitutions,
) {
    match &mut node.value {
        Value::Str { text, substituted } => {
            if !text.contains('$') {
                return;
            }
            match expand(text, base_dir, env) {
                Ok(Some(expanded)) => {
                    if !expanded.is_empty() {
                        done.secrets.push((node.loc.clone(), expanded.clone()));
                    }
                    *text = expanded;
                    *substituted = true;
                }
                Ok(None) => {}
                Err(problems) => {
                    for problem in problems {
                        diagnostics.push(Diagnostic::at(node.loc.to_location(), problem));
                    }
                    done.failed.push(node.loc.clone());
                }
            }
        }
        Value::Seq(items) => {
            for item in items {
                substitute_tree(item, base_dir, env, diagnostics, done);
            }
        }
        Value::Map(entries) => {
            for entry in entries {
                substitute_tree(&mut entry.value, base_dir, env, diagnostics, done);
            }
        }
        Value::Null | Value::Bool(..) | Value::Int(..) | Value::UInt(..) | Value::Float(..) => {}
    }
}

/// Expands one string. `Ok(None)` when it holds no `${` at all (not even `$${`), so plain
/// strings keep `substituted == false`; every problem in the string is reported.
fn expand(text: &str, base_dir: &Path, env: &dyn Env) -> Result<Option<String>, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let mut changed = false;
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            changed = true;
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            changed = true;
            let Some(close) = tail.find('}') else {
                problems.push(format!(
                    "unterminated \"${{\" in \"{text}\"; close it with \"}}\" or write \"$${{\" for a literal \"${{\""
                ));
                break;
            };
            let reference = &tail[..close];
            match resolve(reference, base_dir, env) {
                Ok(value) => out.push_str(&value),
                Err(problem) => problems.push(problem),
            }
            rest = &tail[close + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    if !problems.is_empty() {
        Err(problems)
    } else if changed {
        Ok(Some(out))
    } else {
        Ok(None)
    }
}

fn resolve(reference: &str, base_dir: &Path, env: &dyn Env) -> Result<String, String> {
    if let Some(name) = reference.strip_prefix("env:") {
        if name.is_empty() {
            return Err("empty variable name in \"${env:}\"".to_owned());
        }
        return env.var(name).ok_or_else(|| {
            format!("environment variable \"{name}\" is not set (referenced as ${{env:{name}}})")
        });
    }
    if let Some(path) = reference.strip_prefix("file:") {
        if path.is_empty() {
            return Err("empty path in \"${file:}\"".to_owned());
        }
        // Relative to the config file, so a config directory can carry its own secrets.
        let full = base_dir.join(path);
        return match std::fs::read_to_string(&full) {
            Ok(mut content) => {
                // Files written by editors and `echo` end with a newline that is not part of
                // the secret; only one is dropped so intentional blank lines survive.
                if content.ends_with('\n') {
                    content.pop();
                    if content.ends_with('\r') {
                        content.pop();
                    }
                }
                Ok(content)
            }
            Err(error) => Err(format!(
                "cannot read file \"{}\" (referenced as ${{file:{path}}}): {error}",
                full.display()
            )),
        };
    }
    Err(format!(
        "unknown substitution \"${{{reference}}}\": expected ${{env:NAME}} or ${{file:PATH}}, or write \"$${{\" for a literal \"${{\""
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn expands_env_and_escapes() {
        let env = env(&[("A", "1"), ("B", "two")]);
        let dir = Path::new(".");
        assert_eq!(
            expand("x${env:A}y${env:B}", dir, &env),
            Ok(Some("x1ytwo".to_owned()))
        );
        assert_eq!(
            expand("$${env:A}", dir, &env),
            Ok(Some("${env:A}".to_owned()))
        );
        assert_eq!(expand("cost: $5 $", dir, &env), Ok(None));
        assert_eq!(expand("no dollars", dir, &env), Ok(None));
    }

    #[test]
    fn reports_every_missing_variable() {
        let problems = expand("${env:X}-${env:Y}", Path::new("."), &env(&[])).unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(problems[0].contains("\"X\""), "{problems:?}");
        assert!(problems[1].contains("\"Y\""), "{problems:?}");
    }

    #[test]
    fn rejects_unknown_and_unterminated_references() {
        let env = env(&[]);
        let problem = expand("${HOME}", Path::new("."), &env).unwrap_err();
        assert!(problem[0].contains("unknown substitution"), "{problem:?}");
        let problem = expand("${env:A", Path::new("."), &env).unwrap_err();
        assert!(problem[0].contains("unterminated"), "{problem:?}");
    }

    #[test]
    fn substituted_text_is_not_expanded_again() {
        let env = env(&[("A", "${env:B}"), ("B", "nope")]);
        assert_eq!(
            expand("${env:A}", Path::new("."), &env),
            Ok(Some("${env:B}".to_owned()))
        );
    }
}
