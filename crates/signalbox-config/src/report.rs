//! Where check results are reported: a check's own `report:` targets and `monitor.report:`,
//! each a *report set* delivered under an internal rule `check-report:<set>` (as a schedule's
//! own targets are under `schedule:<name>`). The monitor batches results into events tagged
//! with their set; the router matches each set's events to its targets. See `docs/checks.md`,
//! "Reporting results".

use crate::diagnostic::Diagnostic;
use crate::model::{Config, TargetConfig};
use crate::tree::{Node, Value};
use crate::validate;

/// Prefix of the internal rules that deliver report sets; config rule names cannot use it.
pub const CHECK_REPORT_RULE_PREFIX: &str = "check-report:";

/// The set id of `monitor.report` (results of every check). `*` cannot be a check name, so it
/// never collides with a check's own set, whose id is the check's name.
pub const GLOBAL_REPORT_SET: &str = "*";

/// One report set: where some checks' results go, and how.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportSet<'a> {
    /// `*` for `monitor.report`, else the check's name.
    pub id: &'a str,
    /// The targets, as a rule's.
    pub targets: &'a [TargetConfig],
    /// Many results per event (`Check Results`) rather than one event per run
    /// (`Check Result`).
    pub batch: bool,
}

impl ReportSet<'_> {
    /// The internal rule name its deliveries are filed under.
    pub fn rule_name(&self) -> String {
        report_rule_name(self.id)
    }
}

/// The internal rule name of report set `id`.
pub fn report_rule_name(id: &str) -> String {
    format!("{CHECK_REPORT_RULE_PREFIX}{id}")
}

/// Every report set of `config` that has targets: `monitor.report` first, then each check's
/// own `report`, by check name.
pub fn report_sets(config: &Config) -> Vec<ReportSet<'_>> {
    let mut sets = Vec::new();
    if !config.monitor.report.is_empty() {
        sets.push(ReportSet {
            id: GLOBAL_REPORT_SET,
            targets: &config.monitor.report,
            batch: config.monitor.report_batch,
        });
    }
    for (name, check) in &config.checks {
        if !check.report.is_empty() {
            sets.push(ReportSet {
                id: name,
                targets: &check.report,
                batch: check.report_batch,
            });
        }
    }
    sets
}

/// What owns the report targets filed under internal rule `rule`, for messages: `check "api"`
/// or `monitor`; `None` for any other rule.
pub(crate) fn report_owner(rule: &str) -> Option<String> {
    let set = rule.strip_prefix(CHECK_REPORT_RULE_PREFIX)?;
    Some(if set == GLOBAL_REPORT_SET {
        "monitor".to_owned()
    } else {
        format!("check \"{set}\"")
    })
}

