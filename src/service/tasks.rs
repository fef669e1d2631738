//! Task use cases beyond plain records: deleting a task with what hangs on it, its
//! history, and its comments.

use crate::auth::policy::{Action, Area, Scope};
use crate::domain::TableKind;
use crate::store::{Committed, Context, Fields, StoreError};

use super::access::{self, Principal, ServiceError};
use super::query::{Condition, ListQuery};
use super::records::{Page, RecordService};

impl RecordService {
    /// The events of task `id`, oldest first, if `p` may read the task. A deleted
    /// task's history is for those who read every task.
    pub fn history(&self, p: &Principal, id: u64, query: &ListQuery) -> Result<Page, ServiceError> {
        match self.get(TableKind::Tasks, id) {
            Ok((task, _)) => access::check_read(self, p, TableKind::Tasks, id, &task)?,
            Err(_) if p.scope(Area::Tasks, Action::Read) != Scope::All => {
                return Err(ServiceError::Hidden { table: TableKind::Tasks, id });
            }
            Err(_) => {}
        }
        Ok(self.task_history(id, query)?)
    }

    /// The comments on task `task`, oldest first unless the query sorts.
    pub fn comments(&self, p: &Principal, task: u64, query: ListQuery) -> Result<(Page, ListQuery), ServiceError> {
        self.attached(p, task, TableKind::Comments, query, vec![("id".into(), false)])
    }

    /// Comments on task `task` as `p`.
    pub async fn comment(&self, p: &Principal, task: u64, mut fields: Fields) -> Result<Committed, ServiceError> {
        let (record, _) = self.get(TableKind::Tasks, task)?;
        access::check_read(self, p, TableKind::Tasks, task, &record)?;
        fields.insert("task_id".into(), task.to_string());
        self.create(p, TableKind::Comments, fields).await
    }

    /// `p` takes task `id` from the pool: a member or manager (or admin) on an open,
    /// unassigned task they may read becomes its assignee. A task someone already has
    /// is a conflict (409), even for its assignee; a closed task too.
    pub async fn take(&self, p: &Principal, id: u64, if_match: Option<String>) -> Result<Committed, ServiceError> {
        let (task, _) = self.get(TableKind::Tasks, id)?;
        access::check_read(self, p, TableKind::Tasks, id, &task)?;
        let me = p
            .user_id
            .filter(|_| crate::auth::policy::may_take(p.role))
            .ok_or_else(|| ServiceError::Forbidden(format!("the {} role may not take tasks", p.role)))?;
        if p.key.is_some_and(|k| k.read_only) {
            return Err(ServiceError::Forbidden("a read-only API key may not change anything".into()));
        }
        let status = task.get("status").map(String::as_str).unwrap_or("");
        if self.deadlines().is_closed(status) {
            return Err(ServiceError::Conflict(format!("task {id} is {status}: only open work can be taken")));
        }
        match task.get("assigned_to").map(String::as_str).unwrap_or("") {
            "" => {}
            who if who == me.to_string() => {
                return Err(ServiceError::Conflict(format!("task {id} is yours already")));
            }
            _ => return Err(ServiceError::Conflict(format!("task {id} is assigned to someone else"))),
        }
        let fields: Fields = [("assigned_to".to_string(), me.to_string())].into();
        // The ETag the caller saw, or the one just read: a task taken meanwhile by
        // someone else is a 412, never a silent overwrite.
        let (_, etag) = self.get(TableKind::Tasks, id)?;
        let caller_guarded = if_match.is_some();
        let guard = if_match.or(Some(etag));
        match self.change(TableKind::Tasks, id, fields, guard, p.context()).await {
            Err(StoreError::PreconditionFailed) if !caller_guarded => {
                Err(ServiceError::Conflict(format!("task {id} changed meanwhile; it may have been taken")))
            }
            other => Ok(other?),
        }
    }

    /// Who last gave task `id` to someone: the actor of the newest event that set its
    /// `assigned_to` (a status change is told to them). Looks back over the last
    /// 50,000 events at most.
    pub fn last_assigner(&self, id: u64) -> Option<u64> {
        let events = self.store().table(TableKind::Events).ok()?;
        let col = |name: &str| events.position(name).unwrap_or(usize::MAX);
        let (c_type, c_entity, c_id, c_user, c_data) =
            (col("type"), col("entity"), col("entity_id"), col("user_id"), col("data"));
        let wanted = id.to_string();
        events
            .rows
            .values()
            .rev()
            .take(50_000)
            .filter(|r| r.cell(c_entity) == "task" && r.cell(c_id) == wanted)
            .filter(|r| matches!(r.cell(c_type), "task.updated" | "task.created"))
            .find(|r| {
                let data: serde_json::Value = serde_json::from_str(r.cell(c_data)).unwrap_or_default();
                data["after"]["assigned_to"].as_str().is_some_and(|a| !a.is_empty())
                    || data["after"]["assigned_to"].is_u64()
            })
            .and_then(|r| r.cell(c_user).parse().ok())
    }

