//! `GET /ws`: the change feed over WebSocket. What reaches whom is decided in
//! `service/feed.rs` (topics, filters, per-role visibility); this file is the
//! transport: the session loop, the wire messages, pings and timeouts.
//!
//! Each session follows the store's broadcast of committed changes, so every change
//! reaches it whatever its source (REST, a file edit, the scheduler). A session that
//! falls behind is told it `lagged` (the broadcast is bounded, so it never holds memory
//! without bound, and the writer and the other sessions never wait for it); `resume`
//! replays from events.csv, so a reconnect, even across a restart, loses nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::filters::ws::{Message, WebSocket};
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use crate::domain::TableKind;
use crate::service::access::Principal;
use crate::service::feed::{Delivery, Subscription, Viewer};
use crate::store::{Change, Fields, Source, Storage, etag_of};

use super::catalog::{Catalog, Shape};
use super::json::{RowJson, record_to_json};
use super::problem::ApiError;

/// How often an idle client is pinged, and how long it may stay silent.
const PING_EVERY: Duration = Duration::from_secs(20);
const SILENT_FOR: Duration = Duration::from_secs(60);
/// How long one message may take to go out before the client is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Sessions open now, shared with `/api/health` and the metrics.
pub static CLIENTS: AtomicUsize = AtomicUsize::new(0);

/// How long a session without a token may take to send its `auth` message.
const AUTH_WITHIN: Duration = Duration::from_secs(10);

/// Keeps only `columns` of a record's JSON.
fn trim(value: &mut Value, columns: Option<&[&str]>) {
    if let (Some(columns), Value::Object(map)) = (columns, value) {
        map.retain(|k, _| columns.contains(&k.as_str()));
    }
}

/// Adds `due_at` to a task a live view carries: the moment its due date passes as the
/// server counts it (a date alone ends at midnight in `scheduler.timezone`), so that a
/// board shows "overdue" by the server's rule and has none of its own.
fn with_due_at(table: TableKind, value: &mut Value, viewer: &Viewer) {
    if table != TableKind::Tasks {
        return;
    }
    if let Value::Object(map) = value
        && let Some(due) = map.get("due_date").and_then(Value::as_str)
    {
        let at = viewer.records.deadlines().due_at(due).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        map.insert("due_at".into(), at.map_or(Value::Null, Value::String));
    }
}

pub fn routes(viewer: Viewer, max_clients: usize, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    cat.add(
        "GET",
        "/ws",
        "realtime",
        "WebSocket change feed: subscribe, snapshot, left, resume, ping",
        None,
        Shape::Other { body: None, response: "websocket" },
    );
    let viewer_for_start = viewer.clone();
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let upgrade = warp::path("ws").and(warp::path::end()).and(warp::ws()).and(super::gate::caller()).and(query).map(
        move |ws: warp::ws::Ws, caller: super::gate::Caller, query: String| {
            // URLs end up in logs and histories: an API key there is refused outright
            // (a session token there is what browsers have to do).
            if query.split('&').any(|pair| pair.starts_with(&format!("token={}", crate::service::keys::PREFIX))) {
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "an API key is not accepted in a URL: send it in the first message, {\"type\": \"auth\", \"token\": ...}",
                )
                .into_response();
            }
            if CLIENTS.load(Ordering::Acquire) >= max_clients {
                return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too many WebSocket clients").into_response();
            }
            // A `token` query parameter authenticates at once; without one, the first
            // message must (`{"type": "auth", "token": ...}`).
            let principal = caller.principal.ok().map(|p| (*p).clone().through(Source::Ws));
            let viewer = viewer.clone();
            let store = viewer.store.clone();
            ws.max_message_size(64 * 1024)
                .on_upgrade(move |socket| session(socket, store, viewer, principal))
                .into_response()
        },
    );
    // A plain GET (no upgrade headers) is a client mistake, not a server error.
    let plain = warp::path("ws").and(warp::path::end()).and(warp::get()).map(|| {
        let mut response = ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "GET /ws is a WebSocket: connect with Connection: Upgrade and Upgrade: websocket",
        )
        .into_response();
        response.headers_mut().insert(warp::http::header::UPGRADE, warp::http::HeaderValue::from_static("websocket"));
        response
    });
    cat.add(
        "GET",
        "/api/live/{topic}",
        "realtime",
        "Where a live view starts: the topic's records (as a /ws snapshot: items, etags, event_id to resume \
         from), ?fields= keeps only those columns; gzip-compressed when the client accepts it",
        None,
        Shape::Other { body: None, response: "Snapshot" },
    );
    let start = warp::path!("api" / "live" / String)
        .and(warp::get())
        .and(super::gate::principal())
        .and(warp::query::<Vec<(String, String)>>())
        .and(warp::header::optional::<String>("accept-encoding"))
        .map(move |topic: String, p: Arc<Principal>, query: Vec<(String, String)>, encodings: Option<String>| {
            super::reply::respond(live_start(&viewer_for_start, &topic, &p, &query, encodings.as_deref()))
        });
    upgrade.or(plain).unify().or(start).unify().boxed()
}

