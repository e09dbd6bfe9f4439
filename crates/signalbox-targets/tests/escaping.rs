//! Any text survives each channel's escaping: whatever an event puts in a notification's title,
//! text and fields reaches the provider in full (decoding the provider's markup gives it back)
//! and adds no markup of its own (no link, mention, tag, formatting or text function).
//!
//! Each channel's request is taken apart with a small model of its provider's markup:
//! Slack mrkdwn (`& < >`), Telegram MarkdownV2 (backslash escapes), Discord markdown, HTML
//! (email, Google Chat, FlockML), Adaptive Card `TextRun`s (plain text, `{{DATE()}}` functions),
//! and the plain-text channels (Bearychat with `markdown: false`, PagerDuty, Twilio, webhook).

use proptest::prelude::*;
use serde_json::Value;
use signalbox_targets::channels::markup::{
    DISCORD_SPECIAL, TELEGRAM_SPECIAL, WORD_JOINER, teams_text_unescape,
};
use signalbox_targets::channels::{
    Field, Notification, Severity, bearychat, discord, email, flock, googlechat, pagerduty, slack,
    teams, telegram, twilio, webhook,
};

/// Text heavy in every provider's special characters, plus anything printable.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[-_*\\[\\]()~`>#+=|{}.!\\\\<&\"':@ a\n\u{2060}]{0,40}",
        "\\PC{0,40}",
        // Things that look like real markup.
        prop::sample::select(vec![
            "<!channel> <@U123> <https://evil.example|click>".to_owned(),
            "**bold** _it_ ~~s~~ `code` [x](https://evil.example)".to_owned(),
            "{{DATE(2017-02-14T06:08:00Z, SHORT)}} {{TIME(2017-02-14T06:08:00Z)}}".to_owned(),
            "<b>x</b><script>alert(1)</script>&amp;&lt;".to_owned(),
            "@everyone @here ||spoiler|| > quote\n- item\n1. one".to_owned(),
        ]),
    ]
}

fn notification() -> impl Strategy<Value = Notification> {
    (
        text(),
        text(),
        prop::collection::vec((text(), text()), 0..3),
    )
        .prop_map(|(title, body, fields)| Notification {
            title,
            text: body,
            fields: fields
                .into_iter()
                .map(|(name, value)| Field { name, value })
                .collect(),
            link: None,
            severity: Severity::Critical,
            dedup_key: "k".into(),
            time: None,
        })
}

/// Undoes `&amp; &lt; &gt; &quot; &#39;`; `None` if a raw `<` or `>` is left.
fn decode_entities(escaped: &str) -> Option<String> {
    if escaped.contains(['<', '>']) {
        return None;
    }
    let mut out = String::new();
    let mut rest = escaped;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let (entity, c) = [
            ("&amp;", '&'),
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&quot;", '"'),
            ("&#39;", '\''),
        ]
        .into_iter()
        .find(|(e, _)| rest.starts_with(e))?;
        out.push(c);
        rest = &rest[entity.len()..];
    }
    out.push_str(rest);
    Some(out)
}

/// Splits HTML into tags and text; every tag must be one of `allowed` (by prefix) and the text,
/// with `<br>`s as line breaks, is decoded.
fn decode_html(html: &str, allowed: &[&str]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&decode_entities(&rest[..start]).ok_or("bad entity")?);
        let end = rest[start..].find('>').ok_or("unclosed tag")? + start;
        let tag = &rest[start..=end];
        if tag == "<br>" || tag == "<br/>" {
            out.push('\n');
        } else if !allowed.iter().any(|a| tag.starts_with(a)) {
            return Err(format!("unexpected tag {tag}"));
        }
        rest = &rest[end + 1..];
    }
    out.push_str(&decode_entities(rest).ok_or("bad entity")?);
    Ok(out)
}

