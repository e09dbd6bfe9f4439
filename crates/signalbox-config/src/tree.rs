//! A YAML document as a tree whose every node and key knows its file, line and column, and a
//! serde `Deserializer` over that tree whose errors carry the position of the offending node.
//!
//! The tree exists so that `${...}` substitution can rewrite scalar values after parsing (no
//! YAML injection) while keeping positions, and so that files can be merged before the typed
//! structs are built.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Unexpected,
    Visitor,
};
use serde_saphyr::{MessageFormatter, Spanned};

use crate::diagnostic::{Diagnostic, Location};

/// A position inside a loaded file; cheap to clone because the path is shared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Loc {
    pub(crate) file: Arc<Path>,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Loc {
    pub(crate) fn to_location(&self) -> Location {
        Location {
            file: self.file.to_path_buf(),
            line: self.line,
            column: self.column,
        }
    }

    fn from_saphyr(file: &Arc<Path>, location: &serde_saphyr::Location) -> Self {
        Self {
            file: Arc::clone(file),
            // Positions that saphyr does not know are reported as the start of the file.
            line: usize::try_from(location.line()).unwrap_or(1).max(1),
            column: usize::try_from(location.column()).unwrap_or(1).max(1),
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A YAML node with its position.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) loc: Loc,
}

/// A YAML value. Non-string scalars keep their source text so that a string field given
/// `on` or `1.10` gets exactly what was written.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Null,
    Bool(bool, Box<str>),
    Int(i64, Box<str>),
    UInt(u64, Box<str>),
    Float(f64, Box<str>),
    /// `substituted` is set when `${...}` was replaced, and lets such a string stand for a
    /// number or boolean (`max_attempts: ${env:ATTEMPTS}`).
    Str {
        text: String,
        substituted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) key_loc: Loc,
    pub(crate) value: Node,
}

impl Node {
    /// The entry for `key` when this node is a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|entry| entry.key == key),
            _ => None,
        }
    }

    /// The position of the value at `path` (mapping keys, or decimal indexes into sequences),
    /// or of the deepest node on the way that exists.
    pub(crate) fn loc_of(&self, path: &[&str]) -> &Loc {
        let mut node = self;
        for step in path {
            let next = match &node.value {
                Value::Map(_) => node.get(step).map(|entry| &entry.value),
                Value::Seq(items) => step.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(next) => node = next,
                None => break,
            }
        }
        &node.loc
    }
}

/// How YAML is read: YAML 1.2 booleans only, so `on`, `no` and `y` stay strings (a pattern
/// matching `status: [on]` must not silently match `true`), and no snippet rendering because
/// diagnostics carry positions instead.
fn parse_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
    }
}

/// Parses one YAML document. An empty document is `Null`.
pub(crate) fn parse(text: &str, file: &Arc<Path>) -> Result<Node, Diagnostic> {
    match serde_saphyr::from_str_with_options::<Spanned<Raw>>(text, parse_options()) {
        Ok(root) => Ok(convert(root, text, file)),
        Err(error) => {
            let formatted =
                serde_saphyr::DefaultMessageFormatter.format_message(error.without_snippet());
            // The library's advice to change its options is not actionable for a user.
            let message = formatted
                .split(", set DuplicateKeyPolicy")
                .next()
                .unwrap_or_default()
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect::<String>();
            let loc = error
                .location()
                .map(|location| Loc::from_saphyr(file, &location))
                .unwrap_or_else(|| Loc {
                    file: Arc::clone(file),
                    line: 1,
                    column: 1,
                });
            Err(Diagnostic::at(
                loc.to_location(),
                format!("invalid YAML: {message}"),
            ))
        }
    }
}

/// The shape saphyr hands us; converted to [`Node`] once the source text can be attached.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    // Keys are read as strings so a key like `1` or `null` keeps its spelling.
    Map(Vec<(Spanned<String>, Spanned<Raw>)>),
}

