//! The CSV backend of [`Storage`]: one writer thread, group commit, a folding thread,
//! and a read cache.
//!
//! A commit travels: caller → writer queue → (batch) apply to the writer's tables in
//! memory → append the batch's events to events.csv and fsync once → publish the new
//! snapshots to the cache → broadcast the changes → answer each caller. The table files
//! are rewritten from snapshots by the folding thread shortly after (temp file, fsync,
//! rename, fsync of the folder) and always at shutdown. Secret tables (credentials) are
//! rewritten within the commit instead, so no secret reaches the journal.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{broadcast, oneshot};

use crate::domain::values::now_timestamp;
use crate::domain::{ColumnKind, FieldError, TableKind};

use super::check::{self, FolderReport};
use super::csv_format::Problem;
use super::folds::{self, Fold};
use super::journal::{self, Journal, NewEvent};
use super::table::{Fields, TableData};
use super::{
    BoxFuture, Change, ChangeOp, Committed, Context, Op, Source, StagedBlob, Storage, StoreConfig, StoreError,
    TableStatus, durable, etag_of,
};

/// Commits gathered into one batch at most (one fsync serves them all).
const MAX_BATCH: usize = 4096;

/// Figures the store keeps about itself, for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct StoreStats {
    pub batches: AtomicU64,
    pub commits: AtomicU64,
    pub fsync_micros_total: AtomicU64,
    pub folds: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
}

/// State shared by the handle, the writer and the folding thread.
struct Shared {
    config: StoreConfig,
    cache: moka::sync::Cache<TableKind, (u64, Arc<TableData>)>,
    /// Tables whose file does not load, with the problems; they are not written.
    rejected: RwLock<BTreeMap<TableKind, Vec<Problem>>>,
    feed: broadcast::Sender<Change>,
    /// Held for reading while a table file and its watermark are read together, and
    /// for writing while a fold renames a file and moves the watermark.
    files: RwLock<()>,
    folds: Mutex<BTreeMap<TableKind, Fold>>,
    /// Bytes of events.csv that are fsynced, and the last event id among them.
    journal_committed: Mutex<(u64, u64)>,
    last_event_id: AtomicU64,
    dirty: Mutex<BTreeMap<TableKind, bool>>,
    /// The newest snapshot of each table the writer published: what readers get while a
    /// person's broken edit keeps the file from loading.
    last_good: RwLock<HashMap<TableKind, Arc<TableData>>>,
    /// Whether the folder watch is running.
    watching: AtomicBool,
    /// The exclusive lock on the data folder, held until shutdown has finished writing.
    lock: Mutex<Option<std::fs::File>>,
    stats: StoreStats,
    closed: AtomicBool,
}

