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

/// One entry of the directory: who can be given work, and how a person is shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirectoryEntry {
    pub id: u64,
    pub username: String,
    /// Empty for a client, who sees only the names of the people on their requests.
    pub role: String,
    /// The person's full name, when set.
    pub full_name: String,
    /// How the person is shown everywhere: `full_name` when set, else `username`.
    pub name: String,
    /// Staff only; empty for a client's view.
    pub phone: String,
}

/// What `GET /api/auth/me` shows of one's own row beside id, username and role.
const PROFILE_READ: [&str; 5] = ["full_name", "phone", "email", "telegram_username", "language"];
/// What a person may change of their own row (`PATCH /api/auth/me`).
const PROFILE_WRITE: [&str; 4] = ["full_name", "phone", "email", "language"];

/// How a person is shown: their full name when set, else their username.
pub fn display_name<'a>(full_name: &'a str, username: &'a str) -> &'a str {
    if full_name.trim().is_empty() { username } else { full_name.trim() }
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

    /// Active users with their role, names and phone, by id: what a manager needs to
    /// assign work and a technician to call a colleague. A client (who reads no
    /// users) gets the people on their own requests, by name only: never "user 3",
    /// never a phone.
    pub fn directory(&self, p: &Principal) -> Result<Vec<DirectoryEntry>, ServiceError> {
        let users = self.store().table(TableKind::Users)?;
        let staff = p.scope(Area::Users, Action::Read) != Scope::None;
        let on_my_requests: std::collections::HashSet<String> = if staff {
            Default::default()
        } else {
            let tasks = self.store().table(TableKind::Tasks)?;
            let (creator, assignee) = (
                tasks.position("created_by").unwrap_or(usize::MAX),
                tasks.position("assigned_to").unwrap_or(usize::MAX),
            );
            let me = p.me();
            tasks
                .rows
                .values()
                .filter(|r| !me.is_empty() && r.cell(creator) == me)
                .flat_map(|r| [r.cell(assignee).to_string(), r.cell(creator).to_string()])
                .collect()
        };
        Ok(users
            .rows
            .iter()
            .filter(|(id, r)| {
                let visible = staff || on_my_requests.contains(&id.to_string());
                visible && parse_bool(users.value(r, "is_active")).unwrap_or(true)
            })
            .map(|(id, r)| {
                let (username, full_name) = (users.value(r, "username"), users.value(r, "full_name"));
                DirectoryEntry {
                    id: *id,
                    name: display_name(full_name, username).to_string(),
                    username: if staff { username.to_string() } else { String::new() },
                    full_name: full_name.to_string(),
                    role: if staff { users.value(r, "role").to_string() } else { String::new() },
                    phone: if staff { users.value(r, "phone").to_string() } else { String::new() },
                }
            })
            .collect())
    }

    /// The active users of `role` (the managers a new task is announced to).
    pub fn active_with_role(&self, role: &str) -> Vec<u64> {
        let Ok(users) = self.store().table(TableKind::Users) else { return Vec::new() };
        users
            .rows
            .iter()
            .filter(|(_, r)| users.value(r, "role") == role && parse_bool(users.value(r, "is_active")) == Ok(true))
            .map(|(id, _)| *id)
            .collect()
    }

    /// The signed-in person's own profile: the users columns that describe them (no
    /// secret, no Telegram id) and how they are shown.
    pub fn profile(&self, p: &Principal) -> Result<serde_json::Value, ServiceError> {
        let mut body = serde_json::json!({
            "id": p.user_id, "username": p.username, "role": p.role.to_string(),
            "must_change_password": p.must_change_password,
            "can": super::offers::offers(self, p, &self.task_fields_people_set()),
        });
        let Some(me) = p.user_id else {
            body["name"] = p.username.clone().into();
            return Ok(body);
        };
        let (record, _) = self.get(TableKind::Users, me)?;
        for column in PROFILE_READ {
            body[column] = record.get(column).cloned().unwrap_or_default().into();
        }
        let name = display_name(body["full_name"].as_str().unwrap_or_default(), &p.username).to_string();
        body["name"] = name.into();
        body["telegram_bound"] = record.get("telegram_id").is_some_and(|t| !t.is_empty()).into();
        Ok(body)
    }

    /// The task fields a person may set at all: the table's columns but those the
    /// server sets, and the declared custom fields.
    fn task_fields_people_set(&self) -> Vec<String> {
        use crate::auth::task_fields::TaskFieldRules;
        let rules: &TaskFieldRules = crate::service::access::TaskLookup::field_rules(self);
        TableKind::Tasks
            .spec()
            .columns
            .iter()
            .map(|c| c.name)
            .filter(|n| *n != "created_by" && !crate::domain::schema::SERVER_SET.contains(n))
            .chain(rules.custom_names())
            .map(str::to_string)
            .collect()
    }

    /// `PATCH /api/auth/me`: a person changes their own name, phone, email and
    /// language; anything else in the body is refused with the field named.
    pub async fn update_profile(&self, p: &Principal, fields: Fields) -> Result<serde_json::Value, ServiceError> {
        let me = p.user_id.ok_or_else(|| {
            ServiceError::Forbidden("security is off: every request is already the admin `anonymous`".into())
        })?;
        if p.key.is_some_and(|k| k.read_only) {
            return Err(ServiceError::Forbidden("a read-only API key may not change anything".into()));
        }
        let refused: Vec<crate::domain::FieldError> = fields
            .keys()
            .filter(|k| !PROFILE_WRITE.contains(&k.as_str()))
            .map(|k| {
                crate::domain::FieldError::new(
                    k.clone(),
                    "is not yours to change here (full_name, phone, email, language)",
                )
            })
            .collect();
        if !refused.is_empty() {
            return Err(ServiceError::invalid(refused));
        }
        let (existing, _) = self.get(TableKind::Users, me)?;
        super::records::check_input(TableKind::Users, &fields, Some(&existing))?;
        self.change(TableKind::Users, me, fields, None, p.context()).await?;
        self.profile(p)
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
