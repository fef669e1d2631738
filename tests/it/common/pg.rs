//! PostgreSQL for the tests: a database of its own for each test, on the server
//! `TASKBOARD_TEST_DATABASE_URL` names. Without that variable the PostgreSQL tests
//! say that they were skipped and pass, so `cargo test` passes on a laptop without
//! PostgreSQL.
//!
//! `TASKBOARD_TEST_BACKEND=postgres` runs the shared suites (REST, WebSocket) on
//! PostgreSQL: `TestApp::spawn_with` then copies the folder a test prepared into a new
//! database with `taskboard migrate`'s own code, and the server serves from there.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use taskboard::config::Config;

/// The server to make test databases on, if any.
pub fn server_url() -> Option<String> {
    std::env::var("TASKBOARD_TEST_DATABASE_URL").ok().filter(|u| !u.trim().is_empty())
}

/// Whether the shared suites run on PostgreSQL in this run.
pub fn shared_suites_on_postgres() -> bool {
    std::env::var("TASKBOARD_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// For a test of this file that needs PostgreSQL: the server's URL, or None after
/// saying plainly that the test was skipped.
pub fn or_skip(test: &str) -> Option<String> {
    let url = server_url();
    if url.is_none() {
        say(&format!("SKIPPED {test}: set TASKBOARD_TEST_DATABASE_URL to run the PostgreSQL tests"));
    }
    url
}

/// For a test of a shared suite that reads or writes the CSV files themselves: true
/// (after saying so) when this run serves from PostgreSQL.
pub fn skip_on_postgres(test: &str, why: &str) -> bool {
    let skip = shared_suites_on_postgres();
    if skip {
        say(&format!("SKIPPED {test} on postgresql: {why}"));
    }
    skip
}

/// A line on the real standard error: the test harness captures `println!`, and a
/// skip must be seen.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The file beside a test's data folder that names its database: a restart of the
/// same folder (`test_config`) serves from the same database.
const URL_FILE: &str = "database_url";

/// A new, empty database; its URL.
pub async fn new_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = server_url().expect("TASKBOARD_TEST_DATABASE_URL is set");
    let mut admin = sqlx::PgConnection::connect(&server).await.expect("the test PostgreSQL server answers");
    sweep_old_databases(&mut admin).await;
    let name = format!("tb_it_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    for statement in [format!("DROP DATABASE IF EXISTS {name}"), format!("CREATE DATABASE {name}")] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&mut admin).await.expect("a test database is made");
    }
    let _ = admin.close().await;
    database_url(&server, &name)
}

/// `server` with its database replaced by `name`.
pub fn database_url(server: &str, name: &str) -> String {
    let (base, query) = server.split_once('?').map_or((server, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let base = base[authority..].find('/').map_or(base, |i| &base[..authority + i]);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Databases left by test runs whose process is gone.
async fn sweep_old_databases(admin: &mut sqlx::PgConnection) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let mut first = false;
    ONCE.call_once(|| first = true);
    if !first {
        return;
    }
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'tb_it_%'")
        .fetch_all(&mut *admin)
        .await
        .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| p != std::process::id() && !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&mut *admin)
                .await;
        }
    }
}

/// Points `config` at database `url`.
pub fn use_database(config: &mut Config, url: &str) {
    config.db_postgresql.enabled = true;
    config.db_postgresql.url = taskboard::config::Secret(url.to_string());
    config.db_postgresql.max_connections = 6;
}

/// Moves the folder a test prepared into a new database, remembered beside the
/// folder, and points `config` at it.
pub async fn move_folder_into_database(data: &Path, config: &mut Config) {
    let url = new_database().await;
    let vocabulary = taskboard::store::StoreConfig::from_config(config).vocabulary;
    let settings = taskboard::store::PgSettings { url: url.clone(), max_connections: 2 };
    taskboard::store::pg::migrate::to_postgres(data, &vocabulary, &settings, &taskboard::store::pg::migrate::Quiet)
        .await
        .expect("the prepared folder moves into the database");
    std::fs::write(data.parent().unwrap_or(data).join(URL_FILE), &url).unwrap();
    use_database(config, &url);
}

/// The database a test folder was moved into, if it was.
pub fn database_of(data: &Path) -> Option<String> {
    std::fs::read_to_string(data.parent()?.join(URL_FILE)).ok()
}
