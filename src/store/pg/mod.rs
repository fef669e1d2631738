//! The PostgreSQL backend of [`Storage`]: the same tables, journal and feed as the CSV
//! folder, in a database that several servers share.
//!
//! Each server keeps every table in memory as the CSV backend does, and applies a
//! change with the same code (`store::apply`). A commit batch is one transaction that
//! first locks `taskboard_head` (so commits of all servers take turns), catches up on
//! what other servers committed since, applies the batch, writes the changed rows,
//! the events and the new head, and NOTIFYs; it is acknowledged after COMMIT. The
//! events table is the truth another server follows: a notification only says "look",
//! and a missed one is caught up by event id (`follow.rs` also looks every second).
//!
//! The rooms: this file holds the handle and the `Storage` impl; `writer.rs` the one
//! task that commits and catches up; `follow.rs` LISTEN and the health check;
//! `load.rs` the schema and reading the tables; `migrate.rs` copying a CSV folder in
//! and out.
//!
//! The store runs on a runtime of its own (one thread, in `open`), so that a caller on
//! any runtime, or on none, can wait for it without starving it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgPool, Row as _};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::domain::TableKind;

use super::table::TableData;
use super::{
    Backend, BoxFuture, Change, Committed, ConsistentState, Context, NewEvent, Op, PastChanges, StagedBlob, Storage,
    StoreConfig, StoreError, StoreStats, TableStatus,
};

mod coordination;
mod follow;
pub(crate) mod load;
pub mod migrate;
mod writer;

/// The NOTIFY channel every server listens on.
const CHANNEL: &str = "taskboard";

/// How to reach the database.
#[derive(Clone)]
pub struct PgSettings {
    pub url: String,
    pub max_connections: u32,
}

impl PgSettings {
    pub fn from_config(config: &crate::config::Config) -> PgSettings {
        PgSettings {
            url: config.db_postgresql.url.expose().to_string(),
            max_connections: config.db_postgresql.max_connections.max(2),
        }
    }

    /// The connection options, with a statement timeout so that a query never hangs
    /// on a database that stopped answering.
    pub fn options(&self) -> Result<PgConnectOptions, String> {
        if self.url.trim().is_empty() {
            return Err(
                "db_postgresql.enabled is true but db_postgresql.url (or DATABASE_URL) names no database".into()
            );
        }
        if !(self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")) {
            return Err(
                "db_postgresql.url is not a PostgreSQL URL: it must start with postgres:// or postgresql://".into()
            );
        }
        let options: PgConnectOptions =
            self.url.parse().map_err(|e| format!("db_postgresql.url is not a PostgreSQL URL: {}", blank_url(e)))?;
        Ok(options.application_name("taskboard").options([("statement_timeout", "15000")]))
    }

    /// A pool on this database (connects lazily; the first query says whether it works).
    pub(crate) fn pool(&self) -> Result<PgPool, String> {
        Ok(PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(self.options()?))
    }
}

/// What `taskboard doctor` says of the database: reachable or not, its version, and
/// how far taskboard's schema and journal are in it.
pub async fn probe(settings: &PgSettings) -> Result<String, String> {
    let options = settings.options()?;
    let mut conn = tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect_with(&options))
        .await
        .map_err(|_| "no answer within 5 seconds".to_string())?
        .map_err(blank_url)?;
    let version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&mut conn).await.map_err(blank_url)?;
    let head: Option<i64> = sqlx::query_scalar("SELECT last_event_id FROM taskboard_head WHERE one = 1")
        .fetch_optional(&mut conn)
        .await
        .unwrap_or(None);
    let _ = sqlx::Connection::close(conn).await;
    Ok(match head {
        Some(id) => format!("PostgreSQL {version} answers; taskboard's tables are there (journal at event {id})"),
        None => format!("PostgreSQL {version} answers; the server creates taskboard's tables at its first start"),
    })
}

/// An error of the database as a caller sees it: a 503 saying the database did not
/// answer (the detail goes to the log, with no password in it).
pub(crate) fn unavailable(e: &sqlx::Error) -> StoreError {
    tracing::error!(error = %blank_url(e), "a database call failed");
    StoreError::Unavailable("the database is not answering; try again shortly".into())
}

/// An error's text without anything that looks like a URL's password.
pub(crate) fn blank_url(e: impl std::fmt::Display) -> String {
    let text = e.to_string();
    match (text.find("://"), text.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://[hidden]{}", &text[..scheme], &text[at..]),
        _ => text,
    }
}

