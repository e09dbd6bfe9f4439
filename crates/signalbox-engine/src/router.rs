//! The router: compiled rules and their built targets. Turns an event into the deliveries it owes.

use std::collections::HashMap;
use std::sync::Arc;

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
        for (name, schedule) in &config.schedules {
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
                })
            }
            _ => Err(errors),
        }
    }

    /// The deliveries `event` (EventBridge shape) owes: one per target of each matching rule,
    /// each with a fresh stable id.
    pub fn route(&self, event: &Value) -> Vec<NewDelivery> {
        let mut out = Vec::new();
        for rule in self.matching(event) {
            for i in 0..rule.targets.len() {
                out.push(NewDelivery {
                    id: signalbox_core::ids::new_id(),
                    rule: rule.name.to_owned(),
                    target: i as u32,
                });
            }
        }
        out
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
    /// this instance's config does not define it), each with a fresh stable id.
    pub fn schedule_deliveries(&self, name: &str) -> Vec<NewDelivery> {
        let rule_name = schedule_rule_name(name);
        let Some(&i) = self.by_name.get(&rule_name) else {
            return Vec::new();
        };
        (0..self.rules[i].targets.len())
            .map(|t| NewDelivery {
                id: signalbox_core::ids::new_id(),
                rule: rule_name.clone(),
                target: t as u32,
            })
            .collect()
    }

    /// The target a delivery was created for, if the rule and target still exist.
    pub fn target(&self, rule: &str, index: u32) -> Option<&TargetEntry> {
        let r = &self.rules[*self.by_name.get(rule)?];
        r.targets.get(index as usize)
    }

    /// Number of rules loaded (enabled or not).
    pub fn rule_count(&self) -> usize {
        let prefix = signalbox_config::schedule::SCHEDULE_RULE_PREFIX;
        self.rules
            .iter()
            .filter(|r| !r.name.starts_with(prefix))
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

fn policy_of(t: &TargetConfig) -> RetryPolicy {
    RetryPolicy {
        max_attempts: t.max_attempts.max(1),
        max_age: t.max_age,
        initial_backoff: t.initial_backoff,
        max_backoff: t.max_backoff,
    }
}
