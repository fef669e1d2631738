//! Reading and changing records of the record tables (users, tasks, comments, docs,
//! events): the use cases every source calls with its [`Principal`]. Each one
//! authorizes (`access.rs`) and validates inside and answers a [`ServiceError`]; a
//! REST handler, the WebSocket session, the bot, the scheduler and the command line
//! only parse, call and reply. Below them, the unchecked reads and commits the other
//! use cases of this folder build on (`pub(super)`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::auth::policy::{Action, Role, Scope};
use crate::domain::{ColumnKind, FieldError, TableKind};
use crate::store::Row;
use crate::store::{Committed, Context, Fields, Op, Storage, StoreError, TableData, etag_of};

use super::access::{self, NAME_FIELDS, Principal, ServiceError, TaskLookup, area_of};
use super::columns::Columnar;
use super::query::{Deadlines, ListQuery};

/// The rows a query selected from one table snapshot: kept so that the next page of
/// the same query, or the same query again (boards poll), is a slice.
struct Selection {
    /// Held so that the pointer comparison below can never match a newer table at a
    /// reused address.
    snapshot: Arc<TableData>,
    columns: Arc<Columnar>,
    /// Positions in `columns` of the matching rows, in id order.
    matched: Vec<u32>,
    /// The same in the query's order, made when the query comes a second time.
    ordered: OnceLock<Vec<u32>>,
}

/// Cheap to clone (one shared allocation): routes clone it into every request.
#[derive(Clone)]
pub struct RecordService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Storage>,
    /// When a task is late (for `overdue`).
    deadlines: Arc<Deadlines>,
    /// Recent selections by table and query: boards poll the same lists, and a list is
    /// a filter and a sort over the whole table. Valid only for the snapshot they were
    /// made from, so a change makes them miss by itself.
    selections: moka::sync::Cache<String, Arc<Selection>>,
    /// The packed columns of each table's current snapshot (replaced at the first list
    /// after a change).
    columns: Mutex<HashMap<TableKind, Arc<Columnar>>>,
    /// `ui.default_language`: what reports are written in for people who chose none.
    default_lang: crate::i18n::Lang,
    /// Which fields of a task each role sets (the configured part of the matrix).
    field_rules: crate::auth::task_fields::TaskFieldRules,
    /// `security.api_key_max_days`: how far ahead a key may expire.
    key_max_days: u64,
}

/// One page of a list: rows of a table snapshot.
pub struct Page {
    pub table: Arc<TableData>,
    pub rows: Vec<Arc<Row>>,
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
}

impl Page {
    /// The page's records as named fields (for callers that want maps).
    pub fn items(&self) -> Vec<Fields> {
        self.rows.iter().map(|r| self.table.fields(r)).collect()
    }
}

/// One record as a caller may see it: a row of its table snapshot, its ETag, and the
/// columns they may read when not all (a member sees users' names only).
pub struct RecordView {
    pub table: Arc<TableData>,
    pub row: Arc<Row>,
    pub etag: String,
    pub columns: Option<Vec<usize>>,
}

/// What removing a record means for its table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Removal {
    /// The row is deleted.
    Delete,
    /// Users are deactivated (`is_active=false`), never removed: history keeps
    /// pointing at a real user.
    Deactivate,
}

impl Removal {
    pub fn of(table: TableKind) -> Removal {
        if table == TableKind::Users { Removal::Deactivate } else { Removal::Delete }
    }
}

impl RecordService {
    /// `security.api_key_max_days`.
    pub fn key_max_days(&self) -> u64 {
        self.inner.key_max_days
    }
}

impl TaskLookup for RecordService {
    fn tasks(&self) -> Result<Arc<TableData>, StoreError> {
        self.inner.store.table(TableKind::Tasks)
    }

    fn field_rules(&self) -> &crate::auth::task_fields::TaskFieldRules {
        &self.inner.field_rules
    }
}

/// The use cases.
impl RecordService {
    /// A page of `table` as `p` may read it (a client's own tasks, users' names...).
    pub fn list(
        &self,
        p: &Principal,
        table: TableKind,
        mut query: ListQuery,
    ) -> Result<(Page, ListQuery), ServiceError> {
        access::scope_query(self, p, table, &mut query)?;
        let page = self.select(table, &query)?;
        Ok((page, query))
    }

