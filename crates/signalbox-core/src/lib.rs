#![forbid(unsafe_code)]
//! The event envelope, identifiers, error codes and metric names shared by every signalbox crate.
//! Nothing here does I/O.

pub mod envelope;
pub mod error;
pub mod ids;
pub mod metric_names;
pub mod stored;
pub mod time;

pub use envelope::{EnvelopeError, Event, parse_events};
pub use error::ErrorCode;
pub use stored::{SerializedEvent, parse_events_stored};
