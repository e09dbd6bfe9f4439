//! The router: compiled rules and their built targets. Turns an event into the deliveries it owes.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;
use signalbox_config::{Config, TargetConfig};
use signalbox_rules::{Matcher, PatternError};
use signalbox_store::NewDelivery;
use signalbox_targets::{BuildContext, BuildError, Target};

use crate::backoff::RetryPolicy;
use crate::echo::{self, EchoError, PayloadConstraints};

/// A rule or target that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The rule's pattern is invalid.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// One of the rule's targets is invalid.
    #[error(transparent)]
    Target(#[from] BuildError),
    /// An Echo-form rule's payload constraint is invalid.
    #[error(transparent)]
    Echo(#[from] EchoError),
    /// A notification channel cannot be built (`channels.<name>: …`).
    #[error("{0}")]
    Channel(String),
}

impl RouterError {
    /// The rule at fault, to point at its place in the config.
    pub fn rule(&self) -> &str {
        match self {
            RouterError::Pattern(p) => &p.rule,
            RouterError::Target(t) => &t.rule,
            RouterError::Echo(e) => &e.rule,
            RouterError::Channel(_) => "",
        }
    }
}

/// A built target with its retry policy.
#[derive(Clone)]
pub struct TargetEntry {
    /// The runnable target.
    pub target: Arc<dyn Target>,
    /// When to retry and when to give up.
    pub policy: RetryPolicy,
}

struct RuleEntry {
    name: String,
    targets: Vec<TargetEntry>,
    /// Echo-form rules: checked after the matcher said yes to their `type`/`source`.
    constraints: Option<PayloadConstraints>,
}

/// A rule that matches an event, and where its deliveries go.
pub struct MatchedRule<'a> {
    /// The rule's name.
    pub name: &'a str,
    /// Its targets, in config order (a delivery's `target` is the index here).
    pub targets: &'a [TargetEntry],
}

/// Compiled rules: what matches and where it goes.
pub struct Router {
    matcher: Box<dyn Matcher>,
    /// Enabled rules, in matcher order.
    matched: Vec<usize>,
    rules: Vec<RuleEntry>,
    by_name: HashMap<String, usize>,
    dynamic: Option<Arc<DynamicReports>>,
    api_schedules: Option<Arc<ApiScheduleTargets>>,
}

/// Report sets whose targets change while the router runs (the watcher's endpoint files, read
/// again when they change): set id → targets, replaced as a whole. Their results events are
/// routed by `detail.report` like the config's report sets, and their deliveries are filed
/// under the same `check-report:<set>` rule names, so the dispatcher finds them by name; a set
/// removed before its delivery is attempted makes it dead ("config changed"), as for a config
/// rule.
#[derive(Default)]
pub struct DynamicReports {
    sets: RwLock<HashMap<String, Arc<Vec<TargetEntry>>>>,
}

impl std::fmt::Debug for DynamicReports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sets = self.sets.read().map(|s| s.len()).unwrap_or(0);
        f.debug_struct("DynamicReports")
            .field("sets", &sets)
            .finish()
    }
}

impl DynamicReports {
    /// Builds every set of `sets` (id, targets) and makes them the only ones. A set with a
    /// target that cannot be built is left out; every such error is returned.
    pub fn replace(
        &self,
        sets: &[(String, Vec<TargetConfig>)],
        ctx: &BuildContext,
    ) -> Vec<RouterError> {
        let mut built = HashMap::with_capacity(sets.len());
        let mut errors = Vec::new();
        for (id, targets) in sets {
            let rule_name = signalbox_config::report::report_rule_name(id);
            let mut entries = Vec::with_capacity(targets.len());
            let before = errors.len();
            for (i, t) in targets.iter().enumerate() {
                match signalbox_targets::build(&rule_name, i, t, ctx) {
                    Ok(target) => entries.push(TargetEntry {
                        target,
                        policy: policy_of(t),
                    }),
                    Err(e) => errors.push(RouterError::Target(e)),
                }
            }
            if errors.len() == before {
                built.insert(id.clone(), Arc::new(entries));
            }
        }
        match self.sets.write() {
            Ok(mut sets) => *sets = built,
            Err(poisoned) => *poisoned.into_inner() = built,
        }
        errors
    }

