//! Who a Telegram account is not, yet: why the bot refuses an account (in the
//! person's language), and bindings of an account to a staff user by username, held
//! until an admin confirms them (`service::telegram::Chats` holds and decides them),
//! with the side file they wait in across restarts.

use chrono::{DateTime, Utc};

use crate::domain::values::parse_timestamp;
use crate::i18n::{Lang, Msg};
use crate::store::StoreError;

/// Why a Telegram account is not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not linked to any user: the reply says how to link.
    #[error("this Telegram account is not linked to a taskboard user")]
    Unknown,
    /// Linked to a deactivated user.
    #[error("the taskboard account is deactivated")]
    Deactivated,
    /// A link code that is unknown, expired or used.
    #[error("the link code is unknown, expired or used")]
    BadCode,
    /// The account is linked to another user already.
    #[error("this Telegram account is linked to another user")]
    OtherUser,
    /// The username names a staff account: an admin confirms the binding first.
    #[error("the binding of {name} waits for an administrator")]
    Held { name: String, role: String },
    #[error("the data folder cannot be read or written right now; try again in a minute")]
    Unavailable,
}

impl Refusal {
    /// What the person is told, in their language.
    pub fn text(&self, lang: Lang, by_username: bool) -> String {
        match self {
            Refusal::Unknown if by_username => {
                format!("{} {}", lang.t(Msg::NotLinked), lang.t(Msg::NotLinkedUsername))
            }
            Refusal::Unknown => lang.t(Msg::NotLinked).to_string(),
            Refusal::Deactivated => lang.t(Msg::Deactivated).to_string(),
            Refusal::BadCode => lang.t(Msg::BadCode).to_string(),
            Refusal::OtherUser => lang.t(Msg::CodeOtherUser).to_string(),
            Refusal::Held { name, role } => lang.f(Msg::BindingHeld, &[("name", name), ("role", role)]),
            Refusal::Unavailable => lang.t(Msg::StoreDown).to_string(),
        }
    }
}

impl From<StoreError> for Refusal {
    fn from(_: StoreError) -> Self {
        Refusal::Unavailable
    }
}

/// The user a Telegram username claims: the one whose `telegram_username` cell names
/// it, else whose `username` does (any case, `@` aside). The one rule for the bot's
/// first contact and the Login Widget.
pub fn claimed_by_username(users: &crate::store::TableData, telegram_username: &str) -> Option<u64> {
    let name = telegram_username.trim().trim_start_matches('@');
    if name.is_empty() {
        return None;
    }
    users
        .rows
        .iter()
        .find(|(_, r)| {
            let recorded = match users.value(r, "telegram_username") {
                "" => users.value(r, "username"),
                set => set,
            };
            recorded.trim().trim_start_matches('@').eq_ignore_ascii_case(name)
        })
        .map(|(id, _)| *id)
}

/// Roles whose first binding by username waits for an admin.
pub fn binding_held_for(role: &str) -> bool {
    matches!(role, "admin" | "manager" | "supervisor")
}

/// A first binding by username of a staff account, waiting for an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBinding {
    pub user_id: u64,
    pub telegram_id: i64,
    pub telegram_username: String,
    pub asked_at: DateTime<Utc>,
}

/// Where held bindings wait (a side file: they are requests, not records).
pub(super) const HELD_FILE: &str = ".taskboard/telegram_held.csv";
/// How long a held binding waits for an admin.
pub(super) const HELD_TTL_HOURS: i64 = 72;

pub(super) fn write_held(held: &[HeldBinding]) -> Vec<u8> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record(["user_id", "telegram_id", "telegram_username", "asked_at"]);
    for h in held {
        let at = h.asked_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let _ = out.write_record([h.user_id.to_string(), h.telegram_id.to_string(), h.telegram_username.clone(), at]);
    }
    out.into_inner().unwrap_or_default()
}

pub(super) fn read_held(bytes: &[u8]) -> Vec<HeldBinding> {
    csv::Reader::from_reader(bytes)
        .records()
        .flatten()
        .filter_map(|r| {
            Some(HeldBinding {
                user_id: r.get(0)?.parse().ok()?,
                telegram_id: r.get(1)?.parse().ok()?,
                telegram_username: r.get(2)?.to_string(),
                asked_at: parse_timestamp(r.get(3)?).ok()?,
            })
        })
        .collect()
}