    /// One record, if `p` may read it (404 when it is not theirs to see).
    pub fn read(&self, p: &Principal, table: TableKind, id: u64) -> Result<RecordView, ServiceError> {
        let (snapshot, row, etag) = self.get_row(table, id)?;
        // The record's fields are built only when the role's scope depends on them.
        if p.scope(area_of(table), Action::Read) == Scope::Own {
            access::check_read(self, p, table, id, &snapshot.fields(&row))?;
        } else {
            access::check_read(self, p, table, id, &Fields::new())?;
        }
        let columns = (p.scope(area_of(table), Action::Read) == Scope::Names)
            .then(|| NAME_FIELDS.iter().filter_map(|f| snapshot.position(f)).collect());
        Ok(RecordView { table: snapshot, row, etag, columns })
    }

    /// Creates a record: defaults filled in, who made it recorded.
    pub async fn create(&self, p: &Principal, table: TableKind, fields: Fields) -> Result<Committed, ServiceError> {
        access::check_write(self, p, table, Action::Create, None, &fields)?;
        check_input(table, &fields, None)?;
        Ok(self.insert(table, fields, p.context()).await?)
    }

    /// Changes the fields sent (`replace`: every writable field must be sent, as PUT
    /// demands). `if_match` is the ETag the caller last saw (412 when stale).
    pub async fn update(
        &self,
        p: &Principal,
        table: TableKind,
        id: u64,
        fields: Fields,
        if_match: Option<String>,
        replace: bool,
    ) -> Result<Committed, ServiceError> {
        self.seen(table, id, if_match.as_deref()).await;
        let (existing, _) = self.get(table, id)?;
        access::check_write(self, p, table, Action::Update, Some((id, &existing)), &fields)?;
        check_input(table, &fields, Some(&existing))?;
        if replace {
            let missing: Vec<FieldError> = writable_columns(table)
                .filter(|c| !fields.contains_key(*c))
                .map(|c| FieldError::new(c, "is required by PUT (use PATCH to change some fields)"))
                .collect();
            if !missing.is_empty() {
                return Err(ServiceError::invalid(missing));
            }
        }
        let fixed: Vec<FieldError> = (table.spec().fixed.iter())
            .filter(|c| fields.contains_key(**c))
            .map(|c| FieldError::new(*c, "is fixed when the record is made (for a document: upload a new one instead)"))
            .collect();
        if !fixed.is_empty() {
            return Err(ServiceError::invalid(fixed));
        }
        if table == TableKind::Users {
            self.keep_an_admin(id, &existing, &fields)?;
        }
        Ok(self.change(table, id, fields, if_match, p.context()).await?)
    }

    /// Removes a record as its table means it ([`Removal`]): a task takes its comments
    /// with it and unlinks its documents; a user is deactivated. Returns the record
    /// as it stands afterwards when it still exists.
    pub async fn remove(
        &self,
        p: &Principal,
        table: TableKind,
        id: u64,
        if_match: Option<String>,
    ) -> Result<Option<Committed>, ServiceError> {
        self.seen(table, id, if_match.as_deref()).await;
        let (existing, _) = self.get(table, id)?;
        access::check_write(self, p, table, Action::Delete, Some((id, &existing)), &Fields::new())?;
        match (Removal::of(table), table) {
            (Removal::Deactivate, _) => {
                let fields: Fields = [("is_active".to_string(), "false".to_string())].into();
                self.keep_an_admin(id, &existing, &fields)?;
                Ok(Some(self.change(table, id, fields, if_match, p.context()).await?))
            }
            (Removal::Delete, TableKind::Tasks) => {
                self.delete_task(id, if_match, p.context()).await?;
                Ok(None)
            }
            (Removal::Delete, _) => {
                self.delete(table, id, if_match, p.context()).await?;
                Ok(None)
            }
        }
    }

    /// Refuses a change of user `id` that would leave no active admin: afterwards
    /// nobody could administer without stopping the server.
    fn keep_an_admin(&self, id: u64, existing: &Fields, fields: &Fields) -> Result<(), ServiceError> {
        let is_admin = |f: &Fields| {
            f.get("role").map(String::as_str) == Some(Role::Admin.as_str())
                && f.get("is_active").is_none_or(|v| crate::domain::values::parse_bool(v).unwrap_or(false))
        };
        let mut after = existing.clone();
        after.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        if !is_admin(existing) || is_admin(&after) {
            return Ok(());
        }
        let users = self.inner.store.table(TableKind::Users)?;
        let other_admin = users.rows.iter().any(|(other, row)| *other != id && is_admin(&users.fields(row)));
        if other_admin {
            Ok(())
        } else {
            Err(ServiceError::Conflict(format!(
                "user {id} is the only active admin: make another user an active admin first, or nobody could administer"
            )))
        }
    }
}

