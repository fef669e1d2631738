//! `taskboard migrate`: a CSV folder copied into an empty database, and a database
//! written back into a folder, each checked at the end table by table (row count and
//! the SHA-256 of the table as its CSV file would be written).
//!
//! What is copied: every table with its columns (unknown and custom ones included),
//! delimiter, BOM and line ends; the event log; documents' content; and the files
//! beside the tables (`.taskboard/` state such as sessions and the job store, and
//! `reports/`). A folder written by taskboard comes back byte for byte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Row as _};

use crate::domain::{TableKind, Vocabulary};
use crate::store::csv::{check, durable, folds};
use crate::store::table::TableData;

use super::PgSettings;
use super::load::{self, fields_json, sql_name, statement};

/// Rows sent in one statement.
const CHUNK: usize = 5_000;

/// What a migration copied and checked: per table, rows and checksum.
#[derive(Debug, Default)]
pub struct MigrationReport {
    pub tables: BTreeMap<&'static str, (usize, String)>,
    pub documents: usize,
    pub files: usize,
}

impl std::fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (table, (rows, sha)) in &self.tables {
            writeln!(f, "{table:<12} {rows:>9} rows  sha256 {}  ok", &sha[..16])?;
        }
        write!(f, "{} documents and {} other files copied", self.documents, self.files)
    }
}

/// Told how far a migration got: a step's name and its size, then rows as they go.
pub trait Progress {
    fn step(&self, name: &str, total: u64);
    fn advance(&self, rows: u64);
}

/// A progress that shows nothing.
pub struct Quiet;
impl Progress for Quiet {
    fn step(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::domain::values::hex(&Sha256::digest(bytes))
}

fn db(e: impl std::fmt::Display) -> String {
    format!("database: {}", super::blank_url(e))
}

/// The bytes each table would have as a CSV file, by table.
fn checksums(tables: &BTreeMap<TableKind, TableData>) -> BTreeMap<&'static str, (usize, String)> {
    tables.iter().map(|(k, t)| (k.name(), (t.rows.len(), sha256_hex(&t.to_bytes())))).collect()
}

/// Copies the folder `data_dir` into the empty database of `settings`.
pub async fn to_postgres(
    data_dir: &Path,
    vocabulary: &Vocabulary,
    settings: &PgSettings,
    progress: &dyn Progress,
) -> Result<MigrationReport, String> {
    let folder = check::open_folder(data_dir, vocabulary);
    if let Some(p) = folder.all_problems().first() {
        return Err(format!("the data folder has a problem; fix it first (taskboard check): {p}"));
    }
    let mut tables: BTreeMap<TableKind, TableData> =
        folder.tables.into_iter().map(|(kind, loaded)| (kind, loaded.data)).collect();
    for kind in TableKind::RECORDS {
        tables.entry(kind).or_insert_with(|| TableData::empty(kind));
    }
    tables.insert(TableKind::Events, folder.events.unwrap_or_else(|| TableData::empty(TableKind::Events)));
    let last_event_id = tables[&TableKind::Events]
        .max_id
        .max(crate::store::csv::journal::archived_last_id(&crate::store::csv::archive_dir(data_dir)));
    let expected = checksums(&tables);

    let pool = settings.pool()?;
    load::migrate(&pool).await?;
    let mut tx = pool.begin().await.map_err(db)?;
    // The head row locked first: no server commits while the copy goes in.
    let head: i64 = sqlx::query_scalar("SELECT last_event_id FROM taskboard_head WHERE one = 1 FOR UPDATE")
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
    for kind in TableKind::ALL {
        let any: bool = sqlx::query_scalar(statement(format!("SELECT EXISTS (SELECT 1 FROM {})", sql_name(kind))))
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if any {
            return Err(format!(
                "the database is not empty (table {} has rows); migrate into an empty database",
                sql_name(kind)
            ));
        }
    }
    if head > 0 {
        return Err(format!("the database is not empty (its journal is at event {head}); migrate into an empty one"));
    }
    for (kind, table) in &tables {
        progress.step(kind.spec().file_name, table.rows.len() as u64);
        load::save_layout(&mut tx, table).await.map_err(db)?;
        copy_rows(&mut tx, table, progress).await.map_err(db)?;
    }
    sqlx::query("UPDATE taskboard_head SET last_event_id = $1 WHERE one = 1")
        .bind(last_event_id as i64)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let mut report = MigrationReport::default();
    let files = side_files(data_dir);
    progress.step("documents and files", files.len() as u64);
    for (name, path) in files {
        let content = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if let Some(doc) = document_of(&name) {
            sqlx::query("INSERT INTO taskboard_blobs (doc_id, filename, content) VALUES ($1, $2, $3)")
                .bind(doc.0 as i64)
                .bind(doc.1)
                .bind(content)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            report.documents += 1;
        } else {
            sqlx::query("INSERT INTO taskboard_aux (name, content) VALUES ($1, $2)")
                .bind(&name)
                .bind(content)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            report.files += 1;
        }
        progress.advance(1);
    }
    tx.commit().await.map_err(db)?;

    // Read back as a server would, and compare.
    progress.step("verifying", tables.len() as u64);
    let mut conn = pool.acquire().await.map_err(db)?;
    let loaded = load::load_all(&mut conn, vocabulary).await.map_err(db)?;
    let back: BTreeMap<TableKind, TableData> =
        loaded.tables.into_iter().map(|(k, t)| (k, std::sync::Arc::unwrap_or_clone(t))).collect();
    report.tables = compare(&expected, &checksums(&back))?;
    drop(conn);
    pool.close().await;
    Ok(report)
}