impl<'de> de::Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawVisitor;

        impl<'de> Visitor<'de> for RawVisitor {
            type Value = Raw;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Raw, D::Error> {
                de::Deserialize::deserialize(inner)
            }
            fn visit_bool<E>(self, value: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(value))
            }
            fn visit_i64<E>(self, value: i64) -> Result<Raw, E> {
                Ok(Raw::Int(value))
            }
            fn visit_u64<E>(self, value: u64) -> Result<Raw, E> {
                Ok(Raw::UInt(value))
            }
            fn visit_f64<E>(self, value: f64) -> Result<Raw, E> {
                Ok(Raw::Float(value))
            }
            fn visit_str<E>(self, value: &str) -> Result<Raw, E> {
                Ok(Raw::Str(value.to_owned()))
            }
            fn visit_string<E>(self, value: String) -> Result<Raw, E> {
                Ok(Raw::Str(value))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Raw::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Raw::Map(entries))
            }
        }

        deserializer.deserialize_any(RawVisitor)
    }
}

fn convert(raw: Spanned<Raw>, text: &str, file: &Arc<Path>) -> Node {
    let loc = Loc::from_saphyr(file, &raw.referenced);
    // Source text of a non-string scalar, read where it is defined so an alias gives the
    // anchored text rather than `*name`.
    let source = || -> Box<str> {
        let span = raw.defined.span();
        span.byte_offset()
            .zip(span.byte_len())
            .and_then(|(start, len)| {
                let start = usize::try_from(start).ok()?;
                let end = start.checked_add(usize::try_from(len).ok()?)?;
                text.get(start..end)
            })
            .unwrap_or_default()
            .into()
    };
    let value = match raw.value {
        Raw::Null => Value::Null,
        Raw::Bool(value) => Value::Bool(value, source()),
        Raw::Int(value) => Value::Int(value, source()),
        Raw::UInt(value) => Value::UInt(value, source()),
        Raw::Float(value) => Value::Float(value, source()),
        Raw::Str(text) => Value::Str {
            text,
            substituted: false,
        },
        Raw::Seq(items) => Value::Seq(
            items
                .into_iter()
                .map(|item| convert(item, text, file))
                .collect(),
        ),
        Raw::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(key, value)| Entry {
                    key_loc: Loc::from_saphyr(file, &key.referenced),
                    key: key.value,
                    value: convert(value, text, file),
                })
                .collect(),
        ),
    };
    Node { value, loc }
}

/// A deserialization error, positioned at the innermost node that knows where it is.
#[derive(Debug, Clone)]
pub(crate) struct DeError {
    pub(crate) loc: Option<Loc>,
    pub(crate) message: String,
    /// Set by serde's `missing_field`, so partial (one key at a time) passes can ignore it.
    pub(crate) missing_field: bool,
}

impl DeError {
    fn at(mut self, loc: &Loc) -> Self {
        if self.loc.is_none() {
            self.loc = Some(loc.clone());
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self {
            loc: None,
            message: message.to_string(),
            missing_field: false,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Self {
            loc: None,
            message: format!("missing field `{field}`"),
            missing_field: true,
        }
    }
}

/// Deserializes `T` from a node.
pub(crate) fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, DeError> {
    T::deserialize(NodeDeserializer(node)).map_err(|error| error.at(&node.loc))
}

/// Errors in a mapping's entries, found by deserializing `T` from each entry alone so that
/// one bad key does not hide the next. Missing fields of `T` itself are ignored here (the
/// caller deserializes the whole mapping afterwards).
pub(crate) fn entry_errors<T: DeserializeOwned>(node: &Node) -> Vec<DeError> {
    let Value::Map(entries) = &node.value else {
        return from_node::<T>(node).err().into_iter().collect();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let alone = Node {
                value: Value::Map(vec![entry.clone()]),
                loc: node.loc.clone(),
            };
            from_node::<T>(&alone).err()
        })
        .filter(|error| !(error.missing_field && error.loc.as_ref() == Some(&node.loc)))
        .collect()
}

struct NodeDeserializer<'a>(&'a Node);

