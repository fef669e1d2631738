//! Everything the bot sends goes through one queue that keeps Telegram's limits
//! (about one message a second per chat and thirty a second in all), waits as long as
//! a 429's `retry_after` says, and stops writing to a user who blocked the bot (marked
//! in telegram.csv, skipped until they write again). Written here rather than
//! teloxide's `Throttle` so that the blocked mark, the health figures and the shutdown
//! are ours.
//!
//! Delivery is durable: a message Telegram did not take (down, 5xx, 429, the network)
//! is retried with backoff (up to a minute between tries) until it is delivered or
//! older than `telegram.max_message_age_hours`. While anything waits after a failure,
//! and at a clean stop, what waits is kept (`Chats::keep_undelivered`: the data folder,
//! or the database on PostgreSQL) and queued again at the next start.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use teloxide::payloads::{EditMessageTextSetters, SendMessageSetters};
use teloxide::prelude::Requester;
use teloxide::types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup, MessageId, ParseMode, Recipient};
use teloxide::{ApiError, RequestError};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::service::telegram::Chats;

use super::text;

/// Waiting messages beyond this are dropped (and counted): memory stays bounded
/// whatever floods in.
pub const QUEUE_LIMIT: usize = 10_000;
const PER_CHAT_GAP: Duration = Duration::from_secs(1);
const PER_SECOND: usize = 30;
/// The longest wait between two tries of one message.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often what waits after a failure is kept for a restart.
const KEEP_EVERY: Duration = Duration::from_secs(2);

/// An inline button: its label and the callback data it sends back (≤ 64 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub data: String,
}

/// A message to send, or one to change.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Send {
        to: Recipient,
        /// The user behind the chat, to mark when they blocked the bot.
        user: Option<u64>,
        /// Telegram HTML, split here when too long (the buttons go with the last part).
        text: String,
        buttons: Vec<Vec<Button>>,
    },
    Edit {
        chat: ChatId,
        message: MessageId,
        text: String,
        buttons: Vec<Vec<Button>>,
    },
}

impl Outgoing {
    fn chat_key(&self) -> String {
        match self {
            Outgoing::Send { to: Recipient::Id(id), .. } | Outgoing::Edit { chat: id, .. } => id.0.to_string(),
            Outgoing::Send { to: Recipient::ChannelUsername(name), .. } => name.clone(),
        }
    }
}

/// The sending side of the queue.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    chats: Arc<Chats>,
}

impl Outbox {
    /// Queues a message; false (and counted as failed) when [`QUEUE_LIMIT`] messages
    /// wait already (in the channel or in the sender's own queues).
    pub fn push(&self, message: Outgoing) -> bool {
        let mut room = false;
        self.chats.update_state(|s| {
            room = s.queued < QUEUE_LIMIT;
            if room {
                s.queued += 1;
            } else {
                s.messages_failed += 1;
            }
        });
        if room && self.tx.try_send(message).is_ok() {
            return true;
        }
        if room {
            self.chats.update_state(|s| {
                s.queued = s.queued.saturating_sub(1);
                s.messages_failed += 1;
            });
        }
        tracing::warn!("the bot's outbox is full ({QUEUE_LIMIT} waiting); a message was dropped");
        false
    }
}

/// A queue and the task that empties it, until `stop` turns true (what is still
/// queued then gets a few seconds to go out).
pub fn start(
    bot: teloxide::Bot,
    chats: Arc<Chats>,
    token: String,
    stop: watch::Receiver<bool>,
    max_age: Duration,
) -> (Outbox, Sender) {
    let (tx, rx) = mpsc::channel(QUEUE_LIMIT);
    let outbox = Outbox { tx, chats: chats.clone() };
    let mut sender = Sender {
        bot,
        chats,
        token,
        rx,
        stop,
        queues: HashMap::new(),
        order: VecDeque::new(),
        max_age,
        failing: false,
        kept_at: None,
        held: HashMap::new(),
    };
    sender.load_kept();
    (outbox, sender)
}

