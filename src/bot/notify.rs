//! Notifications: the bot follows the change feed, asks `service::notices` whom each
//! change concerns, reads the task again as each recipient (so a person is told only
//! about what their role lets them read), and queues the message in the outbox. The
//! daily report fans out to everyone who wants it, and the team summary to
//! `telegram.team_chat_id`.

use tokio::sync::{broadcast, watch};

use crate::i18n::{Lang, Msg};
use crate::service::Services;
use crate::service::access::{Principal, TaskLookup};
use crate::service::notices::{Context, Notice, is_daily_report, notices_of};
use crate::service::telegram::NoticeKind;
use crate::store::{Change, Source};
use teloxide::types::{ChatId, Recipient};

use super::cards::{names, personal_report, show_task_named, team_summary};
use super::outbox::{Button, Outbox, Outgoing};
use super::text::{cut, escape};

/// Follows the feed until `stop` turns true.
pub async fn follow(services: Services, outbox: Outbox, mut stop: watch::Receiver<bool>) {
    let mut feed = services.store.subscribe();
    let mut last = services.store.last_event_id();
    loop {
        tokio::select! {
            received = feed.recv() => match received {
                Ok(change) => {
                    last = last.max(change.event_id);
                    // Of the servers sharing a database, the one that polls Telegram
                    // tells people, once.
                    if services.store.hold_lease(super::LEASE).await {
                        tell(&services, &outbox, &change).await;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Caught up from the journal: record changes, with only their changed
                    // fields (notices_of reads the rest from the task as it is now).
                    tracing::warn!(missed, "the bot fell behind the change feed; catching up from the journal");
                    match services.store.changes_after(last) {
                        Ok(past) => {
                            for change in &past.changes {
                                tell(&services, &outbox, change).await;
                            }
                            last = last.max(past.last_event_id);
                        }
                        Err(e) => tracing::warn!(error = %e, "the bot could not catch up; some notifications are lost"),
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = stop.changed() => return,
        }
    }
}

/// Everything one change tells anyone.
pub async fn tell(services: &Services, outbox: &Outbox, change: &Change) {
    if is_daily_report(change) {
        daily_reports(services, outbox);
        return;
    }
    if let Some(messages) = file_notices(services, change) {
        for message in messages {
            outbox.push(message);
        }
        return;
    }
    if let Some(messages) = binding_notices(services, change) {
        for message in messages {
            outbox.push(message);
        }
        return;
    }
    let task = |id| services.records.task(id);
    let last_assigner = |id| services.records.last_assigner(id);
    let managers = if change.table == crate::domain::TableKind::Tasks && change.op == crate::store::ChangeOp::Create {
        services.records.active_with_role("manager")
    } else {
        Vec::new()
    };
    let context = Context { task: &task, managers: &managers, last_assigner: &last_assigner };
    if let Some(line) = team_chat_new_task(services, change) {
        outbox.push(line);
    }
    for notice in notices_of(change, &context) {
        if let Some(message) = message_for(services, change, &notice) {
            outbox.push(message);
        }
    }
}

/// The message for one notice, or None when its recipient does not want it, has no
/// Telegram, or may not read what it is about. One who blocked the bot gets it too:
/// the outbox holds it until they write to the bot again.
fn message_for(services: &Services, change: &Change, notice: &Notice) -> Option<Outgoing> {
    let chats = &services.chats;
    if !chats.settings(notice.user_id).is_on(notice.kind) {
        return None;
    }
    let chat = chats.chat_of(notice.user_id)?;
    let p = chats.recipient(notice.user_id)?;
    let lang = chats.lang_of(notice.user_id);
    let after = |k: &str| change.after.as_ref().and_then(|a| a.get(k)).cloned().unwrap_or_default();
    let before = |k: &str| change.before.as_ref().and_then(|b| b.get(k)).cloned().unwrap_or_default();
    // Whom the recipient may name, read once for the lead and the card.
    let known = names(services, &p);
    let by = actor(&known, change, lang);
    let workflow = &services.records.deadlines().workflow;
    let me = notice.user_id.to_string();
    let changed = |k: &str| change.after.as_ref().and_then(|a| a.get(k)).is_some_and(|v| before(k) != *v);
    if change.op == crate::store::ChangeOp::Delete {
        // The task is gone: told from what it was (its assignee read it until now).
        let text = lang
            .f(Msg::LeadDeleted, &[("by", &by), ("id", &change.id), ("title", &escape(&cut(&before("title"), 200)))]);
        return Some(send(chat, notice.user_id, text, Vec::new()));
    }
    let mut buttons_after = Vec::new();
    let lead = match notice.kind {
        NoticeKind::Assigned if before("assigned_to") == me && after("assigned_to") != me => {
            lang.f(Msg::LeadUnassigned, &[("by", &by)])
        }
        NoticeKind::Assigned => lang.f(Msg::LeadAssigned, &[("by", &by)]),
        NoticeKind::NewTasks => lang.f(Msg::LeadNewTask, &[("by", &by)]),
        NoticeKind::Status if !changed("status") && changed("due_date") => {
            let date = |d: String| if d.is_empty() { lang.t(Msg::NoDate).to_string() } else { escape(&d) };
            lang.f(
                Msg::LeadDue,
                &[("before", &date(before("due_date"))), ("after", &date(after("due_date"))), ("by", &by)],
            )
        }
        NoticeKind::Status if !changed("status") && changed("priority") => lang.f(
            Msg::LeadPriority,
            &[
                ("before", &escape(&super::cards::priority_label(lang, &before("priority")))),
                ("after", &escape(&super::cards::priority_label(lang, &after("priority")))),
                ("by", &by),
            ],
        ),
        NoticeKind::Status => {
            let (was, is) = (before("status"), after("status"));
            // Finished work, told to the client who asked for it: rate it here.
            let task_now = notice.task_id.and_then(|t| services.records.task(t));
            let creator = task_now.as_ref().and_then(|t| t.get("created_by")).cloned().unwrap_or_default();
            if workflow.is_done(&is) && creator == me && p.role == crate::auth::policy::Role::Client {
                buttons_after = rating_buttons(notice.task_id.unwrap_or_default());
            }
            lang.f(
                Msg::LeadStatus,
                &[
                    ("before", &escape(workflow.label(&was, lang))),
                    ("after", &escape(workflow.label(&is, lang))),
                    ("by", &by),
                ],
            )
        }
        NoticeKind::Comments => {
            format!("{}\n{}\n", lang.f(Msg::LeadComment, &[("by", &by)]), escape(&cut(&after("message"), 600)))
        }
        NoticeKind::Deadlines => {
            let overdue = after("data").contains("\"overdue\"");
            lang.t(if overdue { Msg::LeadOverdue } else { Msg::LeadDueSoon }).to_string()
        }
        NoticeKind::Keys => {
            return Some(send(chat, notice.user_id, key_notice(&after("data"), &after("type"), lang), Vec::new()));
        }
        NoticeKind::Report => return None,
    };
    let lead = format!("{lead}\n");
    let task = notice.task_id?;
    // Read as the recipient: a task they may not read is not theirs to hear about.
    let mut reply = show_task_named(services, &p, task, &lead, &known, lang).ok()?;
    if !buttons_after.is_empty() {
        reply.text.push_str(&format!("\n\n{}", lang.t(Msg::RateAsk)));
        let form = services.config.feedback.form_url.trim();
        if !form.is_empty() {
            reply.text.push_str(&format!("\n{}", lang.f(Msg::RateForm, &[("url", &escape(form))])));
        }
        reply.buttons = buttons_after;
    }
    if notice.kind == NoticeKind::NewTasks && after("assigned_to").is_empty() {
        reply.buttons.push(vec![Button { label: lang.t(Msg::TakeIt).into(), data: format!("take:{task}") }]);
    }
    Some(send(chat, notice.user_id, reply.text, reply.buttons))
}

/// A new task's line in the team chat (`telegram.team_chat_new_tasks`): its number and
/// title only, and "Take it" while nobody has it.
fn team_chat_new_task(services: &Services, change: &Change) -> Option<Outgoing> {
    let telegram = &services.config.telegram;
    let chat = telegram.team_chat_id.trim();
    if !telegram.team_chat_new_tasks
        || chat.is_empty()
        || change.table != crate::domain::TableKind::Tasks
        || change.op != crate::store::ChangeOp::Create
    {
        return None;
    }
    let after = change.after.as_ref()?;
    let lang = services.chats.default_lang();
    let title = escape(&cut(after.get("title").map(String::as_str).unwrap_or(""), 200));
    let text = lang.f(Msg::TeamNewTask, &[("id", &change.id), ("title", &title)]);
    let unassigned = after.get("assigned_to").is_none_or(|a| a.is_empty());
    let buttons = if unassigned {
        vec![vec![Button { label: lang.t(Msg::TakeIt).into(), data: format!("take:{}", change.id) }]]
    } else {
        Vec::new()
    };
    let to = match chat.parse::<i64>() {
        Ok(id) => Recipient::Id(ChatId(id)),
        Err(_) => Recipient::ChannelUsername(chat.to_string()),
    };
    Some(Outgoing::Send { to, user: None, text, buttons })
}

/// Buttons 1–5 that rate finished task `task` (`rate:TASK:N`).
fn rating_buttons(task: u64) -> Vec<Vec<Button>> {
    vec![(1..=5).map(|n| Button { label: format!("{n} ⭐"), data: format!("rate:{task}:{n}") }).collect()]
}

fn send(chat: i64, user: u64, text: String, buttons: Vec<Vec<super::outbox::Button>>) -> Outgoing {
    Outgoing::Send { to: Recipient::Id(ChatId(chat)), user: Some(user), text, buttons }
}

/// ` by Anna Petrova (Telegram)`, when the recipient may read who it was.
fn actor(names: &std::collections::HashMap<u64, String>, change: &Change, lang: Lang) -> String {
    let Some(name) = change.actor.and_then(|actor| names.get(&actor)) else { return String::new() };
    let via = match change.source {
        Source::Telegram => lang.t(Msg::ViaTelegram),
        Source::File => lang.t(Msg::ViaFile),
        _ => "",
    };
    format!("{}{via}", lang.f(Msg::By, &[("name", &escape(name))]))
}

/// A key notice from its event (`api_key.expiring` / `api_key.expired`, with the
/// key's name and expiry in its data).
fn key_notice(data: &str, kind: &str, lang: Lang) -> String {
    let data: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
    let name = data["name"].as_str().unwrap_or("");
    let at = data["expires_at"].as_str().unwrap_or("");
    let msg = if kind.ends_with("expired") { Msg::KeyExpired } else { Msg::KeyExpiring };
    lang.f(msg, &[("name", &escape(name)), ("at", &escape(at))])
}

/// A person's save of a table file that does not load (`file.rejected`) is told to
/// every bound admin, with `file:line:column`; None for any other change.
fn file_notices(services: &Services, change: &Change) -> Option<Vec<Outgoing>> {
    if change.table != crate::domain::TableKind::Events {
        return None;
    }
    let after = change.after.as_ref()?;
    if after.get("type").map(String::as_str) != Some("file.rejected") {
        return None;
    }
    let problem = after.get("message").map(String::as_str).unwrap_or("");
    let file = problem.split(':').next().unwrap_or("");
    let chats = &services.chats;
    let told = chats.bound_admins().into_iter().filter_map(|admin| {
        let lang = chats.lang_of(admin);
        let text = lang.f(Msg::FileBroken, &[("file", &escape(file)), ("problem", &escape(&cut(problem, 600)))]);
        Some(send(chats.chat_of(admin)?, admin, text, Vec::new()))
    });
    Some(told.collect())
}

/// What a binding event tells whom: a staff binding held for an admin (Confirm and
/// Reject buttons to every bound admin), a binding made (announced to the admins;
/// the account that lost the user is told), a rejection (told to the account).
/// None for any other change.
fn binding_notices(services: &Services, change: &Change) -> Option<Vec<Outgoing>> {
    if change.table != crate::domain::TableKind::Events {
        return None;
    }
    let after = change.after.as_ref()?;
    let kind = after.get("type").map(String::as_str)?;
    if !kind.starts_with("user.telegram_") {
        return None;
    }
    let data: serde_json::Value = serde_json::from_str(after.get("data").map(String::as_str).unwrap_or("{}")).ok()?;
    let chats = &services.chats;
    let user = data["user_id"].as_u64()?;
    let telegram_id = data["telegram_id"].as_str().unwrap_or("").to_string();
    let telegram = data["telegram_username"].as_str().unwrap_or("").to_string();
    let name = chats.name_of(user);
    let role = chats.recipient(user).map(|p| p.role);
    let mut out = Vec::new();
    let to_chat = |chat: i64, text: String, buttons| Outgoing::Send {
        to: Recipient::Id(ChatId(chat)),
        user: None,
        text,
        buttons,
    };
    // What the admins are told: asked to confirm a held binding, or told of one made.
    let to_admins = |msg: Msg, ask: bool| -> Vec<Outgoing> {
        let handle = if telegram.is_empty() { "—".to_string() } else { telegram.clone() };
        (chats.bound_admins().into_iter().filter(|a| *a != user))
            .filter_map(|admin| {
                let chat = chats.chat_of(admin)?;
                let lang = chats.lang_of(admin);
                let role = role.map(|r| super::cards::role_label(lang, r)).unwrap_or_default();
                let args: [(&str, &dyn std::fmt::Display); 4] = [
                    ("telegram", &escape(&handle)),
                    ("telegram_id", &telegram_id),
                    ("name", &escape(&name)),
                    ("role", &role),
                ];
                let buttons = if ask {
                    vec![vec![
                        Button { label: lang.t(Msg::Confirm).into(), data: format!("bind:ok:{user}:{telegram_id}") },
                        Button { label: lang.t(Msg::Reject).into(), data: format!("bind:no:{user}:{telegram_id}") },
                    ]]
                } else {
                    Vec::new()
                };
                Some(Outgoing::Send {
                    to: Recipient::Id(ChatId(chat)),
                    user: Some(admin),
                    text: lang.f(msg, &args),
                    buttons,
                })
            })
            .collect()
    };
    match kind {
        "user.telegram_binding_held" => out.extend(to_admins(Msg::BindingAsk, true)),
        "user.telegram_bound" => {
            out.extend(to_admins(Msg::BindingAnnounced, false));
            let lang = chats.lang_of(user);
            if let Ok(chat) = telegram_id.parse::<i64>()
                && data["confirmed"] == true
            {
                // Confirmed by an admin: the person who asked hears it took effect.
                out.push(to_chat(chat, lang.f(Msg::BindingConfirmed, &[("name", &escape(&name))]), Vec::new()));
            }
            if let Some(previous) = data["previous_telegram_id"].as_str().and_then(|p| p.parse::<i64>().ok()) {
                out.push(to_chat(previous, lang.f(Msg::BindingLost, &[("name", &escape(&name))]), Vec::new()));
            }
        }
        "user.telegram_binding_rejected" => {
            if let Ok(chat) = telegram_id.parse::<i64>() {
                let lang = chats.default_lang();
                out.push(to_chat(chat, lang.t(Msg::BindingRejected).to_string(), Vec::new()));
            }
        }
        _ => {}
    }
    Some(out)
}

/// The daily report: each active, linked user who wants it gets their own figures
/// (the team's too for those who read everyone's statistics), and the team chat the
/// summary.
pub fn daily_reports(services: &Services, outbox: &Outbox) -> usize {
    let system = Principal::system(Source::Telegram);
    let figures = match services.records.day_figures(&system, chrono::Utc::now()) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "the daily report could not be read for Telegram");
            return 0;
        }
    };
    let mut queued = 0;
    for person in &figures.people {
        let Some(chat) = services.chats.chat_of(person.user_id) else { continue };
        if !services.chats.settings(person.user_id).is_on(NoticeKind::Report) {
            continue;
        }
        let Some(p) = services.chats.recipient(person.user_id) else { continue };
        let team = (p.scope(crate::auth::policy::Area::Stats, crate::auth::policy::Action::Read)
            == crate::auth::policy::Scope::All)
            .then_some(&figures.team);
        let lang = services.chats.lang_of(person.user_id);
        let text = personal_report(person, team, &services.records.deadlines().workflow, lang);
        if outbox.push(send(chat, person.user_id, text, Vec::new())) {
            queued += 1;
        }
    }
    let team_chat = services.config.telegram.team_chat_id.trim();
    if !team_chat.is_empty() {
        let to = match team_chat.parse::<i64>() {
            Ok(id) => Recipient::Id(ChatId(id)),
            Err(_) => Recipient::ChannelUsername(team_chat.to_string()),
        };
        let text = team_summary(&figures, services.chats.default_lang());
        outbox.push(Outgoing::Send { to, user: None, text, buttons: Vec::new() });
    }
    queued
}
