#![forbid(unsafe_code)]
#![warn(missing_docs)]
//! EventBridge-style event patterns: a compiler from JSON patterns to an internal form, and a
//! [`Matcher`] that tells which rules match an event.
//!
//! The pattern language follows Amazon EventBridge ("event patterns" and "comparison
//! operators"); `docs/rules.md` is the user-facing reference.
//!
//! - A pattern is a JSON object. Nested objects descend into the event; every leaf is an array of
//!   match conditions that are ORed; fields are ANDed. `{}` matches every event.
//! - Literal conditions are strings, numbers, `true`, `false` and `null`. Strings compare by exact
//!   Unicode code points. Numbers compare by their written form, as the EventBridge guide says
//!   (`300` does not match `300.0`; `numeric` compares values). Because patterns arrive parsed,
//!   the written form is `serde_json`'s: integers as written, other numbers as the shortest text
//!   of their double, so `300.0` and `3.0e2` are equal here (AWS says they differ). A number
//!   never matches a string (`"5"` does not match `5`). `null` matches a JSON `null`, not an
//!   absent field.
//! - Operators: `prefix`, `suffix` (both optionally `{"equals-ignore-case": ..}`),
//!   `equals-ignore-case`, `wildcard`, `anything-but` (value, list, or `prefix`, `suffix`,
//!   `equals-ignore-case`, `wildcard`), `numeric`, `cidr`, `exists`; and `$or` at any level.
//! - When the event holds an array, each element is tried: a condition matches when it matches any
//!   element. Arrays of objects are flattened, so `detail.a.b` reaches `b` in every element of `a`.
//!   The fields of one alternative must match *consistently*, as AWS's event-ruler
//!   (`rulesForJSONEvent`) requires: no two of the matching values may lie within objects in
//!   different elements of the same array (details on [`Pattern`]).
//! - Only leaves (scalars, `null` included) exist: a field holding an object or an empty array
//!   counts as absent, so `exists: false` matches it and `anything-but` does not.
//!
//! Semantic choices where the AWS documentation is silent are listed on [`Pattern`].
//!
//! [`compile`] builds the index-based engine (its design is in the `engine` module: cost per
//! event independent of the number of rules, identical predicates shared, events read from raw
//! bytes without building a `serde_json::Value`). [`compile_linear`] builds the obviously
//! correct linear scan over [`Pattern::matches`] that the engine is tested against.
//!
//! Limits, refused at compile time with the reason: a pattern nests at most 32 levels, `$or`
//! expands to at most 1,024 alternatives and 100,000 copied conditions. Events nest at most 128
//! levels ([`MatchError::TooDeep`]).

mod cidr;
mod condition;
mod engine;
mod error;
mod event;
mod flatten;
mod matcher;
mod parse;
mod pattern;
mod wildcard;

pub use error::{MatchError, PatternError};
pub use matcher::{Matcher, compile, compile_linear};
pub use pattern::Pattern;
