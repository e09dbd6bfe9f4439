//! `schedules.<name>:` — time-triggered events: the typed settings, their load-time checks, and
//! [`ScheduleConfig::compile`], the one place that turns settings into something that can fire
//! (used by the loader, the runtime API and the scheduler alike).
//!
//! A schedule's `targets` use the same shape as a rule's and are checked by the same code.

use std::time::Duration;

use serde::Deserialize;
use signalbox_schedule::{
    DEFAULT_CATCH_UP_WINDOW, DEFAULT_ON_TIME_TOLERANCE, MisfirePolicy, MisfireSettings,
    QuietPeriod, Schedule, Tz, parse_time_zone,
};

use crate::diagnostic::Diagnostic;
use crate::model::TargetConfig;
use crate::tree::{Entry, Node, Value};
use crate::units::duration;
use crate::validate;

/// Rule names starting with this are reserved: the router files each schedule's own targets
/// under `schedule:<name>`.
pub const SCHEDULE_RULE_PREFIX: &str = "schedule:";

/// Longest schedule name; names appear in event ids and URLs.
pub const MAX_SCHEDULE_NAME: usize = 128;

/// `schedules.<name>:` — when to fire, in which zone, what to do after downtime, and where the
/// fire goes besides the rules that match it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Any expression `signalbox-schedule` reads: 5/6/7 fields, `@daily`, `cron(...)`,
    /// `rate(...)`, `at(...)`.
    pub cron: String,
    /// IANA zone the expression is read in; `server.timezone` when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    /// What to do with fires missed within `catch_up_window`.
    #[serde(default)]
    pub misfire: MisfirePolicy,
    /// Missed fires older than this are never fired, only counted.
    #[serde(default = "default_catch_up_window", with = "duration")]
    pub catch_up_window: Duration,
    /// A paused schedule does not fire. The runtime API may pause and resume it too.
    #[serde(default)]
    pub paused: bool,
    /// Spans during which fires are recorded as suppressed instead of run.
    #[serde(default)]
    pub quiet_periods: Vec<QuietPeriodConfig>,
    /// The schedule's own targets, run for every fire (rules matching the fire event run too).
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    /// Free text shown in the API and UI.
    #[serde(default)]
    pub description: Option<String>,
}

/// One `quiet_periods` entry: RFC 3339 times, `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietPeriodConfig {
    /// First suppressed instant.
    pub from: String,
    /// First instant after the period.
    pub to: String,
}

fn default_catch_up_window() -> Duration {
    DEFAULT_CATCH_UP_WINDOW
}

/// A schedule ready to fire: the parsed expression, its zone and its misfire settings.
///
/// It holds nothing of the name beyond the `H` values the name chose, so schedules that
/// compile alike compare (and hash) equal and a scheduler holding many keeps one copy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CompiledSchedule {
    /// The parsed expression.
    pub schedule: Schedule,
    /// The zone it is read in.
    pub tz: Tz,
    /// Misfire policy, catch-up window and on-time tolerance.
    pub misfire: MisfireSettings,
    /// Quiet periods, checked against scheduled times.
    pub quiet_periods: Vec<QuietPeriod>,
}

/// A problem with one field of a schedule: `field` is the path below the schedule
/// (`["cron"]`, `["quiet_periods", "0"]`) where it is reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleProblem {
    /// Path of the field at fault, below the schedule.
    pub field: Vec<String>,
    /// What is wrong, without the schedule's name.
    pub message: String,
}

impl ScheduleConfig {
    /// Parses the expression, zone and quiet periods. `default_tz` is `server.timezone`.
    /// Returns every problem found.
    pub fn compile(
        &self,
        name: &str,
        default_tz: &str,
    ) -> Result<CompiledSchedule, Vec<ScheduleProblem>> {
        let mut problems = Vec::new();
        let mut problem = |field: &[&str], message: String| {
            problems.push(ScheduleProblem {
                field: field.iter().map(|s| (*s).to_owned()).collect(),
                message,
            });
        };
        if let Err(reason) = check_schedule_name(name) {
            problem(&[], reason);
        }
        let schedule = Schedule::parse(&self.cron, name)
            .map_err(|e| problem(&["cron"], format!("cron \"{}\": {e}", self.cron)))
            .ok();
        let zone = self.timezone.as_deref().unwrap_or(default_tz);
        let tz = parse_time_zone(zone)
            .map_err(|e| problem(&["timezone"], format!("timezone: {e}")))
            .ok();
        let mut quiet_periods = Vec::with_capacity(self.quiet_periods.len());
        for (i, period) in self.quiet_periods.iter().enumerate() {
            match QuietPeriod::parse(&period.from, &period.to) {
                Ok(p) => quiet_periods.push(p),
                Err(e) => problem(
                    &["quiet_periods", &i.to_string()],
                    format!("quiet period {}: {e}", i + 1),
                ),
            }
        }
        match (schedule, tz) {
            (Some(schedule), Some(tz)) if problems.is_empty() => Ok(CompiledSchedule {
                schedule,
                tz,
                misfire: MisfireSettings {
                    policy: self.misfire,
                    catch_up_window: self.catch_up_window,
                    on_time_tolerance: DEFAULT_ON_TIME_TOLERANCE,
                },
                quiet_periods,
            }),
            _ => Err(problems),
        }
    }

