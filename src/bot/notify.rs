//! Notifications: the bot follows the change feed, asks `service::notices` whom each
//! change concerns, reads the task again as each recipient (so a person is told only
//! about what their role lets them read), and queues the message in the outbox. The
//! daily report fans out to everyone who wants it, and the team summary to
//! `telegram.team_chat_id`.

use tokio::sync::{broadcast, watch};

use crate::service::Services;
use crate::service::access::{Principal, TaskLookup};
use crate::service::notices::{Notice, is_daily_report, notices_of};
use crate::service::telegram::NoticeKind;
use crate::store::{Change, Source};
use teloxide::types::{ChatId, Recipient};

use super::cards::{names, personal_report, show_task_named, team_summary};
use super::outbox::{Outbox, Outgoing};
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
    let lookup = |id| services.records.task(id);
    for notice in notices_of(change, &lookup) {
        if let Some(message) = message_for(services, change, &notice) {
            outbox.push(message);
        }
    }
}

/// The message for one notice, or None when its recipient does not want it, has no
/// Telegram, blocked the bot, or may not read what it is about.
fn message_for(services: &Services, change: &Change, notice: &Notice) -> Option<Outgoing> {
    let chats = &services.chats;
    if !chats.settings(notice.user_id).wants(notice.kind) {
        return None;
    }
    let chat = chats.chat_of(notice.user_id)?;
    let p = chats.recipient(notice.user_id)?;
    let after = |k: &str| change.after.as_ref().and_then(|a| a.get(k)).cloned().unwrap_or_default();
    let before = |k: &str| change.before.as_ref().and_then(|b| b.get(k)).cloned().unwrap_or_default();
    // Whom the recipient may name, read once for the lead and the card.
    let known = names(services, &p);
    let by = actor(&known, change);
    let lead = match notice.kind {
        NoticeKind::Assigned => format!("📌 <b>Assigned to you</b>{by}\n"),
        NoticeKind::Status => {
            format!("🔄 <b>Status: {} → {}</b>{by}\n", escape(&before("status")), escape(&after("status")))
        }
        NoticeKind::Comments => format!("💬 <b>New comment</b>{by}:\n{}\n\n", escape(&cut(&after("message"), 600))),
        NoticeKind::Deadlines => {
            let overdue = after("data").contains("\"overdue\"");
            format!("⏰ <b>{}</b>\n", if overdue { "Overdue" } else { "Due soon" })
        }
        NoticeKind::Keys => {
            return Some(send(chat, notice.user_id, format!("🔑 {}", escape(&after("message"))), Vec::new()));
        }
        NoticeKind::Report => return None,
    };
    let task = notice.task_id?;
    // Read as the recipient: a task they may not read is not theirs to hear about.
    let reply = show_task_named(services, &p, task, &lead, &known).ok()?;
    Some(send(chat, notice.user_id, reply.text, reply.buttons))
}

fn send(chat: i64, user: u64, text: String, buttons: Vec<Vec<super::outbox::Button>>) -> Outgoing {
    Outgoing::Send { to: Recipient::Id(ChatId(chat)), user: Some(user), text, buttons }
}

/// ` by anna (Telegram)`, when the recipient may read who it was.
fn actor(names: &std::collections::HashMap<u64, String>, change: &Change) -> String {
    let Some(name) = change.actor.and_then(|actor| names.get(&actor)) else { return String::new() };
    let via = match change.source {
        Source::Telegram => " (Telegram)",
        Source::File => " (in the file)",
        _ => "",
    };
    format!(" by {}{via}", escape(name))
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
        if !services.chats.settings(person.user_id).wants(NoticeKind::Report) {
            continue;
        }
        let Some(p) = services.chats.recipient(person.user_id) else { continue };
        let team = (p.scope(crate::auth::policy::Area::Stats, crate::auth::policy::Action::Read)
            == crate::auth::policy::Scope::All)
            .then_some(&figures.team);
        if outbox.push(send(chat, person.user_id, personal_report(person, team), Vec::new())) {
            queued += 1;
        }
    }
    let team_chat = services.config.telegram.team_chat_id.trim();
    if !team_chat.is_empty() {
        let to = match team_chat.parse::<i64>() {
            Ok(id) => Recipient::Id(ChatId(id)),
            Err(_) => Recipient::ChannelUsername(team_chat.to_string()),
        };
        outbox.push(Outgoing::Send { to, user: None, text: team_summary(&figures), buttons: Vec::new() });
    }
    queued
}
