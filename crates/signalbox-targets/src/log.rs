//! The `log` target: writes a structured log line per delivery. Useful to see what rules match.

use async_trait::async_trait;
use signalbox_config::{LogLevel, LogTarget as LogConfig};

use crate::outcome::AttemptOutcome;
use crate::template::Template;
use crate::{DeliveryRequest, Target};

/// Logs each delivery through `tracing` under the target `signalbox::delivery`.
pub struct LogTarget {
    level: LogLevel,
    message: Option<Template>,
}

impl LogTarget {
    /// Checks and compiles the config.
    pub fn new(cfg: &LogConfig) -> Result<LogTarget, String> {
        let message = cfg
            .message
            .as_deref()
            .map(Template::compile)
            .transpose()
            .map_err(|e| format!("log message {e}"))?;
        Ok(LogTarget {
            level: cfg.level,
            message,
        })
    }
}

#[async_trait]
impl Target for LogTarget {
    fn kind(&self) -> &'static str {
        "log"
    }

    async fn deliver(&self, req: &DeliveryRequest<'_>) -> AttemptOutcome {
        let message = match &self.message {
            Some(t) => match t.render(req.event, req.rule) {
                Ok(m) => m,
                Err(error) => {
                    return AttemptOutcome::Permanent {
                        error,
                        status: None,
                    };
                }
            },
            None => req.event.to_string(),
        };
        let event_id = req
            .event
            .get("id")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        macro_rules! emit {
            ($lvl:ident) => {
                tracing::$lvl!(target: "signalbox::delivery", rule = req.rule, event_id, delivery_id = req.delivery_id, "{message}")
            };
        }
        match self.level {
            LogLevel::Debug => emit!(debug),
            LogLevel::Info => emit!(info),
            LogLevel::Warn => emit!(warn),
            LogLevel::Error => emit!(error),
        }
        AttemptOutcome::Delivered { status: None }
    }
}
