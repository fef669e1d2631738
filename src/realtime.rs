//! `GET /ws`: the change feed over WebSocket (API.md).
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

use crate::api::catalog::{Catalog, Shape};
use crate::api::json::{RowJson, record_to_json};
use crate::api::problem::ApiError;
use crate::auth::policy::{Action, Area, Role, Scope};
use crate::domain::TableKind;
use crate::service::RecordService;
use crate::service::access::{NAME_FIELDS, Principal, area_of};
use crate::service::auth::Security;
use crate::store::{Change, ChangeOp, Fields, Storage};

/// How often an idle client is pinged, and how long it may stay silent.
const PING_EVERY: Duration = Duration::from_secs(20);
const SILENT_FOR: Duration = Duration::from_secs(60);
/// How long one message may take to go out before the client is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Sessions open now, shared with `/api/health` and the metrics.
pub static CLIENTS: AtomicUsize = AtomicUsize::new(0);

/// How long a session without a token may take to send its `auth` message.
const AUTH_WITHIN: Duration = Duration::from_secs(10);

/// What a session's user may see: the same matrix and record scopes as REST.
#[derive(Clone)]
pub struct Viewer {
    pub security: Arc<Security>,
    pub records: RecordService,
}

impl Viewer {
    /// Brings the session's user up to date (users.csv and the sessions as they are
    /// now), so a logout, a deactivation or a role change applies at once. None: the
    /// session has not authenticated. With security off there is nothing to re-read.
    fn refresh(&self, principal: &mut Option<Principal>) -> Option<Result<(), String>> {
        let current = principal.as_ref()?;
        if !self.security.enabled {
            return Some(Ok(()));
        }
        Some(match self.security.recheck(current) {
            Ok(p) => {
                *principal = Some(p);
                Ok(())
            }
            Err(e) => {
                *principal = None;
                Err(e.to_string())
            }
        })
    }

    /// Whether `p` may subscribe to `topic` at all.
    fn topic_allowed(&self, p: &Principal, sub: &Subscription) -> Result<(), String> {
        let (area, path) = match (sub.topic.as_str(), sub.table) {
            ("jobs", _) => (Area::System, "/api/system/scheduler"),
            ("events", _) => (Area::Events, "/api/events"),
            (_, Some(table)) => (
                area_of(table),
                match table {
                    TableKind::Users => "/api/users",
                    TableKind::Comments => "/api/comments",
                    TableKind::Docs => "/api/docs",
                    _ => "/api/tasks",
                },
            ),
            _ => (Area::System, "/api/system"),
        };
        if p.scope(area, Action::Read) == Scope::None
            || (p.role != Role::Admin && self.security.enabled && self.security.admin_only.covers(path))
        {
            return Err(format!("the {} role may not read {}", p.role, sub.topic));
        }
        Ok(())
    }

    /// Whether `p` may read this record of `table` (the record as a change carries it).
    fn visible(&self, p: &Principal, table: TableKind, fields: Option<&Fields>) -> bool {
        match fields {
            Some(f) => self.records.may_read(p, table, f),
            None => false,
        }
    }

    /// The columns `p` sees of `table` (None: all).
    fn columns(&self, p: &Principal, table: TableKind) -> Option<&'static [&'static str]> {
        (p.scope(area_of(table), Action::Read) == Scope::Names).then_some(&NAME_FIELDS[..])
    }
}