/// `GET /api/live/{topic}`: the snapshot a board starts from over plain HTTP, where
/// it can be compressed (a WebSocket message here cannot: no permessage-deflate).
/// The event id is taken before the records are read, so resuming /ws from it may
/// repeat a change the records already hold, never miss one.
fn live_start(
    viewer: &Viewer,
    topic: &str,
    p: &Principal,
    query: &[(String, String)],
    encodings: Option<&str>,
) -> Result<Response, ApiError> {
    let mut fields = None;
    for (name, value) in query {
        match name.as_str() {
            "fields" => {
                fields = Some(value.split(',').map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect())
            }
            other => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("unknown parameter {other:?}; expected fields"),
                ));
            }
        }
    }
    let sub = match topic {
        "tasks" | "comments" | "users" | "docs" | "feedback" | "checklists" => {
            Subscription::parse(topic, None).map_err(|m| ApiError::new(StatusCode::NOT_FOUND, m))?
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("unknown topic {topic:?}; expected tasks, comments, users, docs, feedback or checklists"),
            ));
        }
    };
    viewer.topic_allowed(p, &sub).map_err(|m| ApiError::new(StatusCode::FORBIDDEN, m))?;
    let store = viewer.store.clone();
    if let (Some(fields), Some(table)) = (&fields, sub.table) {
        let fields: &Vec<String> = fields;
        let t = store.table(table).map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        let unknown: Vec<&str> = fields.iter().filter(|f| t.position(f).is_none()).map(String::as_str).collect();
        if !unknown.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("fields: unknown column(s) {}", unknown.join(", ")),
            ));
        }
    }
    let event_id = store.last_event_id();
    let mut value = snapshot(topic, &sub, &store, viewer, p, event_id, fields.as_deref());
    if value["type"] == "error" {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            value["message"].as_str().unwrap_or("").to_string(),
        ));
    }
    if let Value::Object(map) = &mut value {
        map.remove("type");
        map.remove("sub");
    }
    let body = serde_json::to_vec(&value).unwrap_or_default();
    let compressed = encodings
        .filter(|e| super::reply::accepts_gzip(e))
        .and_then(|_| super::reply::gzip(&body, flate2::Compression::fast()));
    let mut response = super::reply::bytes_response(StatusCode::OK, compressed.clone().unwrap_or(body), None);
    let headers = response.headers_mut();
    headers.insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("application/json"));
    headers.insert(warp::http::header::VARY, warp::http::HeaderValue::from_static("accept-encoding"));
    if compressed.is_some() {
        headers.insert(warp::http::header::CONTENT_ENCODING, warp::http::HeaderValue::from_static("gzip"));
    }
    Ok(response)
}

