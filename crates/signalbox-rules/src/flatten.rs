//! Turning an event into the leaf values that some pattern looks at, without building a
//! `serde_json::Value`.
//!
//! A [`PathTrie`] holds every field path that a compiled pattern mentions. Walking an event (raw
//! bytes or a parsed [`Value`]) along the trie yields `(field, leaf)` pairs for exactly those
//! paths; every other subtree is skipped. For raw bytes the skipped subtrees are still checked
//! for JSON syntax, so a malformed event is refused whatever the rules look at.

use std::borrow::Cow;

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::error::MatchError;

/// Events nested deeper than this are refused; the same limit `serde_json` applies.
pub(crate) const MAX_EVENT_DEPTH: usize = 128;

/// One leaf value of an event, borrowed from the event where possible.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Leaf<'a> {
    /// Unescaped string contents.
    Str(Cow<'a, str>),
    /// A number's JSON text: the raw token for byte input, `serde_json`'s rendering for a
    /// parsed value. [`crate::condition::canonical_number_token`] maps both to one form.
    Num(Cow<'a, str>),
    Bool(bool),
    Null,
}

/// Identifies a field path known to the trie.
pub(crate) type FieldId = u32;

/// Where a leaf sits among the event's arrays of objects: `(array, element index)` pairs,
/// outermost first, arrays numbered in reading order, for every enclosing array whose element
/// holds the leaf inside an object (a scalar that is itself an array element records nothing for
/// that array). [`crate::event::consistent`] compares two of them.
pub(crate) type Slots<'s> = &'s [(u32, u32)];

/// The enclosing array elements while walking an event.
#[derive(Debug, Default)]
struct ArrayStack {
    /// Enclosing array elements, outermost first.
    stack: Vec<(u32, u32)>,
    /// How many entries of `stack` enclose the innermost object (only those count for a leaf).
    mark: usize,
    /// Arrays numbered so far.
    next: u32,
}

impl ArrayStack {
    fn slots(&self) -> Slots<'_> {
        &self.stack[..self.mark]
    }
}

#[derive(Debug, Default)]
struct Node {
    children: FxHashMap<Box<str>, u32>,
    field: Option<FieldId>,
}

/// The field paths that compiled patterns mention, as a tree of object keys.
#[derive(Debug)]
pub(crate) struct PathTrie {
    nodes: Vec<Node>,
    fields: u32,
}

impl Default for PathTrie {
    fn default() -> Self {
        PathTrie {
            nodes: vec![Node::default()],
            fields: 0,
        }
    }
}

impl PathTrie {
    /// Registers `path` and returns its field id (the same id for the same path).
    pub(crate) fn insert(&mut self, path: &[String]) -> FieldId {
        let mut at = 0usize;
        for key in path {
            at = match self.nodes[at].children.get(key.as_str()) {
                Some(&child) => child as usize,
                None => {
                    let child = self.nodes.len();
                    self.nodes.push(Node::default());
                    self.nodes[at]
                        .children
                        .insert(key.as_str().into(), child as u32);
                    child
                }
            };
        }
        match self.nodes[at].field {
            Some(id) => id,
            None => {
                let id = self.fields;
                self.fields += 1;
                self.nodes[at].field = Some(id);
                id
            }
        }
    }

    /// How many distinct field paths are registered.
    #[cfg(test)]
    pub(crate) fn field_count(&self) -> usize {
        self.fields as usize
    }

    fn child(&self, node: u32, key: &str) -> Option<u32> {
        self.nodes[node as usize].children.get(key).copied()
    }

