//! The chat commands and the inline buttons. Each command recognises its sender
//! (`service::telegram::Chats::recognise`), then calls the same use case the REST API
//! calls, with the user's role and source `telegram`; a refusal is said in the reply
//! and changes nothing. Arguments are parsed here, and a bad one answers the command's
//! usage.

use chrono::Utc;

use crate::domain::TableKind;
use crate::service::Services;
use crate::service::access::{Principal, ServiceError};
use crate::service::analysis::AnalysisError;
use crate::service::telegram::NoticeKind;
use crate::store::{Fields, StoreError};

use super::cards::{Reply, personal_report, show_task, task_line};
use super::outbox::Button;
use super::text::{cut, escape};

/// What pressing a button does: a short notice on the user's screen, and the message
/// the button was on, redrawn.
#[derive(Debug, Clone, Default)]
pub struct Pressed {
    pub toast: String,
    pub redraw: Option<Reply>,
}

/// Who wrote, as Telegram says.
#[derive(Debug, Clone)]
pub struct Sender {
    pub id: i64,
    pub username: Option<String>,
}

const HELP: &str = "<b>taskboard</b>\n\
/tasks — your open tasks\n\
/task N — one task\n\
/new TITLE — a new task\n\
/status N STATUS — change a task's status\n\
/done N — mark a task done\n\
/take N — assign a task to yourself\n\
/comment N TEXT — comment on a task\n\
/report — your day\n\
/analyze N — an AI analysis of a task\n\
/settings — which notifications you get\n\
/help — this list";

/// Answers one text message; also says which user wrote (None: nobody the bot knows).
pub async fn on_message(services: &Services, from: &Sender, text: &str) -> (Reply, Option<u64>) {
    let text = text.trim();
    let (command, args) = split_command(text);
    let chats = &services.chats;
    // Linking comes before recognising: the code is how an unknown account gets known.
    if matches!(command.as_str(), "/start" | "/login") && !args.is_empty() {
        return match chats.redeem(args, from.id, Utc::now()).await {
            Ok(p) => (
                Reply::text(format!(
                    "Linked: you are <b>{}</b> ({}). You will be told about your tasks here.\n\n{HELP}",
                    escape(&p.username),
                    p.role
                )),
                p.user_id,
            ),
            Err(e) => (Reply::text(escape(&e.to_string())), None),
        };
    }
    let p = match chats.recognise(from.id, from.username.as_deref()).await {
        Ok(p) => p,
        Err(e) => return (Reply::text(escape(&e.to_string())), None),
    };
    if let Some(user) = p.user_id {
        // Writing to the bot again undoes a block.
        let _ = chats.set_blocked(user, false, Utc::now()).await;
    }
    let outcome = match command.as_str() {
        "/start" | "/help" => Ok(Reply::text(format!("Hello, <b>{}</b>!\n\n{HELP}", escape(&p.username)))),
        "/login" => Ok(Reply::text("Usage: /login CODE (the code from the board's \"Link Telegram\")")),
        "/tasks" => my_tasks(services, &p),
        "/task" => match task_id(args) {
            Some(id) => show_task(services, &p, id, ""),
            None => Ok(Reply::text("Usage: /task N (N is the task's number)")),
        },
        "/new" => new_task(services, &p, args).await,
        "/status" => {
            let mut words = args.split_whitespace();
            match (words.next().and_then(task_id), words.next(), words.next()) {
                (Some(id), Some(status), None) => set_status(services, &p, id, status).await,
                _ => Ok(Reply::text(format!(
                    "Usage: /status N STATUS, where STATUS is one of {}",
                    services.config.tasks.statuses.join(", ")
                ))),
            }
        }
        "/done" => match task_id(args) {
            Some(id) => set_status(services, &p, id, "done").await,
            None => Ok(Reply::text("Usage: /done N")),
        },
        "/take" => match task_id(args) {
            Some(id) => take(services, &p, id).await,
            None => Ok(Reply::text("Usage: /take N")),
        },
        "/comment" => {
            let (id, message) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
            match (task_id(id), message.trim()) {
                (Some(id), message) if !message.is_empty() => comment(services, &p, id, message).await,
                _ => Ok(Reply::text("Usage: /comment N TEXT")),
            }
        }
        "/report" => report(services, &p),
        "/analyze" => match task_id(args) {
            Some(id) => Ok(analyze(services, &p, id).await),
            None => Ok(Reply::text("Usage: /analyze N")),
        },
        "/settings" => Ok(settings(services, &p)),
        c if c.starts_with('/') => Ok(Reply::text(format!("Unknown command {}.\n\n{HELP}", escape(c)))),
        _ => Ok(Reply::text(format!("Commands start with /.\n\n{HELP}"))),
    };
    (outcome.unwrap_or_else(|e| Reply::text(refused(&e))), p.user_id)
}

