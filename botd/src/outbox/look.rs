//! What each kind of message looks like in the chat: an emoji that tells an alert from a
//! trouble from a routine notice, the first line of a loud message in bold, and the whole
//! text HTML-escaped (the messages go out with `parse_mode=HTML`). Whether the phone rings
//! is `MessageKind::silent`.

use secura_bus::types::MessageKind;

/// Telegram's limit for a message text (UTF-16 code units, counted after the HTML is parsed).
pub const TEXT_MAX: usize = 4096;
/// Telegram's limit for a caption.
pub const CAPTION_MAX: usize = 1024;

/// The emoji a message of `kind` starts with (with its space), if any.
pub fn prefix(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Alert | MessageKind::FollowUp => "🚨 ",
        MessageKind::Trouble => "⚠️ ",
        MessageKind::Resolved => "✅ ",
        MessageKind::Evidence => "📷 ",
        MessageKind::Notice => "",
    }
}

/// `text` safe inside Telegram HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to at most `max` UTF-16 code units, marked as cut.
fn fit(text: &str, max: usize) -> String {
    if text.encode_utf16().count() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 1; // the ellipsis
    for c in text.chars() {
        used += c.len_utf16();
        if used > max {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// The HTML of a message of `kind` saying `text`, within `max` code units once parsed (the
/// emoji included): loud kinds have their first line in bold.
pub fn render(kind: MessageKind, text: &str, max: usize) -> String {
    let prefix = prefix(kind);
    let text = fit(text, max.saturating_sub(prefix.encode_utf16().count()));
    let (first, rest) = match text.split_once('\n') {
        Some((f, r)) => (f, Some(r)),
        None => (text.as_str(), None),
    };
    let mut out = String::from(prefix);
    if kind.silent() || first.is_empty() {
        out.push_str(&escape(first));
    } else {
        out.push_str(&format!("<b>{}</b>", escape(first)));
    }
    if let Some(r) = rest {
        out.push('\n');
        out.push_str(&escape(r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_is_bold_with_a_siren_and_its_text_escaped() {
        assert_eq!(
            render(
                MessageKind::Alert,
                "Motion <hall> & more\nline 2 <b>",
                TEXT_MAX
            ),
            "🚨 <b>Motion &lt;hall&gt; &amp; more</b>\nline 2 &lt;b&gt;"
        );
        assert_eq!(
            render(MessageKind::Trouble, "Trouble: x", TEXT_MAX),
            "⚠️ <b>Trouble: x</b>"
        );
        assert_eq!(
            render(MessageKind::Resolved, "Resolved: x", TEXT_MAX),
            "✅ <b>Resolved: x</b>"
        );
    }

    #[test]
    fn a_notice_is_plain_and_evidence_quiet() {
        assert_eq!(
            render(MessageKind::Notice, "Armed. a<b", TEXT_MAX),
            "Armed. a&lt;b"
        );
        assert_eq!(
            render(MessageKind::Evidence, "Alice's phone answered", CAPTION_MAX),
            "📷 Alice's phone answered"
        );
    }

    #[test]
    fn the_emoji_never_pushes_a_text_over_telegrams_limit() {
        let long = "é".repeat(TEXT_MAX);
        let html = render(MessageKind::Alert, &long, TEXT_MAX);
        let shown = html.replace("<b>", "").replace("</b>", "");
        assert_eq!(shown.encode_utf16().count(), TEXT_MAX);
        assert!(shown.starts_with("🚨 é") && shown.ends_with('…'));
        // Emoji count as two code units, as Telegram counts them.
        let emoji = "🚨".repeat(600);
        let html = render(MessageKind::FollowUp, &emoji, CAPTION_MAX);
        let shown = html.replace("<b>", "").replace("</b>", "");
        assert!(
            shown.encode_utf16().count() <= CAPTION_MAX,
            "{}",
            shown.len()
        );
    }
}