/// One queued message, how often it was tried, and when it was first queued.
struct Queued {
    message: Outgoing,
    attempts: u32,
    born: chrono::DateTime<chrono::Utc>,
}

/// A waiting message as it is kept across a restart.
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    /// A chat id, or `@channel`.
    chat: String,
    user: Option<u64>,
    /// Set for an edit of an earlier message.
    message_id: Option<i32>,
    text: String,
    buttons: Vec<Vec<(String, String)>>,
    born: chrono::DateTime<chrono::Utc>,
}

impl Kept {
    fn of(q: &Queued) -> Kept {
        let buttons = |rows: &Vec<Vec<Button>>| {
            rows.iter().map(|r| r.iter().map(|b| (b.label.clone(), b.data.clone())).collect()).collect()
        };
        match &q.message {
            Outgoing::Send { to, user, text, buttons: b } => Kept {
                chat: match to {
                    Recipient::Id(id) => id.0.to_string(),
                    Recipient::ChannelUsername(name) => name.clone(),
                },
                user: *user,
                message_id: None,
                text: text.clone(),
                buttons: buttons(b),
                born: q.born,
            },
            Outgoing::Edit { chat, message, text, buttons: b } => Kept {
                chat: chat.0.to_string(),
                user: None,
                message_id: Some(message.0),
                text: text.clone(),
                buttons: buttons(b),
                born: q.born,
            },
        }
    }

    fn into_queued(self) -> Queued {
        let buttons: Vec<Vec<Button>> = self
            .buttons
            .into_iter()
            .map(|r| r.into_iter().map(|(label, data)| Button { label, data }).collect())
            .collect();
        let message = match (self.chat.parse::<i64>(), self.message_id) {
            (Ok(chat), Some(id)) => {
                Outgoing::Edit { chat: ChatId(chat), message: MessageId(id), text: self.text, buttons }
            }
            (Ok(chat), None) => {
                Outgoing::Send { to: Recipient::Id(ChatId(chat)), user: self.user, text: self.text, buttons }
            }
            (Err(_), _) => {
                Outgoing::Send { to: Recipient::ChannelUsername(self.chat), user: self.user, text: self.text, buttons }
            }
        };
        Queued { message, attempts: 0, born: self.born }
    }
}

/// The task that sends.
pub struct Sender {
    bot: teloxide::Bot,
    chats: Arc<Chats>,
    token: String,
    rx: mpsc::Receiver<Outgoing>,
    stop: watch::Receiver<bool>,
    queues: HashMap<String, VecDeque<Queued>>,
    /// Chats with something waiting, in the order they first had it.
    order: VecDeque<String>,
    /// `telegram.max_message_age_hours`: an undelivered message older than this goes.
    max_age: Duration,
    /// A send failed and nothing has gone through since: what waits is kept.
    failing: bool,
    /// When what waits was last kept (None: not since it changed).
    kept_at: Option<Instant>,
    /// What waits for a user who blocked the bot, oldest first: sent when they write
    /// to it again, if still young enough (at most [`HELD_PER_USER`] each).
    held: HashMap<u64, VecDeque<Queued>>,
}

/// The backlog kept for one user who blocked the bot.
const HELD_PER_USER: usize = 100;
/// How often held backlogs are looked at while nothing else wakes the sender.
const HELD_LOOK_EVERY: Duration = Duration::from_secs(1);

/// When each chat may get its next message, and the sends of the last second.
#[derive(Default)]
struct Pace {
    next_for_chat: HashMap<String, Instant>,
    recent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

impl Pace {
    /// When `chat` may get its next message (`now` if it may already).
    fn chat_ready_at(&self, chat: &str, now: Instant) -> Instant {
        let chat_at = self.next_for_chat.get(chat).copied().unwrap_or(now).max(now);
        self.paused_until.map_or(chat_at, |p| p.max(chat_at))
    }

