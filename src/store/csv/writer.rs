//! The single writer thread: owns every table's current state and events.csv, takes
//! commits in batches (group commit), and lands them through one path (`land`), which
//! a person's save (`reload.rs`) takes too.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::domain::TableKind;
use crate::domain::values::now_timestamp;
use crate::store::apply;
use crate::store::table::{Fields, TableData};
use crate::store::{Committed, Context, Op, StoreError};

use super::events::event_change;
use super::fold::{FoldJob, FoldOutcome};
use super::journal::{Journal, NewEvent};
use super::{ConsistentState, Msg, Shared, doc_dir, durable, folds, place_attachment};

/// Commits gathered into one batch at most (one fsync serves them all).
const MAX_BATCH: usize = 4096;

/// How often a refused (broken) table file is read again without a notification.
const LOOK_AGAIN_EVERY: Duration = Duration::from_secs(3);

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
    /// When refused table files were last read again (`look_again_at_broken_files`).
    pub(super) last_look_at_broken: Instant,
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
                            events: None,
                            files: None,
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
                // A file last seen half-written (refused) is looked at once more: it may
                // be whole now, and then it gets what was written meanwhile.
                self.look_again_at_broken_files();
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
            if self.last_look_at_broken.elapsed() >= LOOK_AGAIN_EVERY {
                self.last_look_at_broken = Instant::now();
                self.look_again_at_broken_files();
            }
            self.start_due_folds();
            self.maybe_roll_over();
        }
        self.fold_everything_now();
    }

    fn next_fold_due(&self) -> Option<Duration> {
        let delay = self.shared.config.fold_delay;
        let fold = self
            .dirty_since
            .iter()
            .filter(|(k, _)| !self.folding.get(k).copied().unwrap_or(false))
            .map(|(_, since)| delay.saturating_sub(since.elapsed()))
            .min()
            .map(|d| d.max(Duration::from_millis(1)));
        // While a file is refused it is looked at again every few seconds, in case the
        // save that fixes it came without a notification the watcher saw.
        let broken = self.shared.rejected.read().is_ok_and(|r| !r.is_empty()).then_some(LOOK_AGAIN_EVERY);
        match (fold, broken) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Reads each refused table file again (`reload_file` ends the refusal if it loads).
    fn look_again_at_broken_files(&mut self) {
        let broken: Vec<TableKind> =
            self.shared.rejected.read().map(|r| r.keys().copied().collect()).unwrap_or_default();
        for kind in broken.into_iter().filter(|k| *k != TableKind::Events) {
            self.reload_file(kind);
        }
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
        // A broken file is the person's until they fix it: its fix brings the fold back.
        if self.diverged.contains_key(&kind) || self.shared.rejected_message(kind).is_some() {
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
            || self.shared.rejected.read().map(|r| !r.is_empty()).unwrap_or(true)
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

    /// Applies one change to the writer's tables (see [`crate::store::apply`]); a
    /// document's file is placed in its folder within the same commit.
    fn apply(&mut self, op: Op, ctx: Context, now: &str) -> Result<(Committed, Option<NewEvent>), StoreError> {
        let kind = op.table();
        // A table whose file a person broke keeps taking writes (journal and memory) as
        // long as it has a state to write to; only a table that never loaded, or a
        // broken journal, refuses them.
        let never_loaded = !self.tables.contains_key(&kind);
        let refusal = self
            .shared
            .rejected_message(TableKind::Events)
            .or_else(|| if never_loaded { self.shared.rejected_message(kind) } else { None });
        if let Some(message) = refusal {
            return Err(StoreError::Unavailable(message));
        }
        let data_dir = self.shared.config.data_dir.clone();
        let vocabulary = self.shared.config.vocabulary.clone();
        let mut place = |id: u64, full: &Fields, staged: &crate::store::StagedBlob| {
            let filename = full.get("filename").map(String::as_str).unwrap_or("");
            place_attachment(&data_dir, id, filename, staged).map_err(|e| {
                tracing::error!(error = %e, id, "could not place an uploaded file");
                StoreError::Io
            })
        };
        let applied = apply::apply(&mut self.tables, op, ctx, now, &vocabulary, self.journal.last_id + 1, &mut place)?;
        if applied.committed.change.is_some() {
            self.journal.last_id += 1;
        }
        if let Some(id) = applied.deleted_doc {
            self.removals.push(doc_dir(&self.shared.config.data_dir, id));
        }
        Ok((applied.committed, applied.event))
    }
}
