//! Reading and changing records of the record tables (users, tasks, comments, docs):
//! defaults for new records, and pages of a list.

use std::sync::Arc;

use crate::domain::TableKind;
use crate::store::{Committed, Context, Fields, Op, Storage, StoreError, etag_of};

use super::query::{ListQuery, closed_statuses};

/// Cheap to clone: the store handle is shared.
#[derive(Clone)]
pub struct RecordService {
    store: Arc<dyn Storage>,
    /// Statuses that close a task (for `overdue`).
    closed: Arc<Vec<String>>,
}

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    /// The table's columns in file order.
    pub columns: Vec<String>,
    pub items: Vec<Fields>,
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
}

impl RecordService {
    pub fn new(store: Arc<dyn Storage>, statuses: &[String]) -> Self {
        Self { store, closed: Arc::new(closed_statuses(statuses)) }
    }

    pub fn store(&self) -> &Arc<dyn Storage> {
        &self.store
    }

    pub fn closed_statuses(&self) -> &[String] {
        &self.closed
    }

    /// One record with its ETag.
    pub fn get(&self, table: TableKind, id: u64) -> Result<(Fields, String), StoreError> {
        let t = self.store.table(table)?;
        let row = t.get(id).ok_or(StoreError::NotFound { table, id })?;
        Ok((t.fields(row), etag_of(row)))
    }

    /// The table's columns in file order (known and unknown).
    pub fn columns(&self, table: TableKind) -> Result<Vec<String>, StoreError> {
        Ok(self.store.table(table)?.header.to_vec())
    }

    pub fn list(&self, table: TableKind, query: &ListQuery) -> Result<Page, StoreError> {
        let t = self.store.table(table)?;
        let rows = query.select(&t, &self.closed).map_err(StoreError::Invalid)?;
        let total = rows.len();
        let items = rows.into_iter().skip(query.offset).take(query.per_page).map(|row| t.fields(row)).collect();
        Ok(Page { columns: t.header.to_vec(), items, total, page: query.page(), per_page: query.per_page })
    }

    pub async fn create(&self, table: TableKind, mut fields: Fields, ctx: Context) -> Result<Committed, StoreError> {
        for (column, default) in defaults(table) {
            let entry = fields.entry(column.to_string()).or_default();
            if entry.is_empty() {
                *entry = default.to_string();
            }
        }
        let creator = match table {
            TableKind::Tasks => Some("created_by"),
            TableKind::Comments => Some("user_id"),
            TableKind::Docs => Some("uploaded_by"),
            _ => None,
        };
        // Who did it, when the actor is a user the table can point at.
        if let (Some(column), Some(actor)) = (creator, ctx.actor)
            && fields.get(column).is_none_or(|v| v.is_empty())
            && self.store.table(TableKind::Users).is_ok_and(|u| u.rows.contains_key(&actor))
        {
            fields.insert(column.into(), actor.to_string());
        }
        self.store.commit(Op::Create { table, fields, attachment: None }, ctx).await
    }

    pub async fn update(
        &self,
        table: TableKind,
        id: u64,
        fields: Fields,
        if_match: Option<String>,
        ctx: Context,
    ) -> Result<Committed, StoreError> {
        self.store.commit(Op::Update { table, id, fields, if_match }, ctx).await
    }

    pub async fn delete(
        &self,
        table: TableKind,
        id: u64,
        if_match: Option<String>,
        ctx: Context,
    ) -> Result<Committed, StoreError> {
        self.store.commit(Op::Delete { table, id, if_match }, ctx).await
    }
}

/// Values a new record gets when it does not say.
fn defaults(table: TableKind) -> &'static [(&'static str, &'static str)] {
    match table {
        TableKind::Tasks => &[("status", "new"), ("priority", "medium")],
        TableKind::Users => &[("role", "member"), ("is_active", "true")],
        _ => &[],
    }
}
