//! A person's save of a table file, while the server runs: the server's own write is
//! recognised by fingerprint and ignored; a broken save keeps the last good state and
//! refuses writes (`file.rejected`); anything else is merged with the server's recent
//! changes (`replay.rs`), diffed row by row (`diff.rs`) and landed through the
//! writer's one commit path, each difference on the feed with source `file`.

use std::sync::Arc;

use serde_json::json;

use crate::domain::TableKind;
use crate::domain::values::now_timestamp;
use crate::store::table::{TableData, check_references};
use crate::store::{Change, Context, Source, etag_of};

use super::diff::{RowChange, diff};
use super::events::{conflict_event, event_change, recent_start, redact};
use super::format::{self, Problem, Row};
use super::journal::{self, NewEvent};
use super::writer::Writer;
use super::{folds, held, read_prefix, replay};

impl Writer {
    /// A table's file changed on disk: the server's own write (same fingerprint as the
    /// server last wrote or read: nothing to do), a broken edit (keep serving the last
    /// good state, refuse writes, record `file.rejected`), or a person's edit, merged
    /// with the server's state field by field; each difference goes on the feed with
    /// source `file`.
    pub(super) fn reload_file(&mut self, kind: TableKind) {
        let dir = self.shared.config.data_dir.clone();
        let path = dir.join(kind.spec().file_name);
        let (bytes, known) = {
            let Ok(_files) = self.shared.files.read() else { return };
            let Ok(bytes) = std::fs::read(&path) else {
                return; // deleted: an editor saving by delete and recreate sends another event
            };
            let known = self.shared.folds.lock().ok().and_then(|m| m.get(&kind).map(|f| (f.bytes, f.hash)));
            (bytes, known)
        };
        let fingerprint = folds::fingerprint(&bytes);
        if Some(fingerprint) == known {
            // The file is again exactly what the server last wrote or read (an undo, a
            // `git checkout`, a copy moved back after a broken save): nothing to merge,
            // but a refusal the broken save caused ends here.
            self.resume_if_rejected(kind);
            if self.diverged.remove(&kind).is_some() {
                // A fold refused while the file was someone else's may go ahead now.
                self.dirty_since.entry(kind).or_insert_with(std::time::Instant::now);
            }
            return;
        }
        let vocabulary = self.shared.config.vocabulary.clone();
        let loaded = format::parse(&bytes, kind.spec().file_name)
            .and_then(|parsed| TableData::from_parsed(kind, parsed, &vocabulary))
            .and_then(|loaded| {
                let tables = &self.tables;
                let lookup = |t: TableKind| {
                    if t == kind { Some(Arc::new(loaded.data.clone())) } else { tables.get(&t).cloned() }
                };
                let problems = check_references(&loaded.data, &loaded.lines, &lookup);
                if problems.is_empty() { Ok(loaded) } else { Err(problems) }
            });
        let mut file_table = match loaded {
            Ok(loaded) => loaded.data,
            Err(problems) => {
                self.reject(kind, problems);
                return;
            }
        };
        self.resume_if_rejected(kind);
        // The person may have opened the file before the server's latest writes to it: the
        // server's recent changes, folded or not, tell a stale value from a new one.
        let from = self.shared.folds.lock().ok().and_then(|m| m.get(&kind).map(|f| f.event_id)).unwrap_or(0);
        let committed = self.shared.journal_committed.lock().map(|c| c.0).unwrap_or(0);
        let entries = read_prefix(&dir.join(TableKind::Events.spec().file_name), committed)
            .ok()
            .and_then(|b| format::parse(&b, "events.csv").ok())
            .and_then(|p| TableData::from_parsed(TableKind::Events, p, &vocabulary).ok())
            .map(|events| journal::entries_after(&events.data, recent_start(&events.data, from)))
            .unwrap_or_default();
        let outcome = if kind.spec().journaled {
            replay::replay(&mut file_table, &entries, from)
        } else {
            replay::ReplayOutcome::default()
        };
        // A table that never loaded has no rows to compare with: it just loads now.
        let loaded_before = self.tables.contains_key(&kind);
        let current = self.tables.get(&kind).cloned().unwrap_or_else(|| Arc::new(TableData::empty(kind)));
        file_table.max_id = file_table.max_id.max(current.max_id);
        let now = now_timestamp();
        let ctx = Context { actor: None, source: Source::File };
        let mut events = Vec::new();
        let mut stamped = false;
        let row_changes = if loaded_before {
            let mut changes = diff(&current, &file_table);
            stamped = stamp_updated_at(&mut file_table, &mut changes, &now);
            changes
        } else {
            self.journal.last_id += 1;
            events.push((
                self.journal.last_id,
                NewEvent {
                    kind: "file.reloaded".into(),
                    entity: kind.spec().entity.into(),
                    entity_id: None,
                    user_id: None,
                    source: Source::File.to_string(),
                    message: format!("{} loads again ({} rows)", kind.spec().file_name, file_table.rows.len()),
                    data: serde_json::Value::Null,
                    created_at: now.clone(),
                },
            ));
            Vec::new()
        };
        let merged = Arc::new(file_table);
        let mut changes = Vec::with_capacity(row_changes.len());
        for RowChange { id, op, before, after } in row_changes {
            self.journal.last_id += 1;
            let event_id = self.journal.last_id;
            events.push((
                event_id,
                NewEvent {
                    kind: format!("{}.{}", kind.spec().entity, op.past_tense()),
                    entity: kind.spec().entity.into(),
                    entity_id: Some(id),
                    user_id: None,
                    source: Source::File.to_string(),
                    message: format!("edited in {}", kind.spec().file_name),
                    data: journal::change_data(kind, before.as_ref(), after.as_ref()),
                    created_at: now.clone(),
                },
            ));
            changes.push(Change {
                event_id,
                table: kind,
                op,
                id,
                before: before.map(|f| redact(kind, f)),
                after: after.map(|f| redact(kind, f)),
                actor: ctx.actor,
                source: ctx.source,
                at: now.clone(),
                etag: merged.rows.get(&id).map(|row| etag_of(row)),
                remote: false,
            });
        }
        for conflict in &outcome.conflicts {
            self.journal.last_id += 1;
            events.push((self.journal.last_id, conflict_event(kind, conflict, &now)));
        }
        let before_tables = self.tables.clone();
        let before_last_id = self.journal.last_id;
        self.tables.insert(kind, merged);
        // The file lacks the server's changes when some were replayed into it, or when
        // the server stamped `updated_at` on rows the person changed.
        let lacks = (outcome.applied > 0 || stamped) && kind.spec().journaled;
        self.diverged.remove(&kind);
        if let Err(e) = self.land(&[(kind, lacks)].into(), &events) {
            tracing::error!(error = %e, "could not record a file's changes; the file is read again on its next change");
            self.tables = before_tables;
            self.journal.last_id = before_last_id;
            return;
        }
        // The file as read is what a fold may now replace.
        if let Ok(mut marks) = self.shared.folds.lock()
            && let Some(mark) = marks.get_mut(&kind)
        {
            (mark.bytes, mark.hash) = fingerprint;
        }
        metrics::counter!("taskboard_file_reloads_total", "table" => kind.name()).increment(1);
        tracing::info!(
            file = kind.spec().file_name,
            changes = changes.len(),
            conflicts = outcome.conflicts.len(),
            "reloaded an edited file"
        );
        for change in changes {
            let _ = self.shared.feed.send(change);
        }
    }

