#![forbid(unsafe_code)]
//! Loading and validating signalbox configuration: a YAML file, or a directory of
//! `*.yaml`/`*.yml` files merged together.
//!
//! Every problem is reported as a [`Diagnostic`] with file, line and column, and loading goes
//! on after a problem so that one run reports them all.
//!
//! # How it works, and why
//!
//! 1. Each file is parsed by `serde-saphyr` into a *located tree* (`tree::Node`): every node
//!    and every mapping key carries its file, line and column. YAML syntax errors come back
//!    with saphyr's position.
//! 2. `${env:NAME}` and `${file:PATH}` are substituted inside the string values of that tree.
//!    Substituting on parsed scalars, not raw text, means a value containing `: ` or a newline
//!    stays one string and cannot inject keys, and the scalar's position is still known for
//!    a missing variable or file. `$${` writes a literal `${`. A substituted string may stand
//!    for a number or boolean (`max_attempts: ${env:ATTEMPTS}`).
//! 3. Files are merged at the tree level: rules by name, `server`/`store` key by key, and a
//!    name or key given twice is reported with both positions.
//! 4. The typed structs are built with their serde derives through a `Deserializer` over the
//!    tree whose errors are positioned at the innermost node (an unknown key points at the
//!    key). Each key of a section, and each target of a rule, is first deserialized on its own
//!    so that one mistake does not hide the next.
//! 5. Checks serde cannot express (URLs, methods, one kind per target, template syntax) run
//!    on the typed values and look positions up in the tree.
//!
//! YAML is read with YAML 1.2 booleans: `yes`, `no`, `on`, `off` are strings.

pub mod channels;
pub mod checks;
mod diagnostic;
pub mod input_template;
mod load;
mod model;
pub mod monitor;
pub mod report;
pub mod schedule;
pub mod sinks;
mod substitute;
mod tree;
mod units;
mod validate;
pub mod watcher;

use std::path::Path;

pub use channels::{
    ChannelConfig, ChannelType, DigestConfig, RateLimit, Secret, SmtpConfig, SmtpTls,
};
pub use checks::{
    ASSERTION_VARIABLES, CheckCadence, CheckConfig, CheckProblem, CheckScheduleConfig,
    ClientCertConfig, DNS_RECORD_TYPES, DnsProbeConfig, DnsProtocol, HeartbeatConfig,
    HttpProbeConfig, MaintenanceConfig, MaintenanceWindow, ProbeKind, ProbeType, TcpProbeConfig,
    TlsProbeConfig, foreign_variables_message,
};
pub use diagnostic::{Diagnostic, Location};
pub use input_template::{InputTemplate, InputTemplateError, InputValues};
pub use load::{Loaded, load_str_with, load_with};
pub use model::{
    Config, LogLevel, LogTarget, RuleConfig, ServerConfig, SqliteSynchronous, StoreConfig,
    TargetConfig, TargetKind, WebhookTarget,
};
pub use monitor::MonitorConfig;
pub use report::{CHECK_REPORT_RULE_PREFIX, GLOBAL_REPORT_SET, ReportSet, report_sets};
pub use schedule::{CompiledSchedule, QuietPeriodConfig, ScheduleConfig, ScheduleProblem};
pub use sinks::{CloudWatchTarget, DatadogTarget, PutEventConfig};
pub use substitute::{Env, ProcessEnv};
pub use units::{ByteSize, ByteSizeError};

/// Loads a config file or directory, substituting `${env:NAME}` from the process environment.
pub fn load(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    load_with(path, &ProcessEnv)
}

/// Loads YAML text as if read from `file` (for tests and `signalbox validate -`), substituting
/// `${env:NAME}` from the process environment. `${file:PATH}` is relative to `file`'s directory.
pub fn load_str(text: &str, file: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    load_str_with(text, file, &ProcessEnv)
}

/// Reads one JSON or YAML document (YAML 1.2 booleans, as config files) into a JSON value, for
/// tools that take patterns or events from files; `file` names it in the diagnostic. No
/// `${...}` substitution happens.
pub fn parse_document(text: &str, file: &Path) -> Result<serde_json::Value, Diagnostic> {
    let file: std::sync::Arc<Path> = std::sync::Arc::from(file);
    let node = tree::parse(text, &file)?;
    tree::from_node::<serde_json::Value>(&node).map_err(|error| {
        let loc = error.loc.unwrap_or_else(|| node.loc.clone());
        Diagnostic::at(loc.to_location(), error.message)
    })
}
