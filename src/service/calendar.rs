//! The calendar feed: a secret URL per person (`/api/calendar/{token}.ics`) that a
//! phone's calendar subscribes to, one VEVENT per open task with a due date that the
//! person may read (RFC 5545). Only the token's SHA-256 is kept
//! (`data/.taskboard/calendar_tokens.json`, changed in one step across servers); a new
//! token replaces the old one, which then answers 404.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use crate::domain::TableKind;
use crate::domain::values::hex;
use crate::i18n::Lang;

use super::access::{self, Principal, ServiceError};
use super::records::RecordService;

const TOKENS: &str = ".taskboard/calendar_tokens.json";
/// Whose token a holder of the security-off board has: the built-in admin.
const ANONYMOUS: &str = "anonymous";

fn digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Whose feed a token opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedOwner {
    User(u64),
    /// The built-in `anonymous` admin (security off).
    Anonymous,
}

impl RecordService {
    /// Gives `p` a new feed token (and so revokes the one they had).
    pub fn new_calendar_token(&self, p: &Principal) -> Result<String, ServiceError> {
        if p.key.is_some() {
            return Err(ServiceError::Forbidden("an API key may not make a calendar link".into()));
        }
        let token = format!("{}{}", crate::auth::tokens::random_id(), crate::auth::tokens::random_id());
        let owner = p.user_id.map_or(ANONYMOUS.to_string(), |id| id.to_string());
        let hash = digest(&token);
        self.store().update_aux(TOKENS, &mut |current| {
            let mut tokens: BTreeMap<String, String> =
                current.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
            tokens.insert(owner.clone(), hash.clone());
            serde_json::to_vec(&tokens).unwrap_or_default()
        })?;
        Ok(token)
    }

    /// Whose feed `token` opens, if anyone's.
    pub fn calendar_owner(&self, token: &str) -> Option<FeedOwner> {
        let bytes = self.store().read_aux(TOKENS)?;
        let tokens: BTreeMap<String, String> = serde_json::from_slice(&bytes).ok()?;
        let wanted = digest(token);
        let (owner, _) = tokens.iter().find(|(_, hash)| **hash == wanted)?;
        if owner == ANONYMOUS { Some(FeedOwner::Anonymous) } else { owner.parse().ok().map(FeedOwner::User) }
    }

    /// `p`'s feed: their readable open tasks with a due date. `board` is the board's
    /// address (`https://host/board`), for each event's link.
    pub fn calendar(&self, p: &Principal, board: &str, lang: Lang, now: DateTime<Utc>) -> Result<String, ServiceError> {
        let tasks = self.store().table(TableKind::Tasks)?;
        let workflow = &self.deadlines().workflow;
        let address = self.address_field();
        let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
        let mut lines = vec![
            "BEGIN:VCALENDAR".to_string(),
            "VERSION:2.0".into(),
            "PRODID:-//taskboard//calendar//EN".into(),
            "CALSCALE:GREGORIAN".into(),
            "METHOD:PUBLISH".into(),
            "X-WR-CALNAME:taskboard".into(),
        ];
        for (&id, row) in tasks.rows.iter() {
            let task = tasks.fields(row);
            let get = |k: &str| task.get(k).map(String::as_str).unwrap_or("");
            if get("due_date").is_empty()
                || workflow.is_closed(get("status"))
                || !access::may_read(self, p, TableKind::Tasks, &task)
            {
                continue;
            }
            let Some(start) = when(get("due_date")) else { continue };
            let url = format!("{board}/tasks/{id}");
            lines.push("BEGIN:VEVENT".into());
            lines.push(format!("UID:task-{id}@taskboard"));
            lines.push(format!("DTSTAMP:{stamp}"));
            lines.extend(start);
            lines.push(format!("SUMMARY:{}", text(&format!("#{id} {}", get("title")))));
            lines.push(format!("DESCRIPTION:{}", text(&format!("{}\n{url}", workflow.label(get("status"), lang)))));
            lines.push(format!("URL:{url}"));
            if let Some(field) = &address
                && !get(field).is_empty()
            {
                lines.push(format!("LOCATION:{}", text(get(field))));
            }
            lines.push("END:VEVENT".into());
        }
        lines.push("END:VCALENDAR".into());
        Ok(lines.iter().map(|l| fold(l)).collect::<Vec<_>>().join(""))
    }

    /// The declared custom field that holds a client's address: one named `address`,
    /// else one whose label says address (адрес).
    fn address_field(&self) -> Option<String> {
        let names: Vec<&str> = crate::service::access::TaskLookup::field_rules(self).custom_names().collect();
        names
            .iter()
            .find(|n| **n == "address")
            .or_else(|| names.iter().find(|n| n.contains("address")))
            .map(|n| n.to_string())
    }
}

/// DTSTART/DTEND of a due date: a day alone as an all-day event, a moment as itself
/// (in UTC). None for a value that is neither.
fn when(due: &str) -> Option<Vec<String>> {
    if let Ok(day) = NaiveDate::parse_from_str(due.trim(), "%Y-%m-%d") {
        let next = day.succ_opt()?;
        return Some(vec![
            format!("DTSTART;VALUE=DATE:{}", day.format("%Y%m%d")),
            format!("DTEND;VALUE=DATE:{}", next.format("%Y%m%d")),
        ]);
    }
    let at = crate::domain::values::parse_timestamp(due).ok()?;
    Some(vec![
        format!("DTSTART:{}", at.format("%Y%m%dT%H%M%SZ")),
        format!("DTEND:{}", (at + chrono::Duration::hours(1)).format("%Y%m%dT%H%M%SZ")),
    ])
}

/// A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and line breaks escaped.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A content line folded at 75 octets (never inside a character), ending in CRLF.
fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_a_character() {
        let line = format!("SUMMARY:{}", "Проверка котла ".repeat(10));
        let folded = fold(&line);
        for part in folded.split("\r\n").filter(|p| !p.is_empty()) {
            assert!(part.len() <= 75, "{part:?}");
        }
        assert_eq!(folded.replace("\r\n ", ""), format!("{line}\r\n"));
        assert_eq!(text("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }
}
