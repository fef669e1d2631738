//! Whether anybody can log in: a configuration that allows no login at all is refused
//! when it is read; a folder in which no user could log in yet is said loudly at
//! start-up.

use crate::config::{Config, ValidationMethod};
use crate::domain::TableKind;
use crate::domain::values::parse_bool;
use crate::store::Storage;

/// Refuses a configuration in which nobody could ever log in: security on, logins by
/// Telegram only, and no bot to log in with.
pub fn check_login_possible(config: &Config) -> Result<(), String> {
    let s = &config.security;
    if s.enabled && s.validation_method == ValidationMethod::TelegramUsername && !config.telegram.bot_token.is_set() {
        return Err(
            "security.validation_method: telegram_username allows only Telegram logins, and telegram.bot_token is \
             not set, so nobody could log in; set validation_method: password (or both), or set telegram.bot_token"
                .into(),
        );
    }
    Ok(())
}

/// Why nobody could log in with the users and passwords the folder holds now, if so.
pub fn nobody_can_log_in(config: &Config, store: &dyn Storage) -> Option<String> {
    if !config.security.enabled {
        return None;
    }
    let users = store.table(TableKind::Users).ok()?;
    let active: Vec<u64> = users
        .rows
        .iter()
        .filter(|(_, r)| parse_bool(users.value(r, "is_active")).unwrap_or(true))
        .map(|(id, _)| *id)
        .collect();
    if active.is_empty() {
        return Some(
            "users.csv has no active user; add one with `taskboard user add --username NAME --role admin --password-stdin`"
                .into(),
        );
    }
    let telegram =
        config.security.validation_method != ValidationMethod::Password && config.telegram.bot_token.is_set();
    let credentials = store.table(TableKind::Credentials).ok()?;
    if !telegram && !active.iter().any(|id| credentials.rows.contains_key(id)) {
        return Some("no active user has a password; set one with `taskboard user passwd NAME`".into());
    }
    None
}
