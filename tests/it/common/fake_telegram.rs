//! A fake Telegram Bot API for the bot's tests: it speaks the real JSON of the methods
//! the bot calls (`getMe`, `getUpdates` with real long polling, `sendMessage`,
//! `editMessageText`, `answerCallbackQuery`), records every call, and can be told to
//! fail a method (a 429 with `retry_after`, say) or to answer that a user blocked the
//! bot.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Notify;
use warp::Filter;

pub const BOT_ID: i64 = 999_000;
pub const BOT_USERNAME: &str = "taskboard_test_bot";

/// One call the bot made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    pub at: Instant,
    /// The HTTP status the fake answered (0 while it has not yet).
    pub status: u16,
}

#[derive(Default)]
struct State {
    token: String,
    /// Updates not yet confirmed by an offset.
    updates: Mutex<Vec<Value>>,
    next_update: AtomicI64,
    next_message: AtomicI64,
    arrived: Notify,
    calls: Mutex<Vec<Call>>,
    called: Notify,
    /// Scripted answers per method, taken before the normal one.
    failures: Mutex<HashMap<String, VecDeque<(u16, Value)>>>,
    blocked: Mutex<HashSet<i64>>,
    /// Telegram is down: every call answers 502 Bad Gateway.
    down: std::sync::atomic::AtomicBool,
}

/// The fake, serving on a loopback port until the test ends.
#[derive(Clone)]
pub struct FakeTelegram {
    pub url: String,
    pub addr: SocketAddr,
    state: Arc<State>,
}

fn reply(status: u16, body: Value) -> warp::http::Response<String> {
    warp::http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .unwrap()
}

fn ok(result: Value) -> warp::http::Response<String> {
    reply(200, json!({"ok": true, "result": result}))
}

pub fn user_json(id: i64, username: Option<&str>) -> Value {
    let mut user = json!({"id": id, "is_bot": false, "first_name": format!("User{id}")});
    if let Some(name) = username {
        user["username"] = json!(name);
    }
    user
}

fn message_json(message_id: i64, chat: i64, from: Value, text: &str) -> Value {
    let mut message = json!({
        "message_id": message_id,
        "date": chrono::Utc::now().timestamp(),
        "chat": {"id": chat, "type": "private", "first_name": "Someone"},
        "from": from,
        "text": text,
    });
    if text.starts_with('/') {
        let length = text.split_whitespace().next().unwrap_or("").encode_utf16().count();
        message["entities"] = json!([{"type": "bot_command", "offset": 0, "length": length}]);
    }
    message
}

impl FakeTelegram {
    /// Starts on a free port.
    pub async fn start(token: &str) -> FakeTelegram {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(token, listener)
    }

    /// Starts on a given address (a test that lets the bot find nothing there first).
    pub async fn start_on(token: &str, addr: SocketAddr) -> FakeTelegram {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        Self::serve(token, listener)
    }

    fn serve(token: &str, listener: tokio::net::TcpListener) -> FakeTelegram {
        let state = Arc::new(State {
            token: token.to_string(),
            next_update: AtomicI64::new(1),
            next_message: AtomicI64::new(1000),
            ..State::default()
        });
        let addr = listener.local_addr().unwrap();
        let shared = state.clone();
        let route = warp::path!(String / String).and(warp::post()).and(warp::body::bytes()).then(
            move |bot: String, method: String, body: bytes::Bytes| {
                let state = shared.clone();
                async move {
                    // Method names are case-insensitive in the Bot API (teloxide sends `GetMe`).
                    let method = canonical(&method);
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    // Recorded as it arrives (a long poll answers much later), and its
                    // status filled in once answered.
                    let index = {
                        let mut calls = state.calls.lock().unwrap();
                        calls.push(Call { method: method.clone(), body: body.clone(), at: Instant::now(), status: 0 });
                        calls.len() - 1
                    };
                    state.called.notify_waiters();
                    let response = answer(&state, &bot, &method, &body).await;
                    state.calls.lock().unwrap()[index].status = response.status().as_u16();
                    state.called.notify_waiters();
                    response
                }
            },
        );
        tokio::spawn(warp::serve(route).incoming(listener).run());
        FakeTelegram { url: format!("http://{addr}"), addr, state }
    }

    /// A text message from a user in their private chat (chat id = user id).
    pub fn message(&self, from: i64, username: Option<&str>, text: &str) {
        let id = self.state.next_message.fetch_add(1, Ordering::Relaxed);
        self.push(json!({"message": message_json(id, from, user_json(from, username), text)}));
    }

    /// A text message from a user whose Telegram client speaks `language` (its
    /// `language_code`).
    pub fn message_in(&self, from: i64, username: Option<&str>, language: &str, text: &str) {
        let id = self.state.next_message.fetch_add(1, Ordering::Relaxed);
        let mut user = user_json(from, username);
        user["language_code"] = json!(language);
        self.push(json!({"message": message_json(id, from, user, text)}));
    }

    /// A press of an inline button on message `message_id` in the user's chat.
    pub fn press(&self, from: i64, message_id: i64, data: &str) {
        let message = message_json(message_id, from, user_json(BOT_ID, Some(BOT_USERNAME)), "(the notification)");
        let id = self.state.next_update.load(Ordering::Relaxed);
        self.push(json!({"callback_query": {
            "id": format!("cb{id}"), "from": user_json(from, None), "message": message,
            "chat_instance": "ci", "data": data}}));
    }

