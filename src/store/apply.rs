//! Applying one asked-for change (`Op`) to a backend's tables in memory: ids and
//! timestamps given, every cell and reference checked, the If-Match judged, a delete
//! of a referenced row refused, and the change and its event made.
//!
//! Both backends call this, so a CSV folder and a PostgreSQL database accept and
//! refuse exactly the same changes; each then makes the result durable its own way.

use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::{ColumnKind, FieldError, TableKind, Vocabulary};
use crate::store::table::{Fields, TableData};
use crate::store::{Change, ChangeOp, Committed, Context, NewEvent, Op, StagedBlob, StoreError, etag_of};

/// What one applied change left: the caller's answer, the event to journal, and the
/// document whose files a delete leaves behind.
pub(crate) struct Applied {
    pub committed: Committed,
    /// None when an update changed nothing.
    pub event: Option<NewEvent>,
    pub deleted_doc: Option<u64>,
}

/// A task's `completed_at`: set when it enters a status of kind done, cleared when it
/// leaves one, kept while it stays (the file may lack the column: then nothing).
fn keep_completed_at(kind: TableKind, before: Option<&Fields>, after: &mut Fields, now: &str, vocabulary: &Vocabulary) {
    if kind != TableKind::Tasks || !after.contains_key("completed_at") {
        return;
    }
    let is_done = |f: &Fields| f.get("status").is_some_and(|s| vocabulary.done_statuses.contains(s));
    let was_done = before.is_some_and(is_done);
    let value = match (was_done, is_done(after)) {
        (false, true) => now.to_string(),
        (true, true) => before.and_then(|b| b.get("completed_at")).cloned().unwrap_or_default(),
        (_, false) => String::new(),
    };
    after.insert("completed_at".into(), value);
}

/// Applies `op` to `tables`; the change gets event id `event_id` (used only when there
/// is a change). `place` puts a new document's file where the backend keeps files; it
/// runs before the row is added, so a failure leaves the tables as they were.
pub(crate) fn apply(
    tables: &mut HashMap<TableKind, Arc<TableData>>,
    op: Op,
    ctx: Context,
    now: &str,
    vocabulary: &Vocabulary,
    event_id: u64,
    place: &mut dyn FnMut(u64, &Fields, &StagedBlob) -> Result<(), StoreError>,
) -> Result<Applied, StoreError> {
    let kind = op.table();
    let spec = kind.spec();
    // References are checked against the other tables as they stand now.
    let refs: Vec<(String, TableKind)> = spec
        .columns
        .iter()
        .filter_map(|c| if let ColumnKind::Ref(t) = c.kind { Some((c.name.to_string(), t)) } else { None })
        .collect();
    let ref_tables: HashMap<TableKind, Arc<TableData>> =
        refs.iter().filter_map(|(_, t)| tables.get(t).map(|d| (*t, d.clone()))).collect();
    let (op_kind, id, before, after) = {
        let table = tables
            .get_mut(&kind)
            .map(Arc::make_mut)
            .ok_or_else(|| StoreError::Unavailable(format!("{} is not loaded", spec.file_name)))?;
        match op {
            Op::Create { mut fields, attachment, .. } => {
                let id = if spec.key == "id" {
                    if fields.get("id").is_some_and(|v| !v.is_empty()) {
                        return Err(StoreError::Invalid(vec![FieldError::new("id", "is given by the server")]));
                    }
                    table.max_id + 1
                } else {
                    let id = fields.get(spec.key).and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| {
                        StoreError::Invalid(vec![FieldError::new(spec.key, "a positive whole number is required")])
                    })?;
                    if table.rows.contains_key(&id) {
                        return Err(StoreError::Conflict(format!("{} {id} exists already", spec.entity)));
                    }
                    id
                };
                fields.insert(spec.key.to_string(), id.to_string());
                for stamp in ["created_at", "updated_at"] {
                    if table.position(stamp).is_some() && fields.get(stamp).is_none_or(|v| v.is_empty()) {
                        fields.insert(stamp.into(), now.into());
                    }
                }
                let mut full: Fields =
                    table.header.iter().map(|h| (h.clone(), fields.remove(h).unwrap_or_default())).collect();
                keep_completed_at(kind, None, &mut full, now, vocabulary);
                reject_unknown(fields.keys())?;
                validate(spec, &full, vocabulary, &refs, &ref_tables)?;
                let row = table.row_from_fields(&full);
                if let Some(staged) = &attachment {
                    place(id, &full, staged)?;
                }
                table.rows.insert(id, Arc::new(row));
                table.max_id = table.max_id.max(id);
                (ChangeOp::Create, id, None, Some(full))
            }
            Op::Update { id, mut fields, if_match, .. } => {
                let row = table.rows.get(&id).cloned().ok_or(StoreError::NotFound { table: kind, id })?;
                // A body naming a column the table lacks is wrong whatever the
                // version: say so before judging the If-Match.
                reject_unknown(fields.keys().filter(|k| table.position(k).is_none()))?;
                if fields.get(spec.key).is_some_and(|v| v != &id.to_string()) {
                    return Err(StoreError::Invalid(vec![FieldError::new(spec.key, "cannot be changed")]));
                }
                let before = table.fields(&row);
                let mut after = before.clone();
                for h in table.header.iter() {
                    if let Some(v) = fields.remove(h) {
                        after.insert(h.clone(), v);
                    }
                }
                // What would be wrong whatever the version is said before the
                // If-Match is judged: a 412 means only "it changed since".
                validate(spec, &after, vocabulary, &refs, &ref_tables)?;
                if if_match.as_ref().is_some_and(|tag| tag != "*" && *tag != etag_of(&row)) {
                    return Err(StoreError::PreconditionFailed);
                }
                if after == before {
                    let etag = Some(etag_of(&row));
                    let committed = Committed { id, record: Some(before), etag, change: None };
                    return Ok(Applied { committed, event: None, deleted_doc: None });
                }
                if table.position("updated_at").is_some() && after.get("updated_at") == before.get("updated_at") {
                    after.insert("updated_at".into(), now.into());
                }
                keep_completed_at(kind, Some(&before), &mut after, now, vocabulary);
                let row = table.row_from_fields(&after);
                table.rows.insert(id, Arc::new(row));
                (ChangeOp::Update, id, Some(before), Some(after))
            }
            Op::Delete { id, if_match, .. } => {
                let row = table.rows.get(&id).cloned().ok_or(StoreError::NotFound { table: kind, id })?;
                if if_match.as_ref().is_some_and(|tag| tag != "*" && *tag != etag_of(&row)) {
                    return Err(StoreError::PreconditionFailed);
                }
                let before = table.fields(&row);
                (ChangeOp::Delete, id, Some(before), None)
            }
        }
    };
    let mut deleted_doc = None;
    if op_kind == ChangeOp::Delete {
        // No row may be left pointing at a deleted one.
        if let Some(referrer) = referrer_of(tables, kind, id) {
            return Err(StoreError::Conflict(format!("{} {id} is still referenced by {referrer}", spec.entity)));
        }
        if let Some(table) = tables.get_mut(&kind) {
            Arc::make_mut(table).rows.remove(&id);
        }
        if kind == TableKind::Docs {
            deleted_doc = Some(id);
        }
    }
    let data = crate::store::csv::journal::change_data(kind, before.as_ref(), after.as_ref());
    let event = NewEvent {
        kind: format!("{}.{}", spec.entity, op_kind.past_tense()),
        entity: spec.entity.into(),
        entity_id: Some(id),
        user_id: ctx.actor,
        source: ctx.source.to_string(),
        message: String::new(),
        data,
        created_at: now.to_string(),
    };
    let etag = tables.get(&kind).and_then(|t| t.rows.get(&id)).map(|r| etag_of(r));
    let change = Change {
        event_id,
        table: kind,
        op: op_kind,
        id,
        before: before.map(|f| redact(kind, f)),
        after: after.clone().map(|f| redact(kind, f)),
        actor: ctx.actor,
        source: ctx.source,
        at: now.to_string(),
        etag: etag.clone(),
        remote: false,
    };
    Ok(Applied {
        committed: Committed { id, record: after, etag, change: Some(change) },
        event: Some(event),
        deleted_doc,
    })
}

