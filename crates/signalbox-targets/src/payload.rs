//! What a target sends: the event as JSON, a minijinja template, or an AWS-style input template.
//! Compiled once when the target is built, rendered per delivery by the one [`Payload::render`]
//! that both delivery and `signalbox rules explain` use.

use signalbox_config::{InputTemplate, InputValues, TargetConfig};
use signalbox_core::time::millis_to_rfc3339;

use crate::DeliveryRequest;
use crate::template::Template;

/// A compiled body (webhook) or message (log).
pub enum Payload {
    /// The event itself, as JSON.
    Event,
    /// A minijinja template (`body:`, `message:`); boxed, its environment is large.
    Jinja(Box<Template>),
    /// `input_paths` + `input_template`.
    Input(InputTemplate),
}

impl Payload {
    /// Compiles the target's payload: its `input_template` when set, else the kind's own
    /// template (`jinja`), else the event. `what` names the kind's key in errors.
    pub fn compile(
        target: &TargetConfig,
        jinja: Option<&str>,
        what: &str,
    ) -> Result<Payload, String> {
        match (&target.input_template, jinja) {
            (Some(_), Some(_)) => Err(format!(
                "input_template and {what} both say what to send; keep one of them"
            )),
            (Some(template), None) => InputTemplate::compile(&target.input_paths, template)
                .map(Payload::Input)
                .map_err(|errors| {
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                }),
            (None, Some(source)) => Template::compile(source)
                .map(|template| Payload::Jinja(Box::new(template)))
                .map_err(|e| format!("{what} {e}")),
            (None, None) => Ok(Payload::Event),
        }
    }

    /// Renders for one delivery; an error makes the delivery dead (the same template and event
    /// would fail again).
    pub fn render(&self, req: &DeliveryRequest<'_>) -> Result<String, String> {
        match self {
            Payload::Event => Ok(req.event.to_string()),
            Payload::Jinja(template) => template.render(req.event, req.rule),
            Payload::Input(template) => Ok(template.render(&InputValues {
                event: req.event,
                rule: req.rule,
                ingestion_time: &millis_to_rfc3339(req.accepted_at),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use signalbox_config::{LogLevel, LogTarget as LogConfig, TargetConfig};

    use super::*;
    use crate::{LogTarget, Target};

    fn request(event: &serde_json::Value) -> DeliveryRequest<'_> {
        DeliveryRequest {
            delivery_id: "d-1",
            event,
            rule: "r1",
            attempt: 1,
            accepted_at: 1_700_000_000_123,
        }
    }

    fn with_template(template: &str) -> TargetConfig {
        TargetConfig {
            input_paths: [("svc".to_string(), "$.detail.service".to_string())].into(),
            input_template: Some(template.to_string()),
            ..TargetConfig::default()
        }
    }

    #[test]
    fn input_template_is_what_a_log_target_renders() {
        let config =
            with_template("<svc> via <aws.events.rule-name> at <aws.events.event.ingestion-time>");
        let payload = Payload::compile(&config, None, "log message").unwrap();
        let log = LogTarget::new(
            &LogConfig {
                level: LogLevel::Warn,
                message: None,
            },
            payload,
        );
        let event = json!({"detail": {"service": "api"}});
        let rendered = log.render(&request(&event)).unwrap();
        assert_eq!(rendered.destination, "log at warn");
        assert_eq!(rendered.body, "api via r1 at 2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn without_templates_the_event_is_sent() {
        let payload = Payload::compile(&TargetConfig::default(), None, "webhook body").unwrap();
        let event = json!({"id": "e", "detail": {}});
        assert_eq!(payload.render(&request(&event)).unwrap(), event.to_string());
    }

    #[test]
    fn both_templates_at_once_is_an_error() {
        let Err(error) = Payload::compile(
            &with_template("<svc>"),
            Some("{{ event.id }}"),
            "webhook body",
        ) else {
            panic!("expected an error");
        };
        assert_eq!(
            error,
            "input_template and webhook body both say what to send; keep one of them"
        );
    }
}
