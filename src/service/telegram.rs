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
use crate::store::{Context, Fields, Op, Source, Storage, StoreError};

use super::access::{Principal, ServiceError};
use super::auth::Security;

/// Link codes, by the SHA-256 of the code: the code itself is never kept.
const LINKS_FILE: &str = ".taskboard/telegram_links.csv";
/// How long a link code may be used.
pub const LINK_TTL_MINUTES: i64 = 10;

/// The kinds of notification a user can turn on or off in `/settings`, each a column of
/// telegram.csv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Assigned,
    Status,
    Comments,
    Deadlines,
    Report,
    Keys,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 6] = [
        NoticeKind::Assigned,
        NoticeKind::Status,
        NoticeKind::Comments,
        NoticeKind::Deadlines,
        NoticeKind::Report,
        NoticeKind::Keys,
    ];

    /// The short name (`/settings`, callback data).
    pub fn name(self) -> &'static str {
        match self {
            NoticeKind::Assigned => "assigned",
            NoticeKind::Status => "status",
            NoticeKind::Comments => "comments",
            NoticeKind::Deadlines => "deadlines",
            NoticeKind::Report => "report",
            NoticeKind::Keys => "keys",
        }
    }

    pub fn parse(name: &str) -> Option<NoticeKind> {
        NoticeKind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn column(self) -> String {
        format!("notify_{}", self.name())
    }
}

/// One user's bot settings as telegram.csv says (no row: everything on, not blocked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    off: Vec<NoticeKind>,
    /// When Telegram said the user blocked the bot.
    pub blocked: bool,
}

impl Settings {
    pub fn wants(&self, kind: NoticeKind) -> bool {
        !self.blocked && !self.off.contains(&kind)
    }

    pub fn is_on(&self, kind: NoticeKind) -> bool {
        !self.off.contains(&kind)
    }
}

/// Why a Telegram account is not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not linked to any user (or linked to a deactivated one): the reply says how to link.
    #[error("{0}")]
    Unknown(String),
    /// A link code that is unknown, expired or used.
    #[error("{0}")]
    BadCode(String),
    #[error("the data folder cannot be read or written right now; try again in a minute")]
    Unavailable,
}

impl From<StoreError> for Refusal {
    fn from(_: StoreError) -> Self {
        Refusal::Unavailable
    }
}

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
}

/// The Telegram use cases and the bot's state.
pub struct Chats {
    store: Arc<dyn Storage>,
    security: Arc<Security>,
    /// `validation_method` `telegram_username` or `both`: a username may claim an
    /// unbound user on first contact.
    by_username: bool,
    links: Mutex<HashMap<String, PendingLink>>,
    state: Mutex<BotState>,
}

impl Chats {
    pub fn new(config: &Config, store: Arc<dyn Storage>, security: Arc<Security>) -> Chats {
        let links = store.read_aux(LINKS_FILE).map(|b| read_links(&b)).unwrap_or_default();
        let state = if config.telegram.bot_token.is_set() { "starting" } else { "absent" };
        Chats {
            store,
            security,
            by_username: config.security.validation_method != ValidationMethod::Password,
            links: Mutex::new(links),
            state: Mutex::new(BotState { state, ..BotState::default() }),
        }
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
    /// usernames are trusted, the active unbound user of that username, bound now.
    pub async fn recognise(&self, from_id: i64, username: Option<&str>) -> Result<Principal, Refusal> {
        let users = self.store.table(TableKind::Users)?;
        let id_text = from_id.to_string();
        if let Some((user_id, _)) = users.rows.iter().find(|(_, r)| users.value(r, "telegram_id") == id_text) {
            return self.principal(*user_id);
        }
        let claimed = username.map(|u| u.trim_start_matches('@')).filter(|u| !u.is_empty());
        if let (true, Some(name)) = (self.by_username, claimed) {
            let found = users.rows.iter().find(|(_, r)| users.value(r, "username").eq_ignore_ascii_case(name));
            if let Some((user_id, row)) = found {
                let active = parse_bool(users.value(row, "is_active")) == Ok(true);
                // A username only claims a user who has no Telegram account yet, so whoever
                // takes a freed username on Telegram does not get that user.
                if active && users.value(row, "telegram_id").is_empty() {
                    let p = self.principal(*user_id)?;
                    self.bind(*user_id, from_id).await?;
                    return Ok(p);
                }
            }
        }
        Err(Refusal::Unknown(how_to_link(self.by_username)))
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
        let refused = || {
            Refusal::BadCode(
                "this code is unknown, expired or already used; ask for a new one (board: Link Telegram)".into(),
            )
        };
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
            return Err(Refusal::BadCode(
                "this Telegram account is already linked to another user; ask an administrator to unlink it first"
                    .into(),
            ));
        }
        let p = self.principal(pending.user_id)?;
        self.bind(pending.user_id, from_id).await?;
        Ok(p)
    }

    /// The user as users.csv says now, acting through Telegram.
    fn principal(&self, user_id: u64) -> Result<Principal, Refusal> {
        self.security
            .principal_of(user_id)
            .map(|p| p.through(Source::Telegram))
            .map_err(|_| Refusal::Unknown("your taskboard account is deactivated; ask an administrator".into()))
    }

    /// The user's principal for a notification (None: gone or inactive).
    pub fn recipient(&self, user_id: u64) -> Option<Principal> {
        self.principal(user_id).ok()
    }

    async fn bind(&self, user_id: u64, from_id: i64) -> Result<(), Refusal> {
        let users = self.store.table(TableKind::Users)?;
        if users.get(user_id).is_some_and(|r| users.value(r, "telegram_id") == from_id.to_string()) {
            return Ok(());
        }
        let fields: Fields = [("telegram_id".to_string(), from_id.to_string())].into();
        let op = Op::Update { table: TableKind::Users, id: user_id, fields, if_match: None };
        self.store.commit(op, Context { actor: Some(user_id), source: Source::Telegram }).await?;
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

/// What an unknown account is told.
fn how_to_link(by_username: bool) -> String {
    let mut text = String::from(
        "This Telegram account is not linked to a taskboard user. On the board choose \"Link Telegram\" \
         (or POST /api/auth/telegram/link) and send the code here as /start CODE.",
    );
    if by_username {
        text.push_str(" If your taskboard username is your Telegram username, ask an administrator to check it.");
    }
    text
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
