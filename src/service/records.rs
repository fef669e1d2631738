//! Reading and changing records of the record tables (users, tasks, comments, docs):
//! defaults for new records, and pages of a list.

use std::sync::Arc;

use crate::domain::TableKind;
use crate::store::Row;
use crate::store::{Committed, Context, Fields, Op, Storage, StoreError, TableData, etag_of};

use super::query::{ListQuery, closed_statuses};

/// The rows a query selected from one table snapshot, in order.
struct Selection {
    /// Held so that the pointer comparison below can never match a newer table at a
    /// reused address.
    snapshot: Arc<TableData>,
    rows: Arc<Vec<Arc<Row>>>,
}

/// Cheap to clone: the store handle is shared.
#[derive(Clone)]
pub struct RecordService {
    store: Arc<dyn Storage>,
    /// Statuses that close a task (for `overdue`).
    closed: Arc<Vec<String>>,
    /// Recent selections by table and query: boards poll the same lists, and a list is
    /// a filter and a sort over the whole table. Valid only for the snapshot they were
    /// made from, so a change makes them miss by itself.
    selections: moka::sync::Cache<String, Arc<Selection>>,
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

impl RecordService {
    pub fn new(store: Arc<dyn Storage>, statuses: &[String]) -> Self {
        let selections = moka::sync::Cache::builder()
            .max_capacity(2_000_000)
            .weigher(|_: &String, s: &Arc<Selection>| s.rows.len().min(u32::MAX as usize) as u32 + 1)
            .time_to_idle(std::time::Duration::from_secs(300))
            .build();
        Self { store, closed: Arc::new(closed_statuses(statuses)), selections }
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

    /// One record as a row of its table snapshot, with its ETag.
    pub fn get_row(&self, table: TableKind, id: u64) -> Result<(Arc<TableData>, Arc<Row>, String), StoreError> {
        let t = self.store.table(table)?;
        let row = t.get(id).cloned().ok_or(StoreError::NotFound { table, id })?;
        let etag = etag_of(&row);
        Ok((t, row, etag))
    }

    pub fn list(&self, table: TableKind, query: &ListQuery) -> Result<Page, StoreError> {
        let t = self.store.table(table)?;
        let key = query.cache_key().map(|k| format!("{}?{k}", table.name()));
        let cached = key.as_ref().and_then(|k| self.selections.get(k)).filter(|s| Arc::ptr_eq(&s.snapshot, &t));
        let rows = match cached {
            Some(selection) => selection.rows.clone(),
            None => {
                let rows: Vec<Arc<Row>> =
                    query.select(&t, &self.closed).map_err(StoreError::Invalid)?.into_iter().cloned().collect();
                let rows = Arc::new(rows);
                if let Some(k) = key {
                    self.selections.insert(k, Arc::new(Selection { snapshot: t.clone(), rows: rows.clone() }));
                }
                rows
            }
        };
        let total = rows.len();
        let page_rows = rows.iter().skip(query.offset).take(query.per_page).cloned().collect();
        Ok(Page { table: t, rows: page_rows, total, page: query.page(), per_page: query.per_page })
    }

    pub async fn create(&self, table: TableKind, mut fields: Fields, ctx: Context) -> Result<Committed, StoreError> {
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
