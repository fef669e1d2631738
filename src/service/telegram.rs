//! The bot's side of the service, with no Telegram wire in it: who a Telegram account
//! is (its bound `telegram_id`, its username on first contact where the configuration
//! allows, or a one-time link code), the link codes themselves, each user's
//! notification settings (telegram.csv), and the bot's state as `/api/health` and the
//! board see it. The bot (`src/bot`) is a source that calls these; so does
//! `POST /api/auth/telegram/link`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{Config, ValidationMethod};
use crate::domain::TableKind;
use crate::domain::values::{hex, parse_bool, parse_timestamp};
use crate::i18n::Lang;
use crate::store::{Context, Fields, Op, Source, Storage, StoreError};

use super::access::{Principal, ServiceError};
use super::auth::Security;
use super::binding::{HELD_FILE, HELD_TTL_HOURS, read_held, write_held};
pub use super::binding::{HeldBinding, Refusal};
use super::board_login;

/// Link codes, by the SHA-256 of the code: the code itself is never kept.
const LINKS_FILE: &str = ".taskboard/telegram_links.csv";
/// Messages Telegram did not take yet, kept for a restart.
const OUTBOX_FILE: &str = ".taskboard/telegram_outbox.json";
/// How long a link code may be used.
pub const LINK_TTL_MINUTES: i64 = 10;

pub use super::bot_settings::{NoticeKind, Settings};

/// A code from `POST /api/auth/telegram/link`, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct LinkCode {
    pub code: String,
    /// `https://t.me/<bot>?start=CODE`, once the bot knows its own username.
    pub deep_link: Option<String>,
    pub expires_at: String,
}

#[derive(Debug, Clone)]
struct PendingLink {
    user_id: u64,
    expires_at: DateTime<Utc>,
}

/// The bot's state, written by the bot and read by `/api/health` and the board.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BotState {
    /// `absent` (no token), `starting`, `ok`, `retrying` (the Bot API answers badly or
    /// not at all; the bot keeps trying), `stopped`.
    pub state: &'static str,
    /// The bot's own username, from `getMe`.
    pub username: Option<String>,
    /// The last thing that went wrong, with the token blanked out.
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub updates_handled: u64,
    pub messages_sent: u64,
    pub messages_failed: u64,
    /// Messages waiting for Telegram's rate limits.
    pub queued: usize,
    /// Since when Telegram has not taken a message (None: the last send went through).
    pub undelivered_since: Option<String>,
}

/// The Telegram use cases and the bot's state.
pub struct Chats {
    store: Arc<dyn Storage>,
    security: Arc<Security>,
    /// `validation_method` `telegram_username` or `both`, with security on: a username
    /// may claim an unbound user on first contact, and a board login may be confirmed
    /// in the bot.
    by_username: bool,
    /// Security on: link codes and usernames bind accounts. Off: the bot answers only
    /// Telegram ids already in users.csv and binds nobody.
    binds: bool,
    links: Mutex<HashMap<String, PendingLink>>,
    held: Mutex<Vec<HeldBinding>>,
    /// The language each user's Telegram client last said (`language_code`), for
    /// people whose `language` cell is empty.
    heard: Mutex<HashMap<u64, Lang>>,
    default_lang: Lang,
    state: Mutex<BotState>,
}

impl Chats {
    pub fn new(config: &Config, store: Arc<dyn Storage>, security: Arc<Security>) -> Chats {
        let links = store.read_aux(LINKS_FILE).map(|b| read_links(&b)).unwrap_or_default();
        let state = if config.telegram.bot_token.is_set() { "starting" } else { "absent" };
        let held = store.read_aux(HELD_FILE).map(|b| read_held(&b)).unwrap_or_default();
        let binds = config.security.enabled;
        Chats {
            store,
            security,
            by_username: binds && config.security.validation_method != ValidationMethod::Password,
            binds,
            links: Mutex::new(links),
            held: Mutex::new(held),
            heard: Mutex::new(HashMap::new()),
            default_lang: config.ui.default_language,
            state: Mutex::new(BotState { state, ..BotState::default() }),
        }
    }