    /// Leaves of a parsed event, for every registered path.
    pub(crate) fn flatten_value<'a>(
        &self,
        event: &'a Value,
        out: &mut impl FnMut(FieldId, Leaf<'a>, Slots<'_>),
    ) {
        self.walk_value(0, event, &mut ArrayStack::default(), out);
    }

    fn walk_value<'a>(
        &self,
        node: u32,
        value: &'a Value,
        arrays: &mut ArrayStack,
        out: &mut impl FnMut(FieldId, Leaf<'a>, Slots<'_>),
    ) {
        let field = self.nodes[node as usize].field;
        let leaf = match value {
            Value::Array(items) => {
                let id = arrays.next;
                arrays.next += 1;
                for (index, item) in items.iter().enumerate() {
                    arrays.stack.push((id, index as u32));
                    self.walk_value(node, item, arrays, out);
                    arrays.stack.pop();
                }
                return;
            }
            Value::Object(map) => {
                let saved = arrays.mark;
                arrays.mark = arrays.stack.len();
                let children = &self.nodes[node as usize].children;
                // Visit whichever side is smaller: the event's keys or the trie's.
                if children.len() < map.len() {
                    for (key, &child) in children {
                        if let Some(v) = map.get(key.as_ref()) {
                            self.walk_value(child, v, arrays, out);
                        }
                    }
                } else {
                    for (key, v) in map {
                        if let Some(child) = self.child(node, key) {
                            self.walk_value(child, v, arrays, out);
                        }
                    }
                }
                arrays.mark = saved;
                return;
            }
            Value::String(s) => Leaf::Str(Cow::Borrowed(s)),
            Value::Number(n) => Leaf::Num(Cow::Owned(n.to_string())),
            Value::Bool(b) => Leaf::Bool(*b),
            Value::Null => Leaf::Null,
        };
        if let Some(field) = field {
            out(field, leaf, arrays.slots());
        }
    }

    /// Leaves of an event given as JSON bytes, for every registered path. Refuses input that
    /// is not one complete JSON value (UTF-8, no trailing data, nesting within
    /// [`MAX_EVENT_DEPTH`]).
    pub(crate) fn flatten_json<'a>(
        &self,
        event: &'a [u8],
        out: &mut impl FnMut(FieldId, Leaf<'a>, Slots<'_>),
    ) -> Result<(), MatchError> {
        let text = std::str::from_utf8(event).map_err(|e| MatchError::InvalidJson {
            offset: e.valid_up_to(),
            reason: "not UTF-8",
        })?;
        let mut parser = Parser {
            trie: self,
            text,
            bytes: event,
            pos: 0,
            depth: 0,
            arrays: ArrayStack::default(),
        };
        parser.skip_ws();
        parser.value(Some(0), out)?;
        parser.skip_ws();
        if parser.pos != event.len() {
            return Err(parser.fail("trailing characters after the event"));
        }
        Ok(())
    }
}

/// A small validating JSON reader that emits leaves only under trie nodes.
struct Parser<'t, 'a> {
    trie: &'t PathTrie,
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    arrays: ArrayStack,
}

