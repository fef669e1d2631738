//! The Telegram bot: a source beside the REST API and the scheduler. It runs inside
//! the server when `telegram.bot_token` is set, long polling `telegram.api_url`
//! (`getUpdates`), and never takes the server down: a Bot API that is unreachable, that
//! answers 5xx or 429, or that sends an update we cannot read only puts the bot into
//! `retrying` (with the error, its token blanked, in `/api/health`) while it tries
//! again with backoff.
//!
//! - `commands.rs`: the chat commands and buttons, each a call of the service.
//! - `cards.rs`: a task and a person's day as messages.
//! - `notify.rs`: notifications from the change feed.
//! - `outbox.rs`: sending within Telegram's limits.
//! - `text.rs`: HTML escaping and splitting.

pub mod cards;
pub mod commands;
pub mod menus;
mod notify;
pub mod outbox;
pub mod text;

use std::sync::Arc;
use std::time::Duration;

use teloxide::payloads::{AnswerCallbackQuerySetters, GetUpdatesSetters, SetMyCommandsSetters};
use teloxide::prelude::Requester;
use teloxide::types::{AllowedUpdate, ChatId, MaybeInaccessibleMessage, Recipient, Update, UpdateKind};
use teloxide::{ApiError, RequestError};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::service::Services;

use commands::Sender;
use outbox::{Outbox, Outgoing};
use text::redact;

/// The long poll: Telegram holds `getUpdates` this long when nothing happens. Below the
/// HTTP client's own timeout (17 s in teloxide's defaults).
const POLL_SECONDS: u32 = 10;
/// Updates handled at once; the poll waits for a free place, so a flood of updates
/// never holds more than this many (plus one page of 100) in memory.
const HANDLERS: usize = 16;
const BACKOFF_MAX: Duration = Duration::from_secs(15);