    /// When the next send may go, as far as the overall limit goes.
    fn global_ready_at(&mut self, now: Instant) -> Instant {
        while self.recent.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            self.recent.pop_front();
        }
        if self.recent.len() < PER_SECOND { now } else { self.recent[0] + Duration::from_secs(1) }
    }
}

impl Sender {
    /// Queues again what a previous run kept, if still young enough.
    fn load_kept(&mut self) {
        let Some(bytes) = self.chats.undelivered() else { return };
        let kept: Vec<Kept> = serde_json::from_slice(&bytes).unwrap_or_default();
        let now = chrono::Utc::now();
        let mut count = 0;
        for k in kept {
            if (now - k.born).to_std().is_ok_and(|age| age > self.max_age) {
                continue;
            }
            self.put(k.into_queued());
            count += 1;
        }
        if count > 0 {
            tracing::info!(count, "Telegram messages kept by the last run are queued again");
            self.chats.update_state(|s| s.queued += count);
            self.failing = true;
        }
    }

    /// Keeps what waits (while sends fail, and at a stop), at most every few seconds.
    fn keep(&mut self, force: bool) {
        let now = Instant::now();
        if !force && (!self.failing || self.kept_at.is_some_and(|at| now.duration_since(at) < KEEP_EVERY)) {
            return;
        }
        let waiting: Vec<Kept> = self.queues.values().chain(self.held.values()).flatten().map(Kept::of).collect();
        let bytes = serde_json::to_vec(&waiting).unwrap_or_default();
        if let Err(e) = self.chats.keep_undelivered(&bytes) {
            tracing::warn!(error = %e, "the bot's undelivered messages could not be kept for a restart");
        }
        self.kept_at = Some(now);
    }

    fn put(&mut self, queued: Queued) {
        if let Outgoing::Send { user: Some(user), .. } = &queued.message
            && self.chats.settings(*user).blocked
        {
            let user = *user;
            self.hold(user, [queued]);
            return;
        }
        let key = queued.message.chat_key();
        let queue = self.queues.entry(key.clone()).or_default();
        if queue.is_empty() {
            self.order.push_back(key);
        }
        queue.push_back(queued);
    }

    fn enqueue(&mut self, message: Outgoing) {
        let parts: Vec<Outgoing> = match message {
            Outgoing::Send { to, user, text: body, buttons } => {
                let mut parts = text::split(&body, text::MESSAGE_LIMIT);
                let last = parts.pop().unwrap_or_default();
                let mut out: Vec<Outgoing> = parts
                    .into_iter()
                    .map(|t| Outgoing::Send { to: to.clone(), user, text: t, buttons: Vec::new() })
                    .collect();
                out.push(Outgoing::Send { to, user, text: last, buttons });
                out
            }
            edit => vec![edit],
        };
        // The queue counts what will be sent: a split message is several.
        let extra = parts.len().saturating_sub(1);
        if extra > 0 {
            self.chats.update_state(|s| s.queued += extra);
        }
        let born = chrono::Utc::now();
        for part in parts {
            self.put(Queued { message: part, attempts: 0, born });
        }
    }

    /// Keeps `messages` for `user`, who blocked the bot, until they write to it again.
    fn hold(&mut self, user: u64, messages: impl IntoIterator<Item = Queued>) {
        let backlog = self.held.entry(user).or_default();
        let mut count = 0;
        for queued in messages {
            backlog.push_back(queued);
            count += 1;
        }
        while backlog.len() > HELD_PER_USER {
            backlog.pop_front();
        }
        // Held is not queued: the health figure counts what is on its way.
        self.chats.update_state(|s| s.queued = s.queued.saturating_sub(count));
        self.failing = true;
        self.kept_at = None;
    }

