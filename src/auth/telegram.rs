//! Telegram Login Widget payloads, checked as Telegram documents it: the fields other
//! than `hash`, sorted by name, joined as `name=value` lines (the data-check-string),
//! HMAC-SHA-256 with the SHA-256 of the bot token as key, compared in constant time with
//! `hash`; and `auth_date` no older than the configured age.

use std::collections::BTreeMap;

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

/// What a valid payload says about the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramUser {
    pub id: String,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub auth_date: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelegramError {
    #[error("the payload has no {0}")]
    Missing(&'static str),
    #[error("the payload's hash does not match: it was not signed by this bot, or it was changed")]
    BadHash,
    #[error("the login is older than telegram_auth_max_age_hours; log in again")]
    TooOld,
    #[error("the login's auth_date is in the future")]
    FromTheFuture,
}

/// Checks a payload (`field → value`, as the widget sends it) at `now` (Unix seconds).
pub fn verify(
    payload: &BTreeMap<String, String>,
    bot_token: &str,
    max_age_hours: u64,
    now: i64,
) -> Result<TelegramUser, TelegramError> {
    let hash = payload.get("hash").ok_or(TelegramError::Missing("hash"))?;
    let expected = crate::domain::values::from_hex(hash).ok_or(TelegramError::BadHash)?;
    // BTreeMap iterates in name order: the data-check-string Telegram signs.
    let check_string =
        payload.iter().filter(|(k, _)| *k != "hash").map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("\n");
    let key = Sha256::digest(bot_token.as_bytes());
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&key).map_err(|_| TelegramError::BadHash)?;
    mac.update(check_string.as_bytes());
    // verify_slice compares in constant time.
    mac.verify_slice(&expected).map_err(|_| TelegramError::BadHash)?;
    let auth_date: i64 =
        payload.get("auth_date").and_then(|d| d.parse().ok()).ok_or(TelegramError::Missing("auth_date"))?;
    if auth_date > now + 60 {
        return Err(TelegramError::FromTheFuture);
    }
    if now - auth_date > (max_age_hours as i64) * 3600 {
        return Err(TelegramError::TooOld);
    }
    Ok(TelegramUser {
        id: payload.get("id").cloned().ok_or(TelegramError::Missing("id"))?,
        username: payload.get("username").cloned(),
        first_name: payload.get("first_name").cloned(),
        auth_date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456:TEST-bot-token";

    /// Signs a payload the way Telegram does (for the tests).
    fn signed(fields: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut payload: BTreeMap<String, String> =
            fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let check = payload.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("\n");
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&Sha256::digest(TOKEN.as_bytes())).unwrap();
        mac.update(check.as_bytes());
        let hash = crate::domain::values::hex(&mac.finalize().into_bytes());
        payload.insert("hash".into(), hash);
        payload
    }

    #[test]
    fn a_genuine_payload_verifies() {
        let now = 1_795_000_000;
        let p = signed(&[
            ("id", "42"),
            ("username", "Anna"),
            ("first_name", "Anna"),
            ("auth_date", &(now - 60).to_string()),
        ]);
        let user = verify(&p, TOKEN, 24, now).unwrap();
        assert_eq!((user.id.as_str(), user.username.as_deref()), ("42", Some("Anna")));
    }

    #[test]
    fn tampered_foreign_replayed_and_incomplete_payloads_are_refused() {
        let now = 1_795_000_000;
        let mut p = signed(&[("id", "42"), ("username", "anna"), ("auth_date", &(now - 60).to_string())]);
        assert_eq!(verify(&p, "999:another-bot", 24, now), Err(TelegramError::BadHash));
        p.insert("username".into(), "admin".into());
        assert_eq!(verify(&p, TOKEN, 24, now), Err(TelegramError::BadHash));
        let old = signed(&[("id", "42"), ("auth_date", &(now - 25 * 3600).to_string())]);
        assert_eq!(verify(&old, TOKEN, 24, now), Err(TelegramError::TooOld));
        let future = signed(&[("id", "42"), ("auth_date", &(now + 3600).to_string())]);
        assert_eq!(verify(&future, TOKEN, 24, now), Err(TelegramError::FromTheFuture));
        let mut no_hash = signed(&[("id", "42"), ("auth_date", &now.to_string())]);
        no_hash.remove("hash");
        assert_eq!(verify(&no_hash, TOKEN, 24, now), Err(TelegramError::Missing("hash")));
        let mut bad_hex = signed(&[("id", "42"), ("auth_date", &now.to_string())]);
        bad_hex.insert("hash".into(), "zz".into());
        assert_eq!(verify(&bad_hex, TOKEN, 24, now), Err(TelegramError::BadHash));
    }
}
