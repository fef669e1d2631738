//! Who is asking, and which records they reach: the role matrix (`auth::policy`)
//! applied to rows. Lists, exports and WebSocket subscriptions are narrowed with
//! conditions; single records are checked before they are shown or changed.
//!
//! Pure checks: what they need to know beyond the record (a client's own tasks, the
//! task a comment hangs on) they ask of a [`TaskLookup`], so this file depends on no
//! use case and every use case can call it.

use std::sync::Arc;

use crate::auth::policy::{self, Action, Area, Role, Scope};
use crate::domain::{FieldError, TableKind};
use crate::store::{Context, Fields, Source, StoreError, TableData};

use super::query::{Condition, ListQuery};

/// Where the checks find the tasks table (own tasks, the task of a comment).
pub trait TaskLookup {
    fn tasks(&self) -> Result<Arc<TableData>, StoreError>;

    /// The field part of the matrix as the configuration sets it.
    fn field_rules(&self) -> &crate::auth::task_fields::TaskFieldRules;

    /// One task's fields, if it exists.
    fn task(&self, id: u64) -> Option<Fields> {
        let tasks = self.tasks().ok()?;
        tasks.get(id).map(|row| tasks.fields(row))
    }
}

/// The user behind a request, as users.csv says now (re-read on every request, so a
/// deactivation or a role change applies at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// None for the built-in `anonymous` admin (security off).
    pub user_id: Option<u64>,
    pub username: String,
    pub role: Role,
    /// The login session the request's token belongs to.
    pub session: Option<String>,
    /// The door the request came through (REST, WebSocket, Telegram, scheduler, CLI).
    pub source: Source,
    /// A password older than the policy allows: nothing but changing it is allowed.
    pub must_change_password: bool,
    /// Set when the request came with an API key rather than a login session.
    pub key: Option<KeyGrant>,
}

/// What a request made with a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyGrant {
    pub id: u64,
    /// `read` scope: GET only.
    pub read_only: bool,
}

impl Principal {
    /// The built-in admin every request acts as when security is off.
    pub fn anonymous() -> Principal {
        Principal {
            user_id: None,
            username: "anonymous".into(),
            role: Role::Admin,
            session: None,
            source: Source::Api,
            must_change_password: false,
            key: None,
        }
    }

    /// The server itself acting through `source` (a scheduled job, the command line):
    /// an admin with no user behind it.
    pub fn system(source: Source) -> Principal {
        Principal { username: source.name().into(), source, ..Principal::anonymous() }
    }

    /// The same user, coming through another door.
    pub fn through(mut self, source: Source) -> Principal {
        self.source = source;
        self
    }

    /// Who and through which door, as the store records it.
    pub fn context(&self) -> Context {
        Context { actor: self.user_id, source: self.source }
    }

    pub fn scope(&self, area: Area, action: Action) -> Scope {
        policy::scope(self.role, area, action)
    }

    pub fn me(&self) -> String {
        self.user_id.map(|u| u.to_string()).unwrap_or_default()
    }
}

/// Why a use case did not do what it was asked: not allowed, not there for the
/// caller, or the store's own answer (invalid, stale, conflict...).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// 403: the role does not reach this at all, or not this record.
    #[error("{0}")]
    Forbidden(String),
    /// 404: a record the user may not read is, to them, not there.
    #[error("{table} {id} does not exist", table = .table.spec().entity)]
    Hidden { table: TableKind, id: u64 },
    /// 409: allowed, but it would leave the system in a state nobody can fix from
    /// outside (say, with no active admin).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// 422 with the fields' problems.
    pub fn invalid(errors: Vec<FieldError>) -> ServiceError {
        ServiceError::Store(StoreError::Invalid(errors))
    }
}

