#![forbid(unsafe_code)]
#![warn(missing_docs)]
//! EventBridge-style event patterns: a compiler from JSON patterns to an internal form, and a
//! [`Matcher`] that tells which rules match an event.
//!
//! The pattern language follows Amazon EventBridge ("event patterns" and "content filtering"):
//!
//! - A pattern is a JSON object. Nested objects descend into the event; every leaf is an array of
//!   match conditions that are ORed; fields are ANDed. `{}` matches every event.
//! - Literal conditions are strings, numbers, `true`, `false` and `null`. Strings compare by exact
//!   Unicode code points. Numbers compare by value (`5` matches `5.0` and `5e0`), but never match a
//!   string (`"5"` does not match `5`). `null` matches a JSON `null`, not an absent field.
//! - Operators: `prefix`, `suffix` (both optionally `{"equals-ignore-case": ..}`),
//!   `equals-ignore-case`, `wildcard`, `anything-but` (value, list, or `prefix`, `suffix`,
//!   `equals-ignore-case`, `wildcard`), `numeric`, `cidr`, `exists`; and `$or` at any level.
//! - When the event holds an array, each element is tried: a condition matches when it matches any
//!   element. Arrays of objects are flattened, so `detail.a.b` reaches `b` in every element of `a`.
//!   Each field is checked on its own, so two fields may match in different elements.
//!
//! Semantic choices where the AWS documentation is silent are listed on [`Pattern`].
//!
//! The [`Matcher`] returned by [`compile`] is deliberately simple (a linear scan); it sits behind a
//! trait so that an index-based engine can replace it without touching callers.

mod cidr;
mod condition;
mod error;
mod event;
mod matcher;
mod parse;
mod pattern;
mod wildcard;

pub use error::PatternError;
pub use matcher::{Matcher, compile};
pub use pattern::Pattern;
