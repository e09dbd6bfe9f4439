//! The `log` target: writes a structured log line per delivery. Useful to see what rules match.

use async_trait::async_trait;
use signalbox_config::{LogLevel, LogTarget as LogConfig};

use crate::outcome::AttemptOutcome;
use crate::payload::Payload;
use crate::{DeliveryRequest, Rendered, Target};

/// Logs each delivery through `tracing` under the target `signalbox::delivery`.
pub struct LogTarget {
    level: LogLevel,
    message: Payload,
}

impl LogTarget {
    /// A log target writing `message` ([`Payload::compile`]) at the configured level.
    pub fn new(cfg: &LogConfig, message: Payload) -> LogTarget {
        LogTarget {
            level: cfg.level,
            message,
        }
    }
}

#[async_trait]
impl Target for LogTarget {
    fn kind(&self) -> &'static str {
        "log"
    }

    async fn deliver(&self, req: &DeliveryRequest<'_>) -> AttemptOutcome {
        let message = match self.message.render(req) {
            Ok(message) => message,
            Err(error) => {
                return AttemptOutcome::Permanent {
                    error,
                    status: None,
                };
            }
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

    fn render(&self, req: &DeliveryRequest<'_>) -> Result<Rendered, String> {
        let level = match self.level {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        Ok(Rendered {
            destination: format!("log at {level}"),
            body: self.message.render(req)?,
        })
    }
}
