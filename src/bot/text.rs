//! What the bot writes is Telegram HTML: everything that came from people or from the
//! model is escaped, long texts are cut, and a message longer than Telegram takes is
//! split between lines so that no tag or entity is cut in two.

/// Telegram refuses a message over 4,096 characters; we stay below with room to spare.
pub const MESSAGE_LIMIT: usize = 4000;

/// Text for Telegram's HTML mode: `&`, `<` and `>` escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // Control characters (but line breaks) would only garble the chat.
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// The first `max` characters of `text` (an ellipsis when it was longer), with the
/// invisible and control characters dropped: the same cleaning the LLM's text gets.
pub use crate::llm::text::clean as cut;

/// Splits an HTML message into parts of at most `limit` characters, between lines.
/// The bot's own markup never spans lines, so every part is well formed; a single line
/// longer than the limit is split at a character that is not inside an entity.
pub fn split(text: &str, limit: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for line in text.split('\n') {
        let mut line = line.to_string();
        loop {
            let len = line.chars().count();
            let needed = if current.is_empty() { len } else { len + 1 };
            if current_len + needed <= limit {
                if !current.is_empty() {
                    current.push('\n');
                }
                current.push_str(&line);
                current_len += needed;
                break;
            }
            if !current.is_empty() {
                parts.push(std::mem::take(&mut current));
                current_len = 0;
                continue;
            }
            // One line alone is too long: cut it, never inside `&amp;` and the like.
            let mut at = line.char_indices().nth(limit).map(|(i, _)| i).unwrap_or(line.len());
            if let Some(amp) = line[..at].rfind('&')
                && !line[amp..at].contains(';')
            {
                at = amp;
            }
            parts.push(line[..at].to_string());
            line = line[at..].to_string();
        }
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
}

/// The token never leaves the process: blanked in every error text we keep or log.
pub fn redact(text: &str, token: &str) -> String {
    if token.is_empty() { text.to_string() } else { text.replace(token, "<token>") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_from_people_is_escaped_and_control_characters_dropped() {
        assert_eq!(escape("<b>x</b> & \u{7}y\nz"), "&lt;b&gt;x&lt;/b&gt; &amp; y\nz");
    }

    #[test]
    fn long_messages_split_between_lines_and_never_inside_an_entity() {
        let text = (0..300).map(|i| format!("<b>line {i}</b> &amp; more")).collect::<Vec<_>>().join("\n");
        let parts = split(&text, 1000);
        assert!(parts.len() > 1);
        for part in &parts {
            assert!(part.chars().count() <= 1000);
            assert_eq!(part.matches("<b>").count(), part.matches("</b>").count(), "{part}");
        }
        assert_eq!(parts.join("\n"), text);
        let long = "&amp;".repeat(500);
        let parts = split(&long, 1001);
        assert!(parts.iter().all(|p| p.chars().count() <= 1001 && p.ends_with(';')), "{:?}", parts[0].len());
        assert_eq!(parts.concat(), long);
    }
}