/// Answers a button press. The sender is recognised and authorised again: their role
/// may have changed since the message was sent.
pub async fn on_press(services: &Services, from: &Sender, data: &str) -> Pressed {
    let p = match services.chats.recognise(from.id, from.username.as_deref()).await {
        Ok(p) => p,
        Err(e) => return Pressed { toast: cut(&e.to_string(), 190), redraw: None },
    };
    let parts: Vec<&str> = data.split(':').collect();
    match parts.as_slice() {
        ["st", id, status, etag] => {
            let Some(id) = task_id(id) else { return toast("This button is broken; send /task N") };
            let if_match = (!etag.is_empty()).then(|| format!("\"{etag}\""));
            let fields: Fields = [("status".to_string(), status.to_string())].into();
            match services.records.update(&p, TableKind::Tasks, id, fields, if_match, false).await {
                Ok(_) => Pressed {
                    toast: format!("#{id} is now {status}"),
                    redraw: show_task(
                        services,
                        &p,
                        id,
                        &format!("✅ You set the status to <b>{}</b>.\n", escape(status)),
                    )
                    .ok(),
                },
                Err(ServiceError::Store(StoreError::PreconditionFailed)) => Pressed {
                    toast: format!("#{id} changed meanwhile; here it is as it stands"),
                    redraw: show_task(services, &p, id, "⚠️ Changed meanwhile: nothing was changed by you.\n").ok(),
                },
                Err(e) => toast(&refused(&e)),
            }
        }
        ["set", kind, on] => {
            let Some(kind) = NoticeKind::parse(kind) else { return toast("Unknown setting") };
            match services.chats.set_notice(&p, kind, *on == "1").await {
                Ok(_) => Pressed {
                    toast: format!("{} notifications {}", kind.name(), if *on == "1" { "on" } else { "off" }),
                    redraw: Some(settings(services, &p)),
                },
                Err(e) => toast(&refused(&e)),
            }
        }
        _ => toast("This button is from an older version; send /help"),
    }
}

fn toast(text: &str) -> Pressed {
    Pressed { toast: cut(text, 190), redraw: None }
}

