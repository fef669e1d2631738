//! Logging in and staying logged in: password and Telegram logins, sessions with
//! rotating refresh tokens, logout, password changes, and the principal of each request.
//!
//! Sessions live in `data/.taskboard/sessions.csv` (rewritten whole on each change), so
//! a revocation survives a restart. Every request re-reads its user from the users
//! table: a user set inactive, deleted, or given another role is refused or re-scoped on
//! their very next request.
//!
//! Why this file is long: every door into a session (password, the Login Widget, a
//! login confirmed in the bot) and the session's whole life share one set of throttles,
//! events and checks here, so that no door can drift from the others.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;

use crate::auth::limits::{Gate, LoginFailures, PerDay, PerMinute, RateKey};
use crate::auth::policy::{AdminOnly, Role};
use crate::auth::tokens::{Signer, TokenError};
use crate::auth::{password, telegram};
use crate::config::{Config, ValidationMethod};
use crate::domain::TableKind;
use crate::domain::values::now_timestamp;
use crate::store::NewEvent;
use crate::store::{Context, Fields, Op, Source, Storage, StoreError};

use super::access::Principal;

use super::sessions::{Session, SessionBook};

/// Why a login or a token is refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// 401.
    #[error("{0}")]
    Unauthorized(String),
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 422 on a field.
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    /// 429 with Retry-After (seconds).
    #[error("too many attempts; try again in {0} s")]
    TooMany(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a successful login or refresh answers.
#[derive(Debug, Clone, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: i64,
    pub must_change_password: bool,
    pub user: UserInfo,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    pub id: Option<u64>,
    pub username: String,
    pub role: String,
}

impl From<&Principal> for UserInfo {
    fn from(p: &Principal) -> Self {
        UserInfo { id: p.user_id, username: p.username.clone(), role: p.role.to_string() }
    }
}

/// The security of one server: shared by the gate, the login routes and the WebSocket.
pub struct Security {
    pub enabled: bool,
    /// The one principal of every request while security is off.
    pub anonymous: Arc<Principal>,
    store: Arc<dyn Storage>,
    signer: Option<Signer>,
    method: ValidationMethod,
    bot_token: String,
    telegram_max_age_hours: u64,
    sessions: SessionBook,
    pub admin_only: AdminOnly,
    pub export_allow_all: bool,
    requests: PerMinute<RateKey>,
    /// Failed logins per account, and (at a much higher threshold) per address.
    account_failures: LoginFailures,
    address_failures: LoginFailures,
    /// `llm_requests_per_day`, for the LLM routes.
    pub llm_quota: PerDay,
    /// API keys, for requests that bring one instead of a token.
    keys: super::keys::KeyRing,
    /// `metrics.allow` and `metrics.token`: who reads `/metrics` without an admin login.
    pub metrics_allow: Vec<crate::domain::cidr::Cidr>,
    pub metrics_token: String,
    /// The board's refresh cookie: Secure under TLS, and how long it lives.
    pub cookie_secure: bool,
    pub refresh_seconds: u64,
}

impl Security {
    /// Reads the sessions file. Fails when security is on without a usable secret.
    pub fn new(config: &Config, store: Arc<dyn Storage>) -> Result<Security, String> {
        let s = &config.security;
        let signer = if s.enabled {
            crate::auth::secret::check(config.secret_key.expose())?;
            Some(Signer::new(&config.secret_key, s.session_timeout_hours, s.refresh_token_days))
        } else {
            None
        };
        let tz = config.scheduler.timezone.parse().unwrap_or(chrono_tz::UTC);
        let sessions = SessionBook::open(store.clone());
        Ok(Security {
            enabled: s.enabled,
            anonymous: Arc::new(Principal::anonymous()),
            keys: super::keys::KeyRing::new(store.clone()),
            store,
            signer,
            method: s.validation_method,
            bot_token: config.telegram.bot_token.expose().to_string(),
            telegram_max_age_hours: s.telegram_auth_max_age_hours,
            sessions,
            admin_only: AdminOnly::new(&s.admin_only_endpoints),
            export_allow_all: config.export.allow_all,
            requests: PerMinute::new(s.rate_limiting.requests_per_minute),
            account_failures: LoginFailures::per_account(),
            address_failures: LoginFailures::per_address(),
            llm_quota: PerDay::new(s.rate_limiting.llm_requests_per_day, tz),
            metrics_allow: config
                .metrics
                .allow
                .iter()
                .filter_map(|r| crate::domain::cidr::Cidr::parse(r).ok())
                .collect(),
            metrics_token: config.metrics.token.expose().to_string(),
            cookie_secure: config.server.ssl_enabled,
            refresh_seconds: s.refresh_token_days * 86_400,
        })
    }