    fn get(&self, id: &str) -> Option<Arc<Vec<TargetEntry>>> {
        match self.sets.read() {
            Ok(sets) => sets.get(id).cloned(),
            Err(poisoned) => poisoned.into_inner().get(id).cloned(),
        }
    }
}

/// The own targets of schedules created through the API (`PUT /v1/schedules/{name}` with
/// `targets`). Their definitions, targets included, live in the store, so every instance can
/// build them: at start, when its scheduler adopts such a schedule, when the API call lands on
/// it, and when its dispatcher meets a delivery of one it has not built yet. Deliveries are
/// filed under `schedule:<name>` like a config schedule's.
pub struct ApiScheduleTargets {
    ctx: BuildContext,
    built: RwLock<HashMap<String, Arc<Vec<TargetEntry>>>>,
}

impl std::fmt::Debug for ApiScheduleTargets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.built.read().map(|b| b.len()).unwrap_or(0);
        f.debug_struct("ApiScheduleTargets")
            .field("schedules", &n)
            .finish()
    }
}

impl ApiScheduleTargets {
    /// Targets built with `ctx` (the config's channels and HTTP client).
    pub fn new(ctx: BuildContext) -> ApiScheduleTargets {
        ApiScheduleTargets {
            ctx,
            built: RwLock::new(HashMap::new()),
        }
    }

    /// Builds `targets` for schedule `name`; every target that cannot be built is an error.
    pub fn build(
        &self,
        name: &str,
        targets: &[TargetConfig],
    ) -> Result<Vec<TargetEntry>, Vec<RouterError>> {
        let rule_name = schedule_rule_name(name);
        let mut entries = Vec::with_capacity(targets.len());
        let mut errors = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            match signalbox_targets::build(&rule_name, i, t, &self.ctx) {
                Ok(target) => entries.push(TargetEntry {
                    target,
                    policy: policy_of(t),
                }),
                Err(e) => errors.push(RouterError::Target(e)),
            }
        }
        if errors.is_empty() {
            Ok(entries)
        } else {
            Err(errors)
        }
    }

    /// Makes `entries` the targets of `name` (none: it has no targets).
    pub fn set(&self, name: &str, entries: Vec<TargetEntry>) {
        let mut built = match self.built.write() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        if entries.is_empty() {
            built.remove(name);
        } else {
            built.insert(name.to_owned(), Arc::new(entries));
        }
    }

    /// Builds the targets of a stored API definition (the `PUT` body's fields as JSON) and
    /// makes them `name`'s; on an error `name` keeps none and the error is returned.
    pub fn load(&self, name: &str, definition: &str) -> Result<(), String> {
        let mut definition: serde_json::Value = serde_json::from_str(definition)
            .map_err(|e| format!("stored definition is not valid: {e}"))?;
        let targets: Vec<TargetConfig> = match definition.get_mut("targets") {
            Some(targets) => serde_json::from_value(targets.take())
                .map_err(|e| format!("stored targets are not valid: {e}"))?,
            None => Vec::new(),
        };
        match self.build(name, &targets) {
            Ok(entries) => {
                self.set(name, entries);
                Ok(())
            }
            Err(errors) => {
                self.set(name, Vec::new());
                Err(errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "))
            }
        }
    }

    fn get(&self, name: &str) -> Option<Arc<Vec<TargetEntry>>> {
        match self.built.read() {
            Ok(b) => b.get(name).cloned(),
            Err(poisoned) => poisoned.into_inner().get(name).cloned(),
        }
    }
}

