//! How the bot shows things: a task as a line or as a card with buttons for its next
//! statuses, and a person's day. Commands and notifications both write with these.

use std::collections::HashMap;

use crate::auth::policy::{Action, Role};
use crate::domain::TableKind;
use crate::domain::workflow::Workflow;
use crate::i18n::{Lang, Msg};
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

/// A role as people read it.
pub fn role_label(lang: Lang, role: Role) -> String {
    let msg = match role {
        Role::Admin => Msg::RoleAdmin,
        Role::Manager => Msg::RoleManager,
        Role::Supervisor => Msg::RoleSupervisor,
        Role::Member => Msg::RoleMember,
        Role::Client => Msg::RoleClient,
    };
    lang.t(msg).to_string()
}

/// A priority as people read it.
pub fn priority_label(lang: Lang, priority: &str) -> String {
    let msg = match priority {
        "low" => Msg::PriorityLow,
        "medium" => Msg::PriorityMedium,
        "high" => Msg::PriorityHigh,
        "critical" => Msg::PriorityCritical,
        other => return other.to_string(),
    };
    lang.t(msg).to_string()
}

/// Names by id (full name, else username), as far as `p` may read them: staff read
/// everyone's, a client those of the people on their requests.
pub fn names(services: &Services, p: &Principal) -> HashMap<u64, String> {
    services.records.directory(p).map(|d| d.into_iter().map(|e| (e.id, e.name)).collect()).unwrap_or_default()
}

/// `#12 Title — В работе, срок 2026-12-05`.
pub fn task_line(task: &Fields, workflow: &Workflow, lang: Lang) -> String {
    let get = |k: &str| task.get(k).map(String::as_str).unwrap_or("");
    let status = workflow.label(get("status"), lang);
    let mut line = format!("#{} {} — {}", get("id"), escape(&cut(get("title"), 80)), escape(status));
    if !get("due_date").is_empty() {
        line.push_str(", ");
        line.push_str(&lang.f(Msg::LineDue, &[("due", &escape(get("due_date")))]));
    }
    line
}

/// A task as a message: what it is, where it stands, and buttons for the statuses
/// `p` may move it to. `lead` comes first (what happened).
pub fn show_task(services: &Services, p: &Principal, id: u64, lead: &str, lang: Lang) -> Result<Reply, ServiceError> {
    show_task_named(services, p, id, lead, &names(services, p), lang)
}

/// The same, with the names `p` may read already at hand.
pub fn show_task_named(
    services: &Services,
    p: &Principal,
    id: u64,
    lead: &str,
    names: &HashMap<u64, String>,
    lang: Lang,
) -> Result<Reply, ServiceError> {
    let view = services.records.read(p, TableKind::Tasks, id)?;
    let fields = view.table.fields(&view.row);
    let workflow = &services.records.deadlines().workflow;
    let steps = checklist(services, p, id);
    let mut buttons = status_buttons(services, p, id, &fields, &view.etag, lang);
    // A button per step, for those who may change the task's status (they keep its
    // checklist): ☐ ticks it, ☑ unticks it.
    let mine = access::check_write(
        &services.records,
        p,
        TableKind::Checklists,
        Action::Update,
        None,
        &[("task_id".to_string(), id.to_string())].into(),
    )
    .is_ok();
    if mine {
        let step_buttons: Vec<Button> = steps
            .iter()
            .take(MAX_STEPS)
            .enumerate()
            .map(|(n, (item, text, done))| Button {
                label: format!("{} {}. {}", if *done { "☑" } else { "☐" }, n + 1, cut(text, 24)),
                data: format!("ck:{item}:{}", if *done { 0 } else { 1 }),
            })
            .collect();
        buttons.extend(step_buttons.chunks(2).map(<[Button]>::to_vec));
    }
    Ok(Reply {
        text: format!("{lead}{}{}", task_card(&fields, names, workflow, lang), checklist_lines(&steps, lang)),
        buttons,
    })
}

/// The most steps a message lists (and gives buttons for).
const MAX_STEPS: usize = 20;

/// Task `id`'s checklist as `p` may read it: (item id, text, done), in order.
fn checklist(services: &Services, p: &Principal, id: u64) -> Vec<(u64, String, bool)> {
    let query = crate::service::query::ListQuery { per_page: 500, ..Default::default() };
    let Ok((page, _)) = services.records.checklist(p, id, query) else { return Vec::new() };
    page.rows
        .iter()
        .map(|row| {
            let f = page.table.fields(row);
            let get = |k: &str| f.get(k).cloned().unwrap_or_default();
            (
                get("id").parse().unwrap_or(0),
                get("text"),
                crate::domain::values::parse_bool(&get("done")).unwrap_or(false),
            )
        })
        .collect()
}