/// The wire message for a delivery of `change` to subscription `sub_id`, the record
/// trimmed to the columns `p` may see.
fn message(sub_id: &str, change: &Change, delivery: Delivery, partial: bool, viewer: &Viewer, p: &Principal) -> Value {
    if delivery == Delivery::Left {
        return json!({"type": "left", "sub": sub_id, "id": change.id, "event_id": change.event_id});
    }
    let columns = viewer.columns(p, change.table);
    let record = |f: &Option<Fields>| {
        f.as_ref().map_or(Value::Null, |f| {
            let mut v = fields_json(change.table, f);
            trim(&mut v, columns);
            with_due_at(change.table, &mut v, viewer);
            v
        })
    };
    let mut m = json!({
        "type": "change", "sub": sub_id, "event_id": change.event_id, "op": change.op,
        "topic": change.table.name(), "id": change.id, "source": change.source, "actor": change.actor,
        "before": record(&change.before), "after": record(&change.after),
    });
    if partial {
        m["partial"] = Value::Bool(true);
    }
    // The version a client sends back in If-Match to change what it was shown.
    if let Some(etag) = change.etag.as_ref().filter(|_| change.after.is_some()) {
        m["etag"] = Value::String(etag.clone());
    }
    m
}

fn fields_json(table: TableKind, fields: &Fields) -> Value {
    let order: Vec<String> = table
        .spec()
        .columns
        .iter()
        .map(|c| c.name.to_string())
        .chain(fields.keys().filter(|k| table.spec().column(k).is_none()).cloned())
        .collect();
    record_to_json(table, &order, fields, Some(&fields.keys().cloned().collect::<Vec<_>>()))
}