    /// Whether usernames may claim accounts (what an unknown account is told).
    pub fn by_username(&self) -> bool {
        self.by_username
    }

    /// The language `user_id` reads: their `language` cell, else what their Telegram
    /// client last said, else `ui.default_language`.
    pub fn lang_of(&self, user_id: u64) -> Lang {
        let cell = self
            .store
            .table(TableKind::Users)
            .ok()
            .and_then(|users| users.get(user_id).and_then(|r| Lang::parse(users.value(r, "language"))));
        cell.or_else(|| self.heard.lock().ok().and_then(|h| h.get(&user_id).copied())).unwrap_or(self.default_lang)
    }

    /// The language for someone who wrote with this `language_code` (known or not).
    pub fn lang_for(&self, user_id: Option<u64>, code: Option<&str>) -> Lang {
        if let Some(user) = user_id {
            if let Some(lang) = Lang::of_telegram(code)
                && let Ok(mut heard) = self.heard.lock()
            {
                heard.insert(user, lang);
            }
            return self.lang_of(user);
        }
        Lang::of_telegram(code).unwrap_or(self.default_lang)
    }

    /// The server's default language (`ui.default_language`).
    pub fn default_lang(&self) -> Lang {
        self.default_lang
    }

    /// How a user is shown: their full name, else their username.
    pub fn name_of(&self, user_id: u64) -> String {
        let Ok(users) = self.store.table(TableKind::Users) else { return format!("#{user_id}") };
        users
            .get(user_id)
            .map(|r| super::users::display_name(users.value(r, "full_name"), users.value(r, "username")).to_string())
            .unwrap_or_else(|| format!("#{user_id}"))
    }

