//! Text on its way to and from the model. A task's text is data, not instructions
//! (OWASP LLM01): characters that hide text from a reader (zero-width, bidi controls)
//! are dropped, control characters too, and every field is cut to a length; what the
//! model answers gets the same treatment before anyone sees it.

/// `text` without invisible or direction-changing characters and controls (a newline
/// and a tab stay), cut to `max_chars` characters (with `…` when cut), trimmed.
pub fn clean(text: &str, max_chars: usize) -> String {
    let kept: String = text.chars().filter(|c| !hidden(*c)).collect();
    let trimmed = kept.trim();
    if trimmed.chars().count() <= max_chars {
        return trimmed.to_string();
    }
    let mut cut: String = trimmed.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A character a reader cannot see but a model reads: zero-width spaces and joiners,
/// bidi embeddings, overrides and isolates, the BOM, tags, and C0/C1 controls.
fn hidden(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}' | '\u{180E}' | '\u{E0000}'..='\u{E007F}')
        || (c.is_control() && c != '\n' && c != '\t')
}

/// Word trigrams of a title, for a cheap similarity: lower case, letters and digits.
fn trigrams(text: &str) -> std::collections::HashSet<[char; 3]> {
    let normal: Vec<char> = text
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .collect();
    let padded: Vec<char> = std::iter::once(' ').chain(normal).chain(std::iter::once(' ')).collect();
    padded.windows(3).map(|w| [w[0], w[1], w[2]]).collect()
}

/// How alike two titles are, 0 to 1 (Jaccard of their character trigrams): "Printer
/// on floor 2 jams" and "printer jams, floor 2" score high; a typo costs little.
pub fn similarity(a: &str, b: &str) -> f64 {
    let (a, b) = (trigrams(a), trigrams(b));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let common = a.intersection(&b).count() as f64;
    common / ((a.len() + b.len()) as f64 - common)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_and_controls_go_newlines_stay() {
        let text = "Fix\u{200B} the\u{202E}gnirts printer\u{0007}\nnow\u{FEFF}";
        assert_eq!(clean(text, 100), "Fix thegnirts printer\nnow");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(clean("abcdef", 4), "abc…");
        assert_eq!(clean("  abc  ", 3), "abc");
    }

    #[test]
    fn similar_titles_score_high_and_different_ones_low() {
        let same = similarity("Printer on floor 2 jams", "printer jams on floor 2");
        let other = similarity("Printer on floor 2 jams", "Renew the domain name");
        assert!(same > 0.6, "{same}");
        assert!(other < 0.2, "{other}");
        assert_eq!(similarity("", "x"), 0.0);
        assert!((similarity("Same title", "same title") - 1.0).abs() < 1e-9);
    }
}