/// What a session does: answers its client's messages and forwards the feed.
async fn session(socket: WebSocket, store: Arc<dyn Storage>, viewer: Viewer, mut principal: Option<Principal>) {
    CLIENTS.fetch_add(1, Ordering::AcqRel);
    let opened = Instant::now();
    metrics::gauge!("taskboard_ws_clients").set(CLIENTS.load(Ordering::Acquire) as f64);
    let (mut tx, mut rx) = socket.split();
    let mut feed = store.subscribe();
    let mut subs: HashMap<String, Subscription> = HashMap::new();
    // The newest event this client has been given (or knows of): live events at or
    // below it are not sent twice after a resume.
    let mut seen = store.last_event_id();
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_heard = Instant::now();
    let mut closing = false;
    if !viewer.security.enabled {
        principal = Some(Principal::anonymous().through(Source::Ws));
    }
    loop {
        let mut out: Vec<Value> = Vec::new();
        tokio::select! {
            incoming = rx.next() => match incoming {
                Some(Ok(message)) => {
                    last_heard = Instant::now();
                    if message.is_close() {
                        break;
                    }
                    if let Ok(text) = message.to_str() {
                        handle_client(text, &store, &viewer, &mut principal, &mut subs, &mut seen, &mut out);
                    }
                }
                _ => break,
            },
            change = feed.recv() => match change {
                Ok(change) => {
                    if change.event_id > seen && !subs.is_empty() {
                        seen = change.event_id;
                        match (viewer.refresh(&mut principal), &principal) {
                            (Some(Ok(())), Some(p)) => {
                                out.extend(subs.iter().filter_map(|(id, sub)| {
                                    let delivery = viewer.deliver(p, sub, &change)?;
                                    Some(message(id, &change, delivery, false, &viewer, p))
                                }));
                            }
                            (Some(Err(e)), _) => {
                                out.push(json!({"type": "error", "message": e}));
                                closing = true;
                            }
                            _ => {}
                        }
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    metrics::counter!("taskboard_ws_lagged_total").increment(1);
                    out.push(json!({"type": "lagged", "missed_from": seen + 1, "missed": missed}));
                }
                Err(RecvError::Closed) => break,
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENT_FOR {
                    break;
                }
                if principal.is_none() && opened.elapsed() > AUTH_WITHIN {
                    out.push(json!({"type": "error", "message": "no auth message came; closing"}));
                    closing = true;
                }
                if send(&mut tx, Message::ping(Vec::new())).await.is_err() {
                    break;
                }
            }
        }
        let mut failed = false;
        for value in out {
            if send(&mut tx, Message::text(value.to_string())).await.is_err() {
                failed = true;
                break;
            }
            metrics::counter!("taskboard_ws_messages_sent_total").increment(1);
        }
        if failed || closing {
            break;
        }
    }
    let _ = tx.send(Message::close()).await;
    CLIENTS.fetch_sub(1, Ordering::AcqRel);
    metrics::gauge!("taskboard_ws_clients").set(CLIENTS.load(Ordering::Acquire) as f64);
}

async fn send(tx: &mut futures_util::stream::SplitSink<WebSocket, Message>, message: Message) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, tx.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// One client message: subscribe, unsubscribe, resume, ping, auth.
fn handle_client(
    text: &str,
    store: &Arc<dyn Storage>,
    viewer: &Viewer,
    principal: &mut Option<Principal>,
    subs: &mut HashMap<String, Subscription>,
    seen: &mut u64,
    out: &mut Vec<Value>,
) {
    let error = |message: String| json!({"type": "error", "message": message});
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        out.push(error("messages are JSON objects with a \"type\"".into()));
        return;
    };
    let kind = message["type"].as_str().unwrap_or("");
    if kind == "auth" {
        match viewer.security.authenticate(message["token"].as_str()) {
            Ok(p) => {
                out.push(json!({"type": "auth", "ok": true, "user": p.username, "role": p.role.as_str()}));
                *principal = Some(p);
            }
            Err(e) => out.push(json!({"type": "auth", "ok": false, "message": e.to_string()})),
        }
        return;
    }
    if kind == "ping" {
        out.push(json!({"type": "pong"}));
        return;
    }
    let p = match (viewer.refresh(principal), principal.as_ref()) {
        (Some(Ok(())), Some(p)) => p.clone(),
        (Some(Err(e)), _) => {
            subs.clear();
            out.push(error(format!("{e}; send {{\"type\": \"auth\", \"token\": ...}} again")));
            return;
        }
        _ => {
            out.push(error("authenticate first: {\"type\": \"auth\", \"token\": ACCESS_TOKEN}".into()));
            return;
        }
    };
    match kind {
        "subscribe" => {
            let Some(id) = message["id"].as_str().map(str::to_string) else {
                out.push(error("subscribe needs an \"id\" naming the subscription".into()));
                return;
            };
            let topic = message["topic"].as_str().unwrap_or("");
            let parsed = Subscription::parse(topic, message.get("filter"));
            let sub = match parsed.and_then(|sub| viewer.topic_allowed(&p, &sub).map(|()| sub)) {
                Ok(sub) => sub,
                Err(m) => {
                    out.push(json!({"type": "error", "sub": id, "message": m}));
                    return;
                }
            };
            if message["snapshot"].as_bool().unwrap_or(false) {
                let fields = match projection(message.get("fields")) {
                    Ok(fields) => fields,
                    Err(m) => {
                        out.push(json!({"type": "error", "sub": id, "message": m}));
                        return;
                    }
                };
                out.push(snapshot(&id, &sub, store, viewer, &p, *seen, fields.as_deref()));
            }
            out.push(json!({"type": "subscribed", "sub": id, "event_id": *seen}));
            subs.insert(id, sub);
        }
        "unsubscribe" => {
            let id = message["id"].as_str().unwrap_or("");
            if subs.remove(id).is_some() {
                out.push(json!({"type": "unsubscribed", "sub": id}));
            } else {
                out.push(error(format!("no subscription {id:?}")));
            }
        }
        "resume" => {
            let Some(after) = message["after_event_id"].as_u64() else {
                out.push(error("resume needs \"after_event_id\"".into()));
                return;
            };
            if subs.is_empty() {
                // Nothing to replay into: saying "resumed" would promise what it did not do.
                out.push(error("subscribe first: resume replays the missed changes into your subscriptions".into()));
                return;
            }
            resume(after, store, viewer, &p, subs, seen, out);
        }
        other => {
            out.push(error(format!("unknown message type {other:?}; expected subscribe, unsubscribe, resume, ping")))
        }
    }
}

