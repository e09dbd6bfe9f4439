//! The errors of this crate: a pattern that cannot be compiled, and an event that cannot be read.

use std::fmt;

/// A pattern that is not valid, with the rule it belongs to and where inside the pattern the
/// problem sits.
///
/// Displays as `rules.<rule>.pattern.<path>: <reason>`, or `rules.<rule>.pattern: <reason>` when
/// the problem is the pattern as a whole, so a user can find the spot in their config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PatternError {
    /// Name of the rule whose pattern is invalid; empty for [`crate::Pattern::compile`].
    pub rule: String,
    /// Dot-separated field names inside the pattern, e.g. `detail.lastStatus`; `$or`
    /// alternatives show as `$or[1]`. Empty when the whole pattern is at fault.
    pub path: String,
    /// What is wrong and, where it helps, what is accepted instead.
    pub reason: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rules.{}.pattern", self.rule)?;
        if !self.path.is_empty() {
            write!(f, ".{}", self.path)?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// An event given as JSON bytes that cannot be matched because it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// The bytes are not one well-formed JSON value.
    #[error("event is not valid JSON at byte {offset}: {reason}")]
    InvalidJson {
        /// Byte offset where reading stopped.
        offset: usize,
        /// What was wrong there.
        reason: &'static str,
    },
    /// The event nests arrays and objects deeper than the limit.
    #[error("event nests arrays and objects deeper than {limit} levels")]
    TooDeep {
        /// The deepest nesting accepted.
        limit: usize,
    },
}

impl MatchError {
    /// A stable code for the error, for an HTTP layer or metrics.
    pub fn code(&self) -> &'static str {
        match self {
            MatchError::InvalidJson { .. } => "invalid_json",
            MatchError::TooDeep { .. } => "too_deep",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_path() {
        let err = PatternError {
            rule: "ecs-stopped".into(),
            path: "detail.lastStatus".into(),
            reason: "exists takes true or false".into(),
        };
        assert_eq!(
            err.to_string(),
            "rules.ecs-stopped.pattern.detail.lastStatus: exists takes true or false"
        );
    }

    #[test]
    fn display_without_path() {
        let err = PatternError {
            rule: "r".into(),
            path: String::new(),
            reason: "a pattern must be a JSON object".into(),
        };
        assert_eq!(
            err.to_string(),
            "rules.r.pattern: a pattern must be a JSON object"
        );
    }
}
