//! The default notification for an event: a title, the key facts, a link and a severity for
//! the event kinds signalbox emits, and a readable generic one for any other event. Pure.
//!
//! Signalbox's own events are recognised by `source` and `detail-type` (case-insensitive):
//!
//! | source | detail-type | kind |
//! |---|---|---|
//! | `signalbox.pipeline` | `Pipeline Started` / `Pipeline Succeeded` / `Pipeline Failed` | pipeline |
//! | `signalbox.check` | `Check Down` / `Check Recovered` | check |
//! | `signalbox.schedule` | `Schedule Fire Failed` | schedule |
//! | `signalbox.release` | `Release Completed` / `Release Failed` | release |
//! | `signalbox.delivery` | `Delivery Dead` | delivery |
//!
//! A `detail.state` / `detail.status` (`started`, `succeeded`, `failed`, `down`, `up`…) is read
//! too, so `Pipeline State Change` with `state: failed` is a failed pipeline.

use serde_json::Value;

use crate::channels::{Field, Notification, Severity};

/// What kind of event it is, as far as notifications care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A pipeline run started.
    PipelineStarted,
    /// A pipeline run succeeded.
    PipelineSucceeded,
    /// A pipeline run failed.
    PipelineFailed,
    /// A check went down.
    CheckDown,
    /// A check recovered.
    CheckRecovered,
    /// A schedule's fire failed.
    ScheduleFireFailed,
    /// A release completed.
    ReleaseCompleted,
    /// A release failed.
    ReleaseFailed,
    /// A delivery ran out of attempts.
    DeliveryDead,
    /// Anything else.
    Other,
}

/// Classifies `event`.
pub fn kind_of(event: &Value) -> EventKind {
    let source = text(event, &["source"]).to_ascii_lowercase();
    let detail_type = text(event, &["detail-type"]).to_ascii_lowercase();
    let state = {
        let state = text(event, &["detail", "state"]);
        if state.is_empty() {
            text(event, &["detail", "status"])
        } else {
            state
        }
    }
    .to_ascii_lowercase();
    let says = |words: &[&str]| {
        words
            .iter()
            .any(|w| detail_type.contains(w) || state.contains(w))
    };
    match source.as_str() {
        "signalbox.pipeline" if says(&["fail", "error"]) => EventKind::PipelineFailed,
        "signalbox.pipeline" if says(&["succe", "passed", "success"]) => {
            EventKind::PipelineSucceeded
        }
        "signalbox.pipeline" if says(&["start", "running"]) => EventKind::PipelineStarted,
        "signalbox.check" if says(&["recover", "up", "ok", "resolved"]) => {
            EventKind::CheckRecovered
        }
        "signalbox.check" if says(&["down", "fail"]) => EventKind::CheckDown,
        "signalbox.schedule" if says(&["fail", "error"]) => EventKind::ScheduleFireFailed,
        "signalbox.release" if says(&["fail", "error"]) => EventKind::ReleaseFailed,
        "signalbox.release" if says(&["complete", "succe", "done"]) => EventKind::ReleaseCompleted,
        "signalbox.delivery" if says(&["dead"]) => EventKind::DeliveryDead,
        _ => EventKind::Other,
    }
}

