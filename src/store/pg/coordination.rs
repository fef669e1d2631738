//! What servers sharing one database agree on through it: who runs a scheduled run
//! (a row of `taskboard_job_runs`), who holds a lease (a session advisory lock), the
//! side files (a row lock and a notification), and requests per minute (each server's
//! counts in `taskboard_request_counts`).

use std::collections::HashMap;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};

use super::{CHANNEL, Lease};

/// Claims `job`'s run `due` for `server`: true for the first claim only.
pub(super) async fn claim(pool: &PgPool, job: &str, due: &str, server: &str) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("INSERT INTO taskboard_job_runs (job, due, server) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(job)
            .bind(due)
            .bind(server)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Publishes `server`'s counts and answers the other servers' sums.
pub(super) async fn share_counts(
    pool: &PgPool,
    server: &str,
    mine: Vec<(String, u32)>,
) -> Result<Vec<(String, u32)>, sqlx::Error> {
    let (keys, counts): (Vec<String>, Vec<i32>) =
        mine.into_iter().map(|(k, n)| (k, n.min(i32::MAX as u32) as i32)).unzip();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO taskboard_request_counts (server, key, count, updated_at) \
         SELECT $1, u.key, u.count, now() FROM UNNEST($2::text[], $3::int4[]) AS u(key, count) \
         ON CONFLICT (server, key) DO UPDATE SET count = EXCLUDED.count, updated_at = now()",
    )
    .bind(server)
    .bind(&keys)
    .bind(&counts)
    .execute(&mut *tx)
    .await?;
    // Keys whose window closed here, and rows of servers that stopped publishing.
    sqlx::query(
        "DELETE FROM taskboard_request_counts \
         WHERE (server = $1 AND key <> ALL($2)) OR updated_at < now() - interval '1 minute'",
    )
    .bind(server)
    .bind(&keys)
    .execute(&mut *tx)
    .await?;
    let others: Vec<(String, i64)> =
        sqlx::query_as("SELECT key, sum(count)::int8 FROM taskboard_request_counts WHERE server <> $1 GROUP BY key")
            .bind(server)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(others.into_iter().map(|(k, n)| (k, n.clamp(0, u32::MAX as i64) as u32)).collect())
}

/// Whether this server holds lease `name`, taking it when free: a session advisory
/// lock on a connection kept for it, held while the connection lives, so a server
/// that dies (or loses the database) lets it go.
pub(super) async fn hold_lease(
    pool: &PgPool,
    leases: &tokio::sync::Mutex<HashMap<String, Lease>>,
    name: String,
) -> bool {
    let mut leases = leases.lock().await;
    if let Some((conn, checked)) = leases.get_mut(&name) {
        // Still ours while the connection answers (asked at most once a second).
        if checked.elapsed() < Duration::from_secs(1) {
            return true;
        }
        if sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok() {
            *checked = std::time::Instant::now();
            return true;
        }
        leases.remove(&name);
    }
    let Ok(mut conn) = pool.acquire().await else { return false };
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(lease_key(&name))
        .fetch_one(&mut *conn)
        .await
        .unwrap_or(false);
    if got {
        // Out of the pool for good: the lock lives as long as this connection, which
        // is closed (not handed back) when the lease ends.
        leases.insert(name, (conn.detach(), std::time::Instant::now()));
    }
    got
}

/// The advisory lock's number for a lease name (the same on every server).
fn lease_key(name: &str) -> i64 {
    xxhash_rust::xxh3::xxh3_64(format!("taskboard-lease:{name}").as_bytes()) as i64
}

/// Writes a side file within `tx` and tells the other servers it changed.
pub(super) async fn write_aux_in(
    tx: &mut PgConnection,
    name: &str,
    bytes: &[u8],
    server: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO taskboard_aux (name, content, updated_at) VALUES ($1, $2, now()) \
         ON CONFLICT (name) DO UPDATE SET content = EXCLUDED.content, updated_at = now()",
    )
    .bind(name)
    .bind(bytes)
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(format!("a:{server}:{name}")).execute(&mut *tx).await?;
    Ok(())
}
