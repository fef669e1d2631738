//! The single writer thread: owns every table's current state and events.csv, takes
//! commits in batches (group commit), and lands them through one path (`land`), which
//! a person's save (`reload.rs`) takes too.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::domain::values::now_timestamp;
use crate::domain::{ColumnKind, FieldError, TableKind};
use crate::store::table::{Fields, TableData};
use crate::store::{Change, ChangeOp, Committed, Context, Op, StoreError, etag_of};

use super::events::{event_change, redact};
use super::fold::{FoldJob, FoldOutcome};
use super::journal::{self, Journal, NewEvent};
use super::{ConsistentState, Msg, Shared, doc_dir, durable, folds, place_attachment};

/// Commits gathered into one batch at most (one fsync serves them all).
const MAX_BATCH: usize = 4096;

/// The single writer: owns the tables' current state and events.csv.
pub(super) struct Writer {
    pub(super) shared: Arc<Shared>,
    pub(super) tables: HashMap<TableKind, Arc<TableData>>,
    pub(super) journal: Journal,
    pub(super) journal_first_id: u64,
    pub(super) fold_tx: Option<mpsc::Sender<FoldJob>>,
    /// Tables with journaled changes not yet folded, since when.
    pub(super) dirty_since: BTreeMap<TableKind, Instant>,
    /// Tables with a fold under way.
    pub(super) folding: BTreeMap<TableKind, bool>,
    /// Tables whose file someone else changed while the server runs: not folded into
    /// until the next start merges them.
    pub(super) diverged: BTreeMap<TableKind, bool>,
    /// Folders of documents deleted in the batch under way, removed once it is on disk.
    pub(super) removals: Vec<PathBuf>,
}

/// One commit's result before the batch is on disk.
struct Pending {
    reply: oneshot::Sender<Result<Committed, StoreError>>,
    result: Result<Committed, StoreError>,
}