/// State shared by the handle, the writer and the follower.
struct Shared {
    config: StoreConfig,
    /// Every table (the event log included) as of `last_event_id`.
    tables: RwLock<HashMap<TableKind, Arc<TableData>>>,
    feed: broadcast::Sender<Change>,
    last_event_id: AtomicU64,
    /// Why the database is unreachable, while it is.
    down: RwLock<Option<String>>,
    /// Bumped when another server changes an auxiliary file (`aux_generation`).
    aux_generations: Mutex<HashMap<String, u64>>,
    stats: StoreStats,
    /// This server's name in notifications and job claims (its own are skipped).
    server_id: String,
    closed: AtomicBool,
}

impl Shared {
    fn set_down(&self, why: Option<String>) {
        if let Ok(mut down) = self.down.write() {
            match (&*down, &why) {
                (None, Some(w)) => tracing::error!(reason = %w, "the database is unreachable; requests answer 503"),
                (Some(_), None) => tracing::info!("the database answers again"),
                _ => {}
            }
            *down = why;
        }
    }

    fn down_message(&self) -> Option<String> {
        self.down.read().ok().and_then(|d| d.clone())
    }

    fn bump_aux(&self, name: &str) {
        if let Ok(mut g) = self.aux_generations.lock() {
            *g.entry(name.to_string()).or_default() += 1;
        }
    }
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
    /// Another server committed (or may have): read the events after ours.
    CatchUp,
    /// A request is about to answer from what this server has: catch up, then say so.
    CatchUpThen {
        reply: oneshot::Sender<()>,
    },
    Snapshot {
        reply: oneshot::Sender<Result<ConsistentState, StoreError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A held lease: the connection whose session holds its advisory lock, and when it
/// last answered.
pub(crate) type Lease = (sqlx::PgConnection, std::time::Instant);

/// A cheap-to-clone handle on the PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Msg>,
    pool: PgPool,
    runtime: tokio::runtime::Handle,
    /// Connections holding a lease (a session advisory lock), by lease name.
    leases: Arc<tokio::sync::Mutex<HashMap<String, Lease>>>,
    /// The store's own thread, ended by `shutdown`.
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl PgStore {
    /// Connects, applies the migrations, reads every table and starts the writer and
    /// the follower on the store's own thread. Blocks until the store serves or fails.
    pub fn open(config: StoreConfig, settings: PgSettings) -> Result<PgStore, String> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<PgStore, String>>();
        let thread = std::thread::Builder::new()
            .name("taskboard-pg".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("taskboard-pg")
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot start the database runtime: {e}")));
                        return;
                    }
                };
                let started = runtime.block_on(start(config, settings, runtime.handle().clone()));
                let (store, writer) = match started {
                    Ok(pair) => pair,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(store));
                runtime.block_on(writer.run());
                runtime.shutdown_timeout(Duration::from_secs(5));
            })
            .map_err(|e| format!("cannot start the database thread: {e}"))?;
        let store = ready_rx.recv().map_err(|_| "the database thread stopped while starting".to_string())??;
        if let Ok(mut t) = store.thread.lock() {
            *t = Some(thread);
        }
        Ok(store)
    }

    /// Runs `work` on the store's runtime and waits for it from any thread.
    fn block<T: Send + 'static>(&self, work: impl std::future::Future<Output = T> + Send + 'static) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv().ok()
    }

    fn send(&self, msg: Msg) -> Result<(), StoreError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        self.tx.send(msg).map_err(|_| StoreError::Closed)
    }

    /// Runs a database call on the store's runtime; its error becomes a 503.
    fn on_runtime<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T, sqlx::Error>> + Send + 'static,
    ) -> BoxFuture<'_, Result<T, StoreError>> {
        let (tx, rx) = oneshot::channel();
        self.runtime.spawn(async move {
            let _ = tx.send(work.await);
        });
        Box::pin(async move { rx.await.map_err(|_| StoreError::Closed)?.map_err(|e| unavailable(&e)) })
    }

    /// The database's own answer to "are you there", for `taskboard doctor` and tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Connects, migrates, loads; returns the handle and the writer to run.