/// The default notification for `event`, matched by rule `rule`.
pub fn notification(event: &Value, rule: &str) -> Notification {
    let detail = &event["detail"];
    let name = |keys: &[&str]| -> String {
        keys.iter()
            .map(|k| scalar(&detail[*k]))
            .find(|v| !v.is_empty())
            .unwrap_or_else(|| "?".to_owned())
    };
    let mut facts = Facts::new(detail);
    let kind = kind_of(event);
    let (title, text, severity, dedup_key) = match kind {
        EventKind::PipelineStarted | EventKind::PipelineSucceeded | EventKind::PipelineFailed => {
            let pipeline = name(&["pipeline", "name"]);
            facts.add("Run", &["run_id", "run"]);
            facts.add("Trigger", &["trigger"]);
            facts.add("Branch", &["branch", "ref"]);
            facts.add("Commit", &["commit", "sha"]);
            facts.add_duration("Duration", &["duration_ms"]);
            facts.add("Failed step", &["failed_step", "step"]);
            let (verb, severity) = match kind {
                EventKind::PipelineStarted => ("started", Severity::Info),
                EventKind::PipelineSucceeded => ("succeeded", Severity::Resolved),
                _ => ("failed", Severity::Critical),
            };
            (
                format!("Pipeline {pipeline} {verb}"),
                scalar(&detail["error"]),
                severity,
                format!("signalbox/pipeline/{pipeline}"),
            )
        }
        EventKind::CheckDown | EventKind::CheckRecovered => {
            let check = name(&["check", "name"]);
            facts.add("Target", &["url", "target", "host"]);
            facts.add("Status", &["status_code", "http_status"]);
            facts.add("Since", &["since", "down_since"]);
            facts.add_duration("Downtime", &["downtime_ms"]);
            facts.add("Failed assertion", &["assertion", "failed_assertion"]);
            let (title, severity) = if kind == EventKind::CheckDown {
                (format!("Check {check} is down"), Severity::Critical)
            } else {
                (format!("Check {check} recovered"), Severity::Resolved)
            };
            (
                title,
                scalar(&detail["error"]),
                severity,
                format!("signalbox/check/{check}"),
            )
        }
        EventKind::ScheduleFireFailed => {
            let schedule = name(&["schedule", "name"]);
            facts.add("Fire time", &["fire_time", "scheduled_time"]);
            facts.add("Target", &["target"]);
            facts.add("Attempts", &["attempts"]);
            let fire = scalar(&detail["fire_time"]);
            (
                format!("Scheduled run of {schedule} failed"),
                scalar(&detail["error"]),
                Severity::Critical,
                format!("signalbox/schedule/{schedule}/{fire}"),
            )
        }
        EventKind::ReleaseCompleted | EventKind::ReleaseFailed => {
            let release = name(&["release", "name"]);
            facts.add("Version", &["version"]);
            facts.add("Environment", &["environment", "env"]);
            facts.add("Modules", &["modules"]);
            facts.add_duration("Duration", &["duration_ms"]);
            let (verb, severity) = if kind == EventKind::ReleaseFailed {
                ("failed", Severity::Critical)
            } else {
                ("completed", Severity::Resolved)
            };
            (
                format!("Release {release} {verb}"),
                scalar(&detail["error"]),
                severity,
                format!("signalbox/release/{release}"),
            )
        }
        EventKind::DeliveryDead => {
            let rule_name = name(&["rule"]);
            facts.add("Target", &["target"]);
            facts.add("Attempts", &["attempts"]);
            facts.add("Event", &["event_id"]);
            facts.add("Delivery", &["delivery_id"]);
            (
                format!("Delivery for rule {rule_name} is dead"),
                scalar(&detail["error"]),
                Severity::Warning,
                format!("signalbox/delivery/{}", scalar(&detail["delivery_id"])),
            )
        }
        EventKind::Other => return generic(event, rule),
    };
    Notification {
        title,
        text,
        fields: facts.fields,
        link: link_of(event),
        severity,
        dedup_key,
        time: time_of(event),
    }
}

/// Any other event: `<detail-type> from <source>`, the detail's scalar values in key order
/// (nested ones as `a.b`), its resources, and a link when the event has one.
fn generic(event: &Value, rule: &str) -> Notification {
    let source = text(event, &["source"]);
    let detail_type = text(event, &["detail-type"]);
    let title = match (detail_type.is_empty(), source.is_empty()) {
        (false, false) => format!("{detail_type} from {source}"),
        (false, true) => detail_type.clone(),
        (true, false) => format!("Event from {source}"),
        (true, true) => "Event".to_owned(),
    };
    let mut fields = Vec::new();
    flatten(&event["detail"], "", &mut fields, 0);
    fields.retain(|f: &Field| !f.value.is_empty());
    let message = scalar(&event["detail"]["message"]);
    let resources: Vec<String> = event["resources"]
        .as_array()
        .map(|r| r.iter().map(scalar).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if !resources.is_empty() {
        fields.push(Field {
            name: "Resources".into(),
            value: resources.join(", "),
        });
    }
    let total = fields.len();
    fields.truncate(MAX_FIELDS);
    let mut text = if message.is_empty() {
        format!("Matched rule {rule}.")
    } else {
        message
    };
    if total > MAX_FIELDS {
        text.push_str(&format!(" ({} more fields not shown)", total - MAX_FIELDS));
    }
    let severity = Severity::parse(&scalar(&event["detail"]["severity"]))
        .or_else(|| Severity::parse(&scalar(&event["detail"]["level"])))
        .unwrap_or(Severity::Info);
    Notification {
        title,
        text,
        fields,
        link: link_of(event),
        severity,
        dedup_key: {
            let id = text_of(event, "id");
            if id.is_empty() {
                format!("signalbox/{source}/{detail_type}")
            } else {
                format!("signalbox/event/{id}")
            }
        },
        time: time_of(event),
    }
}

/// Fields a generic notification shows at most.
const MAX_FIELDS: usize = 12;
/// Longest value shown in a field.
const MAX_VALUE: usize = 300;

fn flatten(value: &Value, prefix: &str, out: &mut Vec<Field>, depth: usize) {
    let Value::Object(map) = value else {
        return;
    };
    for (key, value) in map {
        // Shown as the text or the link, not again as a field.
        if depth == 0 && matches!(key.as_str(), "message" | "url" | "link" | "html_url") {
            continue;
        }
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(_) if depth < 1 => flatten(value, &name, out, depth + 1),
            Value::Object(_) | Value::Array(_) => out.push(Field {
                name,
                value: crate::channels::markup::truncate(&value.to_string(), MAX_VALUE),
            }),
            _ => out.push(Field {
                name,
                value: crate::channels::markup::truncate(&scalar(value), MAX_VALUE),
            }),
        }
    }
}

