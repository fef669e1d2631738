//! How the bot shows things: a task as a line or as a card with buttons for its next
//! statuses, and a person's day. Commands and notifications both write with these.

use std::collections::HashMap;

use crate::auth::policy::Action;
use crate::domain::TableKind;
use crate::service::Services;
use crate::service::access::{self, Principal, ServiceError};
use crate::service::reports::{DayFigures, Person, Team};
use crate::store::Fields;

use super::outbox::Button;
use super::text::{cut, escape};

/// What the bot answers: Telegram HTML and inline buttons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub buttons: Vec<Vec<Button>>,
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Reply {
        Reply { text: text.into(), buttons: Vec::new() }
    }
}

/// Usernames by id, as far as `p` may read them (a client reads none).
pub fn names(services: &Services, p: &Principal) -> HashMap<u64, String> {
    services.records.directory(p).map(|d| d.into_iter().map(|e| (e.id, e.username)).collect()).unwrap_or_default()
}

/// `#12 Title — in_progress, due 2026-12-05`.
pub fn task_line(task: &Fields) -> String {
    let get = |k: &str| task.get(k).map(String::as_str).unwrap_or("");
    let mut line = format!("#{} {} — {}", get("id"), escape(&cut(get("title"), 80)), escape(get("status")));
    if !get("due_date").is_empty() {
        line.push_str(&format!(", due {}", escape(get("due_date"))));
    }
    line
}

/// A task as a message: what it is, where it stands, and buttons for the statuses
/// `p` may move it to. `lead` comes first (what happened).
pub fn show_task(services: &Services, p: &Principal, id: u64, lead: &str) -> Result<Reply, ServiceError> {
    show_task_named(services, p, id, lead, &names(services, p))
}

/// The same, with the names `p` may read already at hand.
pub fn show_task_named(
    services: &Services,
    p: &Principal,
    id: u64,
    lead: &str,
    names: &HashMap<u64, String>,
) -> Result<Reply, ServiceError> {
    let view = services.records.read(p, TableKind::Tasks, id)?;
    let fields = view.table.fields(&view.row);
    Ok(Reply {
        text: format!("{lead}{}", task_card(&fields, names)),
        buttons: status_buttons(services, p, id, &fields, &view.etag),
    })
}

/// The task's lines of a message.
pub fn task_card(task: &Fields, names: &HashMap<u64, String>) -> String {
    let get = |k: &str| task.get(k).map(String::as_str).unwrap_or("");
    let who = |k: &str| match get(k).parse::<u64>() {
        Ok(id) => names.get(&id).map(|n| escape(n)).unwrap_or_else(|| format!("user {id}")),
        Err(_) => "nobody".to_string(),
    };
    let mut text = format!(
        "<b>#{} {}</b>\nStatus: {} · Priority: {}\nAssigned to: {}",
        get("id"),
        escape(&cut(get("title"), 200)),
        escape(get("status")),
        escape(get("priority")),
        who("assigned_to"),
    );
    if !get("due_date").is_empty() {
        text.push_str(&format!(" · Due: {}", escape(get("due_date"))));
    }
    let description = cut(get("description"), 600);
    if !description.is_empty() {
        text.push_str(&format!("\n\n{}", escape(&description)));
    }
    text
}

/// Buttons for the statuses `p` may set on this task now (none for a client, say).
/// Each carries the ETag it was drawn for: a press on a task changed meanwhile is
/// refused and the message redrawn.
pub fn status_buttons(services: &Services, p: &Principal, id: u64, task: &Fields, etag: &str) -> Vec<Vec<Button>> {
    let current = task.get("status").map(String::as_str).unwrap_or("");
    let tag = etag.trim_matches('"');
    let buttons: Vec<Button> = services
        .config
        .tasks
        .statuses
        .iter()
        .filter(|s| s.as_str() != current)
        .filter(|s| {
            let change: Fields = [("status".to_string(), s.to_string())].into();
            access::check_write(&services.records, p, TableKind::Tasks, Action::Update, Some((id, task)), &change)
                .is_ok()
        })
        .map(|s| {
            let data = format!("st:{id}:{s}:{tag}");
            // Callback data is at most 64 bytes: a very long status goes without its ETag.
            let data = if data.len() <= 64 { data } else { format!("st:{id}:{s}:") };
            Button { label: format!("→ {s}"), data }
        })
        .filter(|b| b.data.len() <= 64)
        .collect();
    buttons.chunks(3).map(<[Button]>::to_vec).collect()
}

/// One person's day, as the bot writes it.
pub fn personal_report(person: &Person, team: Option<&Team>) -> String {
    let mut text = format!("☀️ <b>Hello, {}!</b> Your day:\n", escape(&person.name));
    let by_status: Vec<String> = person.by_status.iter().map(|(s, n)| format!("{} {n}", escape(s))).collect();
    text.push_str(&format!("\n<b>Open: {}</b>", person.open.len()));
    if !by_status.is_empty() {
        text.push_str(&format!(" ({})", by_status.join(", ")));
    }
    text.push_str(&format!("\n<b>Overdue: {}</b>", person.overdue.len()));
    for t in person.overdue.iter().take(15) {
        text.push_str(&format!("\n• #{} {} (due {})", t.id, escape(&cut(&t.title, 80)), escape(&t.due)));
    }
    text.push_str(&format!("\n<b>Done today: {}</b>", person.done_today.len()));
    for t in person.done_today.iter().take(15) {
        text.push_str(&format!("\n• #{} {}", t.id, escape(&cut(&t.title, 80))));
    }
    if let Some(team) = team {
        text.push_str(&format!(
            "\n\n<b>Team</b>: {} open, {} overdue, {} done today, {} open without an assignee",
            team.open, team.overdue, team.done_today, team.unassigned_open
        ));
    }
    text
}

/// The team chat's summary.
pub fn team_summary(figures: &DayFigures) -> String {
    let mut text = format!("📊 <b>Team summary, {}</b>", escape(&figures.date));
    for p in &figures.people {
        text.push_str(&format!(
            "\n{}: {} open · {} overdue · {} done today",
            escape(&p.name),
            p.open.len(),
            p.overdue.len(),
            p.done_today.len()
        ));
    }
    let t = &figures.team;
    text.push_str(&format!("\n\n<b>All</b>: {} open, {} overdue, {} done today", t.open, t.overdue, t.done_today));
    text
}
