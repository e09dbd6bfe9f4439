//! Escaping plain text for each provider's markup, so that text from an event is shown as
//! written and can never add formatting, links or mentions. Pure functions.

/// Slack mrkdwn: `&`, `<` and `>` are the only control characters
/// (<https://api.slack.com/reference/surfaces/formatting#escaping>); `<` opens links and
/// mentions (`<!channel>`), so it must never pass through.
pub fn slack_mrkdwn(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Characters Telegram's MarkdownV2 requires escaping with `\` anywhere outside code and
/// links (<https://core.telegram.org/bots/api#markdownv2-style>).
pub const TELEGRAM_SPECIAL: &[char] = &[
    '_', '*', '[', ']', '(', ')', '~', '`', '>', '#', '+', '-', '=', '|', '{', '}', '.', '!', '\\',
];

/// Telegram MarkdownV2 text: every special character (and `\` itself) preceded by `\`.
pub fn telegram_markdown_v2(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for c in text.chars() {
        if TELEGRAM_SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The URL part of a MarkdownV2 inline link `[text](url)`: only `)` and `\` are escaped there.
pub fn telegram_link_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if c == ')' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Discord markdown: a `\` before ASCII punctuation shows it literally; these are the
/// characters that start formatting, quotes, headings, lists, links or mentions.
pub const DISCORD_SPECIAL: &[char] = &[
    '\\', '*', '_', '~', '`', '|', '>', '<', '[', ']', '(', ')', '#', '-', '@', ':',
];

/// Discord text: special characters preceded by `\`. Mentions are also disabled by the
/// request's `allowed_mentions`.
pub fn discord_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for c in text.chars() {
        if DISCORD_SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// WORD JOINER (U+2060): invisible, zero width, no line break opportunity.
pub const WORD_JOINER: char = '\u{2060}';

/// Adaptive Card `TextRun` text. A `TextRun` never parses Markdown
/// (<https://adaptivecards.io/explorer/TextRun.html>: "Markdown is not supported"), but every
/// Adaptive Card text still expands the `{{DATE(…)}}` and `{{TIME(…)}}` functions. A word
/// joiner after every `{` that is followed by `{` (or by a word joiner, so that the escape can
/// be undone unambiguously) breaks every `{{` while showing the same characters.
pub fn teams_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '{' && matches!(chars.peek(), Some('{') | Some(&WORD_JOINER)) {
            out.push(WORD_JOINER);
        }
    }
    out
}

/// Undoes [`teams_text`]: drops the word joiner right after each `{`.
pub fn teams_text_unescape(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len());
    let mut chars = escaped.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '{' && chars.peek() == Some(&WORD_JOINER) {
            chars.next();
        }
    }
    out
}

/// HTML (mail, Google Chat card text, FlockML): `& < > " '` as entities.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// HTML text with line breaks kept (`<br>`).
pub fn html_lines(text: &str) -> String {
    html(text).replace('\n', "<br>")
}

/// At most `max` characters; a cut text ends with `…`.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Undoes a backslash escape; `None` when a special character stands unescaped.
    fn unescape_backslashed(escaped: &str, special: &[char]) -> Option<String> {
        let mut out = String::new();
        let mut chars = escaped.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                out.push(chars.next()?);
            } else if special.contains(&c) {
                return None;
            } else {
                out.push(c);
            }
        }
        Some(out)
    }

    fn unescape_entities(escaped: &str) -> Option<String> {
        if escaped.contains(['<', '>']) {
            return None;
        }
        Some(
            escaped
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&"),
        )
    }

    #[test]
    fn examples() {
        assert_eq!(
            slack_mrkdwn("a <!channel> & b>"),
            "a &lt;!channel&gt; &amp; b&gt;"
        );
        assert_eq!(
            telegram_markdown_v2("v1.2 (rc-1)!"),
            "v1\\.2 \\(rc\\-1\\)\\!"
        );
        assert_eq!(telegram_link_url("https://x/a)b"), "https://x/a\\)b");
        assert_eq!(discord_markdown("**@everyone**"), "\\*\\*\\@everyone\\*\\*");
        assert_eq!(
            html("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    proptest! {
        #[test]
        fn slack_escaping_is_lossless_and_inert(text in any::<String>()) {
            let escaped = slack_mrkdwn(&text);
            // No `<` or `>` can open a link or mention, and every `&` starts an entity.
            prop_assert!(!escaped.contains(['<', '>']));
            for (i, _) in escaped.match_indices('&') {
                let rest = &escaped[i..];
                prop_assert!(rest.starts_with("&amp;") || rest.starts_with("&lt;") || rest.starts_with("&gt;"));
            }
            prop_assert_eq!(unescape_entities(&escaped), Some(text));
        }

        #[test]
        fn telegram_escaping_is_lossless_and_inert(text in any::<String>()) {
            let escaped = telegram_markdown_v2(&text);
            prop_assert_eq!(unescape_backslashed(&escaped, TELEGRAM_SPECIAL), Some(text));
        }

        #[test]
        fn telegram_special_heavy_text(text in "[_*\\[\\]()~`>#+=|{}.!\\\\a -]{0,64}") {
            let escaped = telegram_markdown_v2(&text);
            prop_assert_eq!(unescape_backslashed(&escaped, TELEGRAM_SPECIAL), Some(text));
        }

        #[test]
        fn discord_escaping_is_lossless_and_inert(text in any::<String>()) {
            let escaped = discord_markdown(&text);
            prop_assert_eq!(unescape_backslashed(&escaped, DISCORD_SPECIAL), Some(text));
        }

        #[test]
        fn html_escaping_is_lossless_and_inert(text in any::<String>()) {
            let escaped = html(&text);
            prop_assert!(!escaped.contains(['"', '\'']));
            prop_assert_eq!(unescape_entities(&escaped), Some(text));
        }

        #[test]
        fn teams_escaping_is_lossless_and_inert(text in "[{}a\u{2060}]{0,24}|\\PC{0,40}") {
            let escaped = teams_text(&text);
            prop_assert!(!escaped.contains("{{"));
            prop_assert_eq!(teams_text_unescape(&escaped), text);
        }

        #[test]
        fn truncation_keeps_a_prefix(text in any::<String>(), max in 1usize..50) {
            let cut = truncate(&text, max);
            prop_assert!(cut.chars().count() <= max);
            let kept = cut.strip_suffix('…').unwrap_or(&cut);
            prop_assert!(text.starts_with(kept));
        }
    }
}