/// The report set a results event is for (`detail.report` of a `signalbox.check`
/// `Check Result` / `Check Results` event).
fn report_set_of(event: &Value) -> Option<&str> {
    if event.get("source")?.as_str()? != "signalbox.check" {
        return None;
    }
    match event.get("detail-type")?.as_str()? {
        "Check Result" | "Check Results" => event.get("detail")?.get("report")?.as_str(),
        _ => None,
    }
}

impl Router {
    /// Compiles every rule's pattern and builds every target; returns every error found.
    pub fn build(config: &Config, ctx: &BuildContext) -> Result<Router, Vec<RouterError>> {
        // Channels the caller has not built yet are built here, once, for all notify targets.
        let ctx = &ctx
            .with_channels(&config.channels)
            .map_err(|es| es.into_iter().map(RouterError::Channel).collect::<Vec<_>>())?;
        let mut errors = Vec::new();
        let mut rules = Vec::with_capacity(config.rules.len());
        let mut patterns = Vec::new();
        let mut matched = Vec::new();
        for (name, rule) in &config.rules {
            let mut targets = Vec::with_capacity(rule.targets.len());
            for (i, t) in rule.targets.iter().enumerate() {
                match signalbox_targets::build(name, i, t, ctx) {
                    Ok(target) => targets.push(TargetEntry {
                        target,
                        policy: policy_of(t),
                    }),
                    Err(e) => errors.push(RouterError::Target(e)),
                }
            }
            let mut constraints = None;
            let pattern = match &rule.pattern {
                Some(pattern) if !rule.is_echo_form() => pattern.clone(),
                Some(_) => {
                    // The config loader reports this with a position; a hand-built config
                    // must not silently drop one of the two.
                    errors.push(RouterError::Pattern(PatternError {
                        rule: name.clone(),
                        path: String::new(),
                        reason: "pattern and the Echo keys (type, source, payloadConstraints) \
                                 are two ways to write a rule; keep one"
                            .into(),
                    }));
                    continue;
                }
                None => {
                    if !rule.payload_constraints.is_empty() {
                        match PayloadConstraints::compile(name, &rule.payload_constraints) {
                            Ok(c) => constraints = Some(c),
                            Err(es) => errors.extend(es.into_iter().map(RouterError::Echo)),
                        }
                    }
                    echo::pattern_of(rule)
                }
            };
            if rule.enabled {
                patterns.push((name.clone(), pattern));
                matched.push(rules.len());
            }
            rules.push(RuleEntry {
                name: name.clone(),
                targets,
                constraints,
            });
        }
        // Each schedule's own targets, filed under a reserved rule name (config rule names
        // cannot start with `schedule:`) that no pattern matches: the dispatcher finds them by
        // name like any rule's.
        // A schedule without targets of its own owes none: it gets no entry, so the many
        // schedules that only feed the rules cost nothing here.
        for (name, schedule) in config
            .schedules
            .iter()
            .filter(|(_, s)| !s.targets.is_empty())
        {
            let rule_name = schedule_rule_name(name);
            let mut targets = Vec::with_capacity(schedule.targets.len());
            for (i, t) in schedule.targets.iter().enumerate() {
                match signalbox_targets::build(&rule_name, i, t, ctx) {
                    Ok(target) => targets.push(TargetEntry {
                        target,
                        policy: policy_of(t),
                    }),
                    Err(e) => errors.push(RouterError::Target(e)),
                }
            }
            rules.push(RuleEntry {
                name: rule_name,
                targets,
                constraints: None,
            });
        }
        // Each report set's targets (a check's `report:`, `monitor.report:`) under a reserved
        // rule that matches the monitor's results events for that set, so results are
        // delivered, retried and dead-lettered like any event.
        for set in signalbox_config::report_sets(config) {
            let rule_name = set.rule_name();
            let mut targets = Vec::with_capacity(set.targets.len());
            for (i, t) in set.targets.iter().enumerate() {
                match signalbox_targets::build(&rule_name, i, t, ctx) {
                    Ok(target) => targets.push(TargetEntry {
                        target,
                        policy: policy_of(t),
                    }),
                    Err(e) => errors.push(RouterError::Target(e)),
                }
            }
            patterns.push((rule_name.clone(), report_pattern(set.id)));
            matched.push(rules.len());
            rules.push(RuleEntry {
                name: rule_name,
                targets,
                constraints: None,
            });
        }
        let matcher = match signalbox_rules::compile(&patterns) {
            Ok(m) => Some(m),
            Err(es) => {
                errors.extend(es.into_iter().map(RouterError::Pattern));
                None
            }
        };
        match matcher {
            Some(matcher) if errors.is_empty() => {
                let by_name = rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (r.name.clone(), i))
                    .collect();
                Ok(Router {
                    matcher,
                    matched,
                    rules,
                    by_name,
                    dynamic: None,
                    api_schedules: None,
                })
            }
            _ => Err(errors),
        }
    }

    /// This router, also routing results events to `dynamic`'s report sets (a set the config
    /// also has keeps the config's targets).
    pub fn with_dynamic_reports(mut self, dynamic: Arc<DynamicReports>) -> Router {
        self.dynamic = Some(dynamic);
        self
    }

    /// Routes the deliveries of API schedules to the targets kept in `targets`.
    pub fn with_api_schedules(mut self, targets: Arc<ApiScheduleTargets>) -> Router {
        self.api_schedules = Some(targets);
        self
    }

    /// Where API schedules' targets are kept, when set.
    pub fn api_schedules(&self) -> Option<&Arc<ApiScheduleTargets>> {
        self.api_schedules.as_ref()
    }

    /// The deliveries `event` (EventBridge shape) owes: one per target of each matching rule,
    /// each with a fresh stable id.
    pub fn route(&self, event: &Value) -> Vec<NewDelivery> {
        let mut out = Vec::new();
        for rule in self.matching(event) {
            out.extend(new_deliveries(rule.name, rule.targets.len()));
        }
        if let Some(dynamic) = &self.dynamic
            && let Some(id) = report_set_of(event)
        {
            let rule = signalbox_config::report::report_rule_name(id);
            if !self.by_name.contains_key(&rule)
                && let Some(targets) = dynamic.get(id)
            {
                out.extend(new_deliveries(&rule, targets.len()));
            }
        }
        out
    }

    /// [`Router::route`] for an event given as its stored JSON, matched on the text itself (no
    /// tree of the payload is built). The tree is built only when something needs it: a matching
    /// rule with payload constraints, or a monitor results event while report sets are dynamic.
    pub fn route_stored(&self, source: &str, body: &str) -> Vec<NewDelivery> {
        let mut hits = Vec::new();
        let needs_tree = (self.dynamic.is_some() && source == "signalbox.check")
            || self
                .matcher
                .matching_rules_json(body.as_bytes(), &mut hits)
                .is_err()
            || hits
                .iter()
                .any(|&h| self.rules[self.matched[h]].constraints.is_some());
        if needs_tree {
            return match serde_json::from_str::<Value>(body) {
                Ok(event) => self.route(&event),
                Err(_) => Vec::new(),
            };
        }
        hits.into_iter()
            .flat_map(|h| {
                let rule = &self.rules[self.matched[h]];
                new_deliveries(&rule.name, rule.targets.len())
            })
            .collect()
    }

    /// The enabled rules that match `event` (EventBridge shape), in name order: what
    /// [`Router::route`] creates deliveries for.
    pub fn matching(&self, event: &Value) -> Vec<MatchedRule<'_>> {
        let mut hits = Vec::new();
        self.matcher.matching_rules(event, &mut hits);
        hits.into_iter()
            .map(|h| &self.rules[self.matched[h]])
            .filter(|rule| rule.constraints.as_ref().is_none_or(|c| c.matches(event)))
            .map(|rule| MatchedRule {
                name: &rule.name,
                targets: &rule.targets,
            })
            .collect()
    }

    /// The deliveries a fire of schedule `name` owes to the schedule's own targets (none when
    /// this instance's config does not define it or gives it none), each with a fresh stable id.
    pub fn schedule_deliveries(&self, name: &str) -> Vec<NewDelivery> {
        let rule_name = schedule_rule_name(name);
        let count = match self.by_name.get(&rule_name) {
            Some(&i) => self.rules[i].targets.len(),
            None => self
                .api_schedules
                .as_ref()
                .and_then(|a| a.get(name))
                .map_or(0, |t| t.len()),
        };
        new_deliveries(&rule_name, count).collect()
    }

    /// The target a delivery was created for, if the rule and target still exist (a dynamic
    /// report set's as it is now).
    pub fn target(&self, rule: &str, index: u32) -> Option<TargetEntry> {
        if let Some(&i) = self.by_name.get(rule) {
            return self.rules[i].targets.get(index as usize).cloned();
        }
        if let Some(name) = rule.strip_prefix(signalbox_config::schedule::SCHEDULE_RULE_PREFIX) {
            return self
                .api_schedules
                .as_ref()?
                .get(name)?
                .get(index as usize)
                .cloned();
        }
        let id = rule.strip_prefix(signalbox_config::CHECK_REPORT_RULE_PREFIX)?;
        self.dynamic.as_ref()?.get(id)?.get(index as usize).cloned()
    }

    /// Number of rules loaded (enabled or not).
    pub fn rule_count(&self) -> usize {
        let prefix = signalbox_config::schedule::SCHEDULE_RULE_PREFIX;
        let report = signalbox_config::CHECK_REPORT_RULE_PREFIX;
        self.rules
            .iter()
            .filter(|r| !r.name.starts_with(prefix) && !r.name.starts_with(report))
            .count()
    }
}