/// The area of a record table.
pub fn area_of(table: TableKind) -> Area {
    match table {
        // A checklist is part of its task: read with it, changed by whoever may change
        // the task's status (`check_checklist_write`).
        TableKind::Tasks | TableKind::Checklists => Area::Tasks,
        // Feedback is read as comments are (whoever may read the task); it is written
        // only through `RecordService::rate`, which has rules of its own.
        TableKind::Comments | TableKind::Feedback => Area::Comments,
        TableKind::Docs => Area::Docs,
        TableKind::Recurring => Area::Recurring,
        TableKind::Events => Area::Events,
        TableKind::Users | TableKind::Credentials => Area::Users,
        // Keys are listed and changed through their own use cases (service/keys.rs),
        // which show each caller their own; generic paths treat them as users' data.
        TableKind::ApiKeys => Area::Users,
        // A user's bot settings: changed only through the bot's use cases (service/telegram.rs).
        TableKind::Telegram => Area::Users,
    }
}

/// The users columns a member sees ("read names").
pub const NAME_FIELDS: [&str; 4] = ["id", "username", "full_name", "phone"];

/// Narrows a list query (list, export, subscription snapshot) to what `p` may read.
pub fn scope_query(
    lookup: &impl TaskLookup,
    p: &Principal,
    table: TableKind,
    query: &mut ListQuery,
) -> Result<(), ServiceError> {
    let area = area_of(table);
    if table == TableKind::Events && p.role != Role::Admin {
        // An API key's events: its owner's only (see `may_read_event`).
        let me = p.user_id.map(|id| id.to_string()).unwrap_or_default();
        query.conditions.push(Condition::OwnedWhen("entity".into(), "api_key".into(), "user_id".into(), me));
    }
    match p.scope(area, Action::Read) {
        Scope::All => Ok(()),
        Scope::None => Err(ServiceError::Forbidden(format!("the {} role may not read {}", p.role, table.name()))),
        Scope::Names => {
            let other = query.conditions.iter().any(|c| match c {
                Condition::OneOf(field, _) => !NAME_FIELDS.contains(&field.as_str()),
                _ => true,
            }) || query.sort.iter().any(|(f, _)| !NAME_FIELDS.contains(&f.as_str()))
                || query.q.is_some();
            if other {
                return Err(ServiceError::Forbidden(format!(
                    "the {} role sees only the names of users: filter and sort by id or username",
                    p.role
                )));
            }
            let fields = query.fields.take().unwrap_or_else(|| NAME_FIELDS.map(String::from).to_vec());
            query.fields = Some(fields.into_iter().filter(|f| NAME_FIELDS.contains(&f.as_str())).collect());
            Ok(())
        }
        Scope::Own => {
            let condition = match table {
                TableKind::Tasks => Condition::OneOf("created_by".into(), vec![p.me()]),
                TableKind::Comments | TableKind::Docs | TableKind::Feedback | TableKind::Checklists => {
                    Condition::OneOf("task_id".into(), own_tasks(lookup, p)?)
                }
                _ => return Err(ServiceError::Forbidden(format!("the {} role may not read {}", p.role, table.name()))),
            };
            query.conditions.push(condition);
            Ok(())
        }
    }
}

/// Ids of the tasks `p` created (a client's own tasks), as strings; never empty, so
/// a condition built from it matches nothing rather than everything.
fn own_tasks(lookup: &impl TaskLookup, p: &Principal) -> Result<Vec<String>, StoreError> {
    let tasks = lookup.tasks()?;
    let me = p.me();
    let creator = tasks.position("created_by").unwrap_or(usize::MAX);
    let mut ids: Vec<String> =
        tasks.rows.iter().filter(|(_, r)| r.cell(creator) == me).map(|(id, _)| id.to_string()).collect();
    if ids.is_empty() {
        ids.push("0".into());
    }
    Ok(ids)
}

/// Whether `p` may read this record (fields of `table`).
pub fn may_read(lookup: &impl TaskLookup, p: &Principal, table: TableKind, record: &Fields) -> bool {
    if table == TableKind::Events && !may_read_event(p, record) {
        return false;
    }
    match p.scope(area_of(table), Action::Read) {
        Scope::All | Scope::Names => true,
        Scope::None => false,
        Scope::Own => owns(lookup, p, table, record, Action::Read),
    }
}