    /// Any update (its `update_id` is given here).
    pub fn push(&self, mut update: Value) {
        update["update_id"] = json!(self.state.next_update.fetch_add(1, Ordering::Relaxed));
        self.state.updates.lock().unwrap().push(update);
        self.state.arrived.notify_waiters();
    }

    /// Telegram goes down (every call answers 502) or comes back.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// The next call of `method` gets this answer instead.
    pub fn fail_next(&self, method: &str, status: u16, body: Value) {
        self.state.failures.lock().unwrap().entry(method.to_string()).or_default().push_back((status, body));
    }

    /// `sendMessage` to this chat answers 403 "bot was blocked by the user".
    pub fn block(&self, chat: i64) {
        self.state.blocked.lock().unwrap().insert(chat);
    }

    pub fn unblock(&self, chat: i64) {
        self.state.blocked.lock().unwrap().remove(&chat);
    }

    pub fn all_calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.state.calls.lock().unwrap().iter().filter(|c| c.method == method).cloned().collect()
    }

    /// Messages sent to `chat` (answered 200).
    pub fn sent_to(&self, chat: i64) -> Vec<Call> {
        self.calls("sendMessage").into_iter().filter(|c| c.status == 200 && c.body["chat_id"] == json!(chat)).collect()
    }

    /// Waits until a call of `method` satisfies `wanted`, and returns it.
    pub async fn wait_for(&self, method: &str, within: Duration, wanted: impl Fn(&Call) -> bool) -> Call {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.state.called.notified();
            if let Some(call) = self.calls(method).into_iter().find(|c| wanted(c)) {
                return call;
            }
            let left = deadline.checked_duration_since(Instant::now()).unwrap_or_else(|| {
                panic!("no {method} call as wanted within {within:?}; calls: {:#?}", self.state.calls.lock().unwrap())
            });
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }

    /// Waits for the next message to `chat` whose text contains `needle`.
    pub async fn wait_text(&self, chat: i64, needle: &str) -> Call {
        self.wait_for("sendMessage", Duration::from_secs(10), |c| {
            c.status == 200
                && c.body["chat_id"] == json!(chat)
                && c.body["text"].as_str().unwrap_or("").contains(needle)
        })
        .await
    }

    /// Updates not yet confirmed to the fake by an offset.
    pub fn unconfirmed(&self) -> usize {
        self.state.updates.lock().unwrap().len()
    }
}

fn canonical(method: &str) -> String {
    ["getMe", "getUpdates", "sendMessage", "editMessageText", "answerCallbackQuery", "setMyCommands"]
        .into_iter()
        .find(|m| m.eq_ignore_ascii_case(method))
        .map_or_else(|| method.to_string(), String::from)
}

async fn answer(state: &State, bot: &str, method: &str, body: &Value) -> warp::http::Response<String> {
    if bot != format!("bot{}", state.token) {
        return reply(401, json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    }
    if state.down.load(Ordering::SeqCst) {
        return reply(502, json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}));
    }
    if let Some((status, body)) = state.failures.lock().unwrap().get_mut(method).and_then(VecDeque::pop_front) {
        return reply(status, body);
    }
    match method {
        "getMe" => ok(json!({"id": BOT_ID, "is_bot": true, "first_name": "Taskboard", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
            "can_connect_to_business": false, "has_main_web_app": false})),
        "getUpdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            let limit = body["limit"].as_u64().unwrap_or(100) as usize;
            let timeout = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0));
            let deadline = Instant::now() + timeout;
            loop {
                let notified = state.arrived.notified();
                {
                    let mut updates = state.updates.lock().unwrap();
                    // An offset confirms every update before it (Telegram forgets them).
                    updates.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    if !updates.is_empty() {
                        return ok(Value::Array(updates.iter().take(limit).cloned().collect()));
                    }
                }
                let Some(left) = deadline.checked_duration_since(Instant::now()) else { return ok(json!([])) };
                let _ = tokio::time::timeout(left, notified).await;
            }
        }
        "sendMessage" => {
            let chat = body["chat_id"].as_i64().unwrap_or(0);
            if state.blocked.lock().unwrap().contains(&chat) {
                return reply(
                    403,
                    json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
                );
            }
            let id = state.next_message.fetch_add(1, Ordering::Relaxed);
            let text = body["text"].as_str().unwrap_or("");
            ok(message_json(id, chat, user_json(BOT_ID, Some(BOT_USERNAME)), text))
        }
        "editMessageText" => {
            let chat = body["chat_id"].as_i64().unwrap_or(0);
            let id = body["message_id"].as_i64().unwrap_or(0);
            ok(message_json(id, chat, user_json(BOT_ID, Some(BOT_USERNAME)), body["text"].as_str().unwrap_or("")))
        }
        "answerCallbackQuery" => ok(json!(true)),
        // The command menu: the real API checks each command's name and description.
        "setMyCommands" => {
            let commands = body["commands"].as_array().cloned().unwrap_or_default();
            let valid = !commands.is_empty()
                && commands.iter().all(|c| {
                    let name = c["command"].as_str().unwrap_or("");
                    let description = c["description"].as_str().unwrap_or("");
                    (1..=32).contains(&name.len())
                        && name.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
                        && (1..=256).contains(&description.chars().count())
                });
            if valid {
                ok(json!(true))
            } else {
                reply(400, json!({"ok": false, "error_code": 400, "description": "Bad Request: BOT_COMMAND_INVALID"}))
            }
        }
        other => {
            reply(404, json!({"ok": false, "error_code": 404, "description": format!("Not Found: method {other}")}))
        }
    }
}
