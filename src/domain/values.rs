//! Parsing and checking of single cell values: enums, booleans, dates, ids.
//!
//! Every check returns a message that says what was found and what was expected, so
//! that the store can put it behind `file:line:column` and the API into a 422.

use chrono::{DateTime, NaiveDate, Utc};

/// A problem with one named field, as the API reports it in `errors[]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// The configurable words a table may contain: the task workflow, and the columns a
/// team adds to tasks.csv with a declared type.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// Allowed task statuses, in workflow order (`tasks.statuses`).
    pub statuses: Vec<String>,
    /// Declared custom columns of tasks.csv (`tasks.fields`).
    pub task_fields: Vec<CustomField>,
    /// The statuses of kind done: entering one sets a task's `completed_at`.
    pub done_statuses: Vec<String>,
}

impl Default for Vocabulary {
    fn default() -> Self {
        Self {
            statuses: DEFAULT_STATUSES.iter().map(|s| s.to_string()).collect(),
            task_fields: Vec::new(),
            done_statuses: vec!["done".into()],
        }
    }
}

/// A column of tasks.csv beyond the documented ones, declared with a type so that its
/// cells are checked (an undeclared extra column stays free text).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomField {
    pub name: String,
    pub kind: FieldType,
}

/// What a declared custom column holds.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    Text,
    /// A decimal number (`12`, `-3.5`).
    Number,
    /// A date, `2026-12-01`.
    Date,
    /// One of the listed values.
    Enum(Vec<String>),
}

impl FieldType {
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Date => "date",
            FieldType::Enum(_) => "enum",
        }
    }
}

impl CustomField {
    /// Checks one cell of this column; an empty cell is always fine.
    pub fn check(&self, value: &str) -> Result<(), String> {
        if value.is_empty() {
            return Ok(());
        }
        match &self.kind {
            FieldType::Text => Ok(()),
            FieldType::Number => match value.trim().parse::<f64>() {
                Ok(n) if n.is_finite() && value.trim() == value => Ok(()),
                _ => Err(format!("{value:?} is not a number; expected digits such as 12 or -3.5")),
            },
            FieldType::Date => match parse_plain_date(value) {
                Some(_) => Ok(()),
                None => Err(format!("{value:?} is not a date; expected 2026-12-01")),
            },
            FieldType::Enum(values) => check_one_of(value, values, &format!("{} value", self.name)),
        }
    }
}

pub const DEFAULT_STATUSES: &[&str] = &["new", "in_progress", "done", "cancelled"];
pub const ROLES: &[&str] = &["admin", "manager", "supervisor", "member", "client"];
pub const PRIORITIES: &[&str] = &["low", "medium", "high", "critical"];
/// What an API key may do.
pub const KEY_SCOPES: &[&str] = &["read", "write"];
/// Where an API key stands (the `update_key_status` job moves them along).
pub const KEY_STATUSES: &[&str] = &["active", "expiring", "expired", "revoked"];

/// Reads `true/false`, `1/0`, `yes/no` (any case). The boolean rule of every data file.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("{value:?} is not a boolean; expected true or false (also 1/0, yes/no)")),
    }
}

/// A positive integer id.
pub fn parse_id(value: &str) -> Result<u64, String> {
    match value.trim().parse::<u64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!("{value:?} is not an id; expected a positive whole number")),
    }
}

/// An RFC 3339 timestamp such as `2026-11-22T09:00:00Z`.
pub fn parse_timestamp(value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{value:?} is not a timestamp; expected RFC 3339 like 2026-11-22T09:00:00Z"))
}

/// A due date: a calendar date (`2026-12-01`) or a timestamp.
pub fn parse_due_date(value: &str) -> Result<(), String> {
    let v = value.trim();
    if parse_plain_date(v).is_some() || DateTime::parse_from_rfc3339(v).is_ok() {
        Ok(())
    } else {
        Err(format!("{value:?} is not a date; expected 2026-12-01 or an RFC 3339 timestamp"))
    }
}

/// `YYYY-MM-DD`, read without a format string (it is checked for every row on load).
fn parse_plain_date(v: &str) -> Option<NaiveDate> {
    let b = v.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |s: &str| s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse::<u32>().ok()).flatten();
    NaiveDate::from_ymd_opt(num(&v[0..4])? as i32, num(&v[5..7])?, num(&v[8..10])?)
}