/// The reserved rule name under which a schedule's own targets are filed.
pub fn schedule_rule_name(schedule: &str) -> String {
    format!(
        "{}{schedule}",
        signalbox_config::schedule::SCHEDULE_RULE_PREFIX
    )
}

/// One delivery to each of `rule`'s `targets` targets, each with a fresh stable id.
fn new_deliveries(rule: &str, targets: usize) -> impl Iterator<Item = NewDelivery> + '_ {
    (0..targets).map(move |t| NewDelivery {
        id: signalbox_core::ids::new_id(),
        rule: rule.to_owned(),
        target: t as u32,
    })
}

/// What the reserved rule of report set `id` matches: the monitor's results events for it,
/// batched (`Check Results`) or one per run (`Check Result`), told apart by `detail.report`.
pub fn report_pattern(id: &str) -> Value {
    serde_json::json!({
        "source": ["signalbox.check"],
        "detail-type": ["Check Results", "Check Result"],
        "detail": { "report": [id] },
    })
}

fn policy_of(t: &TargetConfig) -> RetryPolicy {
    RetryPolicy {
        max_attempts: t.max_attempts.max(1),
        max_age: t.max_age,
        initial_backoff: t.initial_backoff,
        max_backoff: t.max_backoff,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    #[test]
    fn report_sets_get_reserved_rules_matching_their_results_events() {
        let yaml = r#"
monitor:
  report:
    - log: {}
checks:
  api:
    tcp: { host: x, port: 1 }
    schedule: { every: 1s }
    report:
      - log: {}
      - log: { level: warn }
"#;
        let config = signalbox_config::load_str(yaml, Path::new("c.yaml"))
            .expect("loads")
            .config;
        let router = Router::build(&config, &BuildContext::new().unwrap()).unwrap();
        assert_eq!(router.rule_count(), 0, "reserved rules are not counted");
        let routed = |report: &str, detail_type: &str| {
            let event = json!({
                "source": "signalbox.check", "detail-type": detail_type,
                "detail": {"report": report, "results": []}
            });
            let stored = router
                .route_stored("signalbox.check", &event.to_string())
                .into_iter()
                .map(|d| (d.rule, d.target))
                .collect::<Vec<_>>();
            let tree = router
                .route(&event)
                .into_iter()
                .map(|d| (d.rule, d.target))
                .collect::<Vec<_>>();
            assert_eq!(stored, tree);
            tree
        };
        assert_eq!(
            routed("*", "Check Results"),
            [("check-report:*".to_owned(), 0)]
        );
        assert_eq!(
            routed("api", "Check Result"),
            [
                ("check-report:api".to_owned(), 0),
                ("check-report:api".to_owned(), 1)
            ]
        );
        assert!(routed("db", "Check Results").is_empty());
        assert!(routed("*", "Check Failed").is_empty());
        assert!(router.target("check-report:api", 1).is_some());
    }
}

#[cfg(test)]
mod schedule_tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn only_schedules_with_targets_get_a_reserved_rule() {
        let yaml = "schedules:\n  bare: { cron: \"@daily\" }\n  with: { cron: \"@daily\", targets: [{ log: {} }, { log: {} }] }\n";
        let config = signalbox_config::load_str(yaml, Path::new("s.yaml"))
            .expect("loads")
            .config;
        let router = Router::build(&config, &BuildContext::new().unwrap()).unwrap();
        assert_eq!(
            router.rules.len(),
            1,
            "no entry for a schedule without targets"
        );
        assert!(router.schedule_deliveries("bare").is_empty());
        let deliveries = router.schedule_deliveries("with");
        assert_eq!(deliveries.len(), 2);
        assert!(deliveries.iter().all(|d| d.rule == "schedule:with"));
        assert!(router.target("schedule:with", 1).is_some());
        assert!(router.target("schedule:bare", 0).is_none());
        assert_eq!(router.rule_count(), 0);
    }
}