/// What a substituted string spells when a number or boolean field asks for it.
enum Spelled {
    Bool(bool),
    UInt(u64),
    Int(i64),
    Float(f64),
}

impl<'de> NodeDeserializer<'de> {
    fn null_error<V: Visitor<'de>>(&self, visitor: &V) -> DeError {
        <DeError as de::Error>::invalid_type(Unexpected::Other("null"), visitor).at(&self.0.loc)
    }

    fn spelled(&self) -> Option<Spelled> {
        let Value::Str {
            text,
            substituted: true,
        } = &self.0.value
        else {
            return None;
        };
        match text.as_str() {
            "true" => Some(Spelled::Bool(true)),
            "false" => Some(Spelled::Bool(false)),
            other => other
                .parse()
                .map(Spelled::UInt)
                .or_else(|_| other.parse().map(Spelled::Int))
                .or_else(|_| other.parse().map(Spelled::Float))
                .ok(),
        }
    }

    /// Numbers and booleans: a substituted string may stand for one.
    fn scalar<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if matches!(self.0.value, Value::Null) {
            return Err(self.null_error(&visitor));
        }
        let result = match self.spelled() {
            Some(Spelled::Bool(value)) => visitor.visit_bool(value),
            Some(Spelled::UInt(value)) => visitor.visit_u64(value),
            Some(Spelled::Int(value)) => visitor.visit_i64(value),
            Some(Spelled::Float(value)) => visitor.visit_f64(value),
            None => return self.deserialize_any(visitor),
        };
        result.map_err(|error: DeError| error.at(&self.0.loc))
    }

    fn not_null<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if matches!(self.0.value, Value::Null) {
            return Err(self.null_error(&visitor));
        }
        self.deserialize_any(visitor)
    }
}

macro_rules! scalar_methods {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
                self.scalar(visitor)
            }
        )*
    };
}