/// Facts of a known event kind, added in order when present.
struct Facts<'a> {
    detail: &'a Value,
    fields: Vec<Field>,
}

impl<'a> Facts<'a> {
    fn new(detail: &'a Value) -> Facts<'a> {
        Facts {
            detail,
            fields: Vec::new(),
        }
    }

    fn add(&mut self, label: &str, keys: &[&str]) {
        if let Some(value) = keys
            .iter()
            .map(|k| match &self.detail[*k] {
                Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(", "),
                other => scalar(other),
            })
            .find(|v| !v.is_empty())
        {
            self.fields.push(Field {
                name: label.to_owned(),
                value: crate::channels::markup::truncate(&value, MAX_VALUE),
            });
        }
    }

    fn add_duration(&mut self, label: &str, keys: &[&str]) {
        if let Some(ms) = keys.iter().find_map(|k| self.detail[*k].as_u64()) {
            self.fields.push(Field {
                name: label.to_owned(),
                value: human_duration(ms),
            });
        }
    }
}

/// `1h 2m`, `3m 4s`, `5s`, `120ms`.
pub fn human_duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0 => format!("{ms}ms"),
        1..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {}s", secs / 60, secs % 60),
        _ => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
    }
}

/// The first of `detail.url`, `detail.link`, `detail.html_url`, or an http(s) resource.
fn link_of(event: &Value) -> Option<String> {
    let detail = &event["detail"];
    ["url", "link", "html_url", "run_url"]
        .iter()
        .map(|k| scalar(&detail[*k]))
        .chain(
            event["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .map(scalar),
        )
        .find(|v| v.starts_with("https://") || v.starts_with("http://"))
}

fn time_of(event: &Value) -> Option<String> {
    Some(text_of(event, "time")).filter(|t| !t.is_empty())
}

fn text_of(event: &Value, key: &str) -> String {
    scalar(&event[key])
}

fn text(event: &Value, path: &[&str]) -> String {
    let mut value = event;
    for step in path {
        value = &value[*step];
    }
    scalar(value)
}

/// A scalar as text; null and missing are empty.
fn scalar(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pipeline_failure() {
        let event = json!({
            "id": "e1", "source": "signalbox.pipeline", "detail-type": "Pipeline Failed",
            "time": "2025-03-01T10:00:00Z",
            "detail": {"pipeline": "deploy-api", "run_id": "42", "branch": "main",
                       "duration_ms": 125000, "error": "step test exited 1",
                       "url": "https://ci.example.com/runs/42"}
        });
        let n = notification(&event, "ci");
        assert_eq!(n.title, "Pipeline deploy-api failed");
        assert_eq!(n.severity, Severity::Critical);
        assert_eq!(n.text, "step test exited 1");
        assert_eq!(n.link.as_deref(), Some("https://ci.example.com/runs/42"));
        assert_eq!(n.dedup_key, "signalbox/pipeline/deploy-api");
        assert_eq!(
            n.fields
                .iter()
                .map(|f| format!("{}={}", f.name, f.value))
                .collect::<Vec<_>>(),
            ["Run=42", "Branch=main", "Duration=2m 5s"]
        );
    }

    #[test]
    fn check_down_and_recovered_share_a_key() {
        let down = json!({"source": "signalbox.check", "detail-type": "Check Down",
                          "detail": {"check": "api", "url": "https://api.example.com/health"}});
        let up = json!({"source": "signalbox.check", "detail-type": "Check Recovered",
                        "detail": {"check": "api"}});
        let (d, u) = (notification(&down, "r"), notification(&up, "r"));
        assert_eq!(d.severity, Severity::Critical);
        assert_eq!(u.severity, Severity::Resolved);
        assert_eq!(d.dedup_key, u.dedup_key);
        assert_eq!(u.title, "Check api recovered");
    }

    #[test]
    fn state_field_decides_too() {
        let event = json!({"source": "signalbox.pipeline", "detail-type": "Pipeline State Change",
                           "detail": {"pipeline": "p", "state": "SUCCEEDED"}});
        assert_eq!(kind_of(&event), EventKind::PipelineSucceeded);
    }

    #[test]
    fn generic_event() {
        let event = json!({
            "id": "abc", "source": "aws.ecs", "detail-type": "ECS Task State Change",
            "resources": ["arn:aws:ecs:task/1"],
            "detail": {"lastStatus": "STOPPED", "container": {"name": "web", "exitCode": 137}}
        });
        let n = notification(&event, "ecs-stopped");
        assert_eq!(n.title, "ECS Task State Change from aws.ecs");
        assert_eq!(n.text, "Matched rule ecs-stopped.");
        let names: Vec<&str> = n.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "container.exitCode",
                "container.name",
                "lastStatus",
                "Resources"
            ]
        );
        assert_eq!(n.link, None);
        assert_eq!(n.dedup_key, "signalbox/event/abc");
    }
}
