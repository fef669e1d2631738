//! The CSV backend of [`Storage`]: one writer thread, group commit, a folding thread,
//! and a read cache.
//!
//! A commit travels: caller → writer queue → (batch) apply to the writer's tables in
//! memory → append the batch's events to events.csv and fsync once → publish the new
//! snapshots to the cache → broadcast the changes → answer each caller. The table files
//! are rewritten from snapshots by the folding thread shortly after (temp file, fsync,
//! rename, fsync of the folder) and always at shutdown. Secret tables (credentials) are
//! rewritten within the commit instead, so no secret reaches the journal.
//!
//! The rooms: this file holds the handle (`CsvStore`, the `Storage` impl) and the
//! state the threads share; `writer.rs` the single writer and its one commit path;
//! `reload.rs` what happens when a person saves a table file; `diff.rs` the row diff
//! (a pure function); `events.rs` the events the store writes of its own; `fold.rs`
//! the folding thread; the file format, journal, replay and watch have a file each.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, oneshot};

use crate::domain::TableKind;
use crate::domain::values::now_timestamp;

pub mod check;
mod diff;
pub mod durable;
pub(crate) mod events;
mod fold;
mod folder;
pub mod folds;
pub mod format;
mod held;
pub mod journal;
mod reload;
pub mod replay;
pub mod watcher;
mod writer;

use check::FolderReport;
use events::conflict_event;
use fold::{FoldJob, FoldOutcome, fold_loop};
pub use folder::archive_dir;
use folder::{aux_path, create_missing_files, doc_dir, incoming_dir, lock_folder, place_attachment, read_prefix};
use folds::Fold;
use format::Problem;
use journal::{Journal, NewEvent};
use writer::Writer;

use super::table::TableData;
use super::{
    Backend, BoxFuture, Change, Committed, ConsistentState, Context, Op, PastChanges, Source, StagedBlob, Storage,
    StoreConfig, StoreError, StoreStats, TableStatus,
};

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
    /// Table files a fold swapped out, watched a moment for late writes (`fold.rs`).
    displaced: Mutex<Vec<fold::Displaced>>,
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

/// A cheap-to-clone handle on the CSV store.
#[derive(Clone)]
pub struct CsvStore {
    shared: Arc<Shared>,
    writer: Arc<Mutex<Option<mpsc::Sender<Msg>>>>,
    /// The watch on the data folder (None when it could not be set up).
    watch: Arc<Mutex<Option<watcher::FolderWatch>>>,
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
        let FolderReport { mut tables, events, problems, conflicts, replayed } = report;
        // A file broken while the server ran (and still broken): its held copy and the
        // journal after it are the table; the person's file stays as it is.
        let mut held_kinds = Vec::new();
        if let Some(events) = &events {
            let broken: Vec<TableKind> =
                problems.keys().copied().filter(|k| !tables.contains_key(k) && *k != TableKind::Events).collect();
            for kind in broken {
                if let Some(data) = held::load(&dir, kind, events, &config.vocabulary) {
                    tracing::warn!(
                        file = kind.spec().file_name,
                        "the file is still broken; writes go on from the copy held when it broke"
                    );
                    tables.insert(
                        kind,
                        crate::store::table::Loaded { data, lines: Vec::new(), fingerprint: (0, 0), widened: false },
                    );
                    held_kinds.push(kind);
                }
            }
        }

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
            if let Some(loaded) = tables.get(&kind)
                && !held_kinds.contains(&kind)
            {
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
            displaced: Mutex::new(Vec::new()),
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
        let widened: Vec<TableKind> = tables.iter().filter(|(_, l)| l.widened).map(|(k, _)| *k).collect();
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
            last_look_at_broken: Instant::now(),
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
        // A file that lacked a documented or declared column gets it written now.
        for kind in widened {
            if writer.tables.contains_key(&kind) && kind.spec().journaled {
                writer.dirty_since.insert(kind, Instant::now() - Duration::from_secs(3600));
            }
        }
        if !startup_events.is_empty() {
            let ids = writer.append_events(startup_events).map_err(std::io::Error::other)?;
            tracing::info!(count = ids.len(), "recorded start-up events");
        }
        thread::Builder::new().name("store-writer".into()).spawn(move || writer.run(rx))?;
        let to_writer = tx.clone();
        let watched = shared.clone();
        let watch = match watcher::watch(&dir, move |table| {
            // The server's own writes are recognised here, on the watcher's thread, so
            // the writer never reads a whole table file just to find it unchanged. A
            // table refused after a broken save goes to the writer all the same: its
            // file coming back exactly as it was ends the refusal.
            if !watched.file_is_as_known(table) || watched.rejected_message(table).is_some() {
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
        let events = format::parse(&events_bytes, "events.csv")
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
            replay::replay(&mut table, &journal::entries_after(&events, from), from);
        }
        Ok((as_of, Arc::new(table)))
    }
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
                // A broken file's table is still served (and written) from memory.
                let rows = if kind != TableKind::Events { self.table(kind).ok().map(|t| t.rows.len()) } else { None };
                let journal_readable = !rejected.contains_key(&TableKind::Events);
                TableStatus {
                    table: kind.name(),
                    file: kind.spec().file_name.to_string(),
                    rows,
                    readable: problems.is_empty(),
                    writable: journal_readable && (problems.is_empty() || rows.is_some()),
                    problems,
                    unfolded_changes: dirty.get(&kind).copied().unwrap_or(false),
                }
            })
            .collect()
    }

    fn stats(&self) -> &StoreStats {
        &self.shared.stats
    }

    /// Cheap for the writer, which only hands over its snapshots.
    fn consistent_state(&self) -> BoxFuture<'_, Result<ConsistentState, StoreError>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.send(Msg::Snapshot { reply })?;
            rx.await.map_err(|_| StoreError::Closed)
        })
    }

    fn backend(&self) -> Backend {
        let watching =
            self.shared.watching.load(Ordering::Acquire) && self.watch.lock().map(|w| w.is_some()).unwrap_or(false);
        Backend { kind: "csv", watching }
    }

    fn data_dir(&self) -> &Path {
        &self.shared.config.data_dir
    }

    fn changes_after(&self, after: u64) -> Result<PastChanges, StoreError> {
        Ok(events::changes_after(&*self.table(TableKind::Events)?, after))
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