    /// The principal of an access token (`None`: no token was sent). With security off,
    /// everyone is the built-in admin.
    pub fn authenticate(&self, token: Option<&str>) -> Result<Principal, AuthError> {
        let Some(signer) = &self.signer else {
            return Ok(Principal::anonymous());
        };
        let token = token.ok_or_else(|| AuthError::Unauthorized("log in first: no access token was sent".into()))?;
        if token.starts_with(super::keys::PREFIX) {
            let (user_id, grant) = self.keys.authenticate(token, Utc::now()).map_err(key_refused)?;
            let mut principal = self.current_user(user_id)?;
            principal.key = Some(grant);
            // A key acts as its owner: while the owner's password is too old, it is
            // held as their login would be.
            principal.must_change_password = self.password_expired(user_id);
            return Ok(principal);
        }
        let claims = signer.verify(token, "access", Utc::now()).map_err(token_refused)?;
        let session = self.session(&claims.sid)?;
        let user_id = claims.user_id().filter(|u| *u == session.user_id).ok_or_else(invalid_token)?;
        let mut principal = self.current_user(user_id)?;
        principal.session = Some(claims.sid);
        principal.must_change_password = session.must_change_password;
        Ok(principal)
    }

    /// The principal again, as users.csv and the sessions say now (for a WebSocket that
    /// outlives its first request): refused once the session is revoked or the user is
    /// gone or inactive; re-scoped when their role changed.
    pub fn recheck(&self, p: &Principal) -> Result<Principal, AuthError> {
        if self.signer.is_none() {
            return Ok(Principal::anonymous());
        }
        if let Some(key) = p.key {
            let (user_id, grant) = self.keys.recheck(key.id, Utc::now()).map_err(key_refused)?;
            let mut principal = self.current_user(user_id)?;
            principal.key = Some(grant);
            principal.must_change_password = self.password_expired(user_id);
            return Ok(principal);
        }
        let sid = p.session.clone().ok_or_else(invalid_token)?;
        let session = self.session(&sid)?;
        let mut principal = self.current_user(p.user_id.ok_or_else(invalid_token)?)?;
        principal.session = Some(sid);
        principal.must_change_password = session.must_change_password;
        Ok(principal)
    }

    /// The user as users.csv says now, for a source that recognises people itself (the
    /// bot, by Telegram id); refused when gone or inactive.
    pub fn principal_of(&self, user_id: u64) -> Result<Principal, AuthError> {
        self.current_user(user_id)
    }

    /// The user as users.csv says now; refused when gone or inactive.
    fn current_user(&self, user_id: u64) -> Result<Principal, AuthError> {
        let users = self.store.table(TableKind::Users)?;
        let gone = || AuthError::Unauthorized("this account no longer exists or is deactivated".into());
        let row = users.get(user_id).ok_or_else(gone)?;
        // Three cells of one row, read in place: this runs on every request.
        let cell = |name: &str| users.position(name).map(|p| row.cell(p)).unwrap_or("");
        if crate::domain::values::parse_bool(cell("is_active")) != Ok(true) {
            return Err(gone());
        }
        let role = Role::parse(cell("role")).ok_or_else(gone)?;
        Ok(Principal {
            user_id: Some(user_id),
            username: cell("username").to_string(),
            role,
            session: None,
            source: Source::Api,
            must_change_password: false,
            key: None,
        })
    }