impl Writer {
    pub(super) fn run(mut self, rx: mpsc::Receiver<Msg>) {
        loop {
            let timeout = self.next_fold_due();
            let first = match timeout {
                Some(t) => match rx.recv_timeout(t) {
                    Ok(m) => Some(m),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => break,
                },
            };
            let mut batch = Vec::new();
            let mut shutdown = None;
            if let Some(m) = first {
                batch.push(m);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(m) => batch.push(m),
                        Err(_) => break,
                    }
                }
            }
            let mut work = Vec::with_capacity(batch.len());
            for m in batch {
                match m {
                    Msg::FoldEnded { table, outcome } => self.on_fold_ended(table, outcome),
                    Msg::FileChanged { table } => self.reload_file(table),
                    Msg::Snapshot { reply } => {
                        let _ = reply.send(ConsistentState {
                            tables: self.tables.values().cloned().collect(),
                            events_len: self.journal.len,
                            last_event_id: self.journal.last_id,
                        });
                    }
                    Msg::Shutdown { reply } => shutdown = Some(reply),
                    other => work.push(other),
                }
            }
            if !work.is_empty() {
                self.commit_batch(work);
            }
            if let Some(reply) = shutdown {
                // Anything still queued is committed before stopping.
                let rest: Vec<Msg> =
                    rx.try_iter().filter(|m| matches!(m, Msg::Commit { .. } | Msg::Event { .. })).collect();
                if !rest.is_empty() {
                    self.commit_batch(rest);
                }
                self.fold_everything_now();
                super::fold::settle_all(&self.shared);
                self.shared.closed.store(true, Ordering::Release);
                let _ = reply.send(());
                return;
            }
            self.start_due_folds();
            self.maybe_roll_over();
        }
        self.fold_everything_now();
    }

    fn next_fold_due(&self) -> Option<Duration> {
        let delay = self.shared.config.fold_delay;
        self.dirty_since
            .iter()
            .filter(|(k, _)| !self.folding.get(k).copied().unwrap_or(false))
            .map(|(_, since)| delay.saturating_sub(since.elapsed()))
            .min()
            .map(|d| d.max(Duration::from_millis(1)))
    }

    fn start_due_folds(&mut self) {
        let delay = self.shared.config.fold_delay;
        let due: Vec<TableKind> = self
            .dirty_since
            .iter()
            .filter(|(k, since)| since.elapsed() >= delay && !self.folding.get(k).copied().unwrap_or(false))
            .map(|(k, _)| *k)
            .collect();
        for kind in due {
            self.send_fold(kind, None);
        }
    }

    fn send_fold(&mut self, kind: TableKind, done: Option<mpsc::Sender<()>>) {
        if self.diverged.contains_key(&kind) {
            self.dirty_since.remove(&kind);
            return;
        }
        let (Some(table), Some(tx)) = (self.tables.get(&kind), &self.fold_tx) else {
            return;
        };
        self.dirty_since.remove(&kind);
        self.folding.insert(kind, true);
        let job = FoldJob { table: table.clone(), event_id: self.journal.last_id, done };
        if tx.send(job).is_err() {
            self.folding.remove(&kind);
        }
    }

    /// What is in events.csv up to now is on disk: readers may use it.
    pub(super) fn mark_committed(&self) {
        self.shared.last_event_id.store(self.journal.last_id, Ordering::Release);
        if let Ok(mut c) = self.shared.journal_committed.lock() {
            *c = (self.journal.len, self.journal.last_id);
        }
    }

    fn on_fold_ended(&mut self, kind: TableKind, outcome: FoldOutcome) {
        self.folding.remove(&kind);
        match outcome {
            FoldOutcome::Written => {
                if !self.dirty_since.contains_key(&kind)
                    && let Ok(mut d) = self.shared.dirty.lock()
                {
                    d.insert(kind, false);
                }
            }
            // Not tried again until the next start merges the file and the journal.
            FoldOutcome::Diverged => {
                self.diverged.insert(kind, true);
                self.dirty_since.remove(&kind);
            }
            // Tried again after the fold delay.
            FoldOutcome::Failed => {
                self.dirty_since.entry(kind).or_insert_with(Instant::now);
            }
        }
    }

    /// Folds every changed table and waits for it: the files are complete afterwards.
    fn fold_everything_now(&mut self) {
        let kinds: Vec<TableKind> = self.tables.keys().copied().filter(|k| k.spec().journaled).collect();
        let mut waits = Vec::new();
        for kind in kinds {
            let unfolded = self.dirty_since.contains_key(&kind) || self.folding.get(&kind).copied().unwrap_or(false);
            if unfolded {
                let (tx, rx) = mpsc::channel();
                self.send_fold(kind, Some(tx));
                waits.push(rx);
            }
        }
        for w in waits {
            let _ = w.recv_timeout(Duration::from_secs(120));
        }
        // A fold sent earlier may still be finishing; the last one sent wins on disk
        // because the folding thread takes jobs in order.
    }

    /// Archives events.csv once it is past its size and every change in it is folded.
    fn maybe_roll_over(&mut self) {
        if self.journal.len <= self.shared.config.events_max_bytes
            || !self.dirty_since.is_empty()
            || !self.folding.is_empty()
            || !self.diverged.is_empty()
        {
            return;
        }
        let last = self.journal.last_id;
        // No table has a change waiting or a fold under way: every change in the
        // journal is in its file.
        let archive = self.shared.config.data_dir.join("archive");
        let Ok(_files) = self.shared.files.write() else {
            return;
        };
        match self.journal.roll_over(&archive, self.journal_first_id) {
            Ok(target) => {
                tracing::info!(archive = %target.display(), "events.csv rolled over");
                self.journal_first_id = last + 1;
                self.mark_committed();
                self.shared.cache.invalidate(&TableKind::Events);
                // Nothing before the roll-over can be replayed any more, nor needs to be.
                if let Ok(mut marks) = self.shared.folds.lock() {
                    for mark in marks.values_mut() {
                        mark.event_id = mark.event_id.max(last);
                    }
                    if let Err(e) = folds::write(&self.shared.config.data_dir, &marks) {
                        tracing::error!(error = %e, "could not record the fold watermarks");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "events.csv roll-over failed; it keeps growing"),
        }
    }

    fn commit_batch(&mut self, work: Vec<Msg>) {
        let before_tables = self.tables.clone();
        let before_last_id = self.journal.last_id;
        let mut pending: Vec<Pending> = Vec::new();
        let mut event_replies: Vec<(oneshot::Sender<Result<u64, StoreError>>, u64)> = Vec::new();
        let mut events: Vec<(u64, NewEvent)> = Vec::new();
        let mut changed: BTreeMap<TableKind, bool> = BTreeMap::new();
        let now = now_timestamp();
        for m in work {
            match m {
                Msg::Commit { op, ctx, reply } => {
                    let result = self.apply(op, ctx, &now).map(|(committed, event)| {
                        if let (Some(change), Some(event)) = (&committed.change, event) {
                            changed.insert(change.table, true);
                            events.push((change.event_id, event));
                        }
                        committed
                    });
                    pending.push(Pending { reply, result });
                }
                Msg::Event { event, reply } => {
                    self.journal.last_id += 1;
                    events.push((self.journal.last_id, event));
                    event_replies.push((reply, self.journal.last_id));
                }
                _ => {}
            }
        }
        if let Err(e) = self.land(&changed, &events) {
            tracing::error!(error = %e, "a commit batch could not be written; nothing of it was acknowledged");
            self.tables = before_tables;
            self.journal.last_id = before_last_id;
            self.removals.clear();
            for p in pending {
                let _ = p.reply.send(p.result.and(Err(StoreError::Io)));
            }
            for (reply, _) in event_replies {
                let _ = reply.send(Err(StoreError::Io));
            }
            return;
        }
        for folder in self.removals.drain(..) {
            if let Err(e) = std::fs::remove_dir_all(&folder)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(error = %e, folder = %folder.display(), "could not remove a deleted document's files");
            }
        }
        self.shared.stats.batches.fetch_add(1, Ordering::Relaxed);
        for p in pending {
            if let Ok(c) = &p.result {
                self.shared.stats.commits.fetch_add(1, Ordering::Relaxed);
                if let Some(change) = &c.change {
                    let _ = self.shared.feed.send(change.clone());
                }
            }
            let _ = p.reply.send(p.result);
        }
        // Events recorded on their own (a reminder, a job run...) go on the feed too,
        // as a created row of the event log.
        let recorded: std::collections::HashMap<u64, &NewEvent> = events.iter().map(|(id, e)| (*id, e)).collect();
        for (reply, id) in event_replies {
            if let Some(event) = recorded.get(&id) {
                let _ = self.shared.feed.send(event_change(id, event));
            }
            let _ = reply.send(Ok(id));
        }
    }

    /// The one commit path, for an API batch and a person's save alike: puts the
    /// changed tables and the events on disk (secret tables rewritten, then the events
    /// appended and fsynced once), and only then lets readers see them (the journal
    /// marked committed, the new snapshots published, journaled tables queued for a
    /// fold). `changed` holds, for each changed table, whether its file lacks the change
    /// (false for a table just read from its file). On an error nothing was published.
    pub(super) fn land(
        &mut self,
        changed: &BTreeMap<TableKind, bool>,
        events: &[(u64, NewEvent)],
    ) -> std::io::Result<()> {
        for (kind, _) in changed.iter().filter(|(k, lacks)| **lacks && !k.spec().journaled) {
            if let Some(t) = self.tables.get(kind) {
                let path = self.shared.config.data_dir.join(kind.spec().file_name);
                let bytes = t.to_bytes();
                durable::write_atomic(&path, &bytes, *kind == TableKind::Credentials)?;
                // The server's own write: the watcher's event for it is not a person's save.
                if let Ok(mut marks) = self.shared.folds.lock()
                    && let Some(mark) = marks.get_mut(kind)
                {
                    (mark.bytes, mark.hash) = super::folds::fingerprint(&bytes);
                }
            }
        }
        let started = Instant::now();
        self.journal.append(events)?;
        let elapsed = started.elapsed();
        self.shared.stats.fsync_micros_total.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        metrics::histogram!("taskboard_fsync_seconds").record(elapsed.as_secs_f64());
        metrics::histogram!("taskboard_commit_batch_size").record(events.len() as f64);
        let last = self.journal.last_id;
        self.mark_committed();
        if !events.is_empty() {
            self.shared.cache.invalidate(&TableKind::Events);
        }
        for (kind, lacks) in changed {
            if let Some(t) = self.tables.get(kind) {
                self.shared.publish(*kind, last, t.clone());
            }
            if *lacks && kind.spec().journaled && !self.diverged.contains_key(kind) {
                self.dirty_since.entry(*kind).or_insert_with(Instant::now);
                if let Ok(mut d) = self.shared.dirty.lock() {
                    d.insert(*kind, true);
                }
            }
        }
        Ok(())
    }

    /// Appends events outside a batch (start-up).
    pub(super) fn append_events(&mut self, events: Vec<NewEvent>) -> std::io::Result<Vec<u64>> {
        let numbered: Vec<(u64, NewEvent)> = events
            .into_iter()
            .map(|e| {
                self.journal.last_id += 1;
                (self.journal.last_id, e)
            })
            .collect();
        self.journal.append(&numbered)?;
        self.mark_committed();
        Ok(numbered.into_iter().map(|(id, _)| id).collect())
    }

    fn table_mut(&mut self, kind: TableKind) -> Result<&mut TableData, StoreError> {
        if let Some(message) = self.shared.rejected_message(kind) {
            return Err(StoreError::Unavailable(message));
        }
        if let Some(message) = self.shared.rejected_message(TableKind::Events) {
            return Err(StoreError::Unavailable(message));
        }
        self.tables
            .get_mut(&kind)
            .map(Arc::make_mut)
            .ok_or_else(|| StoreError::Unavailable(format!("{} is not loaded", kind.spec().file_name)))
    }

    /// Applies one change to the writer's tables; returns it with its event.
    fn apply(&mut self, op: Op, ctx: Context, now: &str) -> Result<(Committed, Option<NewEvent>), StoreError> {
        let kind = op.table();
        let spec = kind.spec();
        let vocabulary = self.shared.config.vocabulary.clone();
        // References are checked against the other tables as they stand now.
        let refs: Vec<(String, TableKind)> = spec
            .columns
            .iter()
            .filter_map(|c| if let ColumnKind::Ref(t) = c.kind { Some((c.name.to_string(), t)) } else { None })
            .collect();
        let ref_tables: HashMap<TableKind, Arc<TableData>> =
            refs.iter().filter_map(|(_, t)| self.tables.get(t).map(|d| (*t, d.clone()))).collect();
        let data_dir = self.shared.config.data_dir.clone();
        let (op_kind, id, before, after) = {
            let table = self.table_mut(kind)?;
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
                    let full: Fields =
                        table.header.iter().map(|h| (h.clone(), fields.remove(h).unwrap_or_default())).collect();
                    reject_unknown(fields.keys())?;
                    validate(spec, &full, &vocabulary, &refs, &ref_tables)?;
                    let row = table.row_from_fields(&full);
                    if let Some(staged) = &attachment {
                        let filename = full.get("filename").map(String::as_str).unwrap_or("");
                        if let Err(e) = place_attachment(&data_dir, id, filename, staged) {
                            tracing::error!(error = %e, id, "could not place an uploaded file");
                            return Err(StoreError::Io);
                        }
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
                    validate(spec, &after, &vocabulary, &refs, &ref_tables)?;
                    if if_match.as_ref().is_some_and(|tag| tag != "*" && *tag != etag_of(&row)) {
                        return Err(StoreError::PreconditionFailed);
                    }
                    if after == before {
                        let etag = Some(etag_of(&row));
                        return Ok((Committed { id, record: Some(before), etag, change: None }, None));
                    }
                    if table.position("updated_at").is_some() && after.get("updated_at") == before.get("updated_at") {
                        after.insert("updated_at".into(), now.into());
                    }
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
        if op_kind == ChangeOp::Delete {
            // No row may be left pointing at a deleted one.
            if let Some(referrer) = self.referrer_of(kind, id) {
                return Err(StoreError::Conflict(format!("{} {id} is still referenced by {referrer}", spec.entity)));
            }
            if let Ok(table) = self.table_mut(kind) {
                table.rows.remove(&id);
            }
            if kind == TableKind::Docs {
                self.removals.push(doc_dir(&data_dir, id));
            }
        }
        self.journal.last_id += 1;
        let event_id = self.journal.last_id;
        let data = journal::change_data(kind, before.as_ref(), after.as_ref());
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
        let etag = self.tables.get(&kind).and_then(|t| t.rows.get(&id)).map(|r| etag_of(r));
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
        };
        Ok((Committed { id, record: after, etag, change: Some(change) }, Some(event)))
    }

    /// The first row of another table that points at `kind` row `id`, as `file row N`.
    fn referrer_of(&self, kind: TableKind, id: u64) -> Option<String> {
        let wanted = id.to_string();
        for (other_kind, other) in &self.tables {
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
}

/// A 422 naming every column in `names` (the ones the table lacks), if any.
pub(super) fn reject_unknown<'a>(names: impl IntoIterator<Item = &'a String>) -> Result<(), StoreError> {
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
