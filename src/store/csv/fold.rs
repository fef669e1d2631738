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
    // Tables in a race with a person's saves: said once per episode, not per fold.
    let mut racing = std::collections::HashSet::new();
    loop {
        // Swapped-out files wait their grace here, between folds; with none waiting,
        // the thread sleeps until the next fold.
        let waiting = shared.displaced.lock().map(|d| !d.is_empty()).unwrap_or(false);
        let next = if waiting { jobs.recv_timeout(DISPLACED_GRACE / 2) } else { jobs.recv().map_err(Into::into) };
        let job = match next {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                settle_displaced(&shared);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let kind = job.table.kind;
        let outcome = match fold(&shared, &job) {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(table = kind.name(), error = %e, "could not write the table file; the journal keeps the changes");
                FoldOutcome::Failed
            }
        };
        // An expected race (a person saving while the server writes): a warning, once
        // until the file is written again.
        match outcome {
            FoldOutcome::Diverged if racing.insert(kind) => tracing::warn!(
                file = kind.spec().file_name,
                "the file was changed by someone else while the server wrote it; their file is kept, and the \
                 server's changes stay in events.csv until the two are merged"
            ),
            FoldOutcome::Written => {
                racing.remove(&kind);
            }
            _ => {}
        }
        let _ = writer.send(Msg::FoldEnded { table: kind, outcome });
        if let Some(done) = job.done {
            let _ = done.send(());
        }
        settle_displaced(&shared);
    }
    // Stopping: what is still waiting is settled now.
    std::thread::sleep(DISPLACED_GRACE);
    settle_displaced(&shared);
}

/// What a fold swapped out of a table file, kept for a moment in case a program that
/// had the file open writes into it after the swap.
pub(super) struct Displaced {
    kind: crate::domain::TableKind,
    temp: std::path::PathBuf,
    /// What it held when swapped out (what the server last wrote or read).
    fingerprint: Option<(u64, u64)>,
    /// What the fold put in its place.
    ours: (u64, u64),
    since: Instant,
}

/// How long a swapped-out file is watched for late writes before it is removed.
pub(super) const DISPLACED_GRACE: std::time::Duration = std::time::Duration::from_millis(300);

/// Puts a person's save, swapped out to `temp` by a fold, back as the table file: a
/// second swap, which hands back what is at `path` now. That is the fold's own file
/// unless yet another save came in between; such a file is kept beside the table
/// (`FILE.displaced-TIME`), never deleted, and said in the log.
fn put_back(temp: &std::path::Path, path: &std::path::Path, ours: (u64, u64)) -> std::io::Result<()> {
    if !durable::exchange(temp, path)? {
        return Ok(());
    }
    let back = std::fs::read(temp).map(|b| folds::fingerprint(&b)).ok();
    if back == Some(ours) {
        std::fs::remove_file(temp)
    } else {
        let keep = path.with_extension(format!("csv.displaced-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")));
        tracing::error!(kept = %keep.display(), "two saves raced a fold of the file; the earlier one is kept aside");
        std::fs::rename(temp, keep)
    }
}

/// Waits out the grace of every swapped-out file and settles them all: a clean stop
/// leaves no temporary file and no late save behind.
pub(super) fn settle_all(shared: &Shared) {
    let longest = shared
        .displaced
        .lock()
        .map(|all| all.iter().map(|d| DISPLACED_GRACE.saturating_sub(d.since.elapsed())).max().unwrap_or_default())
        .unwrap_or_default();
    std::thread::sleep(longest);
    settle_displaced(shared);
}