/// The running bot.
pub struct Bot {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Starts the bot when a token is configured (None otherwise).
pub fn start(services: &Services) -> Result<Option<Bot>, String> {
    let token = services.config.telegram.bot_token.expose().to_string();
    if token.is_empty() {
        return Ok(None);
    }
    let url = reqwest::Url::parse(&services.config.telegram.api_url).map_err(|e| format!("telegram.api_url: {e}"))?;
    let client =
        teloxide::net::default_reqwest_settings().build().map_err(|e| format!("the bot's HTTP client: {e}"))?;
    let bot = teloxide::Bot::with_client(token.clone(), client).set_api_url(url);
    let (stop, stopped) = watch::channel(false);
    let max_age = Duration::from_secs(services.config.telegram.max_message_age_hours.max(1) * 3600);
    let (outbox, sender) = outbox::start(bot.clone(), services.chats.clone(), token.clone(), stopped.clone(), max_age);
    let mut tasks = JoinSet::new();
    tasks.spawn(sender.run());
    tasks.spawn(notify::follow(services.clone(), outbox.clone(), stopped.clone()));
    tasks.spawn(poll(services.clone(), bot, outbox, token, stopped));
    Ok(Some(Bot { stop, tasks }))
}

impl Bot {
    /// Ends polling (what was read is handled and confirmed to Telegram), then the
    /// outbox gets a few seconds to send what is queued.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// The `telegram` section, checked: the Bot API's address is a web address, and the
/// team chat a chat id or an `@channel`.
pub fn check(section: &crate::config::Telegram) -> Result<(), String> {
    match reqwest::Url::parse(&section.api_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        _ => {
            return Err(format!(
                "telegram.api_url: {:?} is not a web address (like https://api.telegram.org)",
                section.api_url
            ));
        }
    }
    let chat = section.team_chat_id.trim();
    let is_channel = chat
        .strip_prefix('@')
        .is_some_and(|n| n.len() >= 4 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if !chat.is_empty() && chat.parse::<i64>().is_err() && !is_channel {
        return Err(format!(
            "telegram.team_chat_id: {chat:?} is neither a chat id (a number like -1001234567890) nor an @channel"
        ));
    }
    Ok(())
}

fn note(services: &Services, state: &'static str, error: Option<String>) {
    services.chats.update_state(|s| {
        s.state = state;
        if let Some(e) = error {
            s.last_error = Some(e);
            s.last_error_at = Some(crate::domain::values::now_timestamp());
        }
    });
}

/// How long to wait after a failed call: Telegram's `retry_after` for a 429, else a
/// doubling backoff.
fn wait_after(e: &RequestError, failures: u32) -> Duration {
    match e {
        RequestError::RetryAfter(s) => s.duration(),
        _ => (Duration::from_millis(500) * 2u32.saturating_pow(failures.min(6))).min(BACKOFF_MAX),
    }
}

/// Notes a failed call (health, log) and says how long to wait before the next.
fn failed(services: &Services, call: &str, e: &RequestError, failures: &mut u32, token: &str) -> Duration {
    let wait = wait_after(e, *failures);
    *failures += 1;
    let text = redact(&e.to_string(), token);
    tracing::warn!(error = %text, "the Telegram Bot API failed {call}; retrying in {wait:?}");
    note(services, "retrying", Some(format!("{call}: {text}")));
    wait
}

/// The lease of the server that polls Telegram and sends notifications.
pub(crate) const LEASE: &str = "telegram-bot";
/// How often a server on standby looks whether the lease is free.
const STANDBY_LOOK: Duration = Duration::from_secs(3);

/// The command menu, once per language: Russian for `language_code: ru` clients and
/// English for every other. A failure is logged, never fatal: the commands work
/// without their menu.
async fn register_commands(bot: &teloxide::Bot) {
    use crate::i18n::Lang;
    use teloxide::types::BotCommand;
    for lang in Lang::ALL {
        let commands: Vec<BotCommand> = commands::commands_for(None)
            .into_iter()
            .map(|(name, _, short)| BotCommand::new(name, lang.t(short)))
            .collect();
        let request = bot.set_my_commands(commands);
        let result = match lang {
            Lang::Ru => request.language_code("ru").await,
            Lang::En => request.await,
        };
        if let Err(e) = result {
            tracing::warn!(language = lang.code(), error = %e, "the bot's command menu could not be set");
        }
    }
}

/// Learns who the bot is, then long polls until stopped.
async fn poll(services: Services, bot: teloxide::Bot, outbox: Outbox, token: String, mut stop: watch::Receiver<bool>) {
    let mut failures = 0u32;
    // getMe first: the bot's username is what deep links and the board need.
    loop {
        let result = tokio::select! {
            r = bot.get_me() => r,
            _ = stop.changed() => { note(&services, "stopped", None); return; }
        };
        match result {
            Ok(me) => {
                let username = me.user.username.clone();
                services.chats.update_state(|s| s.username = username);
                note(&services, "ok", None);
                tracing::info!(bot = ?me.user.username, "the Telegram bot is up");
                register_commands(&bot).await;
                break;
            }
            Err(e) => {
                let wait = failed(&services, "getMe", &e, &mut failures, &token);
                if sleep_or_stop(wait, &mut stop).await {
                    note(&services, "stopped", None);
                    return;
                }
            }
        }
    }
    failures = 0;
    let permits = Arc::new(Semaphore::new(HANDLERS));
    let mut handlers = JoinSet::new();
    let mut offset: i32 = 0;
    let mut standing_by = false;
    loop {
        while handlers.try_join_next().is_some() {}
        // Telegram lets one client poll a bot: of the servers sharing a database, the
        // one holding the lease does; the others stand by and take over if it goes.
        if !services.store.hold_lease(LEASE).await {
            standing_by = true;
            note(&services, "standby", None);
            if sleep_or_stop(STANDBY_LOOK, &mut stop).await {
                break;
            }
            continue;
        }
        if std::mem::take(&mut standing_by) {
            tracing::info!("this server now polls Telegram (the lease was free)");
            note(&services, "ok", None);
        }
        let request = bot
            .get_updates()
            .offset(offset)
            .timeout(POLL_SECONDS)
            .limit(100)
            .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
        let result = tokio::select! {
            r = request => r,
            _ = stop.changed() => break,
        };
        let updates = match result {
            Ok(updates) => {
                if failures > 0 {
                    note(&services, "ok", None);
                    failures = 0;
                }
                updates
            }
            Err(e) => {
                let wait = failed(&services, "getUpdates", &e, &mut failures, &token);
                if sleep_or_stop(wait, &mut stop).await {
                    break;
                }
                continue;
            }
        };
        for update in updates {
            offset = offset.max(update.id.0 as i32 + 1);
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let (services, outbox, bot) = (services.clone(), outbox.clone(), bot.clone());
            handlers.spawn(async move {
                handle(&services, &outbox, &bot, update).await;
                services.chats.update_state(|s| s.updates_handled += 1);
                drop(permit);
            });
        }
    }
    // What was read is handled, then confirmed, so Telegram does not send it again.
    while handlers.join_next().await.is_some() {}
    if offset > 0 {
        let confirm = bot.get_updates().offset(offset).timeout(0).limit(1);
        if let Err(e) = tokio::time::timeout(Duration::from_secs(3), confirm).await.unwrap_or(Ok(Vec::new())) {
            tracing::warn!(error = %redact(&e.to_string(), &token), "could not confirm the last updates to Telegram");
        }
    }
    note(&services, "stopped", None);
}

/// Sleeps, unless told to stop first (true).
async fn sleep_or_stop(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// One update: a message in a private chat, or a button press. Anything else (group
/// chatter, an update kind we do not read) is passed over.
async fn handle(services: &Services, outbox: &Outbox, bot: &teloxide::Bot, update: Update) {
    match update.kind {
        UpdateKind::Message(message) => {
            let (Some(from), Some(text)) = (message.from.as_ref(), message.text()) else { return };
            if !message.chat.is_private() || from.is_bot {
                return;
            }
            let sender =
                Sender { id: from.id.0 as i64, username: from.username.clone(), language: from.language_code.clone() };
            let (reply, user) = commands::on_message(services, &sender, text).await;
            outbox.push(Outgoing::Send {
                to: Recipient::Id(message.chat.id),
                user,
                text: reply.text,
                buttons: reply.buttons,
            });
        }
        UpdateKind::CallbackQuery(query) => {
            let sender = Sender {
                id: query.from.id.0 as i64,
                username: query.from.username.clone(),
                language: query.from.language_code.clone(),
            };
            let pressed = match query.data.as_deref() {
                Some(data) => commands::on_press(services, &sender, data).await,
                None => {
                    let lang = services.chats.lang_for(None, sender.language.as_deref());
                    commands::Pressed { toast: lang.t(crate::i18n::Msg::EmptyButton).into(), redraw: None }
                }
            };
            // Always answered, or the user's button keeps spinning.
            let answer = bot.answer_callback_query(query.id.clone()).text(pressed.toast);
            if let Err(e) = answer.await
                && !matches!(e, RequestError::Api(ApiError::InvalidQueryId))
            {
                tracing::debug!(error = %redact(&e.to_string(), bot.token()), "answerCallbackQuery failed");
            }
            if let (Some(redraw), Some(MaybeInaccessibleMessage::Regular(message))) = (pressed.redraw, query.message) {
                outbox.push(Outgoing::Edit {
                    chat: ChatId(message.chat.id.0),
                    message: message.id,
                    text: redraw.text,
                    buttons: redraw.buttons,
                });
            }
        }
        UpdateKind::Error(value) => {
            tracing::warn!(
                update = update.id.0,
                "an update the bot cannot read was passed over: {}",
                text::cut(&value.to_string(), 200)
            );
        }
        _ => {}
    }
}
