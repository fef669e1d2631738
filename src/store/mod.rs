//! The store: the only code that touches the data folder.
//!
//! It reads the CSV tables, commits changes durably (see [`csv::journal`] and
//! [`csv`]), keeps parsed tables in a cache it can drop at any moment, and
//! broadcasts every committed [`Change`] on the change feed. Everything above it talks
//! to the [`Storage`] trait, so a PostgreSQL backend can stand in later.

pub(crate) mod apply;
pub mod csv;
pub mod pg;
pub mod table;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::domain::{FieldError, TableKind, Vocabulary};

pub use csv::CsvStore;
pub use csv::format::{Problem, Row};
pub use csv::journal::NewEvent;
pub use pg::{PgSettings, PgStore};
pub use table::{Fields, TableData};

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Api,
    Ws,
    Telegram,
    Scheduler,
    /// The command line (`taskboard user ...`).
    Cli,
    File,
    /// The server itself (start-up replay, command-line tools).
    System,
}

impl Source {
    pub const ALL: [Source; 7] =
        [Source::Api, Source::Ws, Source::Telegram, Source::Scheduler, Source::Cli, Source::File, Source::System];

    /// The name in events.csv and on the feed.
    pub fn name(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Ws => "ws",
            Source::Telegram => "telegram",
            Source::Scheduler => "scheduler",
            Source::Cli => "cli",
            Source::File => "file",
            Source::System => "system",
        }
    }

    /// The source a name in events.csv stands for.
    pub fn parse(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    Create,
    Update,
    Delete,
}

impl ChangeOp {
    /// The verb in event types: `task.created`.
    pub fn past_tense(self) -> &'static str {
        match self {
            ChangeOp::Create => "created",
            ChangeOp::Update => "updated",
            ChangeOp::Delete => "deleted",
        }
    }
}

/// Who is changing something, and through which door.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub actor: Option<u64>,
    pub source: Source,
}

/// One committed change, as the change feed carries it.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub event_id: u64,
    pub table: TableKind,
    pub op: ChangeOp,
    pub id: u64,
    /// The whole record before (None for a create); secrets replaced by a marker.
    pub before: Option<Fields>,
    /// The whole record after (None for a delete); secrets replaced by a marker.
    pub after: Option<Fields>,
    pub actor: Option<u64>,
    pub source: Source,
    pub at: String,
    /// The record's ETag after the change, when known: a live change knows it, a
    /// change read back from the journal (which keeps only changed fields) does not.
    pub etag: Option<String>,
    /// Learnt from another server sharing the database (PostgreSQL), not made here.
    #[serde(skip)]
    pub remote: bool,
}

impl Serialize for TableKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A change asked of the store.
#[derive(Debug)]
pub enum Op {
    /// A new row. Tables keyed by `id` get the next id; others (credentials) name their key.
    /// A document's file comes as `attachment` and is placed in `docs/{id}/{filename}`
    /// within the same commit.
    Create {
        table: TableKind,
        fields: Fields,
        attachment: Option<StagedBlob>,
    },
    /// Changes only the named fields. `if_match` is the ETag the caller last saw.
    Update {
        table: TableKind,
        id: u64,
        fields: Fields,
        if_match: Option<String>,
    },
    Delete {
        table: TableKind,
        id: u64,
        if_match: Option<String>,
    },
}

impl Op {
    pub fn table(&self) -> TableKind {
        match self {
            Op::Create { table, .. } | Op::Update { table, .. } | Op::Delete { table, .. } => *table,
        }
    }
}

/// A document's content waiting for the commit that attaches it: for the CSV backend a
/// file written durably into `data/docs/.incoming/` (removed if dropped unplaced), for
/// PostgreSQL the bytes, written with the row in one transaction.
#[derive(Debug)]
pub struct StagedBlob {
    staged: Staged,
}

#[derive(Debug)]
enum Staged {
    File(PathBuf),
    Memory(bytes::Bytes),
}