enum Msg {
    Commit {
        op: Op,
        ctx: Context,
        reply: oneshot::Sender<Result<Committed, StoreError>>,
    },
    Event {
        event: NewEvent,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    FoldEnded {
        table: TableKind,
        outcome: FoldOutcome,
    },
    /// The watcher saw a table's file change.
    FileChanged {
        table: TableKind,
    },
    /// A consistent state for a backup: every table and the journal, as of one moment.
    Snapshot {
        reply: oneshot::Sender<ConsistentState>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Every table as of one event, and how much of events.csv holds that event and those
/// before it: what a backup writes, taken without holding the writer.
pub struct ConsistentState {
    pub tables: Vec<Arc<TableData>>,
    pub events_len: u64,
    pub last_event_id: u64,
}

/// A cheap-to-clone handle on the CSV store.
#[derive(Clone)]
pub struct CsvStore {
    shared: Arc<Shared>,
    writer: Arc<Mutex<Option<mpsc::Sender<Msg>>>>,
    /// The watch on the data folder (None when it could not be set up).
    watch: Arc<Mutex<Option<super::watcher::FolderWatch>>>,
}

impl CsvStore {
    /// Opens a data folder: creates missing files with their headers, removes
    /// temporaries a crash left, replays journaled changes the files lack, and starts
    /// the writer. Tables whose files do not load are served as unavailable.
    pub fn open(config: StoreConfig) -> std::io::Result<CsvStore> {
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir)?;
        let lock = lock_folder(&dir)?;
        for removed in durable::remove_stale_temporaries(&dir) {
            tracing::warn!(file = %removed.display(), "removed a temporary file left by an interrupted write");
        }
        create_missing_files(&dir)?;
        // Uploads whose commit never came.
        let _ = std::fs::remove_dir_all(incoming_dir(&dir));
        let report = check::open_folder(&dir, &config.vocabulary);
        for p in report.all_problems() {
            tracing::error!("{p}");
        }
        if report.replayed > 0 {
            tracing::info!(rows = report.replayed, "replayed journaled changes into the table files");
        }
        let FolderReport { tables, events, problems, conflicts, replayed } = report;

        let archive_last = journal::archived_last_id(&dir.join("archive"));
        let (last_event_id, first_event_id, events_format) = match &events {
            Some(e) => (
                e.rows.keys().next_back().copied().unwrap_or(0).max(archive_last),
                e.rows.keys().next().copied(),
                e.format,
            ),
            None => (archive_last, None, Default::default()),
        };
        let events_path = dir.join(TableKind::Events.spec().file_name);
        let journal = Journal::open(&events_path, events_format, last_event_id)?;

        let cache = moka::sync::Cache::builder().time_to_live(config.cache_ttl).max_capacity(16).build();
        let (feed, _) = broadcast::channel(4096);
        let mut marks = folds::read(&dir);
        for kind in TableKind::RECORDS {
            // Files without a watermark are complete up to now.
            let mark = marks.entry(kind).or_insert(Fold { event_id: last_event_id, bytes: 0, hash: 0 });
            // The file as the server saw it now: a fold replaces only this content.
            if let Some(loaded) = tables.get(&kind) {
                (mark.bytes, mark.hash) = loaded.fingerprint;
            }
        }
        // On disk before any write is accepted: a crash before the first fold must
        // still find where each file's journal replay starts.
        folds::write(&dir, &marks)?;
        let shared = Arc::new(Shared {
            config,
            cache,
            rejected: RwLock::new(problems),
            feed,
            files: RwLock::new(()),
            folds: Mutex::new(marks),
            journal_committed: Mutex::new((journal.len, last_event_id)),
            last_event_id: AtomicU64::new(last_event_id),
            dirty: Mutex::new(BTreeMap::new()),
            last_good: RwLock::new(HashMap::new()),
            watching: AtomicBool::new(false),
            lock: Mutex::new(Some(lock)),
            stats: StoreStats::default(),
            closed: AtomicBool::new(false),
        });
        let tables: HashMap<TableKind, Arc<TableData>> =
            tables.into_iter().map(|(k, l)| (k, Arc::new(l.data))).collect();
        for (kind, table) in &tables {
            shared.publish(*kind, last_event_id, table.clone());
        }

        let (tx, rx) = mpsc::channel();
        let (fold_tx, fold_rx) = mpsc::channel::<FoldJob>();
        let folder_shared = shared.clone();
        let folded_tx = tx.clone();
        thread::Builder::new()
            .name("store-folder".into())
            .spawn(move || fold_loop(folder_shared, fold_rx, folded_tx))?;

        let mut writer = Writer {
            shared: shared.clone(),
            tables,
            journal,
            journal_first_id: first_event_id.unwrap_or(last_event_id + 1),
            fold_tx: Some(fold_tx),
            dirty_since: BTreeMap::new(),
            folding: BTreeMap::new(),
            diverged: BTreeMap::new(),
            removals: Vec::new(),
        };
        // Replayed rows are written into their files now; conflicts become events.
        let mut startup_events: Vec<NewEvent> =
            conflicts.iter().map(|(kind, c)| conflict_event(*kind, c, &now_timestamp())).collect();
        if replayed > 0 {
            startup_events.push(NewEvent {
                kind: "file.reloaded".into(),
                entity: String::new(),
                entity_id: None,
                user_id: None,
                source: Source::System.to_string(),
                message: format!("{replayed} rows brought up to date from events.csv at start-up"),
                data: serde_json::Value::Null,
                created_at: now_timestamp(),
            });
            for kind in TableKind::RECORDS {
                if writer.tables.contains_key(&kind) && kind.spec().journaled {
                    writer.dirty_since.insert(kind, Instant::now() - Duration::from_secs(3600));
                }
            }
        }
        if !startup_events.is_empty() {
            let ids = writer.append_events(startup_events).map_err(std::io::Error::other)?;
            tracing::info!(count = ids.len(), "recorded start-up events");
        }
        thread::Builder::new().name("store-writer".into()).spawn(move || writer.run(rx))?;
        let to_writer = tx.clone();
        let watched = shared.clone();
        let watch = match super::watcher::watch(&dir, move |table| {
            // The server's own writes are recognised here, on the watcher's thread, so
            // the writer never reads a whole table file just to find it unchanged.
            if !watched.file_is_as_known(table) {
                let _ = to_writer.send(Msg::FileChanged { table });
            }
        }) {
            Ok(w) => {
                shared.watching.store(true, Ordering::Release);
                Some(w)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the data folder; edits made while the server runs are seen at the next start");
                None
            }
        };
        Ok(CsvStore { shared, writer: Arc::new(Mutex::new(Some(tx))), watch: Arc::new(Mutex::new(watch)) })
    }

    pub fn stats(&self) -> &StoreStats {
        &self.shared.stats
    }

    /// Every table and the journal as of one moment (for backups): cheap for the
    /// writer, which only hands over its snapshots.
    pub async fn consistent_state(&self) -> Result<ConsistentState, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Snapshot { reply })?;
        rx.await.map_err(|_| StoreError::Closed)
    }