    /// The schedule as JSON without its targets: what the store keeps as its definition and the
    /// runtime API accepts and shows. Reads back with `serde_json::from_value`.
    pub fn definition_json(&self) -> serde_json::Value {
        let misfire = match self.misfire {
            MisfirePolicy::FireOnce => "fire_once",
            MisfirePolicy::FireAll => "fire_all",
            MisfirePolicy::Skip => "skip",
        };
        let mut out = serde_json::json!({
            "cron": self.cron,
            "misfire": misfire,
            "catch_up_window": humantime::format_duration(self.catch_up_window).to_string(),
            "paused": self.paused,
            "quiet_periods": self.quiet_periods.iter()
                .map(|p| serde_json::json!({"from": p.from, "to": p.to}))
                .collect::<Vec<_>>(),
        });
        if let Some(tz) = &self.timezone {
            out["timezone"] = serde_json::Value::String(tz.clone());
        }
        if let Some(d) = &self.description {
            out["description"] = serde_json::Value::String(d.clone());
        }
        out
    }
}

/// Schedule names go into event ids (`schedule:<name>:<time>`) and URLs: 1-128 ASCII letters,
/// digits, `-`, `_` and `.`.
pub fn check_schedule_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SCHEDULE_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the name \"{name}\" must be 1-{MAX_SCHEDULE_NAME} letters, digits, '-', '_' or '.'"
        ))
    }
}

/// Adds one file's `schedules:`; a name given twice is an error naming both places.
pub(crate) fn merge_schedules(value: Node, merged: &mut Vec<Entry>, out: &mut Vec<Diagnostic>) {
    match value.value {
        Value::Map(schedules) => {
            // Looked up by name: a search of the list per schedule made loading 100,000
            // schedules quadratic (15 s instead of 0.7 s).
            let mut seen: std::collections::HashMap<String, usize> = merged
                .iter()
                .enumerate()
                .map(|(i, s)| (s.key.clone(), i))
                .collect();
            for schedule in schedules {
                if let Some(first) = seen.get(&schedule.key).map(|&i| &merged[i]) {
                    out.push(Diagnostic::at(
                        schedule.key_loc.to_location(),
                        format!(
                            "schedule \"{}\" is defined twice: at {} and at {}",
                            schedule.key, first.key_loc, schedule.key_loc
                        ),
                    ));
                } else {
                    seen.insert(schedule.key.clone(), merged.len());
                    merged.push(schedule);
                }
            }
        }
        Value::Null => {}
        _ => out.push(Diagnostic::at(
            value.loc.to_location(),
            "schedules must be a mapping from schedule name to schedule",
        )),
    }
}