/// A snapshot's `fields`: absent (every column), or a list of column names.
fn projection(fields: Option<&Value>) -> Result<Option<Vec<String>>, String> {
    match fields {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(names)) => names
            .iter()
            .map(|n| n.as_str().map(str::to_string).ok_or_else(|| "fields must be a list of column names".to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err("fields must be a list of column names".into()),
    }
}

/// The records a subscription covers now; with `fields`, only those columns (and the
/// id) of each: a board's cards need a fraction of what a task holds.
fn snapshot(
    sub_id: &str,
    sub: &Subscription,
    store: &Arc<dyn Storage>,
    viewer: &Viewer,
    p: &Principal,
    event_id: u64,
    fields: Option<&[String]>,
) -> Value {
    let Some(table) = sub.table else {
        return json!({"type": "snapshot", "sub": sub_id, "items": [], "event_id": event_id});
    };
    let mut etags = serde_json::Map::new();
    let items: Vec<Value> = match store.table(table) {
        Ok(t) => {
            let positions: Vec<(usize, &Vec<String>)> =
                sub.filter.iter().filter_map(|(k, v)| t.position(k).map(|p| (p, v))).collect();
            let unknown = positions.len() < sub.filter.len();
            t.rows
                .iter()
                .filter(|(id, row)| {
                    !unknown
                        && sub.id.is_none_or(|want| want == **id)
                        && positions.iter().all(|(p, values)| values.iter().any(|v| v == row.cell(*p)))
                })
                .filter(|(_, row)| viewer.visible(p, table, Some(&t.fields(row))))
                .map(|(id, row)| {
                    etags.insert(id.to_string(), Value::String(etag_of(row)));
                    let mut value = serde_json::to_value(RowJson { table: &t, row, columns: None }).unwrap_or_default();
                    trim(&mut value, viewer.columns(p, table));
                    if let (Some(fields), Value::Object(map)) = (fields, &mut value) {
                        map.retain(|k, _| k == "id" || fields.iter().any(|f| f == k));
                    }
                    with_due_at(table, &mut value, viewer);
                    value
                })
                .collect()
        }
        Err(e) => return json!({"type": "error", "sub": sub_id, "message": e.to_string()}),
    };
    json!({"type": "snapshot", "sub": sub_id, "items": items, "etags": etags, "event_id": event_id})
}

/// Replays the changes after `after` (from the store's journal) to the subscriptions.
fn resume(
    after: u64,
    store: &Arc<dyn Storage>,
    viewer: &Viewer,
    p: &Principal,
    subs: &HashMap<String, Subscription>,
    seen: &mut u64,
    out: &mut Vec<Value>,
) {
    let past = match store.changes_after(after) {
        Ok(past) => past,
        Err(e) => {
            out.push(json!({"type": "error", "message": e.to_string()}));
            return;
        }
    };
    if let Some(first) = past.oldest_held {
        out.push(json!({"type": "error", "message": format!(
            "events before {first} are archived (data/archive/); resume from {} at the earliest", first - 1)}));
    }
    for change in &past.changes {
        for (sub_id, sub) in subs {
            // An update event holds only the changed fields: marked partial.
            let partial = change.op == crate::store::ChangeOp::Update;
            if let Some(delivery) = viewer.deliver_replayed(p, sub, change) {
                out.push(message(sub_id, change, delivery, partial && delivery == Delivery::Change, viewer, p));
            }
        }
    }
    *seen = (*seen).max(past.last_event_id);
    out.push(json!({"type": "resumed", "after_event_id": after, "event_id": past.last_event_id}));
}