/// What a source may not send (see `TableSpec::input_problems`); `existing` is the
/// record being changed.
pub(super) fn check_input(table: TableKind, fields: &Fields, existing: Option<&Fields>) -> Result<(), ServiceError> {
    let current = existing.map(|e| move |name: &str| e.get(name).cloned());
    let lookup = current.as_ref().map(|f| f as &crate::domain::schema::CurrentValue<'_>);
    let problems = table.spec().input_problems(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())), lookup);
    if problems.is_empty() { Ok(()) } else { Err(ServiceError::invalid(problems)) }
}

/// Documented columns a client may set (not the key, not the server's timestamps).
pub fn writable_columns(table: TableKind) -> impl Iterator<Item = &'static str> {
    let spec = table.spec();
    spec.columns
        .iter()
        .filter(move |c| {
            c.name != spec.key
                && c.kind != ColumnKind::Secret
                && !matches!(c.name, "created_at" | "updated_at" | "completed_at" | "created_by" | "uploaded_by")
        })
        .map(|c| c.name)
}

/// The unchecked reads and commits the use cases build on.
impl RecordService {
    pub fn new(store: Arc<dyn Storage>, config: &crate::config::Config) -> Self {
        let deadlines = Deadlines::new(&config.tasks.workflow, config.scheduler.tz());
        let default_lang = config.ui.default_language;
        let field_rules = crate::auth::task_fields::TaskFieldRules::from_config(config);
        let selections = moka::sync::Cache::builder()
            .max_capacity(2_000_000)
            .weigher(|_: &String, s: &Arc<Selection>| s.matched.len().min(u32::MAX as usize) as u32 + 1)
            .time_to_idle(std::time::Duration::from_secs(300))
            .build();
        Self {
            inner: Arc::new(Inner {
                store,
                deadlines: Arc::new(deadlines),
                selections,
                columns: Mutex::default(),
                default_lang,
                field_rules,
                key_max_days: config.security.api_key_max_days,
            }),
        }
    }

    /// The language a user reads (their `language` cell, else `ui.default_language`).
    pub fn lang_of(&self, language_cell: &str) -> crate::i18n::Lang {
        crate::i18n::Lang::parse(language_cell).unwrap_or(self.inner.default_lang)
    }

    /// The language user `id` reads (`ui.default_language` for nobody in particular).
    pub fn lang_of_user(&self, id: Option<u64>) -> crate::i18n::Lang {
        let cell = id
            .and_then(|id| self.get(TableKind::Users, id).ok())
            .and_then(|(user, _)| user.get("language").cloned())
            .unwrap_or_default();
        self.lang_of(&cell)
    }

    pub(super) fn store(&self) -> &Arc<dyn Storage> {
        &self.inner.store
    }

    pub fn deadlines(&self) -> &Deadlines {
        &self.inner.deadlines
    }

