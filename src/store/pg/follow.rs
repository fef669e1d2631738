//! Following the other servers: LISTEN on the `taskboard` channel (a notification
//! only says "look"; the writer reads the events table), and once a second a look at
//! the head, which catches a missed notification and tells whether the database
//! answers at all (while it does not, requests answer 503).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgNotification};
use tokio::sync::mpsc;

use super::{CHANNEL, Msg, Shared, blank_url};

/// How often the head is looked at.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// A look that takes longer than this counts as no answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

pub(super) async fn follow(shared: Arc<Shared>, pool: PgPool, tx: mpsc::UnboundedSender<Msg>) {
    let mut listener: Option<PgListener> = None;
    let mut tick = tokio::time::interval(LOOK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if shared.closed.load(Ordering::Acquire) || tx.is_closed() {
            return;
        }
        if listener.is_none() {
            listener = listen(&pool).await;
            if listener.is_some() {
                // Whatever happened while nobody listened is in the events table; the
                // side files may have changed too.
                let _ = tx.send(Msg::CatchUp);
                shared.bump_aux("*");
            }
        }
        tokio::select! {
            received = next(&mut listener) => match received {
                Ok(Some(n)) => on_notification(&shared, &tx, &n),
                // The connection dropped; PgListener reconnects on the next call,
                // and what was missed meanwhile is read from the events table.
                Ok(None) => {
                    let _ = tx.send(Msg::CatchUp);
                    shared.bump_aux("*");
                }
                Err(e) => {
                    tracing::warn!(error = %blank_url(e), "the database's notifications stopped; listening again");
                    listener = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
            _ = tick.tick() => look(&shared, &pool, &tx).await,
        }
    }
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen(CHANNEL).await.ok()?;
    Some(listener)
}

async fn next(listener: &mut Option<PgListener>) -> Result<Option<PgNotification>, sqlx::Error> {
    match listener {
        Some(l) => l.try_recv().await,
        None => std::future::pending().await,
    }
}

/// `e:{server}:{event id}` after a commit, `a:{server}:{name}` after an auxiliary
/// file changed; a server's own are skipped.
fn on_notification(shared: &Shared, tx: &mpsc::UnboundedSender<Msg>, n: &PgNotification) {
    let mut parts = n.payload().splitn(3, ':');
    let (kind, server, rest) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
    if server == Some(shared.server_id.as_str()) {
        return;
    }
    match kind {
        Some("e") => {
            let newer = rest.parse::<u64>().map_or(true, |id| id > shared.last_event_id.load(Ordering::Acquire));
            if newer {
                let _ = tx.send(Msg::CatchUp);
            }
        }
        Some("a") => shared.bump_aux(rest),
        _ => {}
    }
}

/// Reads the head: marks the database up or down, and catches up if behind.
async fn look(shared: &Shared, pool: &PgPool, tx: &mpsc::UnboundedSender<Msg>) {
    let head = tokio::time::timeout(
        ANSWER_WITHIN,
        sqlx::query_scalar::<_, i64>("SELECT last_event_id FROM taskboard_head WHERE one = 1").fetch_one(pool),
    )
    .await;
    match head {
        Ok(Ok(head)) => {
            let was_down = shared.down_message().is_some();
            if was_down || head as u64 > shared.last_event_id.load(Ordering::Acquire) {
                let _ = tx.send(Msg::CatchUp);
            }
            shared.set_down(None);
        }
        Ok(Err(e)) => shared.set_down(Some(format!("the database is not answering: {}", short(&blank_url(e))))),
        Err(_) => shared.set_down(Some("the database is not answering (no answer within 3 s)".into())),
    }
}

fn short(text: &str) -> String {
    text.chars().take(200).collect()
}