/// An API key's events (created, revoked, expiring: its name and owner) are its
/// owner's and the admins' business, whoever else reads the event log.
pub fn may_read_event(p: &Principal, event: &Fields) -> bool {
    if event.get("entity").map(String::as_str) != Some("api_key") || p.role == Role::Admin {
        return true;
    }
    p.user_id.is_some_and(|me| event.get("user_id").is_some_and(|owner| *owner == me.to_string()))
}

/// 404 for a record `p` may not read; 403 when the role reads none of the table.
pub fn check_read(
    lookup: &impl TaskLookup,
    p: &Principal,
    table: TableKind,
    id: u64,
    record: &Fields,
) -> Result<(), ServiceError> {
    match p.scope(area_of(table), Action::Read) {
        Scope::None => Err(ServiceError::Forbidden(format!("the {} role may not read {}", p.role, table.name()))),
        _ if may_read(lookup, p, table, record) => Ok(()),
        _ => Err(ServiceError::Hidden { table, id }),
    }
}

/// Whether `p` may make this change. `existing` is the record as it stands (None for
/// a create), `fields` what the request sends.
pub fn check_write(
    lookup: &impl TaskLookup,
    p: &Principal,
    table: TableKind,
    action: Action,
    existing: Option<(u64, &Fields)>,
    fields: &Fields,
) -> Result<(), ServiceError> {
    // The gate refuses these first; checked here too, for every source.
    if p.key.is_some_and(|k| k.read_only) {
        return Err(ServiceError::Forbidden("a read-only API key may not change anything".into()));
    }
    if table == TableKind::Checklists {
        return check_checklist_write(lookup, p, existing, fields);
    }
    let scope = p.scope(area_of(table), action);
    let verb = match action {
        Action::Read => "read",
        Action::Create => "create",
        Action::Update => "change",
        Action::Delete => "delete",
    };
    let refuse = |why: &str| Err(ServiceError::Forbidden(format!("the {} role may not {verb} {why}", p.role)));
    // Who made a record is the server's to say: only an admin writes it for someone
    // else (a member could otherwise hand a task to a client, or take one over).
    if let Some(column) = table.spec().creator
        && p.role != Role::Admin
        && p.user_id.is_some()
        && let Some(value) = fields.get(column)
    {
        let unchanged = match existing {
            Some((_, record)) => record.get(column) == Some(value),
            None => value.is_empty() || *value == p.me(),
        };
        if !unchanged {
            return refuse(&format!("{column} (it is set by the server to who made the record)"));
        }
    }
    // Which fields of a task this role sets (auth/task_fields.rs), asked once the
    // record-level checks have passed: a record one may not read stays a 404.
    let task_fields = || {
        if table != TableKind::Tasks || action == Action::Delete {
            return Ok(());
        }
        let rules = lookup.field_rules();
        let me = p.me();
        let created_by_me = existing.is_some_and(|(_, r)| !me.is_empty() && r.get("created_by") == Some(&me));
        for (field, value) in fields {
            // A value sent back unchanged (PUT sends every field) changes nothing; an
            // empty one on a create sets nothing. Server-set columns are judged elsewhere.
            let unchanged = match existing {
                Some((_, record)) => record.get(field).map(String::as_str).unwrap_or("") == value,
                None => value.is_empty(),
            };
            if unchanged || field == "created_by" || crate::domain::schema::SERVER_SET.contains(&field.as_str()) {
                continue;
            }
            if let Some(why) = rules.refusal(p.role, field, existing.is_none(), created_by_me) {
                return refuse(&why);
            }
        }
        if let (Role::Client, Some((_, record))) = (p.role, existing) {
            let first = rules.first_status();
            if record.get("status").map(String::as_str) != Some(first) {
                return refuse(&format!("a request once it has left the status {first}"));
            }
        }
        Ok(())
    };
    match scope {
        Scope::All => return task_fields(),
        Scope::None | Scope::Names => return refuse(table.name()),
        Scope::Own => {}
    }
    if let Some((id, record)) = existing {
        // A record they cannot even read is not there for them.
        if !may_read(lookup, p, table, record) {
            return Err(ServiceError::Hidden { table, id });
        }
        if !owns(lookup, p, table, record, action) {
            return refuse(&format!("this {}", table.spec().entity));
        }
    }
    task_fields()?;
    if matches!(table, TableKind::Comments | TableKind::Docs) {
        // The task a comment or document is (or would be) attached to must be one
        // they may write on.
        let task = fields.get("task_id").or_else(|| existing.and_then(|(_, r)| r.get("task_id")));
        if let Some(task_id) = task.filter(|t| !t.is_empty()) {
            let writable = task_id
                .parse::<u64>()
                .ok()
                .and_then(|id| lookup.task(id))
                .is_some_and(|task| owns(lookup, p, TableKind::Tasks, &task, Action::Update));
            if !writable {
                return refuse(&format!("on task {task_id}"));
            }
        } else {
            return refuse(&format!("a {} without its task", table.spec().entity));
        }
    }
    Ok(())
}