    /// One record with its ETag.
    /// Whether this server has record `id` of `table` (at the version `if_match`, when
    /// given); if not, it first catches up with a shared database's head, so that a
    /// record another server just made or changed is found (read-your-writes without
    /// sticky sessions). A no-op on a data folder, where this server is the only writer.
    pub async fn seen(&self, table: TableKind, id: u64, if_match: Option<&str>) {
        let current = self.inner.store.table(table).ok().and_then(|t| t.get(id).map(|row| etag_of(row)));
        let matches = match (&current, if_match) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(etag), Some(wanted)) => wanted.split(',').any(|w| {
                let w = w.trim();
                w == "*" || w.trim_start_matches("W/") == etag
            }),
        };
        if !matches {
            self.inner.store.catch_up().await;
        }
    }

    /// Whether this server has record `id` of `table` now.
    pub fn has(&self, table: TableKind, id: u64) -> bool {
        self.inner.store.table(table).is_ok_and(|t| t.get(id).is_some())
    }

    pub(super) fn get(&self, table: TableKind, id: u64) -> Result<(Fields, String), StoreError> {
        let t = self.inner.store.table(table)?;
        let row = t.get(id).ok_or(StoreError::NotFound { table, id })?;
        Ok((t.fields(row), etag_of(row)))
    }

    /// The table's columns in file order (known and unknown).
    pub fn columns(&self, table: TableKind) -> Result<Vec<String>, StoreError> {
        Ok(self.inner.store.table(table)?.header.to_vec())
    }

    /// A record's fields as they stand, for judging what a follower of the feed may see.
    pub(super) fn current(&self, table: TableKind, id: u64) -> Option<Fields> {
        self.get(table, id).ok().map(|(fields, _)| fields)
    }

    /// One record as a row of its table snapshot, with its ETag.
    pub(super) fn get_row(&self, table: TableKind, id: u64) -> Result<(Arc<TableData>, Arc<Row>, String), StoreError> {
        let t = self.inner.store.table(table)?;
        let row = t.get(id).cloned().ok_or(StoreError::NotFound { table, id })?;
        let etag = etag_of(&row);
        Ok((t, row, etag))
    }

    /// The rows of `table` a query selects, unscoped: callers have narrowed the query.
    /// A query seen first is filtered over packed columns and only its page is put in
    /// order; the same query again finds its selection and orders it whole once.
    pub(super) fn select(&self, table: TableKind, query: &ListQuery) -> Result<Page, StoreError> {
        let t = self.inner.store.table(table)?;
        let key = query.cache_key().map(|k| format!("{}?{k}", table.name()));
        let cached = key.as_ref().and_then(|k| self.inner.selections.get(k)).filter(|s| Arc::ptr_eq(&s.snapshot, &t));
        let matcher = query.matcher(&t, &self.inner.deadlines).map_err(StoreError::Invalid)?;
        let end = query.offset.saturating_add(query.per_page);
        let (columns, total, page): (Arc<Columnar>, usize, Vec<u32>) = match cached {
            Some(selection) => {
                let ordered = selection.ordered.get_or_init(|| {
                    let mut all = selection.matched.clone();
                    matcher.order_prefix(&selection.columns, &mut all, usize::MAX);
                    all
                });
                let page = ordered.iter().skip(query.offset).take(query.per_page).copied().collect();
                (selection.columns.clone(), ordered.len(), page)
            }
            None => {
                let columns = self.columns_of(table, &t);
                let matched = matcher.filter(&columns);
                let mut rows = matched.clone();
                let need = end.min(rows.len());
                matcher.order_prefix(&columns, &mut rows, need);
                let page = rows.iter().skip(query.offset).take(query.per_page).copied().collect();
                if let Some(k) = key {
                    let selection =
                        Selection { snapshot: t.clone(), columns: columns.clone(), matched, ordered: OnceLock::new() };
                    self.inner.selections.insert(k, Arc::new(selection));
                }
                (columns, rows.len(), page)
            }
        };
        let page_rows = page.into_iter().map(|i| columns.rows[i as usize].clone()).collect();
        Ok(Page { table: t, rows: page_rows, total, page: query.page(), per_page: query.per_page })
    }

    /// The packed columns of `snapshot`, made once per snapshot.
    fn columns_of(&self, table: TableKind, snapshot: &Arc<TableData>) -> Arc<Columnar> {
        let Ok(mut all) = self.inner.columns.lock() else {
            return Arc::new(Columnar::new(snapshot.clone()));
        };
        match all.get(&table) {
            Some(c) if Arc::ptr_eq(&c.snapshot, snapshot) => c.clone(),
            _ => {
                let c = Arc::new(Columnar::new(snapshot.clone()));
                all.insert(table, c.clone());
                c
            }
        }
    }

    pub(super) async fn insert(
        &self,
        table: TableKind,
        mut fields: Fields,
        ctx: Context,
    ) -> Result<Committed, StoreError> {
        if table == TableKind::Tasks && fields.get("status").is_none_or(|s| s.is_empty()) {
            fields.insert("status".into(), self.inner.deadlines.workflow.first().to_string());
        }
        for (column, default) in table.spec().defaults {
            let entry = fields.entry(column.to_string()).or_default();
            if entry.is_empty() {
                *entry = default.to_string();
            }
        }
        let creator = table.spec().creator;
        // Who did it, when the actor is a user the table can point at.
        if let (Some(column), Some(actor)) = (creator, ctx.actor)
            && fields.get(column).is_none_or(|v| v.is_empty())
            && self.inner.store.table(TableKind::Users).is_ok_and(|u| u.rows.contains_key(&actor))
        {
            fields.insert(column.into(), actor.to_string());
        }
        self.inner.store.commit(Op::Create { table, fields, attachment: None }, ctx).await
    }

    pub(super) async fn change(
        &self,
        table: TableKind,
        id: u64,
        fields: Fields,
        if_match: Option<String>,
        ctx: Context,
    ) -> Result<Committed, StoreError> {
        self.inner.store.commit(Op::Update { table, id, fields, if_match }, ctx).await
    }

    pub(super) async fn delete(
        &self,
        table: TableKind,
        id: u64,
        if_match: Option<String>,
        ctx: Context,
    ) -> Result<Committed, StoreError> {
        self.inner.store.commit(Op::Delete { table, id, if_match }, ctx).await
    }
}