/// Undoes backslash escapes; every unescaped special character is markup and is collected
/// apart.
fn decode_backslashed(escaped: &str, special: &[char]) -> (String, String) {
    let (mut text, mut markup) = (String::new(), String::new());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            text.extend(chars.next());
        } else if special.contains(&c) {
            markup.push(c);
        } else {
            text.push(c);
        }
    }
    (text, markup)
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} in {value}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn slack(n in notification()) {
        let m = slack::message(&n);
        // The header is plain text; the fallback and sections are mrkdwn.
        prop_assert_eq!(str_at(&m, "/blocks/0/text/type"), "plain_text");
        prop_assert_eq!(str_at(&m, "/blocks/0/text/text"), format!("🔴 {}", n.title));
        prop_assert_eq!(decode_entities(str_at(&m, "/text")), Some(n.title.clone()));
        let mut i = 1;
        if !n.text.is_empty() {
            prop_assert_eq!(decode_entities(str_at(&m, &format!("/blocks/{i}/text/text"))), Some(n.text.clone()));
            i += 1;
        }
        for (j, f) in n.fields.iter().enumerate() {
            let shown = str_at(&m, &format!("/blocks/{i}/fields/{j}/text"));
            prop_assert_eq!(decode_entities(shown), Some(format!("*{}*\n{}", f.name, f.value)));
        }
    }

    #[test]
    fn teams(n in notification()) {
        let card = teams::card(&n);
        let body = card.pointer("/attachments/0/content/body").and_then(Value::as_array).unwrap();
        let mut runs = Vec::new();
        let mut stack: Vec<&Value> = body.iter().rev().collect();
        while let Some(element) = stack.pop() {
            let kind = element["type"].as_str().unwrap_or_default();
            // TextBlock and FactSet render Markdown: event text must never be in one.
            prop_assert!(kind == "RichTextBlock" || kind == "Container", "{}", kind);
            stack.extend(element["items"].as_array().into_iter().flatten().rev());
            for run in element["inlines"].as_array().into_iter().flatten() {
                prop_assert_eq!(run["type"].as_str(), Some("TextRun"));
                let text = run["text"].as_str().unwrap();
                // No text function can start.
                prop_assert!(!text.contains("{{"), "{}", text);
                runs.push(teams_text_unescape(text));
            }
        }
        let mut expected = vec![n.title.clone()];
        if !n.text.is_empty() {
            expected.push(n.text.clone());
        }
        for f in &n.fields {
            expected.extend([f.name.clone(), ": ".to_owned(), f.value.clone()]);
        }
        prop_assert_eq!(runs, expected);
    }

    #[test]
    fn telegram(n in notification()) {
        let (text, markup) = decode_backslashed(&telegram::text(&n), TELEGRAM_SPECIAL);
        // Only our own bold markers: the title and each field name.
        prop_assert_eq!(markup, "*".repeat(2 + 2 * n.fields.len()));
        let mut expected = format!("🔴 {}", n.title);
        if !n.text.is_empty() {
            expected.push_str(&format!("\n\n{}", n.text));
        }
        if !n.fields.is_empty() {
            expected.push('\n');
            for f in &n.fields {
                expected.push_str(&format!("\n{}: {}", f.name, f.value));
            }
        }
        prop_assert_eq!(text, expected);
    }

    #[test]
    fn discord(n in notification()) {
        let m = discord::message(&n);
        prop_assert_eq!(&m["allowed_mentions"]["parse"], &Value::Array(vec![]));
        if !n.text.is_empty() {
            let (text, markup) = decode_backslashed(str_at(&m, "/embeds/0/description"), DISCORD_SPECIAL);
            prop_assert_eq!(markup, "");
            prop_assert_eq!(text, n.text.clone());
        }
        for (j, f) in n.fields.iter().enumerate() {
            let (value, markup) = decode_backslashed(str_at(&m, &format!("/embeds/0/fields/{j}/value")), DISCORD_SPECIAL);
            prop_assert_eq!(markup, "");
            prop_assert_eq!(&value, &f.value);
            prop_assert_eq!(str_at(&m, &format!("/embeds/0/fields/{j}/name")), f.name.as_str());
        }
    }

    #[test]
    fn email_html(n in notification()) {
        let html = email::html_body(&n);
        let allowed = ["<!DOCTYPE html>", "<html>", "</html>", "<body ", "</body>", "<h2 ", "</h2>",
                       "<p>", "<p ", "</p>", "<table ", "</table>", "<tr>", "</tr>", "<th ", "</th>",
                       "<td ", "</td>"];
        let text = decode_html(&html, &allowed);
        prop_assert!(text.is_ok(), "{:?}\n{}", text, html);
        let text = text.unwrap();
        prop_assert!(text.contains(&format!("🔴 {}", n.title)), "{}", text);
        prop_assert!(text.contains(&n.text));
        for f in &n.fields {
            prop_assert!(text.contains(&format!("{}{}", f.name, f.value)), "{}", text);
        }
    }

    #[test]
    fn google_chat(n in notification()) {
        let m = googlechat::message(&n);
        prop_assert_eq!(str_at(&m, "/cardsV2/0/card/header/title"), format!("🔴 {}", n.title));
        let mut i = 0;
        if !n.text.is_empty() {
            let shown = str_at(&m, "/cardsV2/0/card/sections/0/widgets/0/textParagraph/text");
            prop_assert_eq!(decode_html(shown, &[]), Ok(n.text.clone()));
            i = 1;
        }
        for (j, f) in n.fields.iter().enumerate() {
            let w = format!("/cardsV2/0/card/sections/0/widgets/{}/decoratedText", i + j);
            prop_assert_eq!(decode_entities(str_at(&m, &format!("{w}/topLabel"))), Some(f.name.clone()));
            prop_assert_eq!(decode_html(str_at(&m, &format!("{w}/text")), &[]), Ok(f.value.clone()));
        }
    }

    #[test]
    fn flock(n in notification()) {
        let m = flock::message(&n);
        prop_assert_eq!(str_at(&m, "/text"), n.plain_text());
        let flockml = str_at(&m, "/flockml");
        let text = decode_html(flockml, &["<flockml>", "</flockml>", "<b>", "</b>"]);
        let mut expected = format!("🔴 {}", n.title);
        if !n.text.is_empty() {
            expected.push_str(&format!("\n{}", n.text));
        }
        for f in &n.fields {
            expected.push_str(&format!("\n{}: {}", f.name, f.value));
        }
        prop_assert_eq!(text, Ok(expected));
    }

    #[test]
    fn plain_text_channels(n in notification()) {
        // Bearychat: markdown off, text as is.
        let m = bearychat::message(&n);
        prop_assert_eq!(&m["markdown"], &Value::Bool(false));
        prop_assert_eq!(str_at(&m, "/attachments/0/title"), n.title.as_str());
        let mut text = n.text.clone();
        for f in &n.fields {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("{}: {}", f.name, f.value));
        }
        prop_assert_eq!(str_at(&m, "/attachments/0/text"), text.as_str());
        // PagerDuty: JSON values as is.
        let e = pagerduty::event("rk", &n);
        prop_assert_eq!(str_at(&e, "/payload/summary"), n.title.as_str());
        if let Some(f) = n.fields.last().filter(|f| f.name != "text") {
            prop_assert_eq!(e["payload"]["custom_details"][&f.name].as_str(), Some(f.value.as_str()));
        }
        // Twilio: the plain text (short enough not to be cut).
        prop_assert_eq!(twilio::body(&n), n.plain_text());
        // Webhook: every part as is.
        let w = webhook::body(&n);
        prop_assert_eq!(str_at(&w, "/title"), n.title.as_str());
        prop_assert_eq!(str_at(&w, "/text"), n.text.as_str());
        for (j, f) in n.fields.iter().enumerate() {
            prop_assert_eq!(str_at(&w, &format!("/fields/{j}/name")), f.name.as_str());
            prop_assert_eq!(str_at(&w, &format!("/fields/{j}/value")), f.value.as_str());
        }
    }
}

#[test]
fn teams_breaks_text_functions_invisibly() {
    let n = Notification::new("{{DATE(2017-02-14T06:08:00Z, SHORT)}}", "");
    let card = teams::card(&n);
    let shown = str_at(&card, "/attachments/0/content/body/0/inlines/0/text");
    assert_eq!(
        shown,
        format!("{{{WORD_JOINER}{{DATE(2017-02-14T06:08:00Z, SHORT)}}}}")
    );
}
