//! People: adding a user with an initial password, setting or resetting a password,
//! and the directory of active users that staff assign work to. The REST API and
//! `taskboard user add|passwd` both come through here.

use crate::auth::password;
use crate::auth::policy::{Action, Area, Role, Scope};
use crate::domain::TableKind;
use crate::domain::values::{now_timestamp, parse_bool};
use crate::store::{Committed, Context, Fields, Op, Storage, StoreError};

use super::access::{Principal, ServiceError};
use super::records::RecordService;

/// One entry of the directory: who can be given work.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirectoryEntry {
    pub id: u64,
    pub username: String,
    pub role: String,
}

impl RecordService {
    /// Adds a user (`fields` as for `POST /api/users`), with an initial password when
    /// one is given. The password is checked against the policy before anything is
    /// written, so a weak one adds nobody.
    pub async fn add_user(
        &self,
        p: &Principal,
        fields: Fields,
        password: Option<&str>,
    ) -> Result<Committed, ServiceError> {
        let hash = match password {
            Some(pw) => Some(self.hash_for(p, pw).await?),
            None => None,
        };
        let committed = self.create(p, TableKind::Users, fields).await?;
        if let Some(hash) = hash {
            store_password_hash(&**self.store(), committed.id, hash, p.context()).await?;
        }
        Ok(committed)
    }

    /// Sets or resets user `id`'s password: the administrator's, for onboarding and
    /// for someone who forgot theirs (a user changes their own with the current one,
    /// `PUT /api/auth/password`).
    pub async fn set_password(&self, p: &Principal, id: u64, password: &str) -> Result<(), ServiceError> {
        self.get(TableKind::Users, id)?;
        let hash = self.hash_for(p, password).await?;
        store_password_hash(&**self.store(), id, hash, p.context()).await?;
        Ok(())
    }

    /// The id of the user with this username (any case).
    pub fn user_named(&self, username: &str) -> Result<Option<u64>, ServiceError> {
        let users = self.store().table(TableKind::Users)?;
        Ok(users
            .rows
            .iter()
            .find(|(_, r)| users.value(r, "username").eq_ignore_ascii_case(username))
            .map(|(id, _)| *id))
    }

    /// Active users with their role, by id: what a manager needs to assign work. For
    /// staff (every role that reads users at least by name); not for clients.
    pub fn directory(&self, p: &Principal) -> Result<Vec<DirectoryEntry>, ServiceError> {
        if p.scope(Area::Users, Action::Read) == Scope::None {
            return Err(ServiceError::Forbidden(format!("the {} role may not read the directory", p.role)));
        }
        let users = self.store().table(TableKind::Users)?;
        Ok(users
            .rows
            .iter()
            .filter(|(_, r)| parse_bool(users.value(r, "is_active")).unwrap_or(true))
            .map(|(id, r)| DirectoryEntry {
                id: *id,
                username: users.value(r, "username").to_string(),
                role: users.value(r, "role").to_string(),
            })
            .collect())
    }

    /// Checks that `p` may set passwords and that `password` meets the policy, then
    /// hashes it (off the async workers: argon2 takes tens of milliseconds).
    async fn hash_for(&self, p: &Principal, password: &str) -> Result<String, ServiceError> {
        if p.role != Role::Admin {
            return Err(ServiceError::Forbidden(format!("the {} role may not set passwords", p.role)));
        }
        check_policy(password)?;
        let password = password.to_string();
        tokio::task::spawn_blocking(move || password::hash(&password))
            .await
            .map_err(|_| StoreError::Io)?
            .map_err(|_| ServiceError::Store(StoreError::Io))
    }
}

/// 422 naming what the password lacks.
pub fn check_policy(password: &str) -> Result<(), ServiceError> {
    let problems = password::policy_problems(password);
    if problems.is_empty() {
        return Ok(());
    }
    Err(ServiceError::invalid(vec![crate::domain::FieldError::new(
        "password",
        format!("the password needs {}", problems.join(", ")),
    )]))
}

/// Writes a user's password hash into credentials.csv (created or replaced), with the
/// time it changed (for `password_expiry_days`).
pub async fn store_password_hash(
    store: &dyn Storage,
    user_id: u64,
    hash: String,
    ctx: Context,
) -> Result<Committed, StoreError> {
    let mut fields: Fields =
        [("password_hash".to_string(), hash), ("password_changed_at".to_string(), now_timestamp())].into();
    let exists = store.table(TableKind::Credentials)?.rows.contains_key(&user_id);
    let op = if exists {
        Op::Update { table: TableKind::Credentials, id: user_id, fields, if_match: None }
    } else {
        fields.insert("user_id".into(), user_id.to_string());
        Op::Create { table: TableKind::Credentials, fields, attachment: None }
    };
    store.commit(op, ctx).await
}
