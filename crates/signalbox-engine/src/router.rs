//! The router: compiled rules and their built targets. Turns an event into the deliveries it owes.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use signalbox_config::{Config, TargetConfig};
use signalbox_rules::{Matcher, PatternError};
use signalbox_store::NewDelivery;
use signalbox_targets::{BuildContext, BuildError, Target};

use crate::backoff::RetryPolicy;

/// A rule or target that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The rule's pattern is invalid.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// One of the rule's targets is invalid.
    #[error(transparent)]
    Target(#[from] BuildError),
}

impl RouterError {
    /// The rule at fault, to point at its place in the config.
    pub fn rule(&self) -> &str {
        match self {
            RouterError::Pattern(p) => &p.rule,
            RouterError::Target(t) => &t.rule,
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
            if rule.enabled {
                patterns.push((name.clone(), rule.pattern.clone()));
                matched.push(rules.len());
            }
            rules.push(RuleEntry {
                name: name.clone(),
                targets,
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
        let mut hits = Vec::new();
        self.matcher.matching_rules(event, &mut hits);
        let mut out = Vec::new();
        for h in hits {
            let rule = &self.rules[self.matched[h]];
            for i in 0..rule.targets.len() {
                out.push(NewDelivery {
                    id: signalbox_core::ids::new_id(),
                    rule: rule.name.clone(),
                    target: i as u32,
                });
            }
        }
        out
    }

    /// The target a delivery was created for, if the rule and target still exist.
    pub fn target(&self, rule: &str, index: u32) -> Option<&TargetEntry> {
        let r = &self.rules[*self.by_name.get(rule)?];
        r.targets.get(index as usize)
    }

    /// Number of rules loaded (enabled or not).
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }
}

fn policy_of(t: &TargetConfig) -> RetryPolicy {
    RetryPolicy {
        max_attempts: t.max_attempts.max(1),
        max_age: t.max_age,
        initial_backoff: t.initial_backoff,
        max_backoff: t.max_backoff,
    }
}
