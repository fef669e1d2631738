//! API keys (README.md, "The API"): a key acts as its user within its scope (`read`: GET
//! only) until it expires or is revoked. The key itself is shown once, when it is made;
//! api_keys.csv keeps only its SHA-256, so neither the file, a backup, the log nor an
//! event holds a usable key.
//!
//! [`KeyRing`] authenticates (a hash and a lookup per request, against an index rebuilt
//! only when the table changes) and keeps `last_used_at` at most once a minute per key,
//! off the request path, so that reads do not become writes. The use cases (issue,
//! list, revoke, the status job and its notices) are on [`RecordService`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::domain::TableKind;
use crate::domain::values::{FieldError, KEY_SCOPES, from_hex, hex, parse_timestamp};
use crate::store::table::TableData;
use crate::store::{Committed, Context, Fields, NewEvent, Op, Source, Storage, StoreError};

use super::access::{KeyGrant, Principal, ServiceError};
use super::query::{Condition, ListQuery};
use super::records::{Page, RecordService};

/// Every key starts with this, so that a key is told from a token at a glance (and by
/// secret scanners).
pub const PREFIX: &str = "tbk_";
/// A key is `expiring` this long before it expires.
pub const EXPIRING_WITHIN: chrono::Duration = chrono::Duration::days(7);
/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// The longest a key's name may be.
const MAX_NAME: usize = 100;