/// A checklist item is written by whoever may change its task's status (the person
/// doing the job, and those who hand it out); a task they cannot read is not there.
fn check_checklist_write(
    lookup: &impl TaskLookup,
    p: &Principal,
    existing: Option<(u64, &Fields)>,
    fields: &Fields,
) -> Result<(), ServiceError> {
    let task_id = fields.get("task_id").or_else(|| existing.and_then(|(_, r)| r.get("task_id")));
    let Some((id, task)) = task_id.and_then(|t| t.parse::<u64>().ok()).and_then(|id| Some((id, lookup.task(id)?)))
    else {
        return Err(ServiceError::Forbidden(format!(
            "the {} role may not change a checklist without its task",
            p.role
        )));
    };
    if !may_read(lookup, p, TableKind::Tasks, &task) {
        return Err(ServiceError::Hidden { table: TableKind::Tasks, id });
    }
    let status: Fields = [("status".to_string(), format!("{}-changed", task.get("status").map_or("", |s| s)))].into();
    check_write(lookup, p, TableKind::Tasks, Action::Update, Some((id, &task)), &status).map_err(|_| {
        ServiceError::Forbidden(format!(
            "the {} role may not change the checklist of task {id} (whoever may change its status may)",
            p.role
        ))
    })
}

/// Whether the record is `p`'s own for `action` (the `Own` scope).
fn owns(lookup: &impl TaskLookup, p: &Principal, table: TableKind, record: &Fields, action: Action) -> bool {
    let me = p.me();
    let is_me = |column: &str| record.get(column).is_some_and(|v| !me.is_empty() && *v == me);
    match table {
        TableKind::Tasks => match (p.role, action) {
            (Role::Client, _) => is_me("created_by"),
            _ => is_me("created_by") || is_me("assigned_to"),
        },
        TableKind::Comments | TableKind::Docs | TableKind::Feedback | TableKind::Checklists => {
            // A checklist item has no author: changing it is `check_checklist_write`'s.
            let author = match table {
                TableKind::Docs => "uploaded_by",
                TableKind::Checklists => "",
                _ => "user_id",
            };
            let on_own_task = || {
                record
                    .get("task_id")
                    .and_then(|t| t.parse::<u64>().ok())
                    .and_then(|id| lookup.task(id))
                    .is_some_and(|task| owns(lookup, p, TableKind::Tasks, &task, Action::Read))
            };
            match action {
                // Reading follows the task (as lists do); changing and deleting are
                // the author's.
                Action::Read => on_own_task(),
                _ => is_me(author),
            }
        }
        _ => false,
    }
}