/// One of a fixed list of words, matched exactly.
pub fn check_one_of(value: &str, allowed: &[impl AsRef<str>], what: &str) -> Result<(), String> {
    if allowed.iter().any(|a| a.as_ref() == value) {
        Ok(())
    } else {
        let list: Vec<&str> = allowed.iter().map(|a| a.as_ref()).collect();
        Err(format!("{value:?} is not a {what}; expected one of {}", list.join(", ")))
    }
}

/// A phone number as people type it (`+7 900 123-45-67`, `8 (900) 123-45-67`): digits,
/// spaces and `+ ( ) -` only, with at least three digits. Such a value never runs
/// as a formula in a spreadsheet that matters: it calls no function.
pub fn check_phone(value: &str) -> Result<(), String> {
    let allowed = value.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '(' | ')' | '-'));
    if allowed && value.chars().filter(char::is_ascii_digit).count() >= 3 {
        Ok(())
    } else {
        Err(format!("{value:?} is not a phone number; use digits, spaces and + ( ) -"))
    }
}

/// An email address: one `@` with text on both sides, no spaces.
pub fn check_email(value: &str) -> Result<(), String> {
    match value.split_once('@') {
        Some((local, host))
            if !local.is_empty()
                && host.contains('.')
                && !host.contains('@')
                && !value.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(format!("{value:?} is not an email address")),
    }
}

/// A Telegram username (5–32 letters, digits and `_`), with or without its `@`.
pub fn check_telegram_username(value: &str) -> Result<(), String> {
    let name = value.strip_prefix('@').unwrap_or(value);
    if (3..=32).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!("{value:?} is not a Telegram username; expected letters, digits and _"))
    }
}

/// Bytes as lowercase hex, as the files keep hashes and ids.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Hex (either case) back into bytes; None for an odd length or a non-hex digit.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// The current time as the files store it: RFC 3339, UTC, whole seconds.
pub fn now_timestamp() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A date (start of that day, UTC) or an RFC 3339 timestamp.
pub fn parse_time(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc())
}

/// Whether a spreadsheet opening the CSV would run this cell as a formula: it starts
/// with `=`, `+` or `@`, with a tab or carriage return (which some strip first), or
/// with `-` right before something other than a plain number (`-1+1`, `-cmd|...`). A
/// leading space or `'` makes any of them plain text again.
pub fn runs_as_formula(value: &str) -> bool {
    let mut chars = value.chars();
    match chars.next() {
        Some('=' | '+' | '@' | '\t' | '\r') => true,
        Some('-') => {
            let rest = chars.as_str();
            let number = rest.chars().all(|c| c.is_ascii_digit() || c == '.');
            // "- buy milk" is a list item, not a formula.
            !rest.is_empty() && !rest.starts_with(' ') && !number
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_told_from_text_and_numbers() {
        for formula in ["=1+1", "=HYPERLINK(\"http://x\")", "+1+1", "@SUM(A1)", "-1+1", "-cmd|' /C calc'!A0", "\t=1"] {
            assert!(runs_as_formula(formula), "{formula:?}");
        }
        for text in ["Fix the boiler", "-5", "-2.5", " =1+1", "'=1+1", "-", "", "a=b", "e-mail", "- buy milk"] {
            assert!(!runs_as_formula(text), "{text:?}");
        }
    }

    #[test]
    fn booleans_accept_the_documented_spellings() {
        for (text, want) in [("true", true), ("YES", true), ("1", true), ("false", false), ("no", false), ("0", false)]
        {
            assert_eq!(parse_bool(text), Ok(want), "{text}");
        }
        assert!(parse_bool("maybe").unwrap_err().contains("expected true or false"));
    }

    #[test]
    fn ids_are_positive() {
        assert_eq!(parse_id("42"), Ok(42));
        assert!(parse_id("0").is_err());
        assert!(parse_id("-3").is_err());
        assert!(parse_id("x").is_err());
    }

    #[test]
    fn due_dates_take_a_date_or_a_timestamp() {
        assert!(parse_due_date("2026-12-01").is_ok());
        assert!(parse_due_date("2026-12-01T09:00:00Z").is_ok());
        assert!(parse_due_date("01.12.2026").is_err());
    }
}
