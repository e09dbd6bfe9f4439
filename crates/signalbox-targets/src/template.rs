//! Body and message templates (minijinja), compiled once at load.
//!
//! In scope: `event` (the EventBridge-shaped event), `rule` (`{name}`), `now` (RFC 3339).

use minijinja::{Environment, UndefinedBehavior, context};
use serde_json::Value;

/// A compiled template.
pub struct Template {
    env: Environment<'static>,
}

impl Template {
    /// Compiles `source`; the error says where the syntax is wrong.
    pub fn compile(source: &str) -> Result<Template, String> {
        let mut env = Environment::new();
        // A missing field renders empty, as AWS input templates do, even several levels deep.
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.add_template_owned("t", source.to_string())
            .map_err(|e| format!("template: {e}"))?;
        Ok(Template { env })
    }

    /// Renders with `event` and `rule` in scope.
    pub fn render(&self, event: &Value, rule: &str) -> Result<String, String> {
        let tmpl = self.env.get_template("t").map_err(|e| e.to_string())?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        tmpl.render(context! {
            event => minijinja::Value::from(minijinja::value::Serde(event)),
            rule => context! { name => rule },
            now => now,
        })
        .map_err(|e| format!("template: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_event_and_rule() {
        let t = Template::compile(r#"{"r":"{{ rule.name }}","d":{{ event.detail | tojson }}}"#)
            .unwrap();
        let out = t
            .render(&serde_json::json!({"detail":{"a":1}}), "r1")
            .unwrap();
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, serde_json::json!({"r": "r1", "d": {"a": 1}}));
    }

    #[test]
    fn syntax_error_is_reported() {
        assert!(Template::compile("{{ event.").is_err());
    }
}