impl StagedBlob {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { staged: Staged::File(path) }
    }
    pub(crate) fn in_memory(content: bytes::Bytes) -> Self {
        Self { staged: Staged::Memory(content) }
    }
    /// The staged file, for a blob staged on disk.
    pub(crate) fn path(&self) -> Option<&std::path::Path> {
        match &self.staged {
            Staged::File(path) => Some(path),
            Staged::Memory(_) => None,
        }
    }
    /// The content, for a blob staged in memory.
    pub(crate) fn bytes(&self) -> Option<&bytes::Bytes> {
        match &self.staged {
            Staged::File(_) => None,
            Staged::Memory(b) => Some(b),
        }
    }
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        if let Staged::File(path) = &self.staged {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What a commit did.
#[derive(Debug, Clone)]
pub struct Committed {
    pub id: u64,
    /// The record after the commit (None after a delete).
    pub record: Option<Fields>,
    pub etag: Option<String>,
    /// The change, or None when the update changed nothing.
    pub change: Option<Change>,
}

/// The store's errors, one variant per thing a caller does differently.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("{table} {id} does not exist", table = .table.spec().entity)]
    NotFound { table: TableKind, id: u64 },
    #[error("invalid field values")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Conflict(String),
    #[error("the record changed since it was read (ETag mismatch)")]
    PreconditionFailed,
    /// The table's file does not load; it is not written until it is fixed.
    #[error("{0}")]
    Unavailable(String),
    /// A disk error; the detail is in the log, never in a response.
    #[error("storage error")]
    Io,
    #[error("the store is shutting down")]
    Closed,
}

/// A table's state for `/api/health` and `check`.
#[derive(Debug, Clone, Serialize)]
pub struct TableStatus {
    pub table: &'static str,
    pub file: String,
    pub rows: Option<usize>,
    pub readable: bool,
    pub problems: Vec<String>,
    /// The file does not load but the table takes writes all the same (journal and
    /// memory) until the file is fixed: "a broken file stops nobody".
    pub writable: bool,
    /// Changes journaled in events.csv but not yet folded into the file.
    pub unfolded_changes: bool,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The storage contract every backend keeps.
pub trait Storage: Send + Sync + 'static {
    /// A snapshot of a whole table, for reading.
    fn table(&self, table: TableKind) -> Result<Arc<TableData>, StoreError>;
    /// Commits one change durably, then publishes it on the feed.
    fn commit(&self, op: Op, ctx: Context) -> BoxFuture<'_, Result<Committed, StoreError>>;
    /// Appends an event that is not a change of a record (a login, a job run...).
    fn record_event(&self, event: NewEvent) -> BoxFuture<'_, Result<u64, StoreError>>;
    /// The change feed.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change>;
    fn status(&self) -> Vec<TableStatus>;
    /// The newest event id given.
    fn last_event_id(&self) -> u64;
    /// Counters the store keeps about itself (metrics, health, benchmarks).
    fn stats(&self) -> &StoreStats;
    /// Every table as of one event, taken without holding writers up: what a backup
    /// writes.
    fn consistent_state(&self) -> BoxFuture<'_, Result<ConsistentState, StoreError>>;
    /// Which backend this is, and how it is doing.
    fn backend(&self) -> Backend;
    /// The folder of the files that are not tables (documents' content, reports, the
    /// job store) and, for the CSV backend, of the tables too.
    fn data_dir(&self) -> &std::path::Path;
    /// The record changes journaled after event `after`, oldest first, for a follower
    /// of the feed catching up (WebSocket `resume`). An update's `before` and `after`
    /// hold only the fields it changed.
    fn changes_after(&self, after: u64) -> Result<PastChanges, StoreError>;
    /// Writes a document's content durably, ready to be attached by a commit.
    fn stage_blob(&self, content: bytes::Bytes) -> BoxFuture<'_, Result<StagedBlob, StoreError>>;
    /// The content of document `id`, stored as `filename`.
    fn read_blob(&self, id: u64, filename: &str) -> BoxFuture<'_, Result<Vec<u8>, StoreError>>;
    /// A file of the data folder that is not a table (`jobs.csv`, `reports/...`).
    fn read_aux(&self, name: &str) -> Option<Vec<u8>>;
    /// Writes such a file durably.
    fn write_aux(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError>;
    /// Drops every cached table; the next reads rebuild them from the files.
    fn drop_cache(&self);
    /// Brings this server's tables up to the shared database's head before answering
    /// (read-your-writes behind a load balancer: a record another server just made).
    /// Nothing to do where this server is the only writer.
    fn catch_up(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    /// Finishes in-flight writes, folds everything into the files, and stops.
    fn shutdown(&self) -> BoxFuture<'_, ()>;

    // What servers sharing one store agree on. The CSV backend has one server per
    // folder (the folder's lock), so its answers are the trivial ones below.

    /// Changes an auxiliary file in one step that no other server can interleave with:
    /// `change` gets the file as it is (None when absent) and returns its new content,
    /// which is written and returned.
    fn update_aux(&self, name: &str, change: &mut dyn FnMut(Option<&[u8]>) -> Vec<u8>) -> Result<Vec<u8>, StoreError> {
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let new = change(self.read_aux(name).as_deref());
        self.write_aux(name, &new)?;
        Ok(new)
    }
    /// A number that changes whenever another server changes auxiliary file `name`: a
    /// reader that keeps the file parsed in memory reads it again when it moved.
    fn aux_generation(&self, _name: &str) -> u64 {
        0
    }
    /// Claims the run of `job` due at `due` (an RFC 3339 instant): true for exactly one
    /// of the servers sharing the store, so a scheduled run happens once.
    fn claim_run(&self, _job: &str, _due: &str) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async { Ok(true) })
    }
    /// Publishes this server's request counts (key → requests in its current
    /// minute) and answers the other servers' for the same keys and any others, so
    /// a rate limit holds across servers. Nothing to share on a folder.
    fn share_counts(&self, _mine: Vec<(String, u32)>) -> BoxFuture<'_, Result<Vec<(String, u32)>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Whether this server holds the lease `name` (taking it when it is free): one
    /// server at a time does what the lease guards (polling Telegram). A server that
    /// dies lets the lease go.
    fn hold_lease(&self, _name: &str) -> BoxFuture<'_, bool> {
        Box::pin(async { true })
    }
}