    /// Whether edits to the files are being watched.
    pub fn watching(&self) -> bool {
        self.shared.watching.load(Ordering::Acquire) && self.watch.lock().map(|w| w.is_some()).unwrap_or(false)
    }

    pub fn data_dir(&self) -> &Path {
        &self.shared.config.data_dir
    }

    fn send(&self, msg: Msg) -> Result<(), StoreError> {
        let guard = self.writer.lock().map_err(|_| StoreError::Closed)?;
        match guard.as_ref() {
            Some(tx) => tx.send(msg).map_err(|_| StoreError::Closed),
            None => Err(StoreError::Closed),
        }
    }
}

impl Shared {
    fn rejected_message(&self, kind: TableKind) -> Option<String> {
        let rejected = self.rejected.read().ok()?;
        let problems = rejected.get(&kind)?;
        let first = problems.first().map(|p| p.to_string()).unwrap_or_default();
        Some(if problems.len() > 1 {
            format!(
                "{} does not load ({} problems, first: {first}); fix the file",
                kind.spec().file_name,
                problems.len()
            )
        } else {
            format!("{} does not load: {first}; fix the file", kind.spec().file_name)
        })
    }

    /// Whether a table's file still has the content fingerprint the server last wrote or
    /// read (read together with the fingerprint, under the lock a fold holds to move both).
    fn file_is_as_known(&self, kind: TableKind) -> bool {
        let Ok(_files) = self.files.read() else { return false };
        let known = self.folds.lock().ok().and_then(|m| m.get(&kind).map(|f| (f.bytes, f.hash)));
        let on_disk =
            std::fs::read(self.config.data_dir.join(kind.spec().file_name)).ok().map(|b| folds::fingerprint(&b));
        on_disk.is_some() && on_disk == known
    }

    /// Puts a snapshot into the cache unless a newer one is there already.
    fn publish(&self, kind: TableKind, as_of: u64, table: Arc<TableData>) {
        if let Ok(mut last) = self.last_good.write() {
            last.insert(kind, table.clone());
        }
        if !self.config.cache_enabled {
            return;
        }
        self.cache.entry(kind).and_compute_with(|existing| {
            use moka::ops::compute::Op as CacheOp;
            match existing {
                Some(entry) if entry.value().0 > as_of => CacheOp::Nop,
                _ => CacheOp::Put((as_of, table)),
            }
        });
    }