    /// Task `task`'s checklist in its order (`position`, then id) unless the query sorts.
    pub fn checklist(&self, p: &Principal, task: u64, query: ListQuery) -> Result<(Page, ListQuery), ServiceError> {
        self.attached(p, task, TableKind::Checklists, query, vec![("position".into(), false), ("id".into(), false)])
    }

    /// Adds an item to task `task`'s checklist, last unless `position` says where.
    pub async fn add_checklist_item(
        &self,
        p: &Principal,
        task: u64,
        mut fields: Fields,
    ) -> Result<Committed, ServiceError> {
        let (record, _) = self.get(TableKind::Tasks, task)?;
        access::check_read(self, p, TableKind::Tasks, task, &record)?;
        fields.insert("task_id".into(), task.to_string());
        if fields.get("position").is_none_or(|v| v.is_empty()) {
            let items = self.store().table(TableKind::Checklists)?;
            let (of_task, at) = (items.position("task_id"), items.position("position"));
            let last = items
                .rows
                .values()
                .filter(|r| of_task.is_some_and(|c| r.cell(c) == task.to_string()))
                .filter_map(|r| at.and_then(|c| r.cell(c).parse::<u64>().ok()))
                .max();
            fields.insert("position".into(), last.map_or(1, |n| n + 1).to_string());
        }
        self.create(p, TableKind::Checklists, fields).await
    }

    /// The records of `table` attached to task `task`, as `p` may read it.
    fn attached(
        &self,
        p: &Principal,
        task: u64,
        table: TableKind,
        query: ListQuery,
        order: Vec<(String, bool)>,
    ) -> Result<(Page, ListQuery), ServiceError> {
        let (record, _) = self.get(TableKind::Tasks, task)?;
        access::check_read(self, p, TableKind::Tasks, task, &record)?;
        let mut query = query;
        query.conditions.push(Condition::OneOf("task_id".into(), vec![task.to_string()]));
        if query.sort.is_empty() {
            query.sort = order;
        }
        self.list(p, table, query)
    }

    /// Deletes a task: its comments, feedback and checklist go with it; its documents
    /// stay, unlinked from it.
    pub(super) async fn delete_task(
        &self,
        id: u64,
        if_match: Option<String>,
        ctx: Context,
    ) -> Result<Committed, StoreError> {
        // Checked first so that a stale If-Match deletes nothing at all.
        let (_, etag) = self.get(TableKind::Tasks, id)?;
        if if_match.as_ref().is_some_and(|tag| tag != "*" && *tag != etag) {
            return Err(StoreError::PreconditionFailed);
        }
        let hanging_tables = [
            (TableKind::Comments, "task_id"),
            (TableKind::Feedback, "task_id"),
            (TableKind::Checklists, "task_id"),
            (TableKind::Docs, "task_id"),
        ];
        for (table, column) in hanging_tables {
            let t = self.store().table(table)?;
            let Some(pos) = t.position(column) else { continue };
            let wanted = id.to_string();
            let hanging: Vec<u64> = t.rows.iter().filter(|(_, r)| r.cell(pos) == wanted).map(|(k, _)| *k).collect();
            for row_id in hanging {
                let result = if table != TableKind::Docs {
                    self.delete(table, row_id, None, ctx).await
                } else {
                    let unlink: Fields = [(column.to_string(), String::new())].into();
                    self.change(table, row_id, unlink, None, ctx).await
                };
                match result {
                    Ok(_) | Err(StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.delete(TableKind::Tasks, id, if_match, ctx).await
    }

    /// The events of one task, oldest first (from events.csv; archived events are not
    /// searched).
    fn task_history(&self, id: u64, query: &ListQuery) -> Result<Page, StoreError> {
        let exists = match self.get(TableKind::Tasks, id) {
            Ok(_) => true,
            Err(StoreError::NotFound { .. }) => false,
            Err(other) => return Err(other),
        };
        let mut q = query.clone();
        q.conditions.push(Condition::OneOf("entity".into(), vec!["task".into()]));
        q.conditions.push(Condition::OneOf("entity_id".into(), vec![id.to_string()]));
        if q.sort.is_empty() {
            q.sort = vec![("id".into(), false)];
        }
        let page = self.select(TableKind::Events, &q)?;
        // A deleted task still has a history; a task that never was has none.
        if !exists && page.total == 0 {
            return Err(StoreError::NotFound { table: TableKind::Tasks, id });
        }
        Ok(page)
    }
}
