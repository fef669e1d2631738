//! The one task that changes this server's tables: it commits batches (one
//! transaction each, behind the lock on `taskboard_head`) and catches up on what other
//! servers committed, in event id order, so the feed carries every change once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use sqlx::{PgConnection, PgPool, Row as _};
use tokio::sync::{mpsc, oneshot};

use crate::domain::TableKind;
use crate::domain::values::now_timestamp;
use crate::store::apply::{self, redact};
use crate::store::csv::events::{event_change_of, event_fields};
use crate::store::table::{Fields, TableData};
use crate::store::{Change, ChangeOp, Committed, ConsistentState, NewEvent, StoreError, etag_of};

use super::load::{self, fields_json, parse_fields, sql_name, statement};
use super::{CHANNEL, Msg, Shared, unavailable};

/// Commits gathered into one transaction at most.
const MAX_BATCH: usize = 1024;

pub(super) struct Writer {
    shared: Arc<Shared>,
    pool: PgPool,
    rx: mpsc::UnboundedReceiver<Msg>,
    /// This server's tables, the event log included, as of `last_id`.
    tables: HashMap<TableKind, Arc<TableData>>,
    last_id: u64,
}

/// One event of a batch, with what the database needs to store it.
struct Journaled {
    id: u64,
    event: NewEvent,
    /// A changed record's whole row after the change, for the other servers.
    row_after: Option<String>,
}

enum Reply {
    Commit(oneshot::Sender<Result<Committed, StoreError>>, Box<Result<Committed, StoreError>>),
    Event(oneshot::Sender<Result<u64, StoreError>>, u64),
}

impl Writer {
    pub(super) fn new(
        shared: Arc<Shared>,
        pool: PgPool,
        rx: mpsc::UnboundedReceiver<Msg>,
        loaded: load::Loaded,
    ) -> Writer {
        Writer { shared, pool, rx, tables: loaded.tables, last_id: loaded.last_event_id }
    }