/// `/cmd@botname rest` → (`/cmd`, `rest`).
fn split_command(text: &str) -> (String, &str) {
    let (head, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let command = head.split('@').next().unwrap_or(head).to_ascii_lowercase();
    (command, rest.trim())
}

fn task_id(text: &str) -> Option<u64> {
    text.trim().trim_start_matches('#').parse().ok().filter(|id| *id > 0)
}

/// A refusal in words, as the REST API would give it.
pub fn refused(e: &ServiceError) -> String {
    let text = match e {
        ServiceError::Store(StoreError::Invalid(errors)) => {
            let list: Vec<String> = errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
            format!("Not done: {}", list.join("; "))
        }
        ServiceError::Forbidden(why) => format!("Not allowed: {why}"),
        other => format!("Not done: {other}"),
    };
    escape(&text)
}

fn my_tasks(services: &Services, p: &Principal) -> Result<Reply, ServiceError> {
    let me = p.user_id.map(|u| u.to_string()).unwrap_or_default();
    let open: Vec<&str> = services
        .config
        .tasks
        .statuses
        .iter()
        .map(String::as_str)
        .filter(|s| !services.records.deadlines().is_closed(s))
        .collect();
    let whose = if p.role == crate::auth::policy::Role::Client { "created_by" } else { "assigned_to" };
    let params: Vec<(String, String)> =
        [(whose, me), ("status", open.join(",")), ("sort", "due_date,id".to_string()), ("per_page", "30".to_string())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    let query = crate::service::ListQuery::from_params(&params).map_err(ServiceError::invalid)?;
    let (page, _) = services.records.list(p, TableKind::Tasks, query)?;
    if page.total == 0 {
        return Ok(Reply::text("You have no open tasks."));
    }
    let mut text = format!("<b>Your open tasks: {}</b>", page.total);
    for task in page.items() {
        text.push('\n');
        text.push_str(&task_line(&task));
    }
    if page.total > page.rows.len() {
        text.push_str(&format!("\n… and {} more on the board", page.total - page.rows.len()));
    }
    Ok(Reply::text(text))
}

async fn new_task(services: &Services, p: &Principal, title: &str) -> Result<Reply, ServiceError> {
    if title.is_empty() {
        return Ok(Reply::text("Usage: /new TITLE"));
    }
    let fields: Fields = [("title".to_string(), title.to_string())].into();
    let committed = services.records.create(p, TableKind::Tasks, fields).await?;
    show_task(services, p, committed.id, "🆕 Created.\n")
}

async fn set_status(services: &Services, p: &Principal, id: u64, status: &str) -> Result<Reply, ServiceError> {
    let fields: Fields = [("status".to_string(), status.to_string())].into();
    services.records.update(p, TableKind::Tasks, id, fields, None, false).await?;
    show_task(services, p, id, &format!("✅ Status set to <b>{}</b>.\n", escape(status)))
}

async fn take(services: &Services, p: &Principal, id: u64) -> Result<Reply, ServiceError> {
    let me = p.user_id.ok_or_else(|| ServiceError::Forbidden("no user is acting".into()))?;
    let fields: Fields = [("assigned_to".to_string(), me.to_string())].into();
    services.records.update(p, TableKind::Tasks, id, fields, None, false).await?;
    show_task(services, p, id, "🙋 It is yours now.\n")
}

async fn comment(services: &Services, p: &Principal, id: u64, message: &str) -> Result<Reply, ServiceError> {
    let fields: Fields = [("message".to_string(), message.to_string())].into();
    services.records.comment(p, id, fields).await?;
    Ok(Reply::text(format!("💬 Comment added to #{id}.")))
}

fn report(services: &Services, p: &Principal) -> Result<Reply, ServiceError> {
    let (person, team) = services.records.report_for(p, Utc::now())?;
    Ok(Reply::text(personal_report(&person, team.as_ref())))
}

async fn analyze(services: &Services, p: &Principal, id: u64) -> Reply {
    match services.analyst.analyze(p, id, false).await {
        Ok(a) => {
            let c = &a.content;
            let mut text = format!(
                "🤖 <b>Analysis of #{id}</b> ({})\n{}\n\nSuggested priority: <b>{}</b> — {}\nEffort: {} ({}–{} h)",
                a.source,
                escape(&cut(&c.summary, 800)),
                escape(&c.suggested_priority),
                escape(&cut(&c.priority_rationale, 300)),
                escape(&c.effort.size),
                c.effort.hours_min,
                c.effort.hours_max,
            );
            if !c.risk_flags.is_empty() {
                text.push_str("\n\n<b>Risks</b>");
                for r in c.risk_flags.iter().take(8) {
                    text.push_str(&format!(
                        "\n• {} ({}): {}",
                        escape(&r.kind),
                        escape(&r.severity),
                        escape(&cut(&r.detail, 200))
                    ));
                }
            }
            if !c.subtasks.is_empty() {
                text.push_str("\n\n<b>Subtasks</b>");
                for s in c.subtasks.iter().take(10) {
                    text.push_str(&format!("\n• {} (~{} h)", escape(&cut(&s.title, 150)), s.estimate_hours));
                }
            }
            if !c.possible_duplicates.is_empty() {
                let ids: Vec<String> = c.possible_duplicates.iter().map(|d| format!("#{}", d.task_id)).collect();
                text.push_str(&format!("\n\nPossible duplicates: {}", ids.join(", ")));
            }
            if !c.clarifying_questions.is_empty() {
                text.push_str("\n\n<b>Questions</b>");
                for q in c.clarifying_questions.iter().take(5) {
                    text.push_str(&format!("\n• {}", escape(&cut(q, 200))));
                }
            }
            Reply::text(text)
        }
        Err(AnalysisError::Service(e)) => Reply::text(refused(&e)),
        Err(e @ AnalysisError::QuotaSpent(_)) => Reply::text(escape(&e.to_string())),
    }
}

/// `/settings`: each kind with its state and a button that flips it.
fn settings(services: &Services, p: &Principal) -> Reply {
    let Some(user) = p.user_id else { return Reply::text("Settings belong to a user.") };
    let current = services.chats.settings(user);
    let mut text = String::from("<b>Your notifications</b> (press to switch)");
    let mut buttons = Vec::new();
    for kind in NoticeKind::ALL {
        let on = current.is_on(kind);
        text.push_str(&format!("\n{} {}", if on { "✅" } else { "❌" }, describe(kind)));
        buttons.push(vec![Button {
            label: format!("{} {}", if on { "Turn off" } else { "Turn on" }, kind.name()),
            data: format!("set:{}:{}", kind.name(), if on { "0" } else { "1" }),
        }]);
    }
    Reply { text, buttons }
}

fn describe(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::Assigned => "a task is assigned to you",
        NoticeKind::Status => "the status of your task changes",
        NoticeKind::Comments => "a comment on your task",
        NoticeKind::Deadlines => "deadline reminders",
        NoticeKind::Report => "your daily report",
        NoticeKind::Keys => "your API keys expiring",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_lose_the_bot_name_and_keep_their_arguments() {
        assert_eq!(split_command("/Task@board_bot  42 "), ("/task".to_string(), "42"));
        assert_eq!(split_command("/comment 3 it is  fixed"), ("/comment".to_string(), "3 it is  fixed"));
        assert_eq!(split_command("/tasks"), ("/tasks".to_string(), ""));
    }

    #[test]
    fn task_numbers_are_positive_and_may_carry_a_hash() {
        assert_eq!(task_id("#12"), Some(12));
        assert_eq!(task_id("0"), None);
        assert_eq!(task_id("x"), None);
    }
}