/// Writes the database of `settings` into `target`, a folder without table files.
pub async fn to_csv(
    target: &Path,
    vocabulary: &Vocabulary,
    settings: &PgSettings,
    progress: &dyn Progress,
) -> Result<MigrationReport, String> {
    if TableKind::ALL.iter().any(|k| target.join(k.spec().file_name).exists()) {
        return Err(format!("{} already holds table files; write into a new or empty folder", target.display()));
    }
    let pool = settings.pool()?;
    load::migrate(&pool).await?;
    let mut conn = pool.acquire().await.map_err(db)?;
    // One snapshot of the whole database: tables, documents and files agree.
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *conn).await.map_err(db)?;
    let loaded = load::load_all_in(&mut conn, vocabulary).await.map_err(db)?;
    let tables: BTreeMap<TableKind, TableData> =
        loaded.tables.into_iter().map(|(k, t)| (k, std::sync::Arc::unwrap_or_clone(t))).collect();
    let expected = checksums(&tables);
    std::fs::create_dir_all(target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let io = |e: std::io::Error| format!("cannot write into {}: {e}", target.display());
    let mut marks = BTreeMap::new();
    for (kind, table) in &tables {
        progress.step(kind.spec().file_name, table.rows.len() as u64);
        let bytes = table.to_bytes();
        durable::write_atomic(&target.join(kind.spec().file_name), &bytes, *kind == TableKind::Credentials)
            .map_err(io)?;
        let (size, hash) = folds::fingerprint(&bytes);
        marks.insert(*kind, folds::Fold { event_id: loaded.last_event_id, bytes: size, hash });
        progress.advance(table.rows.len() as u64);
    }
    // Every table file holds every event: nothing is replayed into it at start.
    marks.remove(&TableKind::Events);
    folds::write(target, &marks).map_err(io)?;
    let mut report = MigrationReport::default();
    let blobs = sqlx::query("SELECT doc_id, filename, content FROM taskboard_blobs ORDER BY doc_id")
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
    let aux = sqlx::query("SELECT name, content FROM taskboard_aux WHERE content IS NOT NULL ORDER BY name")
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
    let _ = sqlx::query("COMMIT").execute(&mut *conn).await;
    progress.step("documents and files", (blobs.len() + aux.len()) as u64);
    for row in blobs {
        let (id, filename, content): (i64, String, Vec<u8>) = (row.get(0), row.get(1), row.get(2));
        if filename.is_empty() || filename.contains(['/', '\\']) || filename == ".." {
            return Err(format!("document {id} has a file name that cannot be a file: {filename:?}"));
        }
        let folder = target.join("docs").join(id.to_string());
        std::fs::create_dir_all(&folder).map_err(io)?;
        durable::write_atomic(&folder.join(&filename), &content, false).map_err(io)?;
        report.documents += 1;
        progress.advance(1);
    }
    for row in aux {
        let (name, content): (String, Vec<u8>) = (row.get(0), row.get(1));
        let Some(path) = safe_path(target, &name) else {
            return Err(format!("a stored file has a name that cannot be a path: {name:?}"));
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        durable::write_atomic(&path, &content, false).map_err(io)?;
        report.files += 1;
        progress.advance(1);
    }
    drop(conn);
    pool.close().await;

    // Read the folder back as a server would, and compare.
    progress.step("verifying", tables.len() as u64);
    let folder = check::open_folder(target, vocabulary);
    if let Some(p) = folder.all_problems().first() {
        return Err(format!("the written folder does not read back: {p}"));
    }
    let mut back: BTreeMap<TableKind, TableData> = folder.tables.into_iter().map(|(k, l)| (k, l.data)).collect();
    back.insert(TableKind::Events, folder.events.unwrap_or_else(|| TableData::empty(TableKind::Events)));
    report.tables = compare(&expected, &checksums(&back))?;
    Ok(report)
}

fn compare(
    expected: &BTreeMap<&'static str, (usize, String)>,
    found: &BTreeMap<&'static str, (usize, String)>,
) -> Result<BTreeMap<&'static str, (usize, String)>, String> {
    for (table, (rows, sha)) in expected {
        match found.get(table) {
            Some((r, s)) if r == rows && s == sha => {}
            Some((r, s)) => {
                return Err(format!(
                    "{table}: {rows} rows (sha256 {}) copied, but {r} rows (sha256 {}) read back",
                    &sha[..16],
                    &s[..16]
                ));
            }
            None => return Err(format!("{table} was not read back")),
        }
    }
    Ok(expected.clone())
}