/// "Checklist 1/3" and a line per step, or nothing for a task without one.
fn checklist_lines(steps: &[(u64, String, bool)], lang: Lang) -> String {
    if steps.is_empty() {
        return String::new();
    }
    let done = steps.iter().filter(|s| s.2).count();
    let mut text = format!("\n\n<b>{}</b>", lang.f(Msg::ChecklistTitle, &[("done", &done), ("total", &steps.len())]));
    for (n, (_, step, ticked)) in steps.iter().take(MAX_STEPS).enumerate() {
        text.push_str(&format!("\n{} {}. {}", if *ticked { "☑" } else { "☐" }, n + 1, escape(&cut(step, 120))));
    }
    if steps.len() > MAX_STEPS {
        text.push_str("\n…");
    }
    text
}

/// The task's lines of a message.
pub fn task_card(task: &Fields, names: &HashMap<u64, String>, workflow: &Workflow, lang: Lang) -> String {
    let get = |k: &str| task.get(k).map(String::as_str).unwrap_or("");
    let who = |k: &str| match get(k).parse::<u64>() {
        Ok(id) => names.get(&id).map(|n| escape(n)).unwrap_or_else(|| lang.f(Msg::SomeUser, &[("id", &id)])),
        Err(_) => lang.t(Msg::Nobody).to_string(),
    };
    let mut text = format!(
        "<b>#{} {}</b>\n{}: {} · {}: {}\n{}: {}",
        get("id"),
        escape(&cut(get("title"), 200)),
        lang.t(Msg::CardStatus),
        escape(workflow.label(get("status"), lang)),
        lang.t(Msg::CardPriority),
        escape(&priority_label(lang, get("priority"))),
        lang.t(Msg::CardAssigned),
        who("assigned_to"),
    );
    if !get("due_date").is_empty() {
        text.push_str(&format!(" · {}: {}", lang.t(Msg::CardDue), escape(get("due_date"))));
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
pub fn status_buttons(
    services: &Services,
    p: &Principal,
    id: u64,
    task: &Fields,
    etag: &str,
    lang: Lang,
) -> Vec<Vec<Button>> {
    let current = task.get("status").map(String::as_str).unwrap_or("");
    let tag = etag.trim_matches('"');
    let workflow = &services.records.deadlines().workflow;
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
            Button { label: format!("→ {}", workflow.label(s, lang)), data }
        })
        .filter(|b| b.data.len() <= 64)
        .collect();
    buttons.chunks(3).map(<[Button]>::to_vec).collect()
}

/// One person's day, as the bot writes it.
pub fn personal_report(person: &Person, team: Option<&Team>, workflow: &Workflow, lang: Lang) -> String {
    let mut text = lang.f(Msg::ReportHello, &[("name", &escape(&person.name))]);
    text.push('\n');
    let by_status: Vec<String> =
        person.by_status.iter().map(|(s, n)| format!("{} {n}", escape(workflow.label(s, lang)))).collect();
    text.push_str(&format!("\n<b>{}: {}</b>", lang.t(Msg::ReportOpen), person.open.len()));
    if !by_status.is_empty() {
        text.push_str(&format!(" ({})", by_status.join(", ")));
    }
    text.push_str(&format!("\n<b>{}: {}</b>", lang.t(Msg::ReportOverdue), person.overdue.len()));
    for t in person.overdue.iter().take(15) {
        let due = lang.f(Msg::LineDue, &[("due", &escape(&t.due))]);
        text.push_str(&format!("\n• #{} {} ({due})", t.id, escape(&cut(&t.title, 80))));
    }
    text.push_str(&format!("\n<b>{}: {}</b>", lang.t(Msg::ReportDoneToday), person.done_today.len()));
    for t in person.done_today.iter().take(15) {
        text.push_str(&format!("\n• #{} {}", t.id, escape(&cut(&t.title, 80))));
    }
    if let Some(team) = team {
        text.push_str("\n\n");
        text.push_str(&lang.f(
            Msg::ReportTeam,
            &[
                ("open", &team.open),
                ("overdue", &team.overdue),
                ("done", &team.done_today),
                ("unassigned", &team.unassigned_open),
            ],
        ));
    }
    text
}

/// The team chat's summary.
pub fn team_summary(figures: &DayFigures, lang: Lang) -> String {
    let mut text = lang.f(Msg::TeamSummary, &[("date", &escape(&figures.date))]);
    for p in &figures.people {
        text.push('\n');
        text.push_str(&lang.f(
            Msg::TeamLine,
            &[
                ("name", &escape(&p.name)),
                ("open", &p.open.len()),
                ("overdue", &p.overdue.len()),
                ("done", &p.done_today.len()),
            ],
        ));
    }
    let t = &figures.team;
    text.push_str("\n\n");
    text.push_str(&lang.f(Msg::TeamAll, &[("open", &t.open), ("overdue", &t.overdue), ("done", &t.done_today)]));
    text
}