    /// Builds a table from its file and the journal, as a reader after a cache miss.
    fn load_from_files(&self, kind: TableKind) -> Result<(u64, Arc<TableData>), StoreError> {
        let dir = &self.config.data_dir;
        let vocabulary = &self.config.vocabulary;
        let _files = self.files.read().map_err(|_| StoreError::Io)?;
        let (committed_len, as_of) = *self.journal_committed.lock().map_err(|_| StoreError::Io)?;
        let events_bytes = read_prefix(&dir.join(TableKind::Events.spec().file_name), committed_len).map_err(|e| {
            tracing::error!(error = %e, "cannot read events.csv");
            StoreError::Io
        })?;
        let events = super::csv_format::parse(&events_bytes, "events.csv")
            .and_then(|p| TableData::from_parsed(TableKind::Events, p, vocabulary))
            .map_err(|p| StoreError::Unavailable(format!("events.csv does not load: {}", p[0])))?
            .data;
        if kind == TableKind::Events {
            return Ok((as_of, Arc::new(events)));
        }
        let mut table = if dir.join(kind.spec().file_name).exists() {
            check::read_table(dir, kind, vocabulary)
                .map_err(|p| StoreError::Unavailable(format!("{} does not load: {}", kind.spec().file_name, p[0])))?
                .data
        } else {
            TableData::empty(kind)
        };
        if kind.spec().journaled {
            let from = self.folds.lock().map_err(|_| StoreError::Io)?.get(&kind).map(|f| f.event_id).unwrap_or(as_of);
            super::replay::replay(&mut table, &journal::entries_after(&events, from), from);
        }
        Ok((as_of, Arc::new(table)))
    }
}