    /// Sends the backlog of every held user who has unblocked the bot (what is still
    /// younger than `telegram.max_message_age_hours`), in its order.
    fn release_unblocked(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let back: Vec<u64> = self.held.keys().copied().filter(|u| !self.chats.settings(*u).blocked).collect();
        let now = chrono::Utc::now();
        for user in back {
            let Some(backlog) = self.held.remove(&user) else { continue };
            let young: Vec<Queued> =
                backlog.into_iter().filter(|q| (now - q.born).to_std().is_ok_and(|age| age <= self.max_age)).collect();
            if !young.is_empty() {
                tracing::info!(user, count = young.len(), "a user unblocked the bot; what waited for them is sent");
            }
            self.chats.update_state(|s| s.queued += young.len());
            for queued in young {
                self.put(Queued { attempts: 0, ..queued });
            }
            self.kept_at = None;
        }
    }

    /// Runs until stopped.
    pub async fn run(mut self) {
        let mut pace = Pace::default();
        loop {
            while let Ok(m) = self.rx.try_recv() {
                self.enqueue(m);
            }
            let stopping = *self.stop.borrow();
            if stopping {
                self.drain(&mut pace).await;
                // What could not go out waits for the next start.
                self.keep(true);
                return;
            }
            self.release_unblocked();
            self.keep(false);
            let now = Instant::now();
            let ready = self.order.iter().position(|c| pace.chat_ready_at(c, now) <= now);
            let Some(index) = ready else {
                let mut wake = self.order.iter().map(|c| pace.chat_ready_at(c, now)).min();
                if !self.held.is_empty() {
                    // A held user may write to the bot at any moment: look every second.
                    wake = Some(wake.map_or(now + HELD_LOOK_EVERY, |w| w.min(now + HELD_LOOK_EVERY)));
                }
                tokio::select! {
                    m = self.rx.recv() => match m {
                        Some(m) => self.enqueue(m),
                        None => return,
                    },
                    _ = sleep_until(wake) => {}
                    _ = self.stop.changed() => {}
                }
                continue;
            };
            let at = pace.global_ready_at(now);
            if at > now {
                tokio::time::sleep_until(at).await;
            }
            self.send_next(index, &mut pace).await;
        }
    }