    /// Ends the hold a broken save of `kind` caused, if any: the held copy goes, and
    /// what was written meanwhile is folded into the file.
    fn resume_if_rejected(&mut self, kind: TableKind) {
        let was_rejected = self.shared.rejected.write().map(|mut r| r.remove(&kind).is_some()).unwrap_or(false);
        if was_rejected {
            tracing::info!(file = kind.spec().file_name, "the file loads again; it gets what was written meanwhile");
            held::release(&self.shared.config.data_dir, kind);
            if kind.spec().journaled && self.tables.contains_key(&kind) {
                self.dirty_since.entry(kind).or_insert_with(std::time::Instant::now);
            }
        }
    }

    /// A broken edit: the file is left as the person saved it, writes go on into the
    /// journal and memory (a copy of the state is held for a restart, `held.rs`), and
    /// `file.rejected` records where and what.
    fn reject(&mut self, kind: TableKind, problems: Vec<Problem>) {
        let first = problems.first().map(|p| p.to_string()).unwrap_or_default();
        let already = self
            .shared
            .rejected
            .read()
            .map(|r| r.get(&kind).is_some_and(|old| old.first().map(|p| p.to_string()) == Some(first.clone())))
            .unwrap_or(false);
        if let Ok(mut r) = self.shared.rejected.write() {
            r.insert(kind, problems.clone());
        }
        if already {
            return;
        }
        if let Some(table) = self.tables.get(&kind)
            && let Err(e) = held::keep(&self.shared.config.data_dir, table, self.journal.last_id)
        {
            tracing::error!(error = %e, file = kind.spec().file_name, "could not hold a copy of a table whose file broke");
        }
        tracing::warn!(problem = %first, "an edited file does not load; it is left as saved, and writes go on in the journal until it is fixed");
        metrics::counter!("taskboard_file_rejections_total", "table" => kind.name()).increment(1);
        self.journal.last_id += 1;
        let event = NewEvent {
            kind: "file.rejected".into(),
            entity: kind.spec().entity.into(),
            entity_id: None,
            user_id: None,
            source: Source::File.to_string(),
            message: first,
            data: json!({"problems": problems.iter().map(|p| p.to_string()).collect::<Vec<_>>()}),
            created_at: now_timestamp(),
        };
        let numbered = [(self.journal.last_id, event)];
        match self.land(&Default::default(), &numbered) {
            // On the feed, so the admins are told (the bot) and the board shows it.
            Ok(()) => {
                let _ = self.shared.feed.send(event_change(numbered[0].0, &numbered[0].1));
            }
            Err(e) => tracing::error!(error = %e, "could not record that a file was rejected"),
        }
    }
}