fn read_prefix(path: &Path, len: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(len as usize);
    std::fs::File::open(path)?.take(len).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn create_missing_files(dir: &Path) -> std::io::Result<()> {
    for kind in TableKind::ALL {
        let spec = kind.spec();
        let path = dir.join(spec.file_name);
        let private = kind == TableKind::Credentials;
        if !path.exists() {
            durable::write_atomic(&path, &TableData::empty(kind).to_bytes(), private)?;
        } else if private {
            durable::make_private(&path)?;
        }
    }
    Ok(())
}

impl Storage for CsvStore {
    fn table(&self, kind: TableKind) -> Result<Arc<TableData>, StoreError> {
        if let Some(message) = self.shared.rejected_message(kind) {
            // A broken edit: the last good state is served until the file is fixed.
            return match self.shared.last_good.read().ok().and_then(|l| l.get(&kind).cloned()) {
                Some(table) => Ok(table),
                None => Err(StoreError::Unavailable(message)),
            };
        }
        if self.shared.config.cache_enabled
            && let Some((_, table)) = self.shared.cache.get(&kind)
        {
            self.shared.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(table);
        }
        self.shared.stats.cache_misses.fetch_add(1, Ordering::Relaxed);
        let (as_of, table) = self.shared.load_from_files(kind)?;
        if kind != TableKind::Events {
            self.shared.publish(kind, as_of, table.clone());
        }
        Ok(table)
    }

    fn commit(&self, op: Op, ctx: Context) -> BoxFuture<'_, Result<Committed, StoreError>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.send(Msg::Commit { op, ctx, reply })?;
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn record_event(&self, event: NewEvent) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.send(Msg::Event { event, reply })?;
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.shared.feed.subscribe()
    }

    fn status(&self) -> Vec<TableStatus> {
        let rejected = self.shared.rejected.read().map(|r| r.clone()).unwrap_or_default();
        let dirty = self.shared.dirty.lock().map(|d| d.clone()).unwrap_or_default();
        TableKind::ALL
            .into_iter()
            .map(|kind| {
                let problems: Vec<String> =
                    rejected.get(&kind).map(|p| p.iter().map(|p| p.to_string()).collect()).unwrap_or_default();
                let rows = if problems.is_empty() && kind != TableKind::Events {
                    self.table(kind).ok().map(|t| t.rows.len())
                } else {
                    None
                };
                TableStatus {
                    table: kind.name(),
                    file: kind.spec().file_name.to_string(),
                    rows,
                    readable: problems.is_empty(),
                    problems,
                    unfolded_changes: dirty.get(&kind).copied().unwrap_or(false),
                }
            })
            .collect()
    }

    fn last_event_id(&self) -> u64 {
        self.shared.last_event_id.load(Ordering::Acquire)
    }

    fn stage_blob(&self, content: bytes::Bytes) -> BoxFuture<'_, Result<StagedBlob, StoreError>> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = incoming_dir(&self.shared.config.data_dir);
        Box::pin(async move {
            let name = format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
            let path = dir.join(name);
            let staged = StagedBlob::new(path.clone());
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                use std::io::Write;
                std::fs::create_dir_all(&dir)?;
                let mut file = std::fs::File::create(&path)?;
                file.write_all(&content)?;
                file.sync_all()
            })
            .await
            .map_err(|_| StoreError::Io)?
            .map_err(|e| {
                tracing::error!(error = %e, "could not stage an upload");
                StoreError::Io
            })?;
            Ok(staged)
        })
    }

    fn read_aux(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(aux_path(&self.shared.config.data_dir, name)?).ok()
    }

    fn write_aux(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = aux_path(&self.shared.config.data_dir, name).ok_or(StoreError::Io)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|_| StoreError::Io)?;
        }
        durable::write_atomic(&path, bytes, false).map_err(|e| {
            tracing::error!(error = %e, path = %path.display(), "could not write");
            StoreError::Io
        })
    }

    fn read_blob(&self, id: u64, filename: &str) -> BoxFuture<'_, Result<Vec<u8>, StoreError>> {
        let path = doc_dir(&self.shared.config.data_dir, id).join(filename);
        let safe = !filename.is_empty() && !filename.contains(['/', '\\']) && filename != "..";
        Box::pin(async move {
            if !safe {
                return Err(StoreError::NotFound { table: TableKind::Docs, id });
            }
            match tokio::fs::read(&path).await {
                Ok(bytes) => Ok(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(StoreError::Unavailable(format!("the file of document {id} is missing from data/docs/{id}/")))
                }
                Err(e) => {
                    tracing::error!(error = %e, path = %path.display(), "could not read a document");
                    Err(StoreError::Io)
                }
            }
        })
    }

    fn drop_cache(&self) {
        self.shared.cache.invalidate_all();
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Ok(mut w) = self.watch.lock() {
                w.take();
            }
            let (reply, rx) = oneshot::channel();
            if self.send(Msg::Shutdown { reply }).is_ok() {
                let _ = rx.await;
            }
            if let Ok(mut w) = self.writer.lock() {
                w.take();
            }
            // Everything is on disk: another process may have the folder now.
            if let Ok(mut lock) = self.shared.lock.lock() {
                lock.take();
            }
        })
    }
}

/// A snapshot to be written into its file, as of an event id.
struct FoldJob {
    table: Arc<TableData>,
    event_id: u64,
    done: Option<mpsc::Sender<()>>,
}

/// How a fold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FoldOutcome {
    Written,
    /// The file is no longer what the server last wrote or read: someone else changed
    /// it. It is left as it is; the journal keeps the server's changes.
    Diverged,
    Failed,
}