/// Figures the store keeps about itself, for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct StoreStats {
    pub batches: std::sync::atomic::AtomicU64,
    pub commits: std::sync::atomic::AtomicU64,
    pub fsync_micros_total: std::sync::atomic::AtomicU64,
    pub folds: std::sync::atomic::AtomicU64,
    pub cache_hits: std::sync::atomic::AtomicU64,
    pub cache_misses: std::sync::atomic::AtomicU64,
}

/// Which backend serves the tables.
#[derive(Debug, Clone, Copy)]
pub struct Backend {
    /// `csv` or `postgresql`.
    pub kind: &'static str,
    /// Whether edits made outside the server (a person's save) are being followed.
    pub watching: bool,
}

/// Every table as of one event, and how much of the journal holds that event and
/// those before it (for the CSV backend, bytes of events.csv).
pub struct ConsistentState {
    pub tables: Vec<Arc<TableData>>,
    pub events_len: u64,
    pub last_event_id: u64,
    /// The event log itself, for a backend whose journal is not events.csv (the CSV
    /// backend leaves it None: `events_len` bytes of events.csv are the log).
    pub events: Option<Arc<TableData>>,
    /// The files beside the tables (documents, reports) by their path under `data/`,
    /// for a backend that keeps them outside the data folder; None for the CSV one.
    pub files: Option<Vec<(String, Vec<u8>)>>,
}

/// The changes after an event id, as far back as the store still has them.
#[derive(Debug, Default)]
pub struct PastChanges {
    pub changes: Vec<Change>,
    /// The oldest event still held, when events before the one asked for are gone
    /// (archived): the follower missed those.
    pub oldest_held: Option<u64>,
    /// The newest event looked at (record changes or not).
    pub last_event_id: u64,
}

/// What the CSV store needs to know from the configuration.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub cache_enabled: bool,
    pub cache_ttl: Duration,
    /// events.csv is archived past this size.
    pub events_max_bytes: u64,
    pub vocabulary: Vocabulary,
    /// How long a change may wait in the journal before its table file is rewritten.
    pub fold_delay: Duration,
    /// Called by a fold between its check of the file and its swap, with the file's
    /// path: tests put a person's save exactly into that window. None in the server.
    pub before_swap: Option<SwapHook>,
}

/// See [`StoreConfig::before_swap`].
#[derive(Clone)]
pub struct SwapHook(pub Arc<dyn Fn(&std::path::Path) + Send + Sync>);

impl fmt::Debug for SwapHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SwapHook")
    }
}

impl StoreConfig {
    /// The store's settings from the configuration file's sections.
    pub fn from_config(config: &crate::config::Config) -> StoreConfig {
        let mut c = StoreConfig::new(config.storage.data_dir.clone());
        c.cache_enabled = config.performance.cache_enabled;
        c.cache_ttl = std::time::Duration::from_secs(config.performance.cache_ttl_seconds.max(1));
        c.events_max_bytes = config.performance.max_file_size_mb * 1024 * 1024;
        c.vocabulary = crate::domain::Vocabulary {
            statuses: config.tasks.statuses.clone(),
            done_statuses: config.tasks.workflow.of_kind(crate::domain::workflow::StatusKind::Done),
            // Checked when the configuration was read.
            task_fields: crate::domain::fields::declare(&config.tasks.fields).unwrap_or_default(),
        };
        c
    }

    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            cache_enabled: true,
            cache_ttl: Duration::from_secs(300),
            events_max_bytes: 10 * 1024 * 1024,
            vocabulary: Vocabulary::default(),
            fold_delay: Duration::from_millis(500),
            before_swap: None,
        }
    }
}

/// A record's ETag: a fingerprint of its row.
pub fn etag_of(row: &Row) -> String {
    format!("\"{:016x}\"", row.hash())
}