    /// Whether `user_id` has a password older than the policy allows (a person who
    /// logs in only through Telegram has none, and never expires).
    fn password_expired(&self, user_id: u64) -> bool {
        let Ok(credentials) = self.store.table(TableKind::Credentials) else { return false };
        let Some(row) = credentials.get(user_id) else { return false };
        let changed = credentials.value(row, "password_changed_at");
        crate::domain::values::parse_timestamp(changed)
            .map(|t| Utc::now() - t > chrono::Duration::days(password::MAX_AGE_DAYS))
            .unwrap_or(true)
    }

    fn session(&self, sid: &str) -> Result<Session, AuthError> {
        match self.sessions.get(sid) {
            Some(s) if s.revoked => Err(AuthError::Unauthorized("this session was logged out or revoked".into())),
            Some(s) => Ok(s),
            None => Err(invalid_token()),
        }
    }

    /// A login failure or success that another server sharing the store recorded,
    /// counted here too: a lockout earned on one server holds on every one.
    pub fn note_other_server(&self, change: &crate::store::Change) {
        if !change.remote || change.table != TableKind::Events {
            return;
        }
        let Some(event) = &change.after else { return };
        let cell = |name: &str| event.get(name).map(String::as_str).unwrap_or("");
        let data: serde_json::Value = serde_json::from_str(cell("data")).unwrap_or_default();
        let username = data["username"].as_str().unwrap_or("").to_lowercase();
        match cell("type") {
            "user.login_failed" => {
                let now = Instant::now();
                self.account_failures.failed(&[&format!("user:{username}")], now);
                let address = data["address"].as_str().unwrap_or("");
                self.address_failures.failed(&[&format!("ip:{address}")], now);
            }
            "user.login" if !username.is_empty() => self.account_failures.succeeded(&format!("user:{username}")),
            _ => {}
        }
    }

    /// This server's requests per key in the current minute, to share with the other
    /// servers on the same database.
    pub fn request_counts(&self) -> Vec<(String, u32)> {
        let name = |key: RateKey| match key {
            RateKey::User(id) => format!("user:{id}"),
            RateKey::Address(ip) => format!("ip:{ip}"),
            RateKey::Unknown => "unknown".to_string(),
        };
        self.requests.counts(Instant::now()).into_iter().map(|(k, n)| (name(k), n)).collect()
    }

    /// The other servers' requests per key, counted with this server's own.
    pub fn requests_elsewhere(&self, counts: Vec<(String, u32)>) {
        let key = |name: &str| match name.split_once(':') {
            Some(("user", id)) => id.parse().ok().map(RateKey::User),
            Some(("ip", ip)) => ip.parse().ok().map(RateKey::Address),
            _ => (name == "unknown").then_some(RateKey::Unknown),
        };
        self.requests.count_elsewhere(counts.into_iter().filter_map(|(k, n)| Some((key(&k)?, n))).collect());
    }

    /// Counts a request against `requests_per_minute` (per user, or per address).
    pub fn count_request(&self, principal: Option<&Principal>, peer: Option<IpAddr>) -> Result<(), AuthError> {
        let key = match (principal.and_then(|p| p.user_id), peer) {
            (Some(user), _) => RateKey::User(user),
            (None, Some(ip)) => RateKey::Address(ip),
            (None, None) => RateKey::Unknown,
        };
        self.requests.check(key, Instant::now()).map_err(|wait| AuthError::TooMany(wait.as_secs().max(1)))
    }

