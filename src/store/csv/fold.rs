//! The folding thread: writes a table's file from a snapshot, off the writer's path,
//! and moves the table's watermark in folds.csv in the same step.

use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::Instant;

use crate::store::table::TableData;

use super::folds::{self, Fold};
use super::{Msg, Shared, durable};

/// A snapshot to be written into its file, as of an event id.
pub(super) struct FoldJob {
    pub table: Arc<TableData>,
    pub event_id: u64,
    pub done: Option<mpsc::Sender<()>>,
}

/// How a fold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FoldOutcome {
    Written,
    /// The file is no longer what the server last wrote or read: someone else changed
    /// it. It is left as it is; the journal keeps the server's changes.
    Diverged,
    Failed,
}

/// The folding thread: writes table files from snapshots, off the writer's path.
pub(super) fn fold_loop(shared: Arc<Shared>, jobs: mpsc::Receiver<FoldJob>, writer: mpsc::Sender<Msg>) {
    while let Ok(job) = jobs.recv() {
        let kind = job.table.kind;
        let outcome = match fold(&shared, &job) {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(table = kind.name(), error = %e, "could not write the table file; the journal keeps the changes");
                FoldOutcome::Failed
            }
        };
        if outcome == FoldOutcome::Diverged {
            tracing::error!(
                file = kind.spec().file_name,
                "the file was changed by someone else while the server runs; it is not overwritten, and the \
                 server's changes stay in events.csv until they are merged (at the next start)"
            );
        }
        let _ = writer.send(Msg::FoldEnded { table: kind, outcome });
        if let Some(done) = job.done {
            let _ = done.send(());
        }
    }
}

fn fold(shared: &Shared, job: &FoldJob) -> std::io::Result<FoldOutcome> {
    let started = Instant::now();
    let kind = job.table.kind;
    let dir = &shared.config.data_dir;
    let path = dir.join(kind.spec().file_name);
    let bytes = job.table.to_bytes();
    let (len, hash) = folds::fingerprint(&bytes);
    let temp = dir.join(format!("{}{}-fold", durable::TEMP_PREFIX, kind.spec().file_name));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    let _files = shared.files.write().map_err(|_| std::io::Error::other("lock poisoned"))?;
    let mut marks = shared.folds.lock().map_err(|_| std::io::Error::other("lock poisoned"))?;
    // Replace the file only if it is still what the server last saw: told by content,
    // not by time, so a person's save is never overwritten.
    let known = marks.get(&kind).map(|m| (m.bytes, m.hash));
    let on_disk = std::fs::read(&path).map(|b| folds::fingerprint(&b)).ok();
    if on_disk != known {
        let _ = std::fs::remove_file(&temp);
        return Ok(FoldOutcome::Diverged);
    }
    std::fs::rename(&temp, &path)?;
    durable::sync_dir(dir)?;
    marks.insert(kind, Fold { event_id: job.event_id, bytes: len, hash });
    folds::write(dir, &marks)?;
    shared.stats.folds.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(
        table = kind.name(),
        rows = job.table.rows.len(),
        ms = started.elapsed().as_millis() as u64,
        "folded"
    );
    Ok(FoldOutcome::Written)
}