/// The folding thread: writes table files from snapshots, off the writer's path.
fn fold_loop(shared: Arc<Shared>, jobs: mpsc::Receiver<FoldJob>, writer: mpsc::Sender<Msg>) {
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

/// The single writer: owns the tables' current state and events.csv.
struct Writer {
    shared: Arc<Shared>,
    tables: HashMap<TableKind, Arc<TableData>>,
    journal: Journal,
    journal_first_id: u64,
    fold_tx: Option<mpsc::Sender<FoldJob>>,
    /// Tables with journaled changes not yet folded, since when.
    dirty_since: BTreeMap<TableKind, Instant>,
    /// Tables with a fold under way.
    folding: BTreeMap<TableKind, bool>,
    /// Tables whose file someone else changed while the server runs: not folded into
    /// until the next start merges them.
    diverged: BTreeMap<TableKind, bool>,
    /// Folders of documents deleted in the batch under way, removed once it is on disk.
    removals: Vec<PathBuf>,
}

/// One commit's result before the batch is on disk.
struct Pending {
    reply: oneshot::Sender<Result<Committed, StoreError>>,
    result: Result<Committed, StoreError>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
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

    /// A table's file changed on disk: the server's own write (same fingerprint as the
    /// server last wrote or read: nothing to do), a broken edit (keep serving the last
    /// good state, refuse writes, record `file.rejected`), or a person's edit, merged
    /// with the server's state field by field; each difference goes on the feed with
    /// source `file`.
    fn reload_file(&mut self, kind: TableKind) {
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
            return;
        }
        let vocabulary = self.shared.config.vocabulary.clone();
        let loaded = super::csv_format::parse(&bytes, kind.spec().file_name)
            .and_then(|parsed| TableData::from_parsed(kind, parsed, &vocabulary))
            .and_then(|loaded| {
                let tables = &self.tables;
                let lookup = |t: TableKind| {
                    if t == kind { Some(Arc::new(loaded.data.clone())) } else { tables.get(&t).cloned() }
                };
                let problems = super::table::check_references(&loaded.data, &loaded.lines, &lookup);
                if problems.is_empty() { Ok(loaded) } else { Err(problems) }
            });
        let mut file_table = match loaded {
            Ok(loaded) => loaded.data,
            Err(problems) => {
                self.reject(kind, problems);
                return;
            }
        };
        let was_rejected = self.shared.rejected.write().map(|mut r| r.remove(&kind).is_some()).unwrap_or(false);
        if was_rejected {
            tracing::info!(file = kind.spec().file_name, "the file is valid again; writes resume");
        }
        // The person may have opened the file before the server's latest writes to it: the
        // server's recent changes, folded or not, tell a stale value from a new one.
        let from = self.shared.folds.lock().ok().and_then(|m| m.get(&kind).map(|f| f.event_id)).unwrap_or(0);
        let committed = self.shared.journal_committed.lock().map(|c| c.0).unwrap_or(0);
        let entries = read_prefix(&dir.join(TableKind::Events.spec().file_name), committed)
            .ok()
            .and_then(|b| super::csv_format::parse(&b, "events.csv").ok())
            .and_then(|p| TableData::from_parsed(TableKind::Events, p, &vocabulary).ok())
            .map(|events| journal::entries_after(&events.data, recent_start(&events.data, from)))
            .unwrap_or_default();
        let outcome = if kind.spec().journaled {
            super::replay::replay(&mut file_table, &entries, from)
        } else {
            super::replay::ReplayOutcome::default()
        };
        // A table that never loaded has no rows to compare with: it just loads now.
        let loaded_before = self.tables.contains_key(&kind);
        let current = self.tables.get(&kind).cloned().unwrap_or_else(|| Arc::new(TableData::empty(kind)));
        file_table.max_id = file_table.max_id.max(current.max_id);
        let merged = Arc::new(file_table);
        let now = now_timestamp();
        let ctx = Context { actor: None, source: Source::File };
        let mut events = Vec::new();
        let mut changes = Vec::new();
        let ids: std::collections::BTreeSet<u64> = if loaded_before {
            current.rows.keys().chain(merged.rows.keys()).copied().collect()
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
                    message: format!("{} loads again ({} rows)", kind.spec().file_name, merged.rows.len()),
                    data: serde_json::Value::Null,
                    created_at: now.clone(),
                },
            ));
            Default::default()
        };
        for id in ids {
            let (before, after) = (current.rows.get(&id), merged.rows.get(&id));
            if let (Some(b), Some(a)) = (before, after)
                && (Arc::ptr_eq(b, a) || current.fields(b) == merged.fields(a))
            {
                continue;
            }
            let op = match (before, after) {
                (None, Some(_)) => ChangeOp::Create,
                (Some(_), None) => ChangeOp::Delete,
                _ => ChangeOp::Update,
            };
            let before = before.map(|r| current.fields(r));
            let after = after.map(|r| merged.fields(r));
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
            });
        }
        for conflict in &outcome.conflicts {
            self.journal.last_id += 1;
            events.push((self.journal.last_id, conflict_event(kind, conflict, &now)));
        }
        if let Err(e) = self.journal.append(&events) {
            tracing::error!(error = %e, "could not record a file's changes; the file is read again on its next change");
            return;
        }
        self.tables.insert(kind, merged.clone());
        let last = self.journal.last_id;
        self.mark_committed();
        self.shared.cache.invalidate(&TableKind::Events);
        self.shared.publish(kind, last, merged);
        // The file as read is what a fold may now replace.
        if let Ok(mut marks) = self.shared.folds.lock()
            && let Some(mark) = marks.get_mut(&kind)
        {
            (mark.bytes, mark.hash) = fingerprint;
        }
        self.diverged.remove(&kind);
        if outcome.applied > 0 && kind.spec().journaled {
            // The file lacks changes of the server's: write them in soon.
            self.dirty_since.entry(kind).or_insert_with(Instant::now);
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

    /// A broken edit: the last good state stays, writes are refused with the problem,
    /// and `file.rejected` records where and what.
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
        tracing::warn!(problem = %first, "an edited file does not load; the server keeps its last good state and refuses writes to it");
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
        if self.journal.append(&[(self.journal.last_id, event)]).is_ok() {
            self.mark_committed();
            self.shared.cache.invalidate(&TableKind::Events);
        }
    }

    /// What is in events.csv up to now is on disk: readers may use it.
    fn mark_committed(&self) {
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
        let written = self.write_batch(&changed, &events);
        if let Err(e) = written {
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
        let last = self.journal.last_id;
        self.mark_committed();
        for folder in self.removals.drain(..) {
            if let Err(e) = std::fs::remove_dir_all(&folder)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(error = %e, folder = %folder.display(), "could not remove a deleted document's files");
            }
        }
        if !events.is_empty() {
            self.shared.cache.invalidate(&TableKind::Events);
        }
        for kind in changed.keys() {
            if let Some(t) = self.tables.get(kind) {
                self.shared.publish(*kind, last, t.clone());
            }
            if kind.spec().journaled && !self.diverged.contains_key(kind) {
                self.dirty_since.entry(*kind).or_insert_with(Instant::now);
                if let Ok(mut d) = self.shared.dirty.lock() {
                    d.insert(*kind, true);
                }
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

    /// Puts a batch on disk: secret tables rewritten, then the events appended and fsynced.
    fn write_batch(&mut self, changed: &BTreeMap<TableKind, bool>, events: &[(u64, NewEvent)]) -> std::io::Result<()> {
        for kind in changed.keys().filter(|k| !k.spec().journaled) {
            if let Some(t) = self.tables.get(kind) {
                let path = self.shared.config.data_dir.join(kind.spec().file_name);
                durable::write_atomic(&path, &t.to_bytes(), *kind == TableKind::Credentials)?;
            }
        }
        let started = Instant::now();
        self.journal.append(events)?;
        let elapsed = started.elapsed();
        self.shared.stats.fsync_micros_total.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        metrics::histogram!("taskboard_fsync_seconds").record(elapsed.as_secs_f64());
        metrics::histogram!("taskboard_commit_batch_size").record(events.len() as f64);
        Ok(())
    }

    /// Appends events outside a batch (start-up).
    fn append_events(&mut self, events: Vec<NewEvent>) -> std::io::Result<Vec<u64>> {
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
                    reject_unknown(&fields)?;
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
                    if if_match.as_ref().is_some_and(|tag| tag != "*" && *tag != etag_of(&row)) {
                        return Err(StoreError::PreconditionFailed);
                    }
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
                    reject_unknown(&fields)?;
                    if after == before {
                        let etag = Some(etag_of(&row));
                        return Ok((Committed { id, record: Some(before), etag, change: None }, None));
                    }
                    if table.position("updated_at").is_some() && after.get("updated_at") == before.get("updated_at") {
                        after.insert("updated_at".into(), now.into());
                    }
                    validate(spec, &after, &vocabulary, &refs, &ref_tables)?;
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

fn reject_unknown(leftover: &Fields) -> Result<(), StoreError> {
    if leftover.is_empty() {
        return Ok(());
    }
    Err(StoreError::Invalid(leftover.keys().map(|k| FieldError::new(k.clone(), "unknown field")).collect()))
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

/// Replaces secret values so they never reach the feed.
fn redact(kind: TableKind, mut fields: Fields) -> Fields {
    for column in kind.spec().columns.iter().filter(|c| c.kind == ColumnKind::Secret) {
        if let Some(v) = fields.get_mut(column.name) {
            *v = "[redacted]".into();
        }
    }
    fields
}

/// An event recorded on its own, as a change of the event log for the feed.
fn event_change(id: u64, e: &NewEvent) -> Change {
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let fields: Fields = [
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
    .collect();
    let source = match e.source.as_str() {
        "scheduler" => Source::Scheduler,
        "telegram" => Source::Telegram,
        "file" => Source::File,
        "ws" => Source::Ws,
        "system" => Source::System,
        _ => Source::Api,
    };
    Change {
        event_id: id,
        table: TableKind::Events,
        op: ChangeOp::Create,
        id,
        before: None,
        after: Some(fields),
        actor: e.user_id,
        source,
        at: e.created_at.clone(),
    }
}

/// The `conflict.merged` event of a field where a file's value was kept over the
/// server's (at start-up and when a person's save is merged).
fn conflict_event(kind: TableKind, c: &super::replay::Conflict, now: &str) -> NewEvent {
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

/// Takes the data folder for this process: two servers writing one folder would
/// interleave their journals and fold over each other's files.
fn lock_folder(dir: &Path) -> std::io::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let notes = dir.join(".taskboard");
    std::fs::create_dir_all(&notes)?;
    let mut file =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(notes.join("lock"))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            file.seek(std::io::SeekFrom::Start(0))?;
            writeln!(file, "{}", std::process::id())?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Err(std::io::Error::other(format!(
                "another taskboard (pid {}) is using the data folder {}; stop it first",
                holder.trim(),
                dir.display()
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// How far back a person's copy of a file may reach: changes the server made this
/// recently are weighed against a saved file, so a value they replaced is stale.
const RECENT: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// The event after which to weigh server changes against a person's save: the earlier
/// of the file's watermark and the first event of the last `RECENT`.
fn recent_start(events: &TableData, watermark: u64) -> u64 {
    let Some(at) = events.position("created_at") else { return watermark };
    let since = chrono::Utc::now() - RECENT;
    let first_recent = events
        .rows
        .iter()
        .find(|(_, row)| crate::domain::values::parse_timestamp(row.cell(at)).is_ok_and(|t| t >= since))
        .map(|(id, _)| id.saturating_sub(1));
    first_recent.map_or(watermark, |f| f.min(watermark))
}

/// A file of the data folder that is not a table (jobs.csv, reports/...): a relative
/// path of plain names, never a table's file.
fn aux_path(data_dir: &Path, name: &str) -> Option<PathBuf> {
    let plain = !name.is_empty()
        && name.split('/').all(|p| !p.is_empty() && p != ".." && p != "." && !p.starts_with(".tmp-"))
        && !name.contains('\\')
        && TableKind::ALL.iter().all(|t| t.spec().file_name != name);
    plain.then(|| data_dir.join(name))
}

/// Where uploads wait for their commit.
fn incoming_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("docs").join(".incoming")
}

/// The folder of document `id`: `data/docs/{id}/`.
fn doc_dir(data_dir: &Path, id: u64) -> PathBuf {
    data_dir.join("docs").join(id.to_string())
}

/// Moves a staged upload into its document's folder, durably.
fn place_attachment(data_dir: &Path, id: u64, filename: &str, staged: &StagedBlob) -> std::io::Result<()> {
    let folder = doc_dir(data_dir, id);
    if folder.exists() {
        // Left by a document whose commit never reached the journal: not ours.
        std::fs::remove_dir_all(&folder)?;
    }
    std::fs::create_dir_all(&folder)?;
    std::fs::rename(staged.path(), folder.join(filename))?;
    durable::sync_dir(&folder)?;
    durable::sync_dir(&data_dir.join("docs"))
}

/// The path of the data folder's archive.
pub fn archive_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("archive")
}