    /// `POST /api/auth/login`.
    pub async fn login_password(
        &self,
        username: &str,
        secret: &str,
        peer: Option<IpAddr>,
    ) -> Result<TokenPair, AuthError> {
        if !self.enabled {
            return Err(AuthError::Forbidden("security is off: every request is already the admin `anonymous`".into()));
        }
        if self.method == ValidationMethod::TelegramUsername {
            return Err(AuthError::Forbidden("password login is off (security.validation_method)".into()));
        }
        let name_key = format!("user:{}", username.to_lowercase());
        let addr_key = format!("ip:{}", peer.map(|p| p.to_string()).unwrap_or_default());
        self.throttle(Some(&name_key), &addr_key).await?;
        let users = self.store.table(TableKind::Users)?;
        let found = find_user(&users, "username", username);
        let stored = match found {
            Some(id) => {
                let credentials = self.store.table(TableKind::Credentials)?;
                credentials.get(id).map(|row| credentials.fields(row))
            }
            None => None,
        };
        let hash = stored.as_ref().and_then(|c| c.get("password_hash")).cloned().unwrap_or_default();
        let attempt = secret.to_string();
        // Hashing runs off the async workers; an unknown user costs the same time.
        let matches = tokio::task::spawn_blocking(move || {
            if hash.is_empty() {
                let _ = password::verify(&attempt, dummy_hash());
                false
            } else {
                password::verify(&attempt, &hash)
            }
        })
        .await
        .unwrap_or(false);
        let reason = match (found, matches) {
            (None, _) => Some("unknown username"),
            (Some(_), false) if stored.is_none() => Some("the user has no password"),
            (Some(_), false) => Some("wrong password"),
            (Some(_), true) => None,
        };
        if let Some(reason) = reason {
            self.account_failures.failed(&[&name_key], Instant::now());
            self.address_failures.failed(&[&addr_key], Instant::now());
            self.login_failed(username, found, reason, peer).await;
            return Err(AuthError::Unauthorized("the username or password is wrong".into()));
        }
        let user_id = found.unwrap_or_default();
        let principal = match self.current_user(user_id) {
            Ok(p) => p,
            Err(e) => {
                self.login_failed(username, found, "the account is deactivated", peer).await;
                return Err(e);
            }
        };
        self.account_failures.succeeded(&name_key);
        let changed = stored.as_ref().and_then(|c| c.get("password_changed_at")).cloned().unwrap_or_default();
        let expired = crate::domain::values::parse_timestamp(&changed)
            .map(|t| Utc::now() - t > chrono::Duration::days(password::MAX_AGE_DAYS))
            .unwrap_or(true);
        self.start_session(principal, "password", expired).await
    }