    /// The active admins with a bound Telegram account: who confirms staff bindings
    /// and hears of the others.
    pub fn bound_admins(&self) -> Vec<u64> {
        let Ok(users) = self.store.table(TableKind::Users) else { return Vec::new() };
        users
            .rows
            .iter()
            .filter(|(_, r)| {
                users.value(r, "role") == "admin"
                    && parse_bool(users.value(r, "is_active")) == Ok(true)
                    && !users.value(r, "telegram_id").is_empty()
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// The messages the bot could not deliver yet, as it last kept them (a side file:
    /// the folder's, or the database's on PostgreSQL).
    pub fn undelivered(&self) -> Option<Vec<u8>> {
        self.store.read_aux(OUTBOX_FILE)
    }

    /// Keeps the undelivered messages for a restart.
    pub fn keep_undelivered(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.store.write_aux(OUTBOX_FILE, bytes)
    }

    /// The bot's state now.
    pub fn state(&self) -> BotState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Lets the bot change its state.
    pub fn update_state(&self, change: impl FnOnce(&mut BotState)) {
        if let Ok(mut s) = self.state.lock() {
            change(&mut s);
        }
    }

    /// Who `from_id` (Telegram's `from.id`) is: the user bound to it, or, where
    /// usernames are trusted, the active unbound user whose `telegram_username` (else
    /// `username`) is that username. A member's or client's binding takes effect now
    /// and is announced to the admins; a staff account's waits for an admin
    /// ([`Refusal::Held`]).
    pub async fn recognise(&self, from_id: i64, username: Option<&str>) -> Result<Principal, Refusal> {
        let users = self.store.table(TableKind::Users)?;
        let id_text = from_id.to_string();
        if let Some((user_id, _)) = users.rows.iter().find(|(_, r)| users.value(r, "telegram_id") == id_text) {
            return self.principal(*user_id);
        }
        let claimed = username.map(|u| u.trim_start_matches('@')).filter(|u| !u.is_empty());
        let (true, Some(name)) = (self.by_username, claimed) else { return Err(Refusal::Unknown) };
        let Some(user_id) = super::binding::claimed_by_username(&users, name) else { return Err(Refusal::Unknown) };
        let Some(row) = users.get(user_id) else { return Err(Refusal::Unknown) };
        let user_id = &user_id;
        let active = parse_bool(users.value(row, "is_active")) == Ok(true);
        // A username only claims a user who has no Telegram account yet, so whoever
        // takes a freed username on Telegram does not get that user.
        if !active || !users.value(row, "telegram_id").is_empty() {
            return Err(Refusal::Unknown);
        }
        let p = self.principal(*user_id)?;
        let staff = super::binding::binding_held_for(users.value(row, "role"));
        if staff {
            let held = HeldBinding {
                user_id: *user_id,
                telegram_id: from_id,
                telegram_username: name.to_string(),
                asked_at: Utc::now(),
            };
            let first_time = self.hold(held.clone())?;
            if first_time {
                self.record_binding("user.telegram_binding_held", &held, None).await?;
            }
            return Err(Refusal::Held { name: self.name_of(*user_id), role: p.role.to_string() });
        }
        self.bind(*user_id, from_id, name, Source::Telegram, false).await?;
        Ok(p)
    }

    /// Keeps a held binding (one per user: a newer request replaces an older one).
    /// True when it is new, false when the same account asked again.
    fn hold(&self, binding: HeldBinding) -> Result<bool, Refusal> {
        let mut held = self.held.lock().map_err(|_| Refusal::Unavailable)?;
        let now = Utc::now();
        held.retain(|h| now - h.asked_at < chrono::Duration::hours(HELD_TTL_HOURS));
        let again = held.iter().any(|h| h.user_id == binding.user_id && h.telegram_id == binding.telegram_id);
        if again {
            return Ok(false);
        }
        held.retain(|h| h.user_id != binding.user_id);
        held.push(binding);
        self.store.write_aux(HELD_FILE, &write_held(&held))?;
        Ok(true)
    }

    /// The bindings waiting for an admin (the board's users page, the bot's buttons).
    pub fn held_bindings(&self) -> Vec<HeldBinding> {
        let now = Utc::now();
        self.held
            .lock()
            .map(|h| h.iter().filter(|b| now - b.asked_at < chrono::Duration::hours(HELD_TTL_HOURS)).cloned().collect())
            .unwrap_or_default()
    }

    /// An admin decides a held binding of `user_id` to `telegram_id`: confirmed, it
    /// binds; either way the request is gone. Returns the binding decided.
    pub async fn decide_binding(
        &self,
        p: &Principal,
        user_id: u64,
        telegram_id: i64,
        confirm: bool,
    ) -> Result<HeldBinding, ServiceError> {
        if p.role != crate::auth::policy::Role::Admin {
            return Err(ServiceError::Forbidden(format!("the {} role may not confirm Telegram bindings", p.role)));
        }
        let binding = {
            let mut held = self.held.lock().map_err(|_| ServiceError::Store(StoreError::Io))?;
            let at = held.iter().position(|h| h.user_id == user_id && h.telegram_id == telegram_id);
            let binding =
                at.map(|i| held.remove(i)).ok_or(ServiceError::Hidden { table: TableKind::Users, id: user_id })?;
            self.store.write_aux(HELD_FILE, &write_held(&held))?;
            binding
        };
        if confirm {
            self.bind(user_id, telegram_id, &binding.telegram_username, p.source, true)
                .await
                .map_err(|_| ServiceError::Store(StoreError::Unavailable("the binding could not be written".into())))?;
        } else {
            self.record_binding("user.telegram_binding_rejected", &binding, p.user_id)
                .await
                .map_err(|_| ServiceError::Store(StoreError::Io))?;
        }
        Ok(binding)
    }

    /// Journals a binding event; the bot tells the admins and the account concerned.
    async fn record_binding(&self, kind: &str, b: &HeldBinding, actor: Option<u64>) -> Result<(), Refusal> {
        let event = crate::store::NewEvent {
            kind: kind.into(),
            entity: "user".into(),
            entity_id: Some(b.user_id),
            user_id: actor.or(Some(b.user_id)),
            source: Source::Telegram.name().into(),
            message: format!("Telegram account {} (@{}) and user {}", b.telegram_id, b.telegram_username, b.user_id),
            data: serde_json::json!({
                "user_id": b.user_id,
                "telegram_id": b.telegram_id.to_string(),
                "telegram_username": b.telegram_username,
            }),
            created_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        self.store.record_event(event).await?;
        Ok(())
    }

    /// `POST /api/auth/telegram/link`: a one-time code that binds the caller's Telegram
    /// account when sent to the bot. A newer code replaces the caller's older one.
    pub fn issue_link(&self, p: &Principal, now: DateTime<Utc>) -> Result<LinkCode, ServiceError> {
        let user_id = p.user_id.ok_or_else(|| {
            ServiceError::Forbidden(
                "linking Telegram needs a user account (security is off: nobody is logged in)".into(),
            )
        })?;
        if p.key.is_some() {
            return Err(ServiceError::Forbidden(
                "a Telegram account is linked after logging in, not with an API key".into(),
            ));
        }
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|_| ServiceError::Store(StoreError::Io))?;
        let code = hex(&bytes);
        let expires_at = now + chrono::Duration::minutes(LINK_TTL_MINUTES);
        let mut links = self.links.lock().map_err(|_| ServiceError::Store(StoreError::Io))?;
        links.retain(|_, l| l.user_id != user_id && l.expires_at > now);
        links.insert(digest(&code), PendingLink { user_id, expires_at });
        self.store.write_aux(LINKS_FILE, &write_links(&links))?;
        drop(links);
        let deep_link = self.state().username.map(|bot| format!("https://t.me/{bot}?start={code}"));
        Ok(LinkCode { code, deep_link, expires_at: expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true) })
    }

    /// `/start CODE` or `/login CODE`: binds `from_id` to the user who asked for the
    /// code. The code is spent whether or not the rest succeeds.
    pub async fn redeem(&self, code: &str, from_id: i64, now: DateTime<Utc>) -> Result<Principal, Refusal> {
        if !self.binds {
            return Err(Refusal::Unknown);
        }
        let refused = || Refusal::BadCode;
        let pending = {
            let mut links = self.links.lock().map_err(|_| Refusal::Unavailable)?;
            let taken = links.remove(&digest(code.trim()));
            if taken.is_some() {
                self.store.write_aux(LINKS_FILE, &write_links(&links))?;
            }
            taken
        };
        let pending = pending.filter(|l| l.expires_at > now).ok_or_else(refused)?;
        let users = self.store.table(TableKind::Users)?;
        let id_text = from_id.to_string();
        let other =
            users.rows.iter().find(|(id, r)| **id != pending.user_id && users.value(r, "telegram_id") == id_text);
        if other.is_some() {
            return Err(Refusal::OtherUser);
        }
        let p = self.principal(pending.user_id)?;
        self.bind(pending.user_id, from_id, "", Source::Telegram, false).await?;
        Ok(p)
    }

    /// The user bound to Telegram account `from_id`, never binding anyone (a board login
    /// is confirmed only from an account already linked).
    pub fn bound(&self, from_id: i64) -> Result<Principal, Refusal> {
        let users = self.store.table(TableKind::Users)?;
        let id_text = from_id.to_string();
        let (user_id, _) =
            users.rows.iter().find(|(_, r)| users.value(r, "telegram_id") == id_text).ok_or(Refusal::Unknown)?;
        self.principal(*user_id)
    }

    /// `POST /api/auth/telegram/login`: a board login to be confirmed in the bot.
    pub fn start_board_login(&self, agent: &str, address: &str) -> Result<board_login::Started, ServiceError> {
        if !self.binds {
            return Err(ServiceError::Forbidden(
                "security is off: every request is already the admin `anonymous`".into(),
            ));
        }
        if !self.by_username {
            return Err(ServiceError::Forbidden("Telegram login is off (security.validation_method)".into()));
        }
        if self.state().state == "absent" {
            return Err(ServiceError::Forbidden("Telegram login needs telegram.bot_token".into()));
        }
        let bot = self.state().username;
        Ok(board_login::start(&*self.store, agent, address, bot.as_deref(), Utc::now())?)
    }

    /// `GET /api/auth/telegram/login/{id}`: what became of a board login; an approved
    /// one becomes a session, once.
    pub async fn poll_board_login(
        &self,
        request_id: &str,
    ) -> Result<Result<crate::service::auth::TokenPair, board_login::Poll>, ServiceError> {
        match board_login::poll(&*self.store, request_id, Utc::now())? {
            board_login::Poll::Approved(user) => match self.security.login_confirmed_in_telegram(user).await {
                Ok(pair) => Ok(Ok(pair)),
                Err(_) => Ok(Err(board_login::Poll::Refused)),
            },
            other => Ok(Err(other)),
        }
    }

    /// The bot's `/start login-CODE` from bound user `p`.
    pub fn open_board_login(&self, p: &Principal, code: &str) -> Result<board_login::Opened, Refusal> {
        let user = p.user_id.ok_or(Refusal::Unknown)?;
        if !self.by_username {
            return Ok(board_login::Opened::Gone);
        }
        Ok(board_login::open(&*self.store, code, user, Utc::now())?)
    }

    /// A press on the bot's login question by `p`: a number, or None for Cancel.
    pub fn answer_board_login(
        &self,
        p: &Principal,
        request_id: &str,
        choice: Option<u8>,
    ) -> Result<board_login::Pressed, Refusal> {
        let user = p.user_id.ok_or(Refusal::Unknown)?;
        Ok(board_login::press(&*self.store, request_id, user, choice, Utc::now())?)
    }

    /// The user as users.csv says now, acting through Telegram.
    fn principal(&self, user_id: u64) -> Result<Principal, Refusal> {
        self.security.principal_of(user_id).map(|p| p.through(Source::Telegram)).map_err(|_| Refusal::Deactivated)
    }

    /// The user's principal for a notification (None: gone or inactive).
    pub fn recipient(&self, user_id: u64) -> Option<Principal> {
        self.principal(user_id).ok()
    }

    /// Binds `from_id` to `user_id` and journals `user.telegram_bound` (the bot then
    /// announces it to the admins and tells an account that lost the user).
    /// `confirmed`: an admin confirmed a held binding (the account is told it may go on).
    async fn bind(
        &self,
        user_id: u64,
        from_id: i64,
        telegram_username: &str,
        source: Source,
        confirmed: bool,
    ) -> Result<(), Refusal> {
        let users = self.store.table(TableKind::Users)?;
        let Some(row) = users.get(user_id) else { return Err(Refusal::Unknown) };
        let previous = users.value(row, "telegram_id").to_string();
        if previous == from_id.to_string() {
            return Ok(());
        }
        let fields: Fields = [("telegram_id".to_string(), from_id.to_string())].into();
        let op = Op::Update { table: TableKind::Users, id: user_id, fields, if_match: None };
        self.store.commit(op, Context { actor: Some(user_id), source }).await?;
        let event = crate::store::NewEvent {
            kind: "user.telegram_bound".into(),
            entity: "user".into(),
            entity_id: Some(user_id),
            user_id: Some(user_id),
            source: source.name().into(),
            message: format!("user {user_id} is now Telegram account {from_id}"),
            data: serde_json::json!({
                "user_id": user_id,
                "telegram_id": from_id.to_string(),
                "previous_telegram_id": previous,
                "telegram_username": telegram_username,
                "confirmed": confirmed,
            }),
            created_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        self.store.record_event(event).await?;
        Ok(())
    }

    /// The Telegram id bound to `user_id`, if any.
    pub fn chat_of(&self, user_id: u64) -> Option<i64> {
        let users = self.store.table(TableKind::Users).ok()?;
        users.get(user_id).and_then(|r| users.value(r, "telegram_id").parse().ok())
    }

    /// A user's settings.
    pub fn settings(&self, user_id: u64) -> Settings {
        let Ok(table) = self.store.table(TableKind::Telegram) else {
            return Settings { off: Vec::new(), blocked: false };
        };
        let Some(row) = table.get(user_id) else { return Settings { off: Vec::new(), blocked: false } };
        let off =
            NoticeKind::ALL.into_iter().filter(|k| parse_bool(table.value(row, &k.column())) == Ok(false)).collect();
        Settings { off, blocked: parse_timestamp(table.value(row, "blocked_at")).is_ok() }
    }

    /// `/settings`: turns one kind of notification on or off for the caller themselves.
    pub async fn set_notice(&self, p: &Principal, kind: NoticeKind, on: bool) -> Result<Settings, ServiceError> {
        let user_id =
            p.user_id.ok_or_else(|| ServiceError::Forbidden("settings belong to a user; none is acting".into()))?;
        self.write_settings(user_id, [(kind.column(), on.to_string())].into(), p.source).await?;
        Ok(self.settings(user_id))
    }

    /// Marks a user who blocked the bot (nothing is sent to them until they write
    /// again), or clears the mark.
    pub async fn set_blocked(&self, user_id: u64, blocked: bool, now: DateTime<Utc>) -> Result<(), ServiceError> {
        if self.settings(user_id).blocked == blocked {
            return Ok(());
        }
        let at = if blocked { now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true) } else { String::new() };
        self.write_settings(user_id, [("blocked_at".to_string(), at)].into(), Source::Telegram).await
    }

    async fn write_settings(&self, user_id: u64, fields: Fields, source: Source) -> Result<(), ServiceError> {
        let exists = self.store.table(TableKind::Telegram)?.rows.contains_key(&user_id);
        let ctx = Context { actor: Some(user_id), source };
        let op = if exists {
            Op::Update { table: TableKind::Telegram, id: user_id, fields, if_match: None }
        } else {
            let mut fields = fields;
            fields.insert("user_id".into(), user_id.to_string());
            Op::Create { table: TableKind::Telegram, fields, attachment: None }
        };
        self.store.commit(op, ctx).await?;
        Ok(())
    }
}

fn digest(code: &str) -> String {
    hex(&Sha256::digest(code.as_bytes()))
}

fn write_links(links: &HashMap<String, PendingLink>) -> Vec<u8> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record(["code_sha256", "user_id", "expires_at"]);
    let mut sorted: Vec<_> = links.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (hash, link) in sorted {
        let expires = link.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let _ = out.write_record([hash.as_str(), &link.user_id.to_string(), &expires]);
    }
    out.into_inner().unwrap_or_default()
}

fn read_links(bytes: &[u8]) -> HashMap<String, PendingLink> {
    let now = Utc::now();
    csv::Reader::from_reader(bytes)
        .records()
        .flatten()
        .filter_map(|r| {
            let link = PendingLink { user_id: r.get(1)?.parse().ok()?, expires_at: parse_timestamp(r.get(2)?).ok()? };
            let code = r.get(0)?.to_string();
            (link.expires_at > now).then_some((code, link))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_codes_are_kept_as_digests_and_expired_ones_are_dropped_on_reading() {
        let now = Utc::now();
        let mut links = HashMap::new();
        links.insert(digest("abc"), PendingLink { user_id: 3, expires_at: now + chrono::Duration::minutes(5) });
        links.insert(digest("old"), PendingLink { user_id: 4, expires_at: now - chrono::Duration::minutes(1) });
        let bytes = write_links(&links);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("abc,"), "{text}");
        let back = read_links(&bytes);
        assert_eq!(back.len(), 1);
        assert_eq!(back[&digest("abc")].user_id, 3);
    }

    #[test]
    fn notice_kinds_round_trip_through_their_names() {
        for kind in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(NoticeKind::parse("everything"), None);
    }
}