/// Types and checks one schedule: its targets one by one (as a rule's), then the rest.
pub(crate) fn typed_schedule(
    name: &str,
    node: &Node,
    default_tz: &str,
    out: &mut Vec<Diagnostic>,
) -> Option<ScheduleConfig> {
    let context = format!("schedule \"{name}\"");
    let owner = format!("{SCHEDULE_RULE_PREFIX}{name}");
    let mut checked_targets = Some(Vec::new());
    let mut without_targets = node.clone();
    if let Value::Map(entries) = &mut without_targets.value {
        for entry in entries.iter_mut().filter(|e| e.key == "targets") {
            if let Value::Seq(items) = &entry.value.value {
                for (index, item) in items.iter().enumerate() {
                    let target_context = format!("target {} of schedule \"{name}\"", index + 1);
                    let target =
                        crate::load::typed_section::<TargetConfig>(item, &target_context, out).map(
                            |mut target| {
                                validate::check_target(&owner, index, &mut target, item, out);
                                target
                            },
                        );
                    checked_targets = checked_targets.zip(target).map(|(mut all, t)| {
                        all.push(t);
                        all
                    });
                }
                entry.value.value = Value::Seq(Vec::new());
            }
        }
    }
    let mut schedule =
        crate::load::typed_section::<ScheduleConfig>(&without_targets, &context, out)?;
    schedule.targets = checked_targets?;
    if let Err(problems) = schedule.compile(name, default_tz) {
        for p in problems {
            let path: Vec<&str> = p.field.iter().map(String::as_str).collect();
            let at = if path.is_empty() {
                None
            } else {
                Some(node.loc_of(&path).to_location())
            };
            let message = format!("{context}: {}", p.message);
            out.push(match at {
                Some(loc) => Diagnostic::at(loc, message),
                None => Diagnostic::at(node.loc.to_location(), message),
            });
        }
        return None;
    }
    Some(schedule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(cron: &str) -> ScheduleConfig {
        serde_json::from_value(serde_json::json!({ "cron": cron })).expect("typed")
    }

    #[test]
    fn compiles_with_defaults() {
        let c = config("*/5 * * * *")
            .compile("tick", "Europe/Paris")
            .unwrap();
        assert_eq!(c.tz, parse_time_zone("Europe/Paris").unwrap());
        assert_eq!(c.misfire.policy, MisfirePolicy::FireOnce);
        assert_eq!(c.misfire.catch_up_window, Duration::from_secs(300));
    }

    #[test]
    fn compiled_forms_depend_on_the_name_only_through_h() {
        use std::collections::HashSet;
        let plain = config("0 0 3 * * ?");
        assert_eq!(
            plain.compile("a", "UTC").unwrap(),
            plain.compile("b", "UTC").unwrap()
        );
        // 2,000 names over at most 1,440 (minute, hour) pairs: names that pick the same pair
        // compile equal, others do not.
        let hashed = config("0 H H * * ?");
        let forms: HashSet<CompiledSchedule> = (0..2_000)
            .map(|i| hashed.compile(&format!("s{i}"), "UTC").unwrap())
            .collect();
        assert!(forms.len() > 1 && forms.len() < 1_440, "{}", forms.len());
    }

    #[test]
    fn reports_each_bad_field() {
        let mut s = config("0 0 32 * *");
        s.timezone = Some("Mars/Olympus".into());
        s.quiet_periods.push(QuietPeriodConfig {
            from: "2026-01-02T00:00:00Z".into(),
            to: "2026-01-01T00:00:00Z".into(),
        });
        let problems = s.compile("bad", "UTC").unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.join(".")).collect();
        assert_eq!(fields, ["cron", "timezone", "quiet_periods.0"]);
        assert!(
            problems[0].message.contains("out of range 1-31"),
            "{problems:?}"
        );
    }

    #[test]
    fn names_are_restricted() {
        assert!(check_schedule_name("nightly-build_1.x").is_ok());
        for bad in ["", "a b", "a:b", "a/b", &"x".repeat(129)] {
            assert!(check_schedule_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn definition_json_reads_back() {
        let mut s = config("rate(5 minutes)");
        s.timezone = Some("UTC".into());
        s.misfire = MisfirePolicy::FireAll;
        s.paused = true;
        s.description = Some("d".into());
        s.quiet_periods.push(QuietPeriodConfig {
            from: "2026-01-01T00:00:00Z".into(),
            to: "2026-01-02T00:00:00Z".into(),
        });
        let back: ScheduleConfig = serde_json::from_value(s.definition_json()).unwrap();
        assert_eq!(back, s);
    }
}

#[cfg(test)]
mod load_tests {
    use std::path::Path;

    use crate::load_str;

    #[test]
    fn schedules_load_with_targets_and_server_timezone() {
        let yaml = "server: { timezone: Europe/Paris }\nschedules:\n  nightly:\n    cron: \"0 2 * * *\"\n    misfire: fire_all\n    catch_up_window: 10m\n    targets:\n      - log: {}\n";
        let loaded = load_str(yaml, Path::new("s.yaml")).expect("loads");
        let s = &loaded.config.schedules["nightly"];
        assert_eq!(s.targets.len(), 1);
        let c = s
            .compile("nightly", &loaded.config.server.timezone)
            .unwrap();
        assert_eq!(c.tz.name(), "Europe/Paris");
    }

    #[test]
    fn bad_expression_is_reported_at_its_field() {
        let yaml = "schedules:\n  nightly:\n    cron: \"0 0 32 * *\"\n    timezone: Nowhere/Land\n    targets:\n      - webhook: { url: \"ftp://x\" }\n";
        let errors = load_str(yaml, Path::new("s.yaml")).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("s.yaml:3:11: schedule \"nightly\": cron")
                    && t.contains("day of month")
                    && t.contains("out of range 1-31")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("s.yaml:4:15: schedule \"nightly\": timezone")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("target 1 of schedule \"nightly\"")),
            "{text:#?}"
        );
    }

    #[test]
    fn reserved_rule_names_are_refused() {
        let yaml = "rules:\n  \"schedule:x\":\n    pattern: {}\n    targets: [{ log: {} }]\n";
        let errors = load_str(yaml, Path::new("r.yaml")).unwrap_err();
        assert!(errors[0].message.contains("reserved"), "{errors:?}");
    }
}
