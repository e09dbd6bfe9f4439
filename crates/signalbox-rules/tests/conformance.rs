//! Runs every case in `tests/conformance/*.jsonl` and reports every failing case by name.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use serde_json::value::RawValue;
use signalbox_rules::{Pattern, compile, compile_linear};

/// One line of a conformance file, checked for shape before it is run.
enum Expectation {
    /// `raw` is the event exactly as written in the file, so number tokens like `3.0e2` reach
    /// the byte matcher unchanged.
    Match {
        event: Value,
        raw: String,
        matched: bool,
    },
    Error {
        reason: String,
    },
}

struct Case {
    name: String,
    origin: String,
    pattern: Value,
    expect: Expectation,
}

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    files.sort();
    files
}

fn parse_case(line: &str, origin: String) -> Result<Case, String> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| format!("{origin}: not JSON: {e}"))?;
    let field = |key: &str| value.get(key).cloned();
    let name = match field("name") {
        Some(Value::String(s)) => s,
        _ => return Err(format!("{origin}: missing string \"name\"")),
    };
    let pattern =
        field("pattern").ok_or_else(|| format!("{origin} ({name}): missing \"pattern\""))?;
    let raw_fields: HashMap<String, Box<RawValue>> =
        serde_json::from_str(line).map_err(|e| format!("{origin}: not JSON: {e}"))?;
    let raw = raw_fields
        .get("event")
        .map(|r| r.get().to_owned())
        .unwrap_or_default();
    let expect = match (field("event"), field("matched"), field("error")) {
        (Some(event), Some(Value::Bool(matched)), None) => Expectation::Match {
            event,
            raw,
            matched,
        },
        (None, None, Some(Value::String(reason))) => Expectation::Error { reason },
        _ => {
            return Err(format!(
                "{origin} ({name}): needs either \"event\" + boolean \"matched\", or string \"error\""
            ));
        }
    };
    Ok(Case {
        name,
        origin,
        pattern,
        expect,
    })
}

/// Checks one case; returns a description of what went wrong.
fn run(case: &Case) -> Result<(), String> {
    let compiled = Pattern::compile_named(&case.name, &case.pattern);
    match (&case.expect, compiled) {
        (
            Expectation::Match {
                event,
                raw,
                matched,
            },
            Ok(pattern),
        ) => {
            let single = pattern.matches(event);
            if single != *matched {
                return Err(format!(
                    "expected matched={matched}, Pattern::matches gave {single}"
                ));
            }
            let rules = vec![(case.name.clone(), case.pattern.clone())];
            let expected: Vec<usize> = if *matched { vec![0] } else { vec![] };
            let engines = [
                ("engine", compile(&rules)),
                ("linear", compile_linear(&rules)),
            ];
            for (engine, matcher) in engines {
                let matcher = matcher.map_err(|e| format!("compile failed: {e:?}"))?;
                let mut out = Vec::new();
                matcher.matching_rules(event, &mut out);
                if out != expected {
                    return Err(format!(
                        "expected matched={matched}, {engine} on a Value gave {out:?}"
                    ));
                }
                out.clear();
                matcher
                    .matching_rules_json(raw.as_bytes(), &mut out)
                    .map_err(|e| format!("{engine} refused the event bytes: {e}"))?;
                if out != expected {
                    return Err(format!(
                        "expected matched={matched}, {engine} on bytes gave {out:?}"
                    ));
                }
            }
            Ok(())
        }
        (Expectation::Match { .. }, Err(e)) => {
            Err(format!("expected a match case, compile failed: {e}"))
        }
        (Expectation::Error { reason }, Err(e)) if e.reason.contains(reason.as_str()) => Ok(()),
        (Expectation::Error { reason }, Err(e)) => {
            Err(format!("expected an error containing {reason:?}, got {e}"))
        }
        (Expectation::Error { reason }, Ok(_)) => Err(format!(
            "expected an error containing {reason:?}, but the pattern compiled"
        )),
    }
}

#[test]
fn conformance() {
    let mut failures = Vec::new();
    let mut names = HashSet::new();
    let mut count = 0;
    for file in case_files() {
        let text = fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let file_name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with("//") {
                continue;
            }
            let origin = format!("{file_name}:{}", i + 1);
            let case = match parse_case(line, origin) {
                Ok(case) => case,
                Err(e) => {
                    failures.push(e);
                    continue;
                }
            };
            count += 1;
            if !names.insert(case.name.clone()) {
                failures.push(format!("{} ({}): duplicate name", case.origin, case.name));
            }
            if let Err(why) = run(&case) {
                failures.push(format!("{} ({}): {why}", case.origin, case.name));
            }
        }
    }
    assert!(
        count >= 80,
        "expected at least 80 conformance cases, found {count}"
    );
    assert!(
        failures.is_empty(),
        "{} of {count} conformance cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
