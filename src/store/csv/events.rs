//! Events the CSV store writes of its own accord (a conflict kept from a person's
//! save, an event recorded on its own put on the feed), and the redaction that keeps
//! secrets off the feed.

use serde_json::json;

use crate::domain::TableKind;
use crate::store::table::{Fields, TableData};
use crate::store::{Change, ChangeOp, PastChanges, Source};

use super::journal::NewEvent;
use super::replay::Conflict;
pub(super) use crate::store::apply::redact;

/// An event's cells by events.csv's column names.
pub(crate) fn event_fields(id: u64, e: &NewEvent) -> Fields {
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    [
        ("id", id.to_string()),
        ("type", e.kind.clone()),
        ("entity", e.entity.clone()),
        ("entity_id", opt(e.entity_id)),
        ("user_id", opt(e.user_id)),
        ("source", e.source.clone()),
        ("message", e.message.clone()),
        ("data", if e.data.is_null() { String::new() } else { e.data.to_string() }),
        ("created_at", e.created_at.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// An event recorded on its own, as a change of the event log for the feed.
pub(crate) fn event_change(id: u64, e: &NewEvent) -> Change {
    event_change_of(event_fields(id, e))
}

/// A row of the event log, as a created record of it on the feed.
pub(crate) fn event_change_of(fields: Fields) -> Change {
    let cell = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
    let id = cell("id").parse().unwrap_or_default();
    let source = Source::parse(cell("source")).unwrap_or(Source::Api);
    let actor = cell("user_id").parse().ok();
    let at = cell("created_at").to_string();
    Change {
        event_id: id,
        table: TableKind::Events,
        op: ChangeOp::Create,
        id,
        before: None,
        after: Some(fields),
        actor,
        source,
        at,
        etag: None,
        remote: false,
    }
}

/// The `conflict.merged` event of a field where a file's value was kept over the
/// server's (at start-up and when a person's save is merged).
pub(super) fn conflict_event(kind: TableKind, c: &Conflict, now: &str) -> NewEvent {
    NewEvent {
        kind: "conflict.merged".into(),
        entity: kind.spec().entity.into(),
        entity_id: Some(c.id),
        user_id: None,
        source: Source::File.to_string(),
        message: format!(
            "{} kept the file's value of {} for {} {}; the server's was {}",
            kind.spec().file_name,
            c.field.as_deref().unwrap_or("the row"),
            kind.spec().entity,
            c.id,
            c.journal_value.as_deref().unwrap_or("nothing")
        ),
        data: json!({"field": c.field, "file": c.file_value, "server": c.journal_value}),
        created_at: now.to_string(),
    }
}

/// How far back a person's copy of a file may reach: changes the server made this
/// recently are weighed against a saved file, so a value they replaced is stale.
pub(super) const RECENT: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// The event after which to weigh server changes against a person's save: the earlier
/// of the file's watermark and the first event of the last `RECENT`.
pub(super) fn recent_start(events: &TableData, watermark: u64) -> u64 {
    let Some(at) = events.position("created_at") else { return watermark };
    let since = chrono::Utc::now() - RECENT;
    let first_recent = events
        .rows
        .iter()
        .find(|(_, row)| crate::domain::values::parse_timestamp(row.cell(at)).is_ok_and(|t| t >= since))
        .map(|(id, _)| id.saturating_sub(1));
    first_recent.map_or(watermark, |f| f.min(watermark))
}

/// The record changes in the event log after event `after` (see
/// [`crate::store::Storage::changes_after`]): each `{entity}.{created|updated|deleted}`
/// row decoded back into a change; other events are skipped.
pub(crate) fn changes_after(events: &TableData, after: u64) -> PastChanges {
    let col = |n: &str| events.position(n).unwrap_or(usize::MAX);
    let (c_type, c_entity, c_entity_id, c_user, c_source, c_data, c_at) =
        (col("type"), col("entity"), col("entity_id"), col("user_id"), col("source"), col("data"), col("created_at"));
    let oldest_held = events.rows.keys().next().copied().filter(|first| *first > after + 1);
    let mut past = PastChanges { oldest_held, last_event_id: after, ..PastChanges::default() };
    for (event_id, row) in events.rows.range(after + 1..) {
        past.last_event_id = *event_id;
        let Some(table) = TableKind::from_entity(row.cell(c_entity)) else { continue };
        let op = match row.cell(c_type).rsplit('.').next() {
            Some("created") => ChangeOp::Create,
            Some("updated") => ChangeOp::Update,
            Some("deleted") => ChangeOp::Delete,
            _ => continue,
        };
        let Ok(id) = row.cell(c_entity_id).parse::<u64>() else { continue };
        let data: serde_json::Value = serde_json::from_str(row.cell(c_data)).unwrap_or_default();
        let fields = |key: &str| -> Option<Fields> {
            data[key].as_object().filter(|m| !m.is_empty()).map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                    .collect()
            })
        };
        past.changes.push(Change {
            event_id: *event_id,
            table,
            op,
            id,
            before: fields("before"),
            after: fields("after"),
            actor: row.cell(c_user).parse().ok(),
            source: Source::parse(row.cell(c_source)).unwrap_or(Source::Api),
            at: row.cell(c_at).to_string(),
            etag: None,
            remote: false,
        });
    }
    past
}
