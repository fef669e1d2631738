//! The database's schema (embedded migrations, applied at start) and reading every
//! table into memory, the way the CSV backend reads its folder.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{PgConnection, PgPool, Row as _, SqlSafeStr};

use crate::domain::{TableKind, Vocabulary};
use crate::store::csv::format::{CsvFormat, Row};
use crate::store::table::{Fields, TableData};

/// The migrations this version knows, oldest first; a database that has one this list
/// lacks was migrated by a newer taskboard, and this one refuses to start on it.
fn migrator() -> Migrator {
    let migration = |version: i64, description: &'static str, sql: &'static str| {
        Migration::new(version, description.into(), MigrationType::Simple, sql.into_sql_str(), false)
    };
    let mut migrator = Migrator::with_migrations(vec![
        migration(1, "tables", include_str!("migrations/0001_tables.sql")),
        migration(2, "request counts", include_str!("migrations/0002_request_counts.sql")),
        migration(3, "checklists", include_str!("migrations/0003_checklists.sql")),
        migration(4, "recurring", include_str!("migrations/0004_recurring.sql")),
    ]);
    migrator.dangerous_set_table_name("taskboard_migrations");
    migrator
}

/// Applies the migrations this version has and the database lacks.
pub(super) async fn migrate(pool: &PgPool) -> Result<(), String> {
    migrator().run(pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::VersionMissing(v) => format!(
            "the database was migrated by a newer taskboard (its migration {v} is unknown to version {}); \
             run that version, or a newer one",
            env!("CARGO_PKG_VERSION")
        ),
        other => format!("the database's schema could not be brought up to date: {other}"),
    })
}

/// A table's name in SQL: the CSV file's name without `.csv`, from the fixed list of
/// tables (never from input), so it is safe to place into a statement.
pub(super) fn sql_name(kind: TableKind) -> &'static str {
    kind.name()
}

/// A statement naming a table (the table name comes from [`sql_name`]).
pub(super) fn statement(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

/// Every table in memory, as of `last_event_id`.
pub(super) struct Loaded {
    pub tables: HashMap<TableKind, Arc<TableData>>,
    pub last_event_id: u64,
    /// Tables whose columns differ from what `taskboard_layout` records (a new table,
    /// or a custom field declared since): their layout should be saved.
    pub unrecorded: Vec<TableKind>,
}

/// Reads every table (and the event log) inside one snapshot of the database.
pub(super) async fn load_all(conn: &mut PgConnection, vocabulary: &Vocabulary) -> Result<Loaded, sqlx::Error> {
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *conn).await?;
    let result = load_all_in(conn, vocabulary).await;
    let _ = sqlx::query("COMMIT").execute(&mut *conn).await;
    result
}

pub(super) async fn load_all_in(conn: &mut PgConnection, vocabulary: &Vocabulary) -> Result<Loaded, sqlx::Error> {
    let last: i64 =
        sqlx::query_scalar("SELECT last_event_id FROM taskboard_head WHERE one = 1").fetch_one(&mut *conn).await?;
    let layouts = layouts(conn).await?;
    let mut tables = HashMap::new();
    let mut unrecorded = Vec::new();
    for kind in TableKind::ALL {
        let mut table = empty_table(kind, layouts.get(&kind), vocabulary);
        if layouts.get(&kind).is_none_or(|(header, _)| header.as_slice() != &*table.header) {
            unrecorded.push(kind);
        }
        let rows = sqlx::query(statement(format!("SELECT id, fields::text FROM {} ORDER BY id", sql_name(kind))))
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            let id: i64 = row.try_get(0)?;
            let fields: String = row.try_get(1)?;
            let fields = parse_fields(&fields);
            table.rows.insert(id as u64, Arc::new(table.row_from_fields(&fields)));
            table.max_id = table.max_id.max(id as u64);
        }
        tables.insert(kind, Arc::new(table));
    }
    Ok(Loaded { tables, last_event_id: last.max(0) as u64, unrecorded })
}

/// Each table's columns and file format, as recorded.
async fn layouts(conn: &mut PgConnection) -> Result<HashMap<TableKind, (Vec<String>, CsvFormat)>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT tbl, header, delimiter, bom, crlf FROM taskboard_layout").fetch_all(&mut *conn).await?;
    let mut out = HashMap::new();
    for row in rows {
        let name: String = row.try_get(0)?;
        let Some(kind) = TableKind::from_name(&name) else { continue };
        let header: Vec<String> = row.try_get(1)?;
        let delimiter: String = row.try_get(2)?;
        let format = CsvFormat {
            delimiter: delimiter.bytes().next().unwrap_or(b','),
            bom: row.try_get(3)?,
            crlf: row.try_get(4)?,
        };
        out.insert(kind, (header, format));
    }
    Ok(out)
}

/// A table with no rows: the recorded columns, or the documented ones; a custom field
/// the configuration declares and the columns lack is added at the end, as it is to a
/// CSV file that lacks it.
pub(super) fn empty_table(
    kind: TableKind,
    layout: Option<&(Vec<String>, CsvFormat)>,
    vocabulary: &Vocabulary,
) -> TableData {
    let (mut header, format) = match layout {
        Some((header, format)) if !header.is_empty() => (header.clone(), *format),
        _ => (kind.spec().header().into_iter().map(String::from).collect(), CsvFormat::default()),
    };
    for column in kind.spec().header() {
        if !header.iter().any(|h| h == column) {
            header.push(column.to_string());
        }
    }
    if kind == TableKind::Tasks {
        for field in &vocabulary.task_fields {
            if !header.contains(&field.name) {
                header.push(field.name.clone());
            }
        }
    }
    TableData::with_header(kind, header, format)
}

/// A row's cells from its jsonb object (a value that is not a string is kept as JSON).
pub(super) fn parse_fields(json: &str) -> Fields {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) {
        Ok(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
        Err(_) => Fields::new(),
    }
}

/// A row's cells as a jsonb object (only the columns of `table`).
pub(super) fn fields_json(table: &TableData, row: &Row) -> String {
    let map: serde_json::Map<String, serde_json::Value> = table
        .header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.clone(), serde_json::Value::String(row.cell(i).to_string())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Records the columns and format of `table`.
pub(super) async fn save_layout(conn: &mut PgConnection, table: &TableData) -> Result<(), sqlx::Error> {
    let header: Vec<String> = table.header.to_vec();
    sqlx::query(
        "INSERT INTO taskboard_layout (tbl, header, delimiter, bom, crlf) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tbl) DO UPDATE SET header = EXCLUDED.header, delimiter = EXCLUDED.delimiter, \
         bom = EXCLUDED.bom, crlf = EXCLUDED.crlf",
    )
    .bind(sql_name(table.kind))
    .bind(header)
    .bind(String::from(table.format.delimiter as char))
    .bind(table.format.bom)
    .bind(table.format.crlf)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