    /// Sends what is left for up to five seconds (a clean stop), then gives up.
    async fn drain(&mut self, pace: &mut Pace) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.order.is_empty() && Instant::now() < deadline {
            let now = Instant::now();
            match self.order.iter().position(|c| pace.chat_ready_at(c, now) <= now) {
                Some(index) => self.send_next(index, pace).await,
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    async fn send_next(&mut self, index: usize, pace: &mut Pace) {
        let Some(key) = self.order.remove(index) else { return };
        let Some(mut queued) = self.queues.get_mut(&key).and_then(VecDeque::pop_front) else { return };
        queued.attempts += 1;
        let result = self.deliver(&queued.message).await;
        let now = Instant::now();
        pace.recent.push_back(now);
        let mut keep = true;
        match result {
            Ok(()) => {
                // Telegram takes messages again: once nothing waits, the kept list is
                // emptied, so that a restart sends nothing twice.
                self.chats.update_state(|s| s.undelivered_since = None);
                let was_failing = self.failing;
                self.failing = was_failing && !self.queues.values().all(VecDeque::is_empty);
                if was_failing && !self.failing {
                    self.keep(true);
                }
                pace.next_for_chat.insert(key.clone(), now + PER_CHAT_GAP);
                self.chats.update_state(|s| {
                    s.messages_sent += 1;
                    s.queued = s.queued.saturating_sub(1);
                });
            }
            Err(RequestError::RetryAfter(wait)) => {
                self.failing = true;
                let wait = wait.duration();
                // Telegram names how long to wait: nothing goes out before then.
                pace.paused_until = Some(now + wait);
                pace.next_for_chat.insert(key.clone(), now + wait);
                self.note_error(&format!("Telegram asked to wait {} s (429)", wait.as_secs()));
                if let Some(q) = self.queues.get_mut(&key) {
                    queued.attempts -= 1;
                    q.push_front(queued);
                }
            }
            Err(RequestError::Api(e)) if gone(&e) => {
                // Blocked, deactivated, never started: nothing more to this chat.
                let rest = self.queues.remove(&key).unwrap_or_default();
                if let Outgoing::Send { user: Some(user), .. } = &queued.message {
                    let user = *user;
                    tracing::info!(
                        user,
                        "a Telegram user blocked the bot; what is for them waits until they write again"
                    );
                    let _ = self.chats.set_blocked(user, true, chrono::Utc::now()).await;
                    queued.attempts = 0;
                    self.hold(user, std::iter::once(queued).chain(rest));
                } else {
                    let dropped = rest.len() + 1;
                    self.chats.update_state(|s| {
                        s.messages_failed += dropped as u64;
                        s.queued = s.queued.saturating_sub(dropped);
                    });
                }
                keep = false;
            }
            Err(RequestError::Api(ApiError::MessageNotModified)) => {
                self.chats.update_state(|s| s.queued = s.queued.saturating_sub(1));
            }
            Err(e) => {
                let text = text::redact(&e.to_string(), &self.token);
                self.failing = true;
                let age = (chrono::Utc::now() - queued.born).to_std().unwrap_or_default();
                if age <= self.max_age {
                    // 1, 2, 4, 8… s between tries, a minute at most; the chat's queue
                    // waits behind it, so its messages keep their order.
                    let backoff = Duration::from_secs(1 << (queued.attempts - 1).min(6)).min(MAX_BACKOFF);
                    pace.next_for_chat.insert(key.clone(), now + backoff);
                    self.note_error(&format!("sending failed (will retry): {text}"));
                    self.queues.entry(key.clone()).or_default().push_front(queued);
                } else {
                    tracing::warn!(error = %text, "a Telegram message was given up: older than telegram.max_message_age_hours");
                    self.note_error(&format!("a message was given up: {text}"));
                    self.chats.update_state(|s| {
                        s.messages_failed += 1;
                        s.queued = s.queued.saturating_sub(1);
                    });
                }
            }
        }
        if keep && self.queues.get(&key).is_some_and(|q| !q.is_empty()) {
            self.order.push_back(key);
        } else {
            self.queues.remove(&key);
        }
    }

    fn note_error(&self, text: &str) {
        let at = crate::domain::values::now_timestamp();
        self.chats.update_state(|s| {
            s.last_error = Some(text.to_string());
            s.undelivered_since.get_or_insert_with(|| at.clone());
            s.last_error_at = Some(at);
        });
    }

    async fn deliver(&self, message: &Outgoing) -> Result<(), RequestError> {
        match message {
            Outgoing::Send { to, text, buttons, .. } => {
                let mut request = self.bot.send_message(to.clone(), text).parse_mode(ParseMode::Html);
                if !buttons.is_empty() {
                    request = request.reply_markup(keyboard(buttons));
                }
                request.await.map(|_| ())
            }
            Outgoing::Edit { chat, message, text, buttons } => {
                let request = self
                    .bot
                    .edit_message_text(*chat, *message, text)
                    .parse_mode(ParseMode::Html)
                    .reply_markup(keyboard(buttons));
                request.await.map(|_| ())
            }
        }
    }
}

/// Telegram's answers that mean the chat will take no message from the bot.
fn gone(e: &ApiError) -> bool {
    matches!(e, ApiError::BotBlocked | ApiError::UserDeactivated | ApiError::ChatNotFound | ApiError::BotKicked)
        || e.to_string().starts_with("Forbidden")
}

pub fn keyboard(rows: &[Vec<Button>]) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(
        rows.iter()
            .map(|row| row.iter().map(|b| InlineKeyboardButton::callback(b.label.clone(), b.data.clone())).collect())
            .collect::<Vec<Vec<_>>>(),
    )
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