    /// `POST /api/auth/telegram` with the Login Widget's payload.
    pub async fn login_telegram(
        &self,
        payload: &BTreeMap<String, String>,
        peer: Option<IpAddr>,
    ) -> Result<TokenPair, AuthError> {
        if !self.enabled {
            return Err(AuthError::Forbidden("security is off: every request is already the admin `anonymous`".into()));
        }
        if self.method == ValidationMethod::Password {
            return Err(AuthError::Forbidden("Telegram login is off (security.validation_method)".into()));
        }
        if self.bot_token.is_empty() {
            return Err(AuthError::Forbidden("Telegram login needs telegram.bot_token".into()));
        }
        let addr_key = format!("ip:{}", peer.map(|p| p.to_string()).unwrap_or_default());
        self.throttle(None, &addr_key).await?;
        let claimed = payload.get("username").cloned().unwrap_or_default();
        let user = match telegram::verify(payload, &self.bot_token, self.telegram_max_age_hours, Utc::now().timestamp())
        {
            Ok(user) => user,
            Err(e) => {
                self.address_failures.failed(&[&addr_key], Instant::now());
                self.login_failed(&claimed, None, &e.to_string(), peer).await;
                return Err(AuthError::Unauthorized(e.to_string()));
            }
        };
        if !self.first_use_of_widget_payload(payload, user.auth_date) {
            let reason = "this Telegram login was already used: press the Telegram button again";
            self.address_failures.failed(&[&addr_key], Instant::now());
            self.login_failed(&claimed, None, reason, peer).await;
            return Err(AuthError::Unauthorized(reason.into()));
        }
        let users = self.store.table(TableKind::Users)?;
        // A known Telegram account is matched by its id, so a renamed account keeps
        // access; a username only ever claims a user who has no Telegram id yet, so
        // someone who takes a freed username does not get that user.
        let by_id = find_user(&users, "telegram_id", &user.id);
        let by_name = user.username.as_deref().and_then(|n| crate::service::binding::claimed_by_username(&users, n));
        let unclaimed = by_name.filter(|id| {
            users.get(*id).is_some_and(|row| users.fields(row).get("telegram_id").is_none_or(|t| t.is_empty()))
        });
        // A staff account is never first bound by a username here: its binding waits
        // for an admin, which only the bot can ask for.
        let held = unclaimed.filter(|id| {
            users.get(*id).is_some_and(|row| crate::service::binding::binding_held_for(users.value(row, "role")))
        });
        let claimable = unclaimed.filter(|_| held.is_none());
        let Some(user_id) = by_id.or(claimable) else {
            let reason = if held.is_some() {
                "a staff account is linked to Telegram through the bot first (an administrator confirms it)"
            } else if by_name.is_some() {
                "the username belongs to a user linked to another Telegram account"
            } else {
                "no user with this Telegram account or username"
            };
            self.address_failures.failed(&[&addr_key], Instant::now());
            self.login_failed(&claimed, by_name, reason, peer).await;
            return Err(AuthError::Unauthorized(format!("{reason}; ask an administrator to add you")));
        };
        let principal = match self.current_user(user_id) {
            Ok(p) => p,
            Err(e) => {
                self.login_failed(&claimed, Some(user_id), "the account is deactivated", peer).await;
                return Err(e);
            }
        };
        if by_id.is_none() {
            let fields: Fields = [("telegram_id".to_string(), user.id.clone())].into();
            let op = Op::Update { table: TableKind::Users, id: user_id, fields, if_match: None };
            self.store.commit(op, Context { actor: Some(user_id), source: Source::Api }).await?;
        }
        self.start_session(principal, "telegram", false).await
    }

    /// Records a verified widget payload; false when it was used before. Entries are
    /// dropped once their `auth_date` is past the accepted age (the payload is refused
    /// by age from then on). Kept in an auxiliary file changed in one step, so that
    /// servers sharing a database refuse a payload another one took.
    fn first_use_of_widget_payload(&self, payload: &BTreeMap<String, String>, auth_date: i64) -> bool {
        const FILE: &str = ".taskboard/telegram_widget_used.json";
        let Some(hash) = payload.get("hash").map(|h| h.to_lowercase()) else { return false };
        let now = Utc::now().timestamp();
        let max_age = (self.telegram_max_age_hours as i64) * 3600;
        let mut first = false;
        let written = self.store.update_aux(FILE, &mut |bytes| {
            let mut used: HashMap<String, i64> = bytes.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
            used.retain(|_, at| now - *at <= max_age + 60);
            first = used.insert(hash.clone(), auth_date).is_none();
            serde_json::to_vec(&used).unwrap_or_default()
        });
        // A store that cannot record the use refuses the login rather than allow replay.
        written.is_ok() && first
    }

    /// A session for `user_id`, whose bound Telegram account confirmed a board login
    /// with the right number (`service::board_login`).
    pub async fn login_confirmed_in_telegram(&self, user_id: u64) -> Result<TokenPair, AuthError> {
        if !self.enabled {
            return Err(AuthError::Forbidden("security is off: every request is already the admin `anonymous`".into()));
        }
        if self.method == ValidationMethod::Password {
            return Err(AuthError::Forbidden("Telegram login is off (security.validation_method)".into()));
        }
        let principal = self.current_user(user_id)?;
        self.start_session(principal, "telegram_bot", false).await
    }