/// Replaces secret values so they never reach the feed.
pub(crate) fn redact(kind: TableKind, mut fields: Fields) -> Fields {
    for column in kind.spec().columns.iter().filter(|c| c.kind == ColumnKind::Secret) {
        if let Some(v) = fields.get_mut(column.name) {
            *v = "[redacted]".into();
        }
    }
    fields
}

/// The first row of another table that points at `kind` row `id`, as `file row N`.
fn referrer_of(tables: &HashMap<TableKind, Arc<TableData>>, kind: TableKind, id: u64) -> Option<String> {
    let wanted = id.to_string();
    for (other_kind, other) in tables {
        for column in other_kind.spec().columns {
            if column.kind != ColumnKind::Ref(kind) {
                continue;
            }
            let Some(pos) = other.position(column.name) else {
                continue;
            };
            if let Some((row_id, _)) = other.rows.iter().find(|(_, r)| r.cell(pos) == wanted) {
                return Some(format!(
                    "{} {} {row_id} ({})",
                    other_kind.spec().file_name,
                    other_kind.spec().entity,
                    column.name
                ));
            }
        }
    }
    None
}

/// A 422 naming every column in `names` (the ones the table lacks), if any.
pub(crate) fn reject_unknown<'a>(names: impl IntoIterator<Item = &'a String>) -> Result<(), StoreError> {
    let errors: Vec<FieldError> = names.into_iter().map(|k| FieldError::new(k.clone(), "unknown field")).collect();
    if errors.is_empty() { Ok(()) } else { Err(StoreError::Invalid(errors)) }
}

fn validate(
    spec: &crate::domain::TableSpec,
    fields: &Fields,
    vocabulary: &crate::domain::Vocabulary,
    refs: &[(String, TableKind)],
    ref_tables: &HashMap<TableKind, Arc<TableData>>,
) -> Result<(), StoreError> {
    let mut errors = Vec::new();
    for column in spec.columns {
        let value = fields.get(column.name).map(String::as_str).unwrap_or("");
        if let Err(message) = spec.check_cell(column, value, vocabulary) {
            errors.push(FieldError::new(column.name, message));
        }
    }
    if spec.kind == TableKind::Tasks {
        for field in &vocabulary.task_fields {
            let value = fields.get(&field.name).map(String::as_str).unwrap_or("");
            if let Err(message) = field.check(value) {
                errors.push(FieldError::new(field.name.clone(), message));
            }
        }
    }
    for (name, target) in refs {
        let value = fields.get(name).map(String::as_str).unwrap_or("");
        if value.is_empty() || errors.iter().any(|e| &e.field == name) {
            continue;
        }
        let exists =
            ref_tables.get(target).is_some_and(|t| value.parse::<u64>().is_ok_and(|id| t.rows.contains_key(&id)));
        if !exists {
            errors.push(FieldError::new(name.clone(), format!("{} {value} does not exist", target.spec().entity)));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(StoreError::Invalid(errors)) }
}