async fn copy_rows(tx: &mut PgConnection, table: &TableData, progress: &dyn Progress) -> Result<(), sqlx::Error> {
    let rows: Vec<_> = table.rows.iter().collect();
    for chunk in rows.chunks(CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|(id, _)| **id as i64).collect();
        let fields: Vec<String> = chunk.iter().map(|(_, row)| fields_json(table, row)).collect();
        sqlx::query(statement(format!(
            "INSERT INTO {} (id, fields) SELECT u.id, u.f::jsonb FROM UNNEST($1::int8[], $2::text[]) AS u(id, f)",
            sql_name(table.kind)
        )))
        .bind(ids)
        .bind(fields)
        .execute(&mut *tx)
        .await?;
        progress.advance(chunk.len() as u64);
    }
    Ok(())
}

/// The files beside the tables, by their name under the folder: documents, reports,
/// and the server's state in `.taskboard/` (not the lock, watermarks or temporaries,
/// which belong to one folder).
fn side_files(data_dir: &Path) -> Vec<(String, PathBuf)> {
    const FOLDER_ONLY: [&str; 3] = [".taskboard/lock", ".taskboard/folds.csv", ".taskboard/events-torn.csv"];
    let mut out = Vec::new();
    let mut stack = vec![data_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = path.strip_prefix(data_dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if (dir == data_dir && (file_name.ends_with(".csv") || file_name == "archive"))
                || file_name.starts_with(".tmp-")
                || name == "docs/.incoming"
                || FOLDER_ONLY.contains(&name.as_str())
            {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((name, path));
            }
        }
    }
    out.sort();
    out
}

/// `docs/{id}/{filename}` as the document's id and file name.
fn document_of(name: &str) -> Option<(u64, String)> {
    let mut parts = name.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("docs"), Some(id), Some(file)) if !file.contains('/') => Some((id.parse().ok()?, file.to_string())),
        _ => None,
    }
}

/// `name` under `root`, if it stays there.
fn safe_path(root: &Path, name: &str) -> Option<PathBuf> {
    let plain = !name.is_empty()
        && !name.contains('\\')
        && name.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
        && TableKind::ALL.iter().all(|t| t.spec().file_name != name);
    plain.then(|| root.join(name))
}