    /// Waits or refuses as repeated failures for these keys demand.
    async fn throttle(&self, account: Option<&str>, address: &str) -> Result<(), AuthError> {
        let now = Instant::now();
        let gates = [
            account.map_or(Gate::Go, |a| self.account_failures.gate(&[a], now)),
            self.address_failures.gate(&[address], now),
        ];
        let mut wait = Duration::ZERO;
        for gate in gates {
            match gate {
                Gate::Go => {}
                Gate::Wait(w) => wait = wait.max(w),
                Gate::Locked(w) => return Err(AuthError::TooMany(w.as_secs().max(1))),
            }
        }
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    async fn start_session(&self, p: Principal, method: &str, expired: bool) -> Result<TokenPair, AuthError> {
        let sid = crate::auth::tokens::random_id();
        let user_id = p.user_id.unwrap_or_default();
        let pair = self.issue(&sid, &p, expired)?;
        let data = serde_json::json!({"username": p.username, "method": method});
        self.event("user.login", Some(user_id), format!("{} logged in ({method})", p.username), Some(data)).await;
        Ok(pair)
    }

    /// A new token pair for a session, which now accepts only its refresh token.
    fn issue(&self, sid: &str, p: &Principal, must_change_password: bool) -> Result<TokenPair, AuthError> {
        let signer = self.signer.as_ref().ok_or_else(invalid_token)?;
        let user_id = p.user_id.unwrap_or_default();
        let now = Utc::now();
        let (access_token, _) = signer.issue(user_id, sid, "access", now);
        let (refresh_token, refresh) = signer.issue(user_id, sid, "refresh", now);
        let session = Session {
            user_id,
            refresh_jti: refresh.jti,
            expires_at: refresh.exp,
            revoked: false,
            must_change_password,
        };
        self.sessions.save(sid, session)?;
        Ok(TokenPair {
            access_token,
            refresh_token,
            token_type: "Bearer",
            expires_in: signer.access_ttl.num_seconds(),
            must_change_password,
            user: p.into(),
        })
    }

    /// `POST /api/auth/refresh`: rotates the pair. A refresh token that was already
    /// used is a stolen copy or a replay: the whole session is revoked.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let signer = self.signer.as_ref().ok_or_else(|| AuthError::Forbidden("security is off".into()))?;
        let claims = signer.verify(refresh_token, "refresh", Utc::now()).map_err(token_refused)?;
        let session = self.session(&claims.sid)?;
        if session.refresh_jti != claims.jti {
            self.revoke(&claims.sid)?;
            self.event(
                "token.reuse_detected",
                Some(session.user_id),
                "a refresh token was used twice; its session is revoked".into(),
                Some(serde_json::json!({"session": short(&claims.sid)})),
            )
            .await;
            return Err(AuthError::Unauthorized("this refresh token was already used; the session is revoked".into()));
        }
        let principal = self.current_user(session.user_id)?;
        self.issue(&claims.sid, &principal, session.must_change_password)
    }

    /// `POST /api/auth/logout`.
    pub async fn logout(&self, p: &Principal) -> Result<(), AuthError> {
        if let Some(sid) = &p.session {
            self.revoke(sid)?;
            self.event("user.logout", p.user_id, format!("{} logged out", p.username), None).await;
        }
        Ok(())
    }