/// A row a person changed or added in their save gets `updated_at` = now (and a new
/// row `created_at` too) unless they set it themselves, so `sort=-updated_at` and
/// `updated_since` see their edit as they see any other. Returns whether any was set.
fn stamp_updated_at(table: &mut TableData, changes: &mut [RowChange], now: &str) -> bool {
    let Some(updated) = table.position("updated_at") else { return false };
    let created = table.position("created_at");
    let mut stamped = false;
    for change in changes.iter_mut() {
        let Some(after) = change.after.as_mut() else { continue };
        let set_by_person = match &change.before {
            Some(before) => before.get("updated_at") != after.get("updated_at"),
            None => after.get("updated_at").is_some_and(|v| !v.is_empty()),
        };
        let mut stamps = Vec::new();
        if !set_by_person {
            stamps.push((updated, "updated_at"));
        }
        if let Some(c) = created
            && change.before.is_none()
            && after.get("created_at").is_none_or(|v| v.is_empty())
        {
            stamps.push((c, "created_at"));
        }
        if stamps.is_empty() {
            continue;
        }
        let Some(row) = table.rows.get(&change.id) else { continue };
        let mut cells: Vec<String> = (0..table.header.len()).map(|i| row.cell(i).to_string()).collect();
        for (position, name) in stamps {
            cells[position] = now.to_string();
            after.insert(name.to_string(), now.to_string());
        }
        let row = Row::from_cells(&cells, &table.format);
        table.rows.insert(change.id, Arc::new(row));
        stamped = true;
    }
    stamped
}