    pub(super) async fn run(mut self) {
        while let Some(first) = self.rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            let (mut work, mut catch_up, mut snapshots, mut shutdown) = (Vec::new(), false, Vec::new(), None);
            let mut waiting = Vec::new();
            for m in batch {
                match m {
                    Msg::Commit { .. } | Msg::Event { .. } => work.push(m),
                    Msg::CatchUp => catch_up = true,
                    Msg::CatchUpThen { reply } => {
                        catch_up = true;
                        waiting.push(reply);
                    }
                    Msg::Snapshot { reply } => snapshots.push(reply),
                    Msg::Shutdown { reply } => shutdown = Some(reply),
                }
            }
            // A batch catches up with the head before it commits.
            if !work.is_empty() {
                self.commit_batch(work).await;
            } else if catch_up {
                self.catch_up_now().await;
            }
            for reply in waiting {
                let _ = reply.send(());
            }
            for reply in snapshots {
                let _ = reply.send(self.snapshot().await);
            }
            if let Some(reply) = shutdown {
                // Anything still queued is committed before stopping.
                let mut rest = Vec::new();
                while let Ok(m) = self.rx.try_recv() {
                    if matches!(m, Msg::Commit { .. } | Msg::Event { .. }) {
                        rest.push(m);
                    }
                }
                if !rest.is_empty() {
                    self.commit_batch(rest).await;
                }
                self.shared.closed.store(true, Ordering::Release);
                let _ = reply.send(());
                return;
            }
        }
    }

    async fn catch_up_now(&mut self) {
        let result = match self.pool.acquire().await {
            Ok(mut conn) => self.catch_up(&mut conn).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(error = %super::blank_url(&e), "could not catch up with the database; trying again soon");
        }
    }

    /// Commits `work` in one transaction and answers each caller.
    async fn commit_batch(&mut self, work: Vec<Msg>) {
        if let Some(why) = self.shared.down_message() {
            for m in work {
                fail(m, StoreError::Unavailable(why.clone()));
            }
            return;
        }
        let mut tx = match self.pool.begin().await {
            Ok(tx) => tx,
            Err(e) => {
                let error = unavailable(&e);
                work.into_iter().for_each(|m| fail(m, error.clone()));
                return;
            }
        };
        // Commits of every server take turns here, and each starts from what the
        // previous one left.
        let head = sqlx::query_scalar::<_, i64>("SELECT last_event_id FROM taskboard_head WHERE one = 1 FOR UPDATE")
            .fetch_one(&mut *tx)
            .await;
        let caught_up = match head {
            Ok(head) if head as u64 > self.last_id => self.catch_up(&mut tx).await,
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = caught_up {
            let error = unavailable(&e);
            work.into_iter().for_each(|m| fail(m, error.clone()));
            return;
        }
        let before_tables = self.tables.clone();
        let before_last = self.last_id;
        let now = now_timestamp();
        let vocabulary = self.shared.config.vocabulary.clone();
        let mut replies = Vec::new();
        let mut journaled: Vec<Journaled> = Vec::new();
        let mut touched: BTreeSet<(TableKind, u64)> = BTreeSet::new();
        let mut blobs: Vec<(u64, String, bytes::Bytes)> = Vec::new();
        let mut blob_deletes: Vec<i64> = Vec::new();
        for m in work {
            match m {
                Msg::Commit { op, ctx, reply } => {
                    let mut place = |id: u64, full: &Fields, staged: &crate::store::StagedBlob| {
                        let content = staged.bytes().ok_or(StoreError::Io)?;
                        let filename = full.get("filename").cloned().unwrap_or_default();
                        blobs.push((id, filename, content.clone()));
                        Ok(())
                    };
                    let result =
                        apply::apply(&mut self.tables, op, ctx, &now, &vocabulary, self.last_id + 1, &mut place);
                    let result = result.map(|applied| {
                        if let (Some(change), Some(event)) = (&applied.committed.change, applied.event) {
                            self.last_id += 1;
                            touched.insert((change.table, change.id));
                            let row_after = applied
                                .committed
                                .record
                                .as_ref()
                                .filter(|_| change.table.spec().journaled)
                                .map(|f| serde_json::to_string(f).unwrap_or_default());
                            journaled.push(Journaled { id: change.event_id, event, row_after });
                        }
                        if let Some(id) = applied.deleted_doc {
                            blob_deletes.push(id as i64);
                        }
                        applied.committed
                    });
                    replies.push(Reply::Commit(reply, Box::new(result)));
                }
                Msg::Event { event, reply } => {
                    self.last_id += 1;
                    journaled.push(Journaled { id: self.last_id, event, row_after: None });
                    replies.push(Reply::Event(reply, self.last_id));
                }
                _ => {}
            }
        }
        let started = Instant::now();
        let written = async {
            self.write(&mut tx, &touched, &journaled, &blobs, &blob_deletes).await?;
            tx.commit().await
        }
        .await;
        let elapsed = started.elapsed();
        if let Err(e) = written {
            let error = unavailable(&e);
            tracing::error!("a commit batch was not written; nothing of it was acknowledged");
            self.tables = before_tables;
            self.last_id = before_last;
            for r in replies {
                match r {
                    Reply::Commit(reply, result) => {
                        let _ = reply.send(result.and(Err(error.clone())));
                    }
                    Reply::Event(reply, _) => {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
            return;
        }
        self.shared.stats.fsync_micros_total.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        self.shared.stats.batches.fetch_add(1, Ordering::Relaxed);
        metrics::histogram!("taskboard_fsync_seconds").record(elapsed.as_secs_f64());
        metrics::histogram!("taskboard_commit_batch_size").record(journaled.len() as f64);
        // The event log in memory, then every snapshot, then the feed and the callers.
        let mut event_changes = HashMap::new();
        {
            let events = Arc::make_mut(self.tables.entry(TableKind::Events).or_insert_with(|| {
                Arc::new(load::empty_table(TableKind::Events, None, &self.shared.config.vocabulary))
            }));
            for j in &journaled {
                let fields = event_fields(j.id, &j.event);
                events.rows.insert(j.id, Arc::new(events.row_from_fields(&fields)));
                events.max_id = events.max_id.max(j.id);
                event_changes.insert(j.id, fields);
            }
        }
        let mut kinds: BTreeSet<TableKind> = touched.iter().map(|(k, _)| *k).collect();
        kinds.insert(TableKind::Events);
        self.publish(&kinds);
        for r in replies {
            match r {
                Reply::Commit(reply, result) => {
                    let result = *result;
                    if let Ok(c) = &result {
                        self.shared.stats.commits.fetch_add(1, Ordering::Relaxed);
                        if let Some(change) = &c.change {
                            let _ = self.shared.feed.send(change.clone());
                        }
                    }
                    let _ = reply.send(result);
                }
                Reply::Event(reply, id) => {
                    if let Some(fields) = event_changes.remove(&id) {
                        let _ = self.shared.feed.send(event_change_of(fields));
                    }
                    let _ = reply.send(Ok(id));
                }
            }
        }
    }

    /// Writes the batch's rows, events, documents and the new head, and notifies.
    async fn write(
        &self,
        tx: &mut PgConnection,
        touched: &BTreeSet<(TableKind, u64)>,
        journaled: &[Journaled],
        blobs: &[(u64, String, bytes::Bytes)],
        blob_deletes: &[i64],
    ) -> Result<(), sqlx::Error> {
        // A record changed twice in the batch is written once, as it ended.
        let mut upserts: BTreeMap<TableKind, (Vec<i64>, Vec<String>)> = BTreeMap::new();
        let mut deletes: BTreeMap<TableKind, Vec<i64>> = BTreeMap::new();
        for (kind, id) in touched {
            let Some(table) = self.tables.get(kind) else { continue };
            match table.get(*id) {
                Some(row) => {
                    let entry = upserts.entry(*kind).or_default();
                    entry.0.push(*id as i64);
                    entry.1.push(fields_json(table, row));
                }
                None => deletes.entry(*kind).or_default().push(*id as i64),
            }
        }
        if !blob_deletes.is_empty() {
            sqlx::query("DELETE FROM taskboard_blobs WHERE doc_id = ANY($1)")
                .bind(blob_deletes)
                .execute(&mut *tx)
                .await?;
        }
        for (id, filename, content) in blobs {
            sqlx::query(
                "INSERT INTO taskboard_blobs (doc_id, filename, content) VALUES ($1, $2, $3) \
                 ON CONFLICT (doc_id) DO UPDATE SET filename = EXCLUDED.filename, content = EXCLUDED.content",
            )
            .bind(*id as i64)
            .bind(filename)
            .bind(content.as_ref())
            .execute(&mut *tx)
            .await?;
        }
        if journaled.is_empty() {
            return Ok(());
        }
        // The rows, the events, the head and the notification in one statement (one
        // round trip): each part a data-modifying CTE, numbered parameters in order.
        let mut parts = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        for kind in deletes.keys() {
            parts.push(format!("d_{0} AS (DELETE FROM {0} WHERE id = ANY(${1}))", sql_name(*kind), next()));
        }
        for kind in upserts.keys() {
            let (a, b) = (next(), next());
            parts.push(format!(
                "u_{0} AS (INSERT INTO {0} (id, fields) SELECT u.id, u.f::jsonb FROM UNNEST(${a}::int8[], ${b}::text[]) \
                 AS u(id, f) ON CONFLICT (id) DO UPDATE SET fields = EXCLUDED.fields)",
                sql_name(*kind)
            ));
        }
        let (a, b, c, head, channel, payload) = (next(), next(), next(), next(), next(), next());
        parts.push(format!(
            "ev AS (INSERT INTO events (id, fields, row_after) SELECT u.id, u.f::jsonb, u.r::jsonb \
             FROM UNNEST(${a}::int8[], ${b}::text[], ${c}::text[]) AS u(id, f, r))"
        ));
        parts.push(format!("hd AS (UPDATE taskboard_head SET last_event_id = ${head} WHERE one = 1)"));
        let sql = format!("WITH {} SELECT pg_notify(${channel}, ${payload})", parts.join(", "));
        let mut query = sqlx::query(statement(sql));
        for ids in deletes.values() {
            query = query.bind(ids);
        }
        for (ids, fields) in upserts.values() {
            query = query.bind(ids).bind(fields);
        }
        let ids: Vec<i64> = journaled.iter().map(|j| j.id as i64).collect();
        let fields: Vec<String> = journaled
            .iter()
            .map(|j| serde_json::to_string(&event_fields(j.id, &j.event)).unwrap_or_default())
            .collect();
        let rows: Vec<Option<String>> = journaled.iter().map(|j| j.row_after.clone()).collect();
        // Delivered at COMMIT, to every server listening.
        query
            .bind(ids)
            .bind(fields)
            .bind(rows)
            .bind(self.last_id as i64)
            .bind(CHANNEL)
            .bind(format!("e:{}:{}", self.shared.server_id, self.last_id))
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Reads the events after ours (other servers' commits), applies them to the
    /// tables in order and puts them on the feed.
    async fn catch_up(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let rows = sqlx::query("SELECT id, fields::text, row_after::text FROM events WHERE id > $1 ORDER BY id")
            .bind(self.last_id as i64)
            .fetch_all(&mut *conn)
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut changes = Vec::with_capacity(rows.len());
        let mut kinds = BTreeSet::from([TableKind::Events]);
        for row in rows {
            let event_id = row.try_get::<i64, _>(0)? as u64;
            let fields = parse_fields(&row.try_get::<String, _>(1)?);
            let row_after: Option<String> = row.try_get(2)?;
            if let Some(events) = self.tables.get_mut(&TableKind::Events).map(Arc::make_mut) {
                events.rows.insert(event_id, Arc::new(events.row_from_fields(&fields)));
                events.max_id = events.max_id.max(event_id);
            }
            let change = match record_change_of(&fields) {
                Some((kind, op, id)) => {
                    let after = match op {
                        ChangeOp::Delete => None,
                        _ if kind.spec().journaled => row_after.as_deref().map(parse_fields),
                        // Tables with secrets keep no row in the journal: read it.
                        _ => sqlx::query_scalar::<_, String>(statement(format!(
                            "SELECT fields::text FROM {} WHERE id = $1",
                            sql_name(kind)
                        )))
                        .bind(id as i64)
                        .fetch_optional(&mut *conn)
                        .await?
                        .map(|f| parse_fields(&f)),
                    };
                    kinds.insert(kind);
                    let Some(table) = self.tables.get_mut(&kind).map(Arc::make_mut) else { continue };
                    let before = table.get(id).map(|r| table.fields(r));
                    match &after {
                        Some(f) => {
                            let row = table.row_from_fields(f);
                            table.rows.insert(id, Arc::new(row));
                            table.max_id = table.max_id.max(id);
                        }
                        None => {
                            table.rows.remove(&id);
                        }
                    }
                    let cell = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
                    Change {
                        event_id,
                        table: kind,
                        op,
                        id,
                        before: before.map(|f| redact(kind, f)),
                        after: after.map(|f| redact(kind, table.fields(&table.row_from_fields(&f)))),
                        actor: cell("user_id").parse().ok(),
                        source: crate::store::Source::parse(cell("source")).unwrap_or(crate::store::Source::Api),
                        at: cell("created_at").to_string(),
                        etag: table.get(id).map(|r| etag_of(r)),
                        remote: true,
                    }
                }
                None => Change { remote: true, ..event_change_of(fields) },
            };
            self.last_id = self.last_id.max(event_id);
            changes.push(change);
        }
        self.publish(&kinds);
        for change in changes {
            let _ = self.shared.feed.send(change);
        }
        Ok(())
    }

    /// Hands the new snapshots of `kinds` to readers, with the event id they are at.
    fn publish(&self, kinds: &BTreeSet<TableKind>) {
        if let Ok(mut tables) = self.shared.tables.write() {
            for kind in kinds {
                if let Some(t) = self.tables.get(kind) {
                    tables.insert(*kind, t.clone());
                }
            }
        }
        self.shared.last_event_id.store(self.last_id, Ordering::Release);
    }

    /// Every table as of one event, with the documents and the files beside them.
    async fn snapshot(&mut self) -> Result<ConsistentState, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(|e| unavailable(&e))?;
        let docs = self.tables.get(&TableKind::Docs).cloned();
        let mut files = Vec::new();
        let blobs = sqlx::query("SELECT doc_id, filename, content FROM taskboard_blobs ORDER BY doc_id")
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| unavailable(&e))?;
        for row in blobs {
            let id = row.get::<i64, _>(0) as u64;
            // A document another server added after this snapshot's event is not in it.
            if docs.as_ref().is_some_and(|d| d.get(id).is_some()) {
                files.push((format!("docs/{id}/{}", row.get::<String, _>(1)), row.get::<Vec<u8>, _>(2)));
            }
        }
        let aux = sqlx::query("SELECT name, content FROM taskboard_aux WHERE content IS NOT NULL ORDER BY name")
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| unavailable(&e))?;
        for row in aux {
            let name: String = row.get(0);
            // The server's own state (sessions, link codes, the job store) is not data.
            if !name.starts_with('.') {
                files.push((name, row.get::<Vec<u8>, _>(1)));
            }
        }
        Ok(ConsistentState {
            tables: self.tables.iter().filter(|(k, _)| **k != TableKind::Events).map(|(_, t)| t.clone()).collect(),
            events_len: 0,
            last_event_id: self.last_id,
            events: self.tables.get(&TableKind::Events).cloned(),
            files: Some(files),
        })
    }
}

/// The record an event of the log changed: `{entity}.{created|updated|deleted}`.
fn record_change_of(fields: &Fields) -> Option<(TableKind, ChangeOp, u64)> {
    let cell = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
    let kind = TableKind::from_entity(cell("entity")).filter(|k| *k != TableKind::Events)?;
    let op = match cell("type").rsplit('.').next() {
        Some("created") => ChangeOp::Create,
        Some("updated") => ChangeOp::Update,
        Some("deleted") => ChangeOp::Delete,
        _ => return None,
    };
    Some((kind, op, cell("entity_id").parse().ok()?))
}

fn fail(m: Msg, error: StoreError) {
    match m {
        Msg::Commit { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        Msg::Event { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        _ => {}
    }
}