/// Keeps only `columns` of a record's JSON.
fn trim(value: &mut Value, columns: Option<&[&str]>) {
    if let (Some(columns), Value::Object(map)) = (columns, value) {
        map.retain(|k, _| columns.contains(&k.as_str()));
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
    warp::path("ws")
        .and(warp::path::end())
        .and(warp::ws())
        .and(crate::api::gate::caller())
        .map(move |ws: warp::ws::Ws, caller: crate::api::gate::Caller| {
            if CLIENTS.load(Ordering::Acquire) >= max_clients {
                return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too many WebSocket clients").into_response();
            }
            // A `token` query parameter authenticates at once; without one, the first
            // message must (`{"type": "auth", "token": ...}`).
            let principal = caller.principal.ok().map(|p| (*p).clone());
            let viewer = viewer.clone();
            let store = viewer.records.store().clone();
            ws.max_message_size(64 * 1024)
                .on_upgrade(move |socket| session(socket, store, viewer, principal))
                .into_response()
        })
        .boxed()
}

/// One subscription of a session.
struct Subscription {
    table: Option<TableKind>,
    /// `tasks/42`: only this record.
    id: Option<u64>,
    /// The topic as the client named it.
    topic: String,
    /// field → accepted values.
    filter: Vec<(String, Vec<String>)>,
}

impl Subscription {
    fn wants(&self, change: &Change) -> bool {
        match self.topic.as_str() {
            "events" => true,
            // What the scheduler records: job runs, reminders, reports.
            "jobs" => change.table == TableKind::Events && change.source == crate::store::Source::Scheduler,
            _ => self.table == Some(change.table) && self.id.is_none_or(|id| id == change.id),
        }
    }

    fn matches(&self, fields: Option<&Fields>) -> bool {
        let Some(fields) = fields else { return false };
        self.filter.iter().all(|(k, values)| fields.get(k).is_some_and(|v| values.iter().any(|w| w == v)))
    }
}

/// The messages a change means for one subscription: a change, `left`, or nothing.
fn messages_for(sub_id: &str, sub: &Subscription, change: &Change) -> Option<Value> {
    if !sub.wants(change) {
        return None;
    }
    let (was, is) = (sub.matches(change.before.as_ref()), sub.matches(change.after.as_ref()));
    if sub.filter.is_empty() || is || (change.op == ChangeOp::Delete && was) {
        let record = |f: &Option<Fields>| f.as_ref().map(|f| fields_json(change.table, f)).unwrap_or(Value::Null);
        Some(json!({
            "type": "change", "sub": sub_id, "event_id": change.event_id, "op": change.op,
            "topic": change.table.name(), "id": change.id, "source": change.source, "actor": change.actor,
            "before": record(&change.before), "after": record(&change.after),
        }))
    } else if was {
        Some(json!({"type": "left", "sub": sub_id, "id": change.id, "event_id": change.event_id}))
    } else {
        None
    }
}

/// Whether the record a change is about, before or after it, is one `p` may read.
fn visible_change(viewer: &Viewer, p: &Principal, change: &Change) -> bool {
    match change.table {
        // Events are all or nothing (the topic was allowed or refused at subscribe).
        TableKind::Events => true,
        table => viewer.visible(p, table, change.after.as_ref()) || viewer.visible(p, table, change.before.as_ref()),
    }
}

/// [`messages_for`], narrowed to what `p` may read: a change to a record they cannot
/// read is not sent; one that takes a record out of their reach is a `left`.
fn deliver(sub_id: &str, sub: &Subscription, change: &Change, viewer: &Viewer, p: &Principal) -> Option<Value> {
    if change.table != TableKind::Events {
        let before = viewer.visible(p, change.table, change.before.as_ref());
        let after = viewer.visible(p, change.table, change.after.as_ref());
        if !before && !after {
            return None;
        }
        if before && !after && change.op != ChangeOp::Delete {
            return sub
                .wants(change)
                .then(|| json!({"type": "left", "sub": sub_id, "id": change.id, "event_id": change.event_id}));
        }
    }
    let mut message = messages_for(sub_id, sub, change)?;
    if let Some(columns) = viewer.columns(p, change.table) {
        trim(&mut message["before"], Some(columns));
        trim(&mut message["after"], Some(columns));
    }
    Some(message)
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

/// Parses `topic` (`tasks`, `tasks/42`, `comments`, `users`, `docs`, `events`, `jobs`).
fn parse_topic(topic: &str) -> Result<(Option<TableKind>, Option<u64>), String> {
    let (name, id) = match topic.split_once('/') {
        Some((name, id)) => (name, Some(id.parse::<u64>().map_err(|_| format!("{topic:?}: the id must be a number"))?)),
        None => (topic, None),
    };
    match name {
        "events" | "jobs" if id.is_none() => Ok((None, None)),
        "tasks" => Ok((Some(TableKind::Tasks), id)),
        "comments" | "users" | "docs" if id.is_none() => Ok((TableKind::from_name(name), None)),
        _ => {
            Err(format!("unknown topic {topic:?}; expected tasks, tasks/{{id}}, comments, users, docs, events or jobs"))
        }
    }
}

fn parse_filter(filter: Option<&Value>) -> Result<Vec<(String, Vec<String>)>, String> {
    let Some(filter) = filter else { return Ok(Vec::new()) };
    let Value::Object(map) = filter else { return Err("filter must be an object of field: value".into()) };
    map.iter()
        .map(|(k, v)| {
            let scalar = |v: &Value| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                Value::Null => Ok(String::new()),
                _ => Err(format!("filter {k:?}: a value or a list of values")),
            };
            let values = match v {
                Value::Array(items) => items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?,
                other => vec![scalar(other)?],
            };
            Ok((k.clone(), values))
        })
        .collect()
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
        principal = Some(Principal::anonymous());
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
                                out.extend(subs.iter().filter_map(|(id, sub)| deliver(id, sub, &change, &viewer, p)));
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
            let parsed = parse_topic(topic).and_then(|(table, record)| {
                Ok(Subscription {
                    table,
                    id: record,
                    topic: topic.to_string(),
                    filter: parse_filter(message.get("filter"))?,
                })
            });
            let sub = match parsed.and_then(|sub| viewer.topic_allowed(&p, &sub).map(|()| sub)) {
                Ok(sub) => sub,
                Err(m) => {
                    out.push(json!({"type": "error", "sub": id, "message": m}));
                    return;
                }
            };
            if message["snapshot"].as_bool().unwrap_or(false) {
                out.push(snapshot(&id, &sub, store, viewer, &p, *seen));
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
            resume(after, store, viewer, &p, subs, seen, out);
        }
        other => {
            out.push(error(format!("unknown message type {other:?}; expected subscribe, unsubscribe, resume, ping")))
        }
    }
}

