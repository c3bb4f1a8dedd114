//! Telegram's HTML formatting (`parse_mode=HTML`) as the Bot API reads it: the supported tags
//! and entities are taken, anything else is refused with Telegram's error, and what the user
//! sees is the text without tags.

/// Tags the Bot API supports.
const TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "span",
    "tg-spoiler",
    "tg-emoji",
    "blockquote",
];

/// The text a user sees, or the reason the Bot API refuses it ("can't parse entities").
pub fn parse(html: &str) -> Result<String, String> {
    let mut out = String::with_capacity(html.len());
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest
                    .find('>')
                    .ok_or_else(|| refusal("unclosed start tag", html, rest))?;
                let inner = &rest[1..end];
                let (closing, name) = match inner.strip_prefix('/') {
                    Some(n) => (true, n.trim()),
                    None => (false, inner.split_whitespace().next().unwrap_or("")),
                };
                if !TAGS.contains(&name) {
                    return Err(refusal(
                        &format!("unsupported start tag \"{name}\""),
                        html,
                        rest,
                    ));
                }
                if closing {
                    if open.pop().as_deref() != Some(name) {
                        return Err(refusal(
                            &format!("unmatched end tag \"{name}\""),
                            html,
                            rest,
                        ));
                    }
                } else {
                    open.push(name.to_string());
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let end = rest
                    .find(';')
                    .filter(|&e| e <= 10)
                    .ok_or_else(|| refusal("unescaped \"&\"", html, rest))?;
                let entity = &rest[1..end];
                let ch = match entity {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "quot" => '"',
                    _ => entity
                        .strip_prefix('#')
                        .and_then(|n| n.parse::<u32>().ok())
                        .and_then(char::from_u32)
                        .ok_or_else(|| refusal("unknown entity", html, rest))?,
                };
                out.push(ch);
                rest = &rest[end + 1..];
            }
            c => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if let Some(t) = open.pop() {
        return Err(format!(
            "Bad Request: can't parse entities: can't find end tag corresponding to start tag \"{t}\""
        ));
    }
    Ok(out)
}

fn refusal(what: &str, whole: &str, at: &str) -> String {
    let offset = whole.len() - at.len();
    format!("Bad Request: can't parse entities: {what} at byte offset {offset}")
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn tags_and_entities_become_plain_text_and_bad_html_is_refused() {
        assert_eq!(
            parse("🚨 <b>Motion &lt;hall&gt; &amp; co</b>\nx").unwrap(),
            "🚨 Motion <hall> & co\nx"
        );
        assert!(parse("a < b").is_err());
        assert!(parse("a & b").is_err());
        assert!(parse("<b>open").is_err());
        assert!(parse("<hall>").is_err());
        assert!(parse("<b>x</i>").is_err());
    }
}
