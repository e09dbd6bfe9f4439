//! The `wildcard` operator: `*` stands for any sequence of characters.

/// A parsed wildcard expression, kept as the literal pieces between its stars so that matching
/// never re-reads escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wildcard {
    /// Literal text between stars; `n` stars give `n + 1` pieces (some may be empty).
    pieces: Vec<String>,
}

impl Wildcard {
    /// Parses `expr` with the EventBridge rules: `\*` is a literal star, `\\` a literal
    /// backslash, any other escape is refused, and two wildcards in a row are refused (AWS
    /// rejects them because they only slow matching down).
    pub(crate) fn parse(expr: &str) -> Result<Wildcard, String> {
        let mut pieces = vec![String::new()];
        let mut last_was_star = false;
        let mut chars = expr.chars();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    if last_was_star {
                        return Err(format!(
                            "wildcard {expr:?} has consecutive wildcard characters; use a single *"
                        ));
                    }
                    pieces.push(String::new());
                    last_was_star = true;
                    continue;
                }
                '\\' => match chars.next() {
                    Some(escaped @ ('*' | '\\')) => push(&mut pieces, escaped),
                    _ => {
                        return Err(format!(
                            "wildcard {expr:?} has an invalid escape; a backslash may only escape * or \\"
                        ));
                    }
                },
                other => push(&mut pieces, other),
            }
            last_was_star = false;
        }
        Ok(Wildcard { pieces })
    }

    /// Whether `value` matches: the first piece anchors the start, the last the end, and the
    /// middle pieces are found leftmost-first in order, which is exact for star-only globs.
    pub(crate) fn matches(&self, value: &str) -> bool {
        let (first, rest) = match self.pieces.split_first() {
            Some(split) => split,
            None => return false,
        };
        let Some((last, middle)) = rest.split_last() else {
            return value == first;
        };
        if value.len() < first.len() + last.len()
            || !value.starts_with(first.as_str())
            || !value.ends_with(last.as_str())
        {
            return false;
        }
        let Some(mut remaining) = value.get(first.len()..value.len() - last.len()) else {
            return false;
        };
        for piece in middle {
            match remaining.find(piece.as_str()) {
                Some(at) => match remaining.get(at + piece.len()..) {
                    Some(after) => remaining = after,
                    None => return false,
                },
                None => return false,
            }
        }
        true
    }
}

fn push(pieces: &mut [String], c: char) {
    if let Some(piece) = pieces.last_mut() {
        piece.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(expr: &str, value: &str) -> bool {
        Wildcard::parse(expr)
            .map(|w| w.matches(value))
            .unwrap_or(false)
    }

    #[test]
    fn stars_match_any_sequence() {
        assert!(m("dir/*.png", "dir/a.png"));
        assert!(m("dir/*.png", "dir/.png"));
        assert!(!m("dir/*.png", "dir/a.jpg"));
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "a-b-b-c"));
        assert!(!m("a*b*c", "acb"));
        assert!(m("*/lib/*", "/usr/lib/x"));
        assert!(!m("ab*ba", "aba"));
        assert!(m("ab*ba", "abba"));
    }

    #[test]
    fn without_stars_is_equality() {
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(m("", ""));
        assert!(!m("", "x"));
    }

    #[test]
    fn escapes() {
        assert!(m(r"a\*b", "a*b"));
        assert!(!m(r"a\*b", "axb"));
        assert!(m(r"a\\*", r"a\anything"));
        assert!(m(r"\**", "*x"));
    }

    #[test]
    fn multibyte_text() {
        assert!(m("é*ü", "éaü"));
        assert!(m("*ü*", "xüy"));
        assert!(!m("é*é", "é"));
    }

    #[test]
    fn invalid_expressions() {
        assert!(Wildcard::parse("a**b").is_err());
        assert!(Wildcard::parse(r"a\b").is_err());
        assert!(Wildcard::parse("a\\").is_err());
    }
}