#[cfg(test)]
mod dynamic_report_tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    fn log_target() -> TargetConfig {
        serde_json::from_value(json!({"log": {}})).unwrap()
    }

    #[test]
    fn api_schedules_targets_come_from_their_stored_definitions() {
        let config = signalbox_config::load_str("rules: {}\n", Path::new("c.yaml"))
            .expect("loads")
            .config;
        let ctx = BuildContext::new().unwrap();
        let api = Arc::new(ApiScheduleTargets::new(ctx.clone()));
        let router = Router::build(&config, &ctx)
            .unwrap()
            .with_api_schedules(api.clone());
        assert!(router.schedule_deliveries("nightly").is_empty());
        let stored = r#"{"cron":"@daily","targets":[{"log":{}},{"webhook":{"url":"http://127.0.0.1:9/x"}}]}"#;
        api.load("nightly", stored).unwrap();
        let owed = router.schedule_deliveries("nightly");
        assert_eq!(owed.len(), 2);
        assert_eq!(owed[1].rule, "schedule:nightly");
        assert!(router.target("schedule:nightly", 1).is_some());
        assert!(router.target("schedule:nightly", 2).is_none());
        // A definition whose targets no longer build leaves the schedule without any.
        let bad = r#"{"cron":"@daily","targets":[{"webhook":{"url":"ftp://x"}}]}"#;
        assert!(api.load("nightly", bad).is_err());
        assert!(router.target("schedule:nightly", 0).is_none());
        api.load("nightly", r#"{"cron":"@daily"}"#).unwrap();
        assert!(router.schedule_deliveries("nightly").is_empty());
    }

    #[test]
    fn routing_stored_text_agrees_with_routing_the_tree() {
        let yaml = r#"
rules:
  deploys:
    pattern: { source: [ci.github], detail: { env: [{ prefix: prod }] } }
    targets: [{ log: {} }, { log: {} }]
  echo-geo:
    type: webhook
    source: github
    payloadConstraints: { repository.name: "ge.*" }
    targets: [{ log: {} }]
  numbers:
    pattern: { detail: { n: [{ numeric: [">", 5] }] } }
    targets: [{ log: {} }]
"#;
        let config = signalbox_config::load_str(yaml, Path::new("r.yaml"))
            .expect("loads")
            .config;
        let router = Router::build(&config, &BuildContext::new().unwrap()).unwrap();
        let events = [
            json!({"source": "ci.github", "detail-type": "D", "detail": {"env": "production", "n": 6}}),
            json!({"source": "ci.github", "detail-type": "D", "detail": {"env": "staging", "n": 5}}),
            // Matched by the pattern part of the Echo rule; its constraints decide.
            json!({"source": "github", "detail-type": "Webhook", "detail": {"repository": {"name": "geo"}}}),
            json!({"source": "github", "detail-type": "webhook", "detail": {"repository": {"name": "web"}}}),
            json!({"source": "other", "detail-type": "x", "detail": {}}),
        ];
        let rules = |d: Vec<NewDelivery>| {
            d.into_iter()
                .map(|d| (d.rule, d.target))
                .collect::<Vec<_>>()
        };
        let mut matched = 0;
        for event in events {
            let source = event["source"].as_str().unwrap().to_owned();
            let tree = rules(router.route(&event));
            matched += tree.len();
            assert_eq!(
                rules(router.route_stored(&source, &event.to_string())),
                tree,
                "{event}"
            );
        }
        assert_eq!(matched, 4, "deploys twice, numbers once, echo-geo once");
        assert!(router.route_stored("x", "{not json").is_empty());
    }

    #[test]
    fn dynamic_report_sets_are_routed_and_replaced_at_runtime() {
        let yaml = "checks:\n  api:\n    tcp: { host: x, port: 1 }\n    schedule: { every: 1s }\n    report:\n      - log: {}\n";
        let config = signalbox_config::load_str(yaml, Path::new("c.yaml"))
            .expect("loads")
            .config;
        let ctx = BuildContext::new().unwrap();
        let dynamic = Arc::new(DynamicReports::default());
        let router = Router::build(&config, &ctx)
            .unwrap()
            .with_dynamic_reports(dynamic.clone());
        let routed = |report: &str| {
            let event = json!({
                "source": "signalbox.check", "detail-type": "Check Result",
                "detail": {"report": report, "check": report}
            });
            router
                .route(&event)
                .into_iter()
                .map(|d| (d.rule, d.target))
                .collect::<Vec<_>>()
        };
        assert!(routed("w").is_empty(), "no dynamic set yet");
        let errors = dynamic.replace(
            &[
                ("w".to_owned(), vec![log_target(), log_target()]),
                // The config's set keeps the config's targets.
                ("api".to_owned(), vec![log_target(), log_target()]),
            ],
            &ctx,
        );
        assert!(errors.is_empty());
        assert_eq!(
            routed("w"),
            [
                ("check-report:w".to_owned(), 0),
                ("check-report:w".to_owned(), 1)
            ]
        );
        assert_eq!(routed("api"), [("check-report:api".to_owned(), 0)]);
        assert!(router.target("check-report:w", 1).is_some());
        assert!(router.target("check-report:w", 2).is_none());
        // Other events are not results of a set.
        let failed = json!({"source": "signalbox.check", "detail-type": "Check Failed", "detail": {"report": "w"}});
        assert!(router.route(&failed).is_empty());

        // A bad target leaves its set out; the others replace what was there.
        let bad: TargetConfig =
            serde_json::from_value(json!({"webhook": {"url": "not a url"}})).unwrap();
        let errors = dynamic.replace(
            &[
                ("v".to_owned(), vec![log_target()]),
                ("x".to_owned(), vec![bad]),
            ],
            &ctx,
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].rule(), "check-report:x");
        assert!(routed("w").is_empty(), "replaced");
        assert!(router.target("check-report:w", 0).is_none());
        assert_eq!(routed("v").len(), 1);
        assert!(routed("x").is_empty());
    }
}