/// Runs the target checks rules' targets get (kind, URLs, templates, retry settings) on the
/// `report:` list under `node`, reporting at each item; false when any was wrong.
pub(crate) fn check_report_targets(
    set: &str,
    targets: &mut [TargetConfig],
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> bool {
    let Some(list) = node.get("report") else {
        return true;
    };
    let Value::Seq(items) = &list.value.value else {
        return true;
    };
    let before = out.len();
    let rule = report_rule_name(set);
    for (index, (target, item)) in targets.iter_mut().zip(items).enumerate() {
        validate::check_target(&rule, index, target, item, out);
    }
    out.len() == before
}

/// Checks `monitor.report` targets and the batch settings (`node` is the `monitor:` section).
pub(crate) fn check_monitor_report(
    monitor: &mut crate::monitor::MonitorConfig,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) {
    check_report_targets(GLOBAL_REPORT_SET, &mut monitor.report, node, out);
    if monitor.report_flush.is_zero() {
        out.push(Diagnostic::at(
            node.loc_of(&["report_flush"]).to_location(),
            "monitor: report_flush must be longer than 0s",
        ));
    }
    if monitor.report_max_batch == 0 {
        out.push(Diagnostic::at(
            node.loc_of(&["report_max_batch"]).to_location(),
            "monitor: report_max_batch must be at least 1",
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::load_str;

    #[test]
    fn sets_come_from_monitor_and_checks() {
        let yaml = "monitor:\n  report:\n    - log: {}\nchecks:\n  api:\n    tcp: { host: x, port: 1 }\n    schedule: { every: 1s }\n    report:\n      - webhook: { url: \"http://127.0.0.1:1/r\", method: put }\n    report_batch: false\n  db:\n    tcp: { host: x, port: 2 }\n    schedule: { every: 1s }\n";
        let loaded = load_str(yaml, Path::new("c.yaml")).expect("loads");
        let sets = report_sets(&loaded.config);
        let ids: Vec<(&str, bool)> = sets.iter().map(|s| (s.id, s.batch)).collect();
        assert_eq!(ids, [("*", true), ("api", false)]);
        assert_eq!(sets[1].rule_name(), "check-report:api");
        // Report targets get the same treatment as rules' targets: the method is uppercased.
        let crate::TargetKind::Webhook(hook) = sets[1].targets[0].kind() else {
            panic!("webhook expected");
        };
        assert_eq!(hook.method, "PUT");
    }

    #[test]
    fn bad_report_targets_are_located() {
        let yaml = "monitor:\n  report:\n    - datadog: { api_key: \"\", site: \"not a site\" }\nchecks:\n  api:\n    tcp: { host: x, port: 1 }\n    schedule: { every: 1s }\n    report:\n      - cloudwatch: { region: \"EU\", access_key_id: AK, secret_access_key: s }\n      - log: {}\n        webhook: { url: \"http://x\" }\n";
        let errors: Vec<String> = load_str(yaml, Path::new("c.yaml"))
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert_eq!(
            errors[0],
            "c.yaml:3:27: report target 1 of monitor: api_key must not be empty"
        );
        assert!(
            errors[1].starts_with("c.yaml:3:37: report target 1 of monitor: site \"not a site\""),
            "{errors:#?}"
        );
        assert!(
            errors[2].starts_with(
                "c.yaml:9:31: report target 1 of check \"api\": region \"EU\" must be an AWS region"
            ),
            "{errors:#?}"
        );
        assert!(
            errors[3].starts_with(
                "c.yaml:10:9: report target 2 of check \"api\" must have exactly one of"
            ),
            "{errors:#?}"
        );
    }

    #[test]
    fn sinks_load_with_defaults_and_refuse_templates() {
        let yaml = "rules:\n  r:\n    pattern: { source: [a] }\n    targets:\n      - datadog: { api_key: k }\n      - cloudwatch: { region: eu-west-1, access_key_id: AK, secret_access_key: s }\n";
        let loaded = load_str(yaml, Path::new("c.yaml")).expect("loads");
        let targets = &loaded.config.rules["r"].targets;
        let crate::TargetKind::Datadog(dd) = targets[0].kind() else {
            panic!("datadog expected");
        };
        assert_eq!(dd.site, "datadoghq.com");
        assert_eq!(dd.url, None);
        let crate::TargetKind::CloudWatch(cw) = targets[1].kind() else {
            panic!("cloudwatch expected");
        };
        assert_eq!(
            (cw.namespace.as_str(), cw.event_bus.as_str()),
            ("Signalbox", "default")
        );
        assert_eq!(format!("{:?}", cw.secret_access_key), "\"***\"");

        let yaml = "rules:\n  r:\n    pattern: { source: [a] }\n    targets:\n      - datadog: { api_key: k }\n        input_template: \"<x>\"\n";
        let errors = load_str(yaml, Path::new("c.yaml")).unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "c.yaml:6:25: target 1 of rule \"r\": `input_template` is not used by datadog and cloudwatch targets"
        );
    }

    #[test]
    fn config_rules_cannot_take_the_reserved_prefix() {
        let yaml = "rules:\n  \"check-report:x\":\n    pattern: { source: [a] }\n    targets: [ { log: {} } ]\n";
        let errors = load_str(yaml, Path::new("c.yaml")).unwrap_err();
        assert!(
            errors[0]
                .message
                .contains("reserved for checks' report targets"),
            "{errors:?}"
        );
    }
}
