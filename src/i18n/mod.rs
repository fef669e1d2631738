//! The languages the server writes in for people (Russian and English), and the one
//! catalogue of what it writes: bot replies and notifications, reminders, reports,
//! key notices, and the wording of errors (`problems.rs`).
//!
//! Why a table of our own and not fluent or rust-i18n: every message has exactly two
//! forms, both written side by side in [`catalogue`], so a message missing in one
//! language does not compile; the test below checks that both forms name the same
//! placeholders. Plural forms follow each language's rule ([`Lang::plural`]).

mod catalogue;
pub mod problems;

pub use catalogue::Msg;

use serde::{Deserialize, Serialize};

/// A language the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Ru,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ru];

    /// `ru`, `ru-RU`, `RU` → Russian; `en*` → English; anything else → None.
    pub fn parse(code: &str) -> Option<Lang> {
        let code = code.trim().to_ascii_lowercase();
        let primary = code.split(['-', '_']).next().unwrap_or("");
        match primary {
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// Telegram's `language_code`: `ru*` is Russian, anything else English.
    pub fn of_telegram(code: Option<&str>) -> Option<Lang> {
        let code = code?.trim();
        if code.is_empty() {
            return None;
        }
        Some(if code.to_ascii_lowercase().starts_with("ru") { Lang::Ru } else { Lang::En })
    }

    /// The first language of an `Accept-Language` header that we speak, by its
    /// weights (`ru-RU,ru;q=0.9,en;q=0.8`); None when it names neither.
    pub fn of_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim();
            let weight = pieces
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag)
                && weight > 0.0
                && best.is_none_or(|(w, _)| weight > w)
            {
                best = Some((weight, lang));
            }
        }
        best.map(|(_, l)| l)
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }

    /// A message as written in this language.
    pub fn t(self, msg: Msg) -> &'static str {
        match self {
            Lang::En => msg.en(),
            Lang::Ru => msg.ru(),
        }
    }

    /// A message with its `{name}` placeholders filled in.
    pub fn f(self, msg: Msg, args: &[(&str, &dyn std::fmt::Display)]) -> String {
        fill(self.t(msg), args)
    }

    /// A count with its noun in the right form: `1 task`, `5 tasks`; `1 задача`,
    /// `2 задачи`, `5 задач`. The message holds the forms as `one|few|many`
    /// (English: `one|other|other`).
    pub fn count(self, n: u64, msg: Msg) -> String {
        format!("{n} {}", self.plural(n, msg))
    }

    /// Just the noun's form for `n`.
    pub fn plural(self, n: u64, msg: Msg) -> &'static str {
        let forms: Vec<&'static str> = self.t(msg).split('|').collect();
        let index = match self {
            Lang::En => usize::from(n != 1),
            Lang::Ru => {
                let (ten, hundred) = (n % 10, n % 100);
                if ten == 1 && hundred != 11 {
                    0
                } else if (2..=4).contains(&ten) && !(12..=14).contains(&hundred) {
                    1
                } else {
                    2
                }
            }
        };
        forms.get(index).or(forms.last()).copied().unwrap_or("")
    }
}

/// Replaces each `{name}` of `template` by its value; unknown names stay as written.
pub fn fill(template: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match args.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(&value.to_string()),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `{name}` placeholders of a template, sorted.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut names: Vec<&str> = template
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name))
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_exists_in_both_languages_with_the_same_placeholders() {
        for msg in Msg::ALL {
            let (en, ru) = (msg.en(), msg.ru());
            assert!(!en.trim().is_empty() && !ru.trim().is_empty(), "{msg:?} is empty in a language");
            assert_eq!(placeholders(en), placeholders(ru), "{msg:?}: the two languages name different placeholders");
            assert_eq!(en.matches('|').count(), ru.matches('|').count(), "{msg:?}: plural forms differ in number");
        }
        for pattern in problems::PATTERNS {
            assert_eq!(placeholders(pattern.0), placeholders(pattern.1), "{pattern:?}");
        }
    }

    #[test]
    fn russian_plurals_follow_the_rule() {
        let forms: Vec<String> =
            [1, 2, 5, 11, 12, 21, 22, 25, 101, 111, 0].iter().map(|n| Lang::Ru.count(*n, Msg::NounTask)).collect();
        assert_eq!(
            forms,
            [
                "1 задача",
                "2 задачи",
                "5 задач",
                "11 задач",
                "12 задач",
                "21 задача",
                "22 задачи",
                "25 задач",
                "101 задача",
                "111 задач",
                "0 задач"
            ]
        );
        assert_eq!(Lang::En.count(1, Msg::NounTask), "1 task");
        assert_eq!(Lang::En.count(3, Msg::NounTask), "3 tasks");
    }

    #[test]
    fn languages_are_read_from_codes_and_headers() {
        assert_eq!(Lang::parse("ru-RU"), Some(Lang::Ru));
        assert_eq!(Lang::parse("EN"), Some(Lang::En));
        assert_eq!(Lang::parse("de"), None);
        assert_eq!(Lang::parse(""), None);
        assert_eq!(Lang::of_telegram(Some("ru")), Some(Lang::Ru));
        assert_eq!(Lang::of_telegram(Some("uk")), Some(Lang::En));
        assert_eq!(Lang::of_telegram(None), None);
        assert_eq!(Lang::of_accept_language("ru-RU,ru;q=0.9,en-US;q=0.8"), Some(Lang::Ru));
        assert_eq!(Lang::of_accept_language("de-DE, en;q=0.5, ru;q=0.7"), Some(Lang::Ru));
        assert_eq!(Lang::of_accept_language("fr, de"), None);
        assert_eq!(Lang::of_accept_language("ru;q=0, en"), Some(Lang::En));
    }

    #[test]
    fn placeholders_are_filled_and_unknown_ones_kept() {
        assert_eq!(fill("#{id} is {status}", &[("id", &12), ("status", &"done")]), "#12 is done");
        assert_eq!(fill("{a} {b", &[("a", &1)]), "1 {b");
        assert_eq!(fill("{x}", &[]), "{x}");
    }
}