impl<'a> Parser<'_, 'a> {
    fn fail(&self, reason: &'static str) -> MatchError {
        MatchError::InvalidJson {
            offset: self.pos,
            reason,
        }
    }

    /// After an array element: true when another follows (`,` consumed), false at the closing
    /// `]` (consumed, nesting depth restored).
    #[inline]
    fn next_element(&mut self) -> Result<bool, MatchError> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.skip_ws();
                Ok(true)
            }
            Some(b']') => {
                self.pos += 1;
                self.depth -= 1;
                Ok(false)
            }
            _ => Err(self.fail("expected ',' or ']' in an array")),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), MatchError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.fail(reason))
        }
    }

    /// Reads one value; `node` is the trie node it sits at, `None` when no pattern looks here.
    fn value(
        &mut self,
        node: Option<u32>,
        out: &mut impl FnMut(FieldId, Leaf<'a>, Slots<'_>),
    ) -> Result<(), MatchError> {
        let leaf = match self.peek() {
            Some(b'{') => return self.object(node, out),
            Some(b'[') => return self.array(node, out),
            Some(b'"') => {
                if node.is_some() {
                    Leaf::Str(self.string()?)
                } else {
                    return self.skip_string();
                }
            }
            Some(b't') => {
                self.literal(b"true")?;
                Leaf::Bool(true)
            }
            Some(b'f') => {
                self.literal(b"false")?;
                Leaf::Bool(false)
            }
            Some(b'n') => {
                self.literal(b"null")?;
                Leaf::Null
            }
            Some(b'-' | b'0'..=b'9') => Leaf::Num(Cow::Borrowed(self.number()?)),
            Some(_) => return Err(self.fail("expected a JSON value")),
            None => return Err(self.fail("unexpected end of input")),
        };
        if let Some(field) = node.and_then(|n| self.trie.nodes[n as usize].field) {
            if let Leaf::Num(token) = &leaf
                && !token.parse::<f64>().is_ok_and(f64::is_finite)
            {
                return Err(self.fail("number out of range"));
            }
            out(field, leaf, self.arrays.slots());
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), MatchError> {
        self.depth += 1;
        if self.depth > MAX_EVENT_DEPTH {
            return Err(MatchError::TooDeep {
                limit: MAX_EVENT_DEPTH,
            });
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    fn object(
        &mut self,
        node: Option<u32>,
        out: &mut impl FnMut(FieldId, Leaf<'a>, Slots<'_>),
    ) -> Result<(), MatchError> {
        self.enter()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        let saved = self.arrays.mark;
        if node.is_some() {
            self.arrays.mark = self.arrays.stack.len();
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.fail("expected an object key"));
            }
            let child = match node {
                Some(n) if !self.trie.nodes[n as usize].children.is_empty() => {
                    let key = self.string()?;
                    self.trie.child(n, &key)
                }
                _ => {
                    self.skip_string()?;
                    None
                }
            };
            self.skip_ws();
            self.expect(b':', "expected ':' after an object key")?;
            self.skip_ws();
            self.value(child, out)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    self.arrays.mark = saved;
                    return Ok(());
                }
                _ => return Err(self.fail("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(
        &mut self,
        node: Option<u32>,
        out: &mut impl FnMut(FieldId, Leaf<'a>, Slots<'_>),
    ) -> Result<(), MatchError> {
        self.enter()?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        if node.is_none() {
            // Nothing under here is emitted: only check the syntax.
            loop {
                self.value(None, out)?;
                if !self.next_element()? {
                    return Ok(());
                }
            }
        }
        let id = self.arrays.next;
        self.arrays.next += 1;
        let mut index = 0u32;
        loop {
            // Arrays are flattened: every element sits at the array's own path.
            self.arrays.stack.push((id, index));
            self.value(node, out)?;
            self.arrays.stack.pop();
            index += 1;
            if !self.next_element()? {
                return Ok(());
            }
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), MatchError> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.fail("expected true, false or null"))
        }
    }

    /// Validates a number token with the JSON grammar and returns its text.
    fn number(&mut self) -> Result<&'a str, MatchError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.fail("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.fail("invalid number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.fail("invalid number"));
            }
            self.digits();
        }
        // Only ASCII was consumed, so both ends are char boundaries.
        Ok(&self.text[start..self.pos])
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// Skips a string, checking escapes and control characters.
    fn skip_string(&mut self) -> Result<(), MatchError> {
        self.pos += 1;
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.escape(&mut None)?;
                }
                Some(0x00..=0x1f) => return Err(self.fail("control character in a string")),
                Some(_) => self.pos += 1,
                None => return Err(self.fail("unterminated string")),
            }
        }
    }

    /// Reads a string, borrowing it when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, MatchError> {
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b'"') => {
                    let s = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(0x00..=0x1f) => return Err(self.fail("control character in a string")),
                Some(_) => self.pos += 1,
                None => return Err(self.fail("unterminated string")),
            }
        }
        let mut owned = Some(String::from(&self.text[start..self.pos]));
        loop {
            let run = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            if let Some(s) = owned.as_mut() {
                s.push_str(&self.text[run..self.pos]);
            }
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(owned.unwrap_or_default()));
                }
                Some(b'\\') => self.escape(&mut owned)?,
                Some(_) => return Err(self.fail("control character in a string")),
                None => return Err(self.fail("unterminated string")),
            }
        }
    }

    /// Reads one escape sequence at a backslash, appending its character to `into` if given.
    fn escape(&mut self, into: &mut Option<String>) -> Result<(), MatchError> {
        self.pos += 1;
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let first = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&first) {
                    if !self.bytes[self.pos..].starts_with(b"\\u") {
                        return Err(self.fail("lone leading surrogate in a \\u escape"));
                    }
                    self.pos += 2;
                    let second = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&second) {
                        return Err(self.fail("invalid surrogate pair in a \\u escape"));
                    }
                    0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                } else {
                    first
                };
                let c = char::from_u32(code)
                    .ok_or_else(|| self.fail("lone trailing surrogate in a \\u escape"))?;
                if let Some(s) = into.as_mut() {
                    s.push(c);
                }
                return Ok(());
            }
            _ => return Err(self.fail("invalid escape in a string")),
        };
        self.pos += 1;
        if let Some(s) = into.as_mut() {
            s.push(c);
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, MatchError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.fail("truncated \\u escape"))?;
        let mut code = 0u32;
        for &d in digits {
            let v = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.fail("invalid \\u escape"))?;
            code = code * 16 + v;
        }
        self.pos += 4;
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trie(paths: &[&[&str]]) -> PathTrie {
        let mut trie = PathTrie::default();
        for p in paths {
            let p: Vec<String> = p.iter().map(|s| s.to_string()).collect();
            trie.insert(&p);
        }
        trie
    }

    fn raw(trie: &PathTrie, text: &str) -> Result<Vec<(FieldId, Leaf<'static>)>, MatchError> {
        let mut out = Vec::new();
        trie.flatten_json(text.as_bytes(), &mut |f, l, _| out.push((f, l)))?;
        Ok(out
            .into_iter()
            .map(|(f, l)| {
                let l = match l {
                    Leaf::Str(s) => Leaf::Str(Cow::Owned(s.into_owned())),
                    Leaf::Num(s) => Leaf::Num(Cow::Owned(s.into_owned())),
                    Leaf::Bool(b) => Leaf::Bool(b),
                    Leaf::Null => Leaf::Null,
                };
                (f, l)
            })
            .collect())
    }

    #[test]
    fn ids_are_stable_per_path() {
        let mut t = PathTrie::default();
        let a = t.insert(&["a".into(), "b".into()]);
        let c = t.insert(&["c".into()]);
        assert_eq!(t.insert(&["a".into(), "b".into()]), a);
        assert_ne!(a, c);
        assert_eq!(t.field_count(), 2);
    }

    #[test]
    fn only_registered_paths_are_emitted() {
        let t = trie(&[&["a", "b"], &["n"]]);
        let got = raw(
            &t,
            r#"{"x": {"b": 1}, "a": [{"b": "s\u00e9\n"}, {"c": 2}, {"b": [true, null]}], "n": -1.5e3}"#,
        )
        .expect("valid");
        assert_eq!(
            got,
            vec![
                (0, Leaf::Str(Cow::Owned("sé\n".into()))),
                (0, Leaf::Bool(true)),
                (0, Leaf::Null),
                (1, Leaf::Num(Cow::Owned("-1.5e3".into()))),
            ]
        );
    }

    #[test]
    fn value_and_bytes_agree() {
        let t = trie(&[&["a", "b"], &["a"], &["s"]]);
        let text =
            r#"{"a": [1, {"b": "x"}, [[{"b": false}]]], "s": "\ud83d\ude00", "z": {"q": [1, 2]}}"#;
        let value: Value = serde_json::from_str(text).expect("json");
        let mut from_value = Vec::new();
        t.flatten_value(&value, &mut |f, l, _| from_value.push((f, l)));
        let mut from_bytes = raw(&t, text).expect("valid");
        from_value.sort_by_key(|(f, l)| (*f, format!("{l:?}")));
        from_bytes.sort_by_key(|(f, l)| (*f, format!("{l:?}")));
        assert_eq!(from_value, from_bytes);
        assert!(from_bytes.contains(&(2, Leaf::Str(Cow::Owned("😀".into())))));
    }

    #[test]
    fn malformed_input_is_refused_even_where_skipped() {
        let t = trie(&[&["a"]]);
        for bad in [
            "",
            "{",
            r#"{"a": 1,}"#,
            r#"{"z": [1 2]}"#,
            r#"{"z": "\x"}"#,
            r#"{"z": 01}"#,
            r#"{"z": 1.}"#,
            r#"{"z": tru}"#,
            r#"{"a": 1} x"#,
            "{\"z\": \"a\u{1}\"}",
            r#"{"z": "\ud800"}"#,
            r#"{"a": 1e400}"#,
        ] {
            assert!(raw(&t, bad).is_err(), "{bad:?} should be refused");
            assert!(
                serde_json::from_str::<Value>(bad).is_err(),
                "{bad:?} is valid to serde_json"
            );
        }
        assert!(raw(&t, " [ ] ").is_ok());
        assert!(raw(&t, r#""top""#).is_ok());
    }

    #[test]
    fn nesting_is_bounded() {
        let t = trie(&[&["a"]]);
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            raw(&t, &deep),
            Err(MatchError::TooDeep {
                limit: MAX_EVENT_DEPTH
            })
        );
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(raw(&t, &ok).is_ok());
        let _ = json!(null);
    }
}