async fn start(
    config: StoreConfig,
    settings: PgSettings,
    runtime: tokio::runtime::Handle,
) -> Result<(PgStore, writer::Writer), String> {
    let pool = settings.pool()?;
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| format!("cannot connect to the database (db_postgresql.url): {}", blank_url(e)))?;
    load::migrate(&pool).await?;
    let loaded = load::load_all(&mut conn, &config.vocabulary)
        .await
        .map_err(|e| format!("cannot read the tables from the database: {}", blank_url(e)))?;
    // Record the columns of tables that gained a declared custom field.
    for kind in &loaded.unrecorded {
        if let Some(table) = loaded.tables.get(kind) {
            load::save_layout(&mut conn, table).await.map_err(blank_url)?;
        }
    }
    drop(conn);
    let (feed, _) = broadcast::channel(4096);
    let mut id = [0u8; 6];
    let _ = getrandom::fill(&mut id);
    let shared = Arc::new(Shared {
        config,
        tables: RwLock::new(loaded.tables.clone()),
        feed,
        last_event_id: AtomicU64::new(loaded.last_event_id),
        down: RwLock::new(None),
        aux_generations: Mutex::new(HashMap::new()),
        stats: StoreStats::default(),
        server_id: crate::domain::values::hex(&id),
        closed: AtomicBool::new(false),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = writer::Writer::new(shared.clone(), pool.clone(), rx, loaded);
    runtime.spawn(follow::follow(shared.clone(), pool.clone(), tx.clone()));
    let store = PgStore {
        shared,
        tx,
        pool,
        runtime,
        leases: Arc::new(tokio::sync::Mutex::new(HashMap::new())),
        thread: Arc::new(Mutex::new(None)),
    };
    Ok((store, writer))
}

impl Storage for PgStore {
    fn table(&self, kind: TableKind) -> Result<Arc<TableData>, StoreError> {
        if let Some(why) = self.shared.down_message() {
            return Err(StoreError::Unavailable(why));
        }
        self.shared.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
        self.shared
            .tables
            .read()
            .ok()
            .and_then(|t| t.get(&kind).cloned())
            .ok_or_else(|| StoreError::Unavailable(format!("{} is not loaded", kind.name())))
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
        let down = self.shared.down_message();
        let tables = self.shared.tables.read().map(|t| t.clone()).unwrap_or_default();
        TableKind::ALL
            .into_iter()
            .map(|kind| TableStatus {
                table: kind.name(),
                file: format!("postgresql table {}", load::sql_name(kind)),
                rows: if kind == TableKind::Events { None } else { tables.get(&kind).map(|t| t.rows.len()) },
                readable: down.is_none(),
                writable: down.is_none(),
                problems: down.iter().cloned().collect(),
                unfolded_changes: false,
            })
            .collect()
    }

    fn last_event_id(&self) -> u64 {
        self.shared.last_event_id.load(Ordering::Acquire)
    }

    fn stats(&self) -> &StoreStats {
        &self.shared.stats
    }

    fn consistent_state(&self) -> BoxFuture<'_, Result<ConsistentState, StoreError>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.send(Msg::Snapshot { reply })?;
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn backend(&self) -> Backend {
        Backend { kind: "postgresql", watching: false }
    }

    fn data_dir(&self) -> &Path {
        &self.shared.config.data_dir
    }

    fn changes_after(&self, after: u64) -> Result<PastChanges, StoreError> {
        let events = self.table(TableKind::Events)?;
        Ok(super::csv::events::changes_after(&events, after))
    }

    /// Kept in memory until the commit writes it into the database with its row.
    fn stage_blob(&self, content: bytes::Bytes) -> BoxFuture<'_, Result<StagedBlob, StoreError>> {
        Box::pin(async move { Ok(StagedBlob::in_memory(content)) })
    }

    fn read_blob(&self, id: u64, filename: &str) -> BoxFuture<'_, Result<Vec<u8>, StoreError>> {
        let (pool, filename) = (self.pool.clone(), filename.to_string());
        let found = self.on_runtime(async move {
            let row = sqlx::query("SELECT filename, content FROM taskboard_blobs WHERE doc_id = $1")
                .bind(id as i64)
                .fetch_optional(&pool)
                .await?;
            Ok(row.map(|r| (r.get::<String, _>(0), r.get::<Vec<u8>, _>(1))))
        });
        Box::pin(async move {
            match found.await? {
                Some((stored, content)) if stored == filename => Ok(content),
                _ => Err(StoreError::NotFound { table: TableKind::Docs, id }),
            }
        })
    }

    fn read_aux(&self, name: &str) -> Option<Vec<u8>> {
        let pool = self.pool.clone();
        let name = name.to_string();
        self.block(async move {
            sqlx::query_scalar::<_, Option<Vec<u8>>>("SELECT content FROM taskboard_aux WHERE name = $1")
                .bind(name)
                .fetch_optional(&pool)
                .await
        })
        .and_then(|r| r.map_err(|e| unavailable(&e)).ok())
        .flatten()
        .flatten()
    }

    fn write_aux(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        let (name, bytes, server) = (name.to_string(), bytes.to_vec(), self.shared.server_id.clone());
        self.block(async move {
            let mut tx = pool.begin().await?;
            coordination::write_aux_in(&mut tx, &name, &bytes, &server).await?;
            tx.commit().await
        })
        .ok_or(StoreError::Closed)?
        .map_err(|e| unavailable(&e))
    }

    fn update_aux(&self, name: &str, change: &mut dyn FnMut(Option<&[u8]>) -> Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let pool = self.pool.clone();
        let owned = name.to_string();
        // The row is made if missing, then locked: servers changing the same file
        // take turns, each starting from what the previous one wrote.
        let (tx, old) = self
            .block(async move {
                let mut tx = pool.begin().await?;
                sqlx::query("INSERT INTO taskboard_aux (name, content) VALUES ($1, NULL) ON CONFLICT DO NOTHING")
                    .bind(&owned)
                    .execute(&mut *tx)
                    .await?;
                let old: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT content FROM taskboard_aux WHERE name = $1 FOR UPDATE")
                        .bind(&owned)
                        .fetch_one(&mut *tx)
                        .await?;
                Ok::<_, sqlx::Error>((tx, old))
            })
            .ok_or(StoreError::Closed)?
            .map_err(|e| unavailable(&e))?;
        let new = change(old.as_deref());
        let (owned, bytes, server) = (name.to_string(), new.clone(), self.shared.server_id.clone());
        self.block(async move {
            let mut tx = tx;
            coordination::write_aux_in(&mut tx, &owned, &bytes, &server).await?;
            tx.commit().await
        })
        .ok_or(StoreError::Closed)?
        .map_err(|e| unavailable(&e))?;
        Ok(new)
    }

    fn aux_generation(&self, name: &str) -> u64 {
        // "*" moves when notifications were missed (the listener reconnected): every
        // file may have changed then.
        let generations = self.shared.aux_generations.lock();
        generations.map(|g| g.get(name).copied().unwrap_or(0) + g.get("*").copied().unwrap_or(0)).unwrap_or(0)
    }

    fn claim_run(&self, job: &str, due: &str) -> BoxFuture<'_, Result<bool, StoreError>> {
        let (pool, server) = (self.pool.clone(), self.shared.server_id.clone());
        let (job, due) = (job.to_string(), due.to_string());
        self.on_runtime(async move { coordination::claim(&pool, &job, &due, &server).await })
    }

    fn share_counts(&self, mine: Vec<(String, u32)>) -> BoxFuture<'_, Result<Vec<(String, u32)>, StoreError>> {
        let (pool, server) = (self.pool.clone(), self.shared.server_id.clone());
        self.on_runtime(async move { coordination::share_counts(&pool, &server, mine).await })
    }

    fn hold_lease(&self, name: &str) -> BoxFuture<'_, bool> {
        let (pool, leases, name) = (self.pool.clone(), self.leases.clone(), name.to_string());
        let held = self.on_runtime(async move { Ok(coordination::hold_lease(&pool, &leases, name).await) });
        Box::pin(async move { held.await.unwrap_or(false) })
    }

    fn drop_cache(&self) {
        let _ = self.tx.send(Msg::CatchUp);
    }

    fn catch_up(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            if self.send(Msg::CatchUpThen { reply }).is_ok() {
                // Bounded: a database that does not answer makes the request answer
                // from what this server has (or 503), not hang.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(3), rx).await;
            }
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Leases first, so another server takes over at once: closing the
            // connection ends its advisory lock.
            let (leases, (done, released)) = (self.leases.clone(), oneshot::channel::<()>());
            self.runtime.spawn(async move {
                for (_, (conn, _)) in leases.lock().await.drain() {
                    let _ = sqlx::Connection::close(conn).await;
                }
                let _ = done.send(());
            });
            let _ = released.await;
            let (reply, rx) = oneshot::channel();
            if self.send(Msg::Shutdown { reply }).is_ok() {
                let _ = rx.await;
            }
            self.shared.closed.store(true, Ordering::Release);
            let pool = self.pool.clone();
            self.runtime.spawn(async move { pool.close().await });
        })
    }
}