/// Removes swapped-out files whose grace has passed; one written to meanwhile is a
/// person's save and goes back as the table file (the watcher then merges it).
pub(super) fn settle_displaced(shared: &Shared) {
    let due: Vec<Displaced> = {
        let Ok(mut all) = shared.displaced.lock() else { return };
        let (due, keep): (Vec<_>, Vec<_>) = all.drain(..).partition(|d| d.since.elapsed() >= DISPLACED_GRACE);
        *all = keep;
        due
    };
    for d in due {
        let Ok(_files) = shared.files.write() else { return };
        let now = std::fs::read(&d.temp).map(|b| folds::fingerprint(&b)).ok();
        let path = shared.config.data_dir.join(d.kind.spec().file_name);
        let result = if now == d.fingerprint {
            std::fs::remove_file(&d.temp)
        } else {
            tracing::warn!(
                file = d.kind.spec().file_name,
                "a save written into the file as a fold replaced it is put back"
            );
            put_back(&d.temp, &path, d.ours).and_then(|()| durable::sync_dir(&shared.config.data_dir))
        };
        if let Err(e) = result {
            tracing::error!(error = %e, file = %d.temp.display(), "could not settle a swapped-out table file");
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
    // A name of its own per fold: the file a fold swaps out waits a moment under it
    // (see `Displaced`), and the next fold of the table must not write over it.
    static FOLDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = FOLDS.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!("{}{}-fold-{n}", durable::TEMP_PREFIX, kind.spec().file_name));
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
    if let Some(hook) = &shared.config.before_swap {
        (hook.0)(&path);
    }
    // A check of the file and then a rename are not one step: a person's save could
    // land between them. Swapping the files instead hands back what was replaced, so
    // the check is made on that, and a person's save is put back, never overwritten.
    if durable::exchange(&temp, &path)? {
        let displaced = std::fs::read(&temp).map(|b| folds::fingerprint(&b)).ok();
        if displaced != known {
            put_back(&temp, &path, (len, hash))?;
            durable::sync_dir(dir)?;
            return Ok(FoldOutcome::Diverged);
        }
        // A program that opened the file before the swap may still write into what
        // is now the temporary file: it is checked once more before it goes.
        shared.displaced.lock().map_err(|_| std::io::Error::other("lock poisoned"))?.push(Displaced {
            kind,
            temp: temp.clone(),
            fingerprint: known,
            ours: (len, hash),
            since: Instant::now(),
        });
    } else {
        // No swap on this file system: check, then rename (the window stays open).
        let on_disk = std::fs::read(&path).map(|b| folds::fingerprint(&b)).ok();
        if on_disk != known {
            let _ = std::fs::remove_file(&temp);
            return Ok(FoldOutcome::Diverged);
        }
        std::fs::rename(&temp, &path)?;
    }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::domain::TableKind;
    use crate::store::{Context, CsvStore, Op, Source, Storage, StoreConfig, SwapHook};

    const AT: &str = "2026-11-01T09:00:00Z";

    /// A store whose first fold of tasks.csv runs `race` between its check and its
    /// swap, with one task created through the API so that a fold comes.
    async fn raced_store(data: &std::path::Path, race: impl Fn(&std::path::Path) + Send + Sync + 'static) -> CsvStore {
        std::fs::create_dir_all(data).unwrap();
        let mut config = StoreConfig::new(data);
        config.fold_delay = std::time::Duration::from_millis(50);
        let folds = AtomicUsize::new(0);
        config.before_swap = Some(SwapHook(Arc::new(move |path: &std::path::Path| {
            if path.ends_with("tasks.csv") && folds.fetch_add(1, Ordering::SeqCst) == 0 {
                race(path);
            }
        })));
        let store = CsvStore::open(config).unwrap();
        let ctx = Context { actor: None, source: Source::Api };
        let fields = [("title", "by the API"), ("status", "new"), ("priority", "high")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        store.commit(Op::Create { table: TableKind::Tasks, fields, attachment: None }, ctx).await.unwrap();
        store
    }

    /// Waits until task `id` is in the store, then stops it and returns the file.
    async fn merged(store: CsvStore, data: &std::path::Path, id: u64) -> String {
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while !store.table(TableKind::Tasks).unwrap().rows.contains_key(&id) {
            assert!(Instant::now() < deadline, "the person's save is merged, not lost");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        store.shutdown().await;
        std::fs::read_to_string(data.join("tasks.csv")).unwrap()
    }

    /// A person's save lands exactly between the fold's check of the file and its
    /// replacement: it must not be overwritten, and the server merges it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_save_between_the_folds_check_and_its_swap_is_put_back_and_merged() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = raced_store(&data, |path| {
            let text = std::fs::read_to_string(path).unwrap();
            std::fs::write(path, format!("{text}7,typed by a person,,new,low,,,,{AT},{AT},\n")).unwrap();
        })
        .await;
        let text = merged(store, &data, 7).await;
        assert!(text.contains("typed by a person") && text.contains("by the API"), "{text}");
    }

    /// A program that opened the file before the swap writes into it after: what it
    /// wrote is in the swapped-out file, which is put back rather than removed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_in_place_save_that_lands_after_the_swap_is_put_back_and_merged() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = raced_store(&data, |path| {
            let text = std::fs::read_to_string(path).unwrap();
            let mut handle = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            std::thread::spawn(move || {
                use std::io::Write;
                std::thread::sleep(std::time::Duration::from_millis(50));
                handle.set_len(0).unwrap();
                handle.write_all(format!("{text}8,saved in place,,new,low,,,,{AT},{AT},\n").as_bytes()).unwrap();
            });
        })
        .await;
        let text = merged(store, &data, 8).await;
        assert!(text.contains("saved in place") && text.contains("by the API"), "{text}");
    }
}