/// The records a subscription covers now.
fn snapshot(
    sub_id: &str,
    sub: &Subscription,
    store: &Arc<dyn Storage>,
    viewer: &Viewer,
    p: &Principal,
    event_id: u64,
) -> Value {
    let Some(table) = sub.table else {
        return json!({"type": "snapshot", "sub": sub_id, "items": [], "event_id": event_id});
    };
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
                .map(|(_, row)| {
                    let mut value = serde_json::to_value(RowJson { table: &t, row, columns: None }).unwrap_or_default();
                    trim(&mut value, viewer.columns(p, table));
                    value
                })
                .collect()
        }
        Err(e) => return json!({"type": "error", "sub": sub_id, "message": e.to_string()}),
    };
    json!({"type": "snapshot", "sub": sub_id, "items": items, "event_id": event_id})
}

/// Replays the changes after `after` from events.csv to the subscriptions.
fn resume(
    after: u64,
    store: &Arc<dyn Storage>,
    viewer: &Viewer,
    p: &Principal,
    subs: &HashMap<String, Subscription>,
    seen: &mut u64,
    out: &mut Vec<Value>,
) {
    let events = match store.table(TableKind::Events) {
        Ok(e) => e,
        Err(e) => {
            out.push(json!({"type": "error", "message": e.to_string()}));
            return;
        }
    };
    let col = |n: &str| events.position(n).unwrap_or(usize::MAX);
    let (c_type, c_entity, c_entity_id, c_user, c_source, c_data) =
        (col("type"), col("entity"), col("entity_id"), col("user_id"), col("source"), col("data"));
    if let Some(first) = events.rows.keys().next()
        && *first > after + 1
    {
        out.push(json!({"type": "error", "message": format!(
            "events before {first} are archived (data/archive/); resume from {} at the earliest", first - 1)}));
    }
    let mut last = after;
    for (event_id, row) in events.rows.range(after + 1..) {
        last = *event_id;
        let Some(table) = TableKind::from_entity(row.cell(c_entity)) else { continue };
        let op = match row.cell(c_type).rsplit('.').next() {
            Some("created") => ChangeOp::Create,
            Some("updated") => ChangeOp::Update,
            Some("deleted") => ChangeOp::Delete,
            _ => continue,
        };
        let Ok(id) = row.cell(c_entity_id).parse::<u64>() else { continue };
        let data: Value = serde_json::from_str(row.cell(c_data)).unwrap_or_default();
        let fields = |key: &str| -> Option<Fields> {
            data[key].as_object().filter(|m| !m.is_empty()).map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                    .collect()
            })
        };
        let source = match row.cell(c_source) {
            "file" => crate::store::Source::File,
            "scheduler" => crate::store::Source::Scheduler,
            "telegram" => crate::store::Source::Telegram,
            "ws" => crate::store::Source::Ws,
            "system" => crate::store::Source::System,
            _ => crate::store::Source::Api,
        };
        let change = Change {
            event_id: *event_id,
            table,
            op,
            id,
            before: fields("before"),
            after: fields("after"),
            actor: row.cell(c_user).parse().ok(),
            source,
            at: String::new(),
        };
        for (sub_id, sub) in subs {
            // An update event holds only the changed fields: filters on other fields
            // cannot be judged, so the change is sent; whether the user may see the
            // record is judged on the record as it is now.
            let partial = op == ChangeOp::Update;
            let message = if partial && sub.wants(&change) {
                let now = store.table(table).ok().and_then(|t| t.get(id).map(|row| t.fields(row)));
                if !visible_change(viewer, p, &change) && !viewer.visible(p, table, now.as_ref()) {
                    continue;
                }
                let columns = viewer.columns(p, table);
                let record = |f: &Option<Fields>| {
                    f.as_ref().map(|f| {
                        let mut v = fields_json(table, f);
                        trim(&mut v, columns);
                        v
                    })
                };
                Some(json!({"type": "change", "sub": sub_id, "event_id": event_id, "op": op, "topic": table.name(),
                    "id": id, "source": change.source, "actor": change.actor, "partial": true,
                    "before": record(&change.before), "after": record(&change.after)}))
            } else {
                deliver(sub_id, sub, &change, viewer, p)
            };
            out.extend(message);
        }
    }
    *seen = (*seen).max(last);
    out.push(json!({"type": "resumed", "after_event_id": after, "event_id": last}));
}