/// The SHA-256 of a key, as api_keys.csv keeps it (lowercase hex).
pub fn hash_of(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// A hash as api_keys.csv writes it, back into its 32 bytes (None: not a SHA-256).
fn digest_of_hex(text: &str) -> Option<[u8; 32]> {
    from_hex(text)?.try_into().ok()
}

/// The status a key has at `now`, from its expiry (a revoked key stays revoked).
pub fn status_at(current: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> &'static str {
    match current {
        "revoked" => "revoked",
        _ if expires_at <= now => "expired",
        _ if expires_at - now <= EXPIRING_WITHIN => "expiring",
        _ => "active",
    }
}

/// Why a key was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum KeyRefused {
    #[error("this API key is not known")]
    Unknown,
    #[error("this API key was revoked")]
    Revoked,
    #[error("this API key expired at {0}")]
    Expired(String),
    #[error("this API key's row in api_keys.csv is not usable ({0}); an admin can fix or revoke it")]
    Broken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The api_keys table an index was built from, and key hash → key id.
type KeyIndex = (Option<Arc<TableData>>, HashMap<[u8; 32], u64>);

/// Keys by hash, for authentication.
pub struct KeyRing {
    store: Arc<dyn Storage>,
    /// The table the index was built from, and hash → key id.
    index: Mutex<KeyIndex>,
    /// When each key's `last_used_at` was last written.
    touched: Mutex<HashMap<u64, Instant>>,
}

impl KeyRing {
    pub fn new(store: Arc<dyn Storage>) -> KeyRing {
        KeyRing { store, index: Mutex::new((None, HashMap::new())), touched: Mutex::new(HashMap::new()) }
    }

    /// The user and grant of `key`, if it is usable now.
    pub fn authenticate(&self, key: &str, now: DateTime<Utc>) -> Result<(u64, KeyGrant), KeyRefused> {
        let table = self.store.table(TableKind::ApiKeys)?;
        // The digest's bytes, not its hex: a request costs one SHA-256 and one lookup.
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let id = {
            let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
            if !index.0.as_ref().is_some_and(|t| Arc::ptr_eq(t, &table)) {
                let at = table.position("key_hash").unwrap_or(usize::MAX);
                index.1 = table.rows.iter().filter_map(|(id, row)| Some((digest_of_hex(row.cell(at))?, *id))).collect();
                index.0 = Some(table.clone());
            }
            *index.1.get(&digest).ok_or(KeyRefused::Unknown)?
        };
        let grant = self.check(&table, id, now)?;
        self.touch(id, now);
        Ok(grant)
    }

    /// Key `id` again (a WebSocket that outlives its first request): refused once
    /// revoked or expired.
    pub fn recheck(&self, id: u64, now: DateTime<Utc>) -> Result<(u64, KeyGrant), KeyRefused> {
        let table = self.store.table(TableKind::ApiKeys)?;
        self.check(&table, id, now)
    }

    fn check(&self, table: &TableData, id: u64, now: DateTime<Utc>) -> Result<(u64, KeyGrant), KeyRefused> {
        let row = table.get(id).ok_or(KeyRefused::Unknown)?;
        let cell = |name: &str| table.position(name).map(|p| row.cell(p)).unwrap_or("");
        if cell("status") == "revoked" {
            return Err(KeyRefused::Revoked);
        }
        let expires = parse_timestamp(cell("expires_at")).map_err(KeyRefused::Broken)?;
        if expires <= now {
            return Err(KeyRefused::Expired(cell("expires_at").to_string()));
        }
        let read_only = match cell("scope") {
            "read" => true,
            "write" => false,
            other => return Err(KeyRefused::Broken(format!("scope {other:?}"))),
        };
        let user = cell("user_id").parse::<u64>().map_err(|_| KeyRefused::Broken("user_id".into()))?;
        Ok((user, KeyGrant { id, read_only }))
    }

    /// Writes `last_used_at` if it was not written within the last minute, in the
    /// background (the request does not wait for it).
    fn touch(&self, id: u64, now: DateTime<Utc>) {
        {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            if touched.get(&id).is_some_and(|at| at.elapsed() < TOUCH_EVERY) {
                return;
            }
            touched.insert(id, Instant::now());
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let store = self.store.clone();
        let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        runtime.spawn(async move {
            let fields: Fields = [("last_used_at".to_string(), stamp)].into();
            let op = Op::Update { table: TableKind::ApiKeys, id, fields, if_match: None };
            if let Err(e) = store.commit(op, Context { actor: None, source: Source::System }).await {
                tracing::warn!(key_id = id, error = %e, "an API key's last_used_at could not be written");
            }
        });
    }
}

/// A key as it is issued: its row, and the key itself (shown this once).
pub struct Issued {
    pub committed: Committed,
    pub key: String,
}

impl RecordService {
    /// Issues a key for `user_id` (default: the caller). An admin issues for anyone;
    /// others for themselves. Keys are managed with a login, never with a key.
    pub async fn issue_key(
        &self,
        p: &Principal,
        name: &str,
        user_id: Option<u64>,
        scope: &str,
        expires_at: &str,
        now: DateTime<Utc>,
    ) -> Result<Issued, ServiceError> {
        refuse_keys(p)?;
        let owner = user_id.or(p.user_id);
        let mut problems = Vec::new();
        match owner {
            None => problems.push(FieldError::new("user_id", "is required (the key acts as this user)")),
            Some(owner) if p.role != crate::auth::policy::Role::Admin && Some(owner) != p.user_id => {
                return Err(ServiceError::Forbidden("only an admin issues keys for other users".into()));
            }
            Some(owner) if self.get(TableKind::Users, owner).is_err() => {
                problems.push(FieldError::new("user_id", format!("user {owner} does not exist")))
            }
            Some(_) => {}
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            problems.push(FieldError::new("name", format!("is required, at most {MAX_NAME} characters")));
        }
        if !KEY_SCOPES.contains(&scope) {
            problems.push(FieldError::new("scope", "must be read (GET only) or write"));
        }
        let max_days = self.key_max_days();
        let expires = match parse_timestamp(expires_at) {
            Ok(at) if at > now + chrono::Duration::days(max_days as i64) => {
                let message = format!("may be at most {max_days} days from now (security.api_key_max_days)");
                problems.push(FieldError::new("expires_at", message));
                None
            }
            Ok(at) if at > now => Some(at),
            Ok(_) => {
                problems.push(FieldError::new("expires_at", "must be in the future"));
                None
            }
            Err(e) => {
                problems.push(FieldError::new("expires_at", e));
                None
            }
        };
        problems.extend(TableKind::ApiKeys.spec().input_problems([("name", name)], None));
        if !problems.is_empty() {
            return Err(ServiceError::invalid(problems));
        }
        let (Some(owner), Some(expires)) = (owner, expires) else { unreachable!("checked above") };
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|_| ServiceError::Store(StoreError::Io))?;
        let key = format!("{PREFIX}{}", hex(&secret));
        let fields: Fields = [
            ("name", name.to_string()),
            ("user_id", owner.to_string()),
            ("key_hash", hash_of(&key)),
            ("scope", scope.to_string()),
            ("status", status_at("active", expires, now).to_string()),
            ("expires_at", expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let committed = self.insert(TableKind::ApiKeys, fields, p.context()).await?;
        Ok(Issued { committed, key })
    }

    /// The keys `p` may see: an admin all, others their own.
    pub fn keys(&self, p: &Principal, query: ListQuery) -> Result<Page, ServiceError> {
        let mut query = query;
        if p.role != crate::auth::policy::Role::Admin {
            query.conditions.push(Condition::OneOf("user_id".into(), vec![p.user_id.unwrap_or(0).to_string()]));
        }
        Ok(self.select(TableKind::ApiKeys, &query)?)
    }

    /// Key `id`: an admin any, others their own (someone else's is not there for them).
    pub fn key(&self, p: &Principal, id: u64) -> Result<Page, ServiceError> {
        let mut query = ListQuery { per_page: 1, ..ListQuery::default() };
        query.conditions.push(Condition::OneOf("id".into(), vec![id.to_string()]));
        let page = self.keys(p, query)?;
        if page.total == 0 {
            return Err(ServiceError::Hidden { table: TableKind::ApiKeys, id });
        }
        Ok(page)
    }

    /// Revokes key `id`: an admin any, others their own (someone else's is not there
    /// for them).
    pub async fn revoke_key(&self, p: &Principal, id: u64) -> Result<Committed, ServiceError> {
        refuse_keys(p)?;
        let (key, _) = self.get(TableKind::ApiKeys, id)?;
        let owner = key.get("user_id").and_then(|u| u.parse::<u64>().ok());
        if p.role != crate::auth::policy::Role::Admin && owner != p.user_id {
            return Err(ServiceError::Hidden { table: TableKind::ApiKeys, id });
        }
        let fields: Fields = [("status".to_string(), "revoked".to_string())].into();
        Ok(self.change(TableKind::ApiKeys, id, fields, None, p.context()).await?)
    }

    /// The `update_key_status` job: moves keys to `expiring` and `expired` as their
    /// expiry nears and passes. Returns a one-line summary.
    pub async fn update_key_statuses(&self, p: &Principal, now: DateTime<Utc>) -> Result<String, ServiceError> {
        let table = self.store().table(TableKind::ApiKeys)?;
        let (c_status, c_expires) =
            (table.position("status").unwrap_or(usize::MAX), table.position("expires_at").unwrap_or(usize::MAX));
        let mut moved = Vec::new();
        for (id, row) in table.rows.iter() {
            let Ok(expires) = parse_timestamp(row.cell(c_expires)) else { continue };
            let next = status_at(row.cell(c_status), expires, now);
            if next != row.cell(c_status) {
                moved.push((*id, next));
            }
        }
        for (id, status) in &moved {
            let fields: Fields = [("status".to_string(), status.to_string())].into();
            self.change(TableKind::ApiKeys, *id, fields, None, p.context()).await?;
        }
        Ok(format!("{} key(s) changed status", moved.len()))
    }

    /// The `notify_user_about_key_status` job: tells each owner of an expiring or
    /// expired key, once per key and status, by an `api_key.expiring` / `api_key.expired`
    /// event on the feed for them (and through Telegram once the bot exists).
    pub async fn notify_key_statuses(&self, p: &Principal, now: DateTime<Utc>) -> Result<String, ServiceError> {
        let table = self.store().table(TableKind::ApiKeys)?;
        let events = self.store().table(TableKind::Events)?;
        let (e_type, e_id) =
            (events.position("type").unwrap_or(usize::MAX), events.position("entity_id").unwrap_or(usize::MAX));
        let told: std::collections::HashSet<(String, String)> = events
            .rows
            .values()
            .filter(|r| r.cell(e_type).starts_with("api_key.expir"))
            .map(|r| (r.cell(e_type).to_string(), r.cell(e_id).to_string()))
            .collect();
        let cell = |row: &crate::store::Row, name: &str| {
            table.position(name).map(|p| row.cell(p).to_string()).unwrap_or_default()
        };
        let mut sent = 0;
        for (id, row) in table.rows.iter() {
            let status = cell(row, "status");
            if status != "expiring" && status != "expired" {
                continue;
            }
            let kind = format!("api_key.{status}");
            if told.contains(&(kind.clone(), id.to_string())) {
                continue;
            }
            let (name, expires) = (cell(row, "name"), cell(row, "expires_at"));
            let message = if status == "expired" {
                format!("your API key {name:?} expired at {expires}")
            } else {
                format!("your API key {name:?} expires at {expires}")
            };
            self.store()
                .record_event(NewEvent {
                    kind,
                    entity: "api_key".into(),
                    entity_id: Some(*id),
                    user_id: cell(row, "user_id").parse().ok(),
                    source: p.source.name().into(),
                    message,
                    data: json!({"name": name, "expires_at": expires}),
                    created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                })
                .await?;
            sent += 1;
        }
        Ok(format!("{sent} key notice(s) sent"))
    }
}

/// Keys are managed with a login session: a key may not mint, revoke or outlive itself.
fn refuse_keys(p: &Principal) -> Result<(), ServiceError> {
    if p.key.is_some() {
        return Err(ServiceError::Forbidden("API keys are managed after logging in, not with a key".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn a_key_moves_from_active_to_expiring_to_expired_with_the_clock() {
        let expires = at("2027-01-10T00:00:00Z");
        assert_eq!(status_at("active", expires, at("2027-01-01T00:00:00Z")), "active");
        assert_eq!(status_at("active", expires, at("2027-01-03T00:00:00Z")), "expiring");
        assert_eq!(status_at("expiring", expires, at("2027-01-09T23:59:59Z")), "expiring");
        assert_eq!(status_at("expiring", expires, at("2027-01-10T00:00:00Z")), "expired");
        assert_eq!(status_at("revoked", expires, at("2027-02-01T00:00:00Z")), "revoked");
    }

    #[test]
    fn the_hash_is_sha256_in_hex_and_reads_back() {
        let hash = hash_of("abc");
        assert_eq!(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let digest: [u8; 32] = Sha256::digest(b"abc").into();
        assert_eq!(digest_of_hex(&hash), Some(digest));
        assert_eq!(digest_of_hex("zz"), None);
    }
}