impl<'de> Deserializer<'de> for NodeDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let node = self.0;
        let result = match &node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(value, _) => visitor.visit_bool(*value),
            Value::Int(value, _) => visitor.visit_i64(*value),
            Value::UInt(value, _) => visitor.visit_u64(*value),
            Value::Float(value, _) => visitor.visit_f64(*value),
            Value::Str { text, .. } => visitor.visit_borrowed_str(text),
            Value::Seq(items) => visitor.visit_seq(SeqDeserializer {
                items: items.iter(),
            }),
            Value::Map(entries) => visitor.visit_map(MapDeserializer {
                entries: entries.iter(),
                value: None,
            }),
        };
        result.map_err(|error| error.at(&node.loc))
    }

    scalar_methods! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let node = self.0;
        let result = match &node.value {
            Value::Null => return Err(self.null_error(&visitor)),
            Value::Bool(_, source)
            | Value::Int(_, source)
            | Value::UInt(_, source)
            | Value::Float(_, source) => visitor.visit_borrowed_str(source),
            _ => return self.deserialize_any(visitor),
        };
        result.map_err(|error: DeError| error.at(&node.loc))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.not_null(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.not_null(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let loc = &self.0.loc;
        let result = match self.0.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        };
        result.map_err(|error| error.at(loc))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let loc = &self.0.loc;
        visitor
            .visit_newtype_struct(self)
            .map_err(|error| error.at(loc))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.not_null(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.not_null(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.not_null(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.not_null(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.not_null(visitor)
    }

    /// Only unit variants written as a plain string (`level: warn`); that is all the config uses.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let node = self.0;
        let result = match &node.value {
            Value::Str { text, .. } => {
                visitor.visit_enum(de::value::BorrowedStrDeserializer::<DeError>::new(text))
            }
            Value::Null => return Err(self.null_error(&visitor)),
            _ => return self.deserialize_any(visitor),
        };
        result.map_err(|error| error.at(&node.loc))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct SeqDeserializer<'a> {
    items: std::slice::Iter<'a, Node>,
}

impl<'de> SeqAccess<'de> for SeqDeserializer<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(item) => seed
                .deserialize(NodeDeserializer(item))
                .map(Some)
                .map_err(|error| error.at(&item.loc)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDeserializer<'a> {
    entries: std::slice::Iter<'a, Entry>,
    value: Option<&'a Node>,
}

impl<'de> MapAccess<'de> for MapDeserializer<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(&entry.value);
        // Errors raised while reading the key (unknown field) point at the key itself.
        seed.deserialize(de::value::BorrowedStrDeserializer::<DeError>::new(
            &entry.key,
        ))
        .map(Some)
        .map_err(|error| error.at(&entry.key_loc))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        match self.value.take() {
            Some(node) => seed
                .deserialize(NodeDeserializer(node))
                .map_err(|error| error.at(&node.loc)),
            None => Err(de::Error::custom("value requested before key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn parse_str(text: &str) -> Node {
        parse(text, &Arc::from(Path::new("t.yaml"))).expect("valid yaml")
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        name: String,
        #[serde(default)]
        count: u32,
        #[serde(default)]
        flag: Option<bool>,
    }

    #[test]
    fn positions_are_one_based_and_per_node() {
        let root = parse_str("a:\n  b: [x, 2]\n");
        let entry = root.get("a").expect("a");
        assert_eq!((entry.key_loc.line, entry.key_loc.column), (1, 1));
        let b = root.loc_of(&["a", "b", "1"]);
        assert_eq!((b.line, b.column), (2, 10));
    }

    #[test]
    fn unknown_field_points_at_the_key_and_lists_expected_ones() {
        let root = parse_str("name: x\nnmae: y\n");
        let error = from_node::<Probe>(&root).unwrap_err();
        let loc = error.loc.clone().expect("located");
        assert_eq!((loc.line, loc.column), (2, 1));
        assert!(error.message.contains("unknown field `nmae`"), "{error}");
        assert!(error.message.contains("`name`, `count`, `flag`"), "{error}");
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let root = parse_str("name: x\ncount: [1]\n");
        let error = from_node::<Probe>(&root).unwrap_err();
        let loc = error.loc.clone().expect("located");
        assert_eq!((loc.line, loc.column), (2, 8));
        assert!(error.message.contains("invalid type: sequence"), "{error}");
    }

    #[test]
    fn non_string_scalars_keep_their_spelling_for_string_fields() {
        let root = parse_str("name: 1.10\n");
        assert_eq!(from_node::<Probe>(&root).expect("ok").name, "1.10");
        let root = parse_str("name: on\nflag: true\n");
        let probe = from_node::<Probe>(&root).expect("ok");
        assert_eq!((probe.name.as_str(), probe.flag), ("on", Some(true)));
    }

    #[test]
    fn null_is_named_null() {
        let root = parse_str("name:\n");
        let error = from_node::<Probe>(&root).unwrap_err();
        assert!(error.message.contains("invalid type: null"), "{error}");
    }

    #[test]
    fn entry_errors_reports_every_bad_key_but_not_missing_fields() {
        let root = parse_str("count: x\nbogus: 1\nflag: 3\n");
        let errors = entry_errors::<Probe>(&root);
        let lines: Vec<usize> = errors
            .iter()
            .map(|error| error.loc.as_ref().map_or(0, |loc| loc.line))
            .collect();
        assert_eq!(lines, vec![1, 2, 3], "{errors:?}");
    }

    #[test]
    fn yaml_syntax_errors_are_located() {
        let error = parse("a: [1\n", &Arc::from(Path::new("bad.yaml"))).unwrap_err();
        let location = error.location.clone().expect("located");
        assert_eq!(location.file, Path::new("bad.yaml"));
        assert_eq!(location.line, 1);
        assert!(error.message.starts_with("invalid YAML"), "{error}");
    }
}
