//! Reading and changing records of the record tables (users, tasks, comments, docs):
//! defaults for new records, lists with filters, text search, sorting and pages.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::domain::{ColumnKind, TableKind};
use crate::store::{Committed, Context, Fields, Op, Storage, StoreError, TableData, etag_of};

/// Cheap to clone: the store handle is shared.
#[derive(Clone)]
pub struct RecordService {
    store: Arc<dyn Storage>,
}

/// A list request: `?page=&per_page=` or `?limit=&offset=`, filters, `q`, `sort`.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub page: Option<usize>,
    pub per_page: Option<usize>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    /// `status=new,in_progress`: the field equals one of the values.
    pub filters: Vec<(String, Vec<String>)>,
    /// Text searched in title, description, message, username (case-insensitive).
    pub q: Option<String>,
    /// `-updated_at,priority`.
    pub sort: Vec<(String, bool)>,
}

pub const MAX_PER_PAGE: usize = 500;
pub const DEFAULT_PER_PAGE: usize = 50;

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Fields>,
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
}

impl RecordService {
    pub fn new(store: Arc<dyn Storage>) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Arc<dyn Storage> {
        &self.store
    }

    /// One record with its ETag.
    pub fn get(&self, table: TableKind, id: u64) -> Result<(Fields, String), StoreError> {
        let t = self.store.table(table)?;
        let row = t.get(id).ok_or(StoreError::NotFound { table, id })?;
        Ok((t.fields(row), etag_of(row)))
    }

    pub fn list(&self, table: TableKind, query: &ListQuery) -> Result<Page, StoreError> {
        let t = self.store.table(table)?;
        let filters: Vec<(usize, &Vec<String>)> = query
            .filters
            .iter()
            .map(|(name, values)| {
                t.position(name).map(|p| (p, values)).ok_or_else(|| {
                    StoreError::Invalid(vec![crate::domain::FieldError::new(name.clone(), "unknown field")])
                })
            })
            .collect::<Result<_, _>>()?;
        let searched: Vec<usize> =
            ["title", "description", "message", "username", "filename"].iter().filter_map(|c| t.position(c)).collect();
        let needle = query.q.as_ref().map(|q| q.to_lowercase()).filter(|q| !q.is_empty());
        let mut matching: Vec<&Arc<crate::store::csv_format::Row>> = t
            .rows
            .values()
            .filter(|row| filters.iter().all(|(p, values)| values.iter().any(|v| v == row.cell(*p))))
            .filter(|row| match &needle {
                Some(n) => searched.iter().any(|p| row.cell(*p).to_lowercase().contains(n.as_str())),
                None => true,
            })
            .collect();
        if !query.sort.is_empty() {
            let keys: Vec<(usize, bool, ColumnKind)> = query
                .sort
                .iter()
                .map(|(name, desc)| {
                    let kind = t.spec().column(name).map(|c| c.kind).unwrap_or(ColumnKind::Text);
                    t.position(name).map(|p| (p, *desc, kind)).ok_or_else(|| {
                        StoreError::Invalid(vec![crate::domain::FieldError::new(
                            "sort",
                            format!("unknown field {name}"),
                        )])
                    })
                })
                .collect::<Result<_, _>>()?;
            matching.sort_by(|a, b| {
                for (p, desc, kind) in &keys {
                    let o = compare_cells(&t, *kind, a.cell(*p), b.cell(*p));
                    if o != Ordering::Equal {
                        return if *desc { o.reverse() } else { o };
                    }
                }
                Ordering::Equal
            });
        }
        let total = matching.len();
        let (offset, per_page) = if query.page.is_none() && (query.limit.is_some() || query.offset.is_some()) {
            (query.offset.unwrap_or(0), limit_or(query.limit, DEFAULT_PER_PAGE))
        } else {
            let per_page = limit_or(query.per_page, DEFAULT_PER_PAGE);
            ((query.page.unwrap_or(1).max(1) - 1) * per_page, per_page)
        };
        let page = offset / per_page + 1;
        let items = matching.into_iter().skip(offset).take(per_page).map(|row| t.fields(row)).collect();
        Ok(Page { items, total, page, per_page })
    }

    pub async fn create(&self, table: TableKind, mut fields: Fields, ctx: Context) -> Result<Committed, StoreError> {
        for (column, default) in defaults(table) {
            let entry = fields.entry(column.to_string()).or_default();
            if entry.is_empty() {
                *entry = default.to_string();
            }
        }
        if table == TableKind::Tasks
            && fields.get("created_by").is_none_or(|v| v.is_empty())
            && let Some(actor) = ctx.actor
            && self.store.table(TableKind::Users).is_ok_and(|u| u.rows.contains_key(&actor))
        {
            fields.insert("created_by".into(), actor.to_string());
        }
        self.store.commit(Op::Create { table, fields }, ctx).await
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

fn limit_or(value: Option<usize>, default: usize) -> usize {
    value.unwrap_or(default).clamp(1, MAX_PER_PAGE)
}

/// Values a new record gets when it does not say.
fn defaults(table: TableKind) -> &'static [(&'static str, &'static str)] {
    match table {
        TableKind::Tasks => &[("status", "new"), ("priority", "medium")],
        TableKind::Users => &[("role", "member"), ("is_active", "true")],
        _ => &[],
    }
}

/// Orders two cells the way their column means: numbers as numbers, priorities by
/// weight, statuses in workflow order, the rest as text.
fn compare_cells(_t: &TableData, kind: ColumnKind, a: &str, b: &str) -> Ordering {
    match kind {
        ColumnKind::Id | ColumnKind::Ref(_) | ColumnKind::LooseId | ColumnKind::Count => {
            a.parse::<u64>().unwrap_or(0).cmp(&b.parse::<u64>().unwrap_or(0))
        }
        ColumnKind::Priority => {
            let w = |v: &str| crate::domain::values::PRIORITIES.iter().position(|p| *p == v);
            w(a).cmp(&w(b))
        }
        _ => a.cmp(b),
    }
}