    /// `PUT /api/auth/password`: checks the current password and the policy.
    pub async fn change_password(&self, p: &Principal, current: &str, new: &str) -> Result<TokenPair, AuthError> {
        let user_id = p.user_id.ok_or_else(|| AuthError::Forbidden("the anonymous admin has no password".into()))?;
        let problems = password::policy_problems(new);
        if !problems.is_empty() {
            return Err(AuthError::Invalid {
                field: "new_password",
                message: format!("the password needs {}", problems.join(", ")),
            });
        }
        if new == current {
            return Err(AuthError::Invalid {
                field: "new_password",
                message: "must differ from the current one".into(),
            });
        }
        let credentials = self.store.table(TableKind::Credentials)?;
        let stored = credentials.get(user_id).map(|r| credentials.fields(r));
        let hash = stored.as_ref().and_then(|c| c.get("password_hash")).cloned().unwrap_or_default();
        let (current, new) = (current.to_string(), new.to_string());
        let new_hash = tokio::task::spawn_blocking(move || {
            if !hash.is_empty() && !password::verify(&current, &hash) {
                return Err(AuthError::Invalid { field: "current_password", message: "is not right".into() });
            }
            password::hash(&new).map_err(|_| AuthError::Store(StoreError::Io))
        })
        .await
        .map_err(|_| AuthError::Store(StoreError::Io))??;
        super::users::store_password_hash(&*self.store, user_id, new_hash, p.context()).await?;
        // The other sessions of this user end; this one goes on without the flag.
        let sid = p.session.clone().unwrap_or_default();
        let others: Vec<String> = self.sessions.of_user(user_id).into_iter().filter(|k| *k != sid).collect();
        for other in others {
            self.revoke(&other)?;
        }
        self.issue(&sid, p, false)
    }

    /// Ends every session of `user_id` (a password reset by an admin: whoever knew the
    /// old password is logged out everywhere).
    pub fn end_sessions_of(&self, user_id: u64) -> Result<(), AuthError> {
        let theirs = self.sessions.of_user(user_id);
        for sid in theirs {
            self.revoke(&sid)?;
        }
        Ok(())
    }

    fn revoke(&self, sid: &str) -> Result<(), AuthError> {
        self.sessions.revoke(sid)?;
        Ok(())
    }

    async fn login_failed(&self, username: &str, user_id: Option<u64>, reason: &str, peer: Option<IpAddr>) {
        // The username as typed is kept (short, printable); the password never is.
        let typed: String = username.chars().filter(|c| !c.is_control()).take(64).collect();
        tracing::warn!(username = %typed, reason, peer = ?peer, "login failed");
        self.event(
            "user.login_failed",
            user_id,
            format!("login failed for {typed:?}: {reason}"),
            Some(serde_json::json!({"reason": reason, "username": typed, "address": peer.map(|p| p.to_string())})),
        )
        .await;
    }

    async fn event(&self, kind: &str, user_id: Option<u64>, message: String, data: Option<serde_json::Value>) {
        let event = NewEvent {
            kind: kind.into(),
            entity: "user".into(),
            entity_id: user_id,
            user_id,
            source: Source::Api.to_string(),
            message,
            data: data.unwrap_or(serde_json::Value::Null),
            created_at: now_timestamp(),
        };
        if let Err(e) = self.store.record_event(event).await {
            tracing::error!(error = %e, kind, "could not record a security event");
        }
    }
}

/// A hash to verify against when the user is unknown, so the answer takes as long.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| password::hash("not a password of anyone").unwrap_or_default())
}

fn invalid_token() -> AuthError {
    AuthError::Unauthorized("the token is not valid".into())
}

fn key_refused(e: super::keys::KeyRefused) -> AuthError {
    match e {
        super::keys::KeyRefused::Store(store) => AuthError::from(store),
        other => AuthError::Unauthorized(other.to_string()),
    }
}

fn token_refused(e: TokenError) -> AuthError {
    AuthError::Unauthorized(e.to_string())
}

/// The start of a session id: enough to tell sessions apart in an event, not to use one.
fn short(sid: &str) -> String {
    sid.chars().take(8).collect()
}

/// The id of the user whose `column` equals `value` (case-insensitive).
fn find_user(users: &crate::store::TableData, column: &str, value: &str) -> Option<u64> {
    let pos = users.position(column)?;
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    users.rows.iter().find(|(_, row)| row.cell(pos).trim().eq_ignore_ascii_case(value)).map(|(id, _)| *id)
}
