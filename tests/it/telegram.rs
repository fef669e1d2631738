//! The Telegram bot against a fake Bot API (tests/it/common/fake_telegram.rs): the
//! server's real bot long polls it through `telegram.api_url`, and these tests speak
//! to the bot as Telegram users would, and to the server over HTTP and WebSocket.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use taskboard::config::{Config, Secret, ValidationMethod};
use tokio_tungstenite::tungstenite::Message;

use crate::common::TestApp;
use crate::common::fake_telegram::{BOT_USERNAME, FakeTelegram};
use crate::security::{SECRET, call, token};

pub(crate) const TOKEN: &str = "4242:fake-bot-token-never-shown";

const USERS: &str = "id,username,telegram_id,role,created_at,updated_at,is_active\n\
1,anna,1001,admin,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
2,mike,1002,manager,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
3,boris,1003,member,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
4,carl,1004,client,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
5,tanya_tg,,member,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
6,olga,1006,member,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,false\n\
7,vera,,member,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n";

const TASKS: &str = "id,title,description,status,priority,assigned_to,created_by,due_date,created_at,updated_at\n\
1,Washer leaks,Water under the <b>drum</b>,new,high,3,4,2020-01-01,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z\n\
2,Fridge noise,,new,low,2,1,,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z\n\
3,Dryer does not start,,in_progress,medium,,1,,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z\n";

pub(crate) fn prepare(data: &Path) {
    std::fs::write(data.join("users.csv"), USERS).unwrap();
    std::fs::write(data.join("tasks.csv"), TASKS).unwrap();
    crate::security::write_credentials(data, 1..=7);
}

pub(crate) fn configure(c: &mut Config, api_url: &str) {
    c.security.enabled = true;
    c.security.validation_method = ValidationMethod::Both;
    c.security.rate_limiting.requests_per_minute = 100_000;
    c.secret_key = Secret(SECRET.into());
    c.telegram.bot_token = Secret(TOKEN.into());
    c.telegram.api_url = api_url.into();
}

async fn bot_app(fake: &FakeTelegram) -> TestApp {
    bot_app_with(fake, |_| {}).await
}

pub(crate) async fn bot_app_with(fake: &FakeTelegram, more: impl FnOnce(&mut Config)) -> TestApp {
    let url = fake.url.clone();
    let app = TestApp::spawn_with(prepare, |c| {
        configure(c, &url);
        more(c);
    })
    .await;
    fake.wait_for("getUpdates", Duration::from_secs(10), |_| true).await;
    app
}

/// Sends `text` from Telegram user `from` and waits for the bot's answer to them.
pub(crate) async fn say(fake: &FakeTelegram, from: i64, username: Option<&str>, text: &str) -> Value {
    let before = fake.sent_to(from).len();
    fake.message(from, username, text);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sent = fake.sent_to(from);
        if sent.len() > before {
            return sent[before].body.clone();
        }
        assert!(Instant::now() < deadline, "no answer to {text:?} from {from}; calls: {:#?}", fake.all_calls());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn text_of(message: &Value) -> String {
    message["text"].as_str().unwrap_or("").to_string()
}

/// The callback data of every inline button of a message.
pub(crate) fn buttons(message: &Value) -> Vec<String> {
    message["reply_markup"]["inline_keyboard"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .flat_map(|row| row.as_array().cloned().unwrap_or_default())
                .filter_map(|b| b["callback_data"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

async fn user(app: &TestApp, admin: &str, id: u64) -> Value {
    let (status, body) = call(app, "GET", &format!("/api/users/{id}"), Some(admin), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn task(app: &TestApp, admin: &str, id: u64) -> Value {
    let (status, body) = call(app, "GET", &format!("/api/tasks/{id}"), Some(admin), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_recognised_by_id_by_username_and_by_a_one_time_code() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = bot_app(&fake).await;
    let admin = token(&app, "anna").await;

    // By the bound id.
    let reply = say(&fake, 1001, Some("whatever"), "/start").await;
    assert!(text_of(&reply).contains("Hello, <b>anna</b>"), "{reply}");
    assert_eq!(reply["parse_mode"], "HTML");

    // By username on first contact (validation_method: both), case and @ aside: bound now.
    let reply = say(&fake, 2005, Some("Tanya_TG"), "/help").await;
    assert!(text_of(&reply).contains("Hello, <b>tanya_tg</b>"), "{reply}");
    assert_eq!(user(&app, &admin, 5).await["telegram_id"], "2005");
    // Once bound, the id decides: the same username from another account is nobody.
    let reply = say(&fake, 2999, Some("tanya_tg"), "/tasks").await;
    assert!(text_of(&reply).contains("not linked"), "{reply}");

    // An unknown account is told how to link, and nothing else.
    let reply = say(&fake, 3000, Some("stranger"), "/tasks").await;
    assert!(text_of(&reply).contains("Link Telegram"), "{reply}");
    // A deactivated user is refused.
    let reply = say(&fake, 1006, None, "/tasks").await;
    assert!(text_of(&reply).contains("deactivated"), "{reply}");

    // A one-time code from the API, bound to the web user who asked.
    let vera = token(&app, "vera").await;
    let (status, link) = call(&app, "POST", "/api/auth/telegram/link", Some(&vera), None).await;
    assert_eq!(status, 201, "{link}");
    let code = link["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 32, "128 bits in hex");
    assert_eq!(link["deep_link"], format!("https://t.me/{BOT_USERNAME}?start={code}"));
    let stored = std::fs::read_to_string(app.data().join(".taskboard/telegram_links.csv")).unwrap();
    assert!(!stored.contains(&code), "the code is kept hashed: {stored}");
    let reply = say(&fake, 3007, None, &format!("/start {code}")).await;
    assert!(text_of(&reply).contains("Linked: you are <b>vera</b>"), "{reply}");
    assert_eq!(user(&app, &admin, 7).await["telegram_id"], "3007");
    // Single use.
    let reply = say(&fake, 3008, None, &format!("/login {code}")).await;
    assert!(text_of(&reply).contains("already used"), "{reply}");
    // Not an API key's to ask for, and not without a login.
    let (status, _) = call(&app, "POST", "/api/auth/telegram/link", None, None).await;
    assert_eq!(status, 401);
    let dir = app.stop().await;

    // An expired code (written as the server keeps them: a digest and an expiry).
    use sha2::Digest;
    let digest = taskboard::domain::values::hex(&sha2::Sha256::digest(b"0123456789abcdef0123456789abcdef"));
    std::fs::write(
        dir.path().join("data/.taskboard/telegram_links.csv"),
        format!("code_sha256,user_id,expires_at\n{digest},7,2020-01-01T00:00:00Z\n"),
    )
    .unwrap();
    let mut config = crate::common::test_config(&dir.path().join("data"));
    configure(&mut config, &fake.url);
    let app = TestApp::start_in(dir, config).await;
    let reply = say(&fake, 3009, None, "/start 0123456789abcdef0123456789abcdef").await;
    assert!(text_of(&reply).contains("expired"), "{reply}");
    // A clean stop confirms what was read: Telegram would not send it again.
    app.stop().await;
    assert_eq!(fake.unconfirmed(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_command_does_what_rest_does_for_the_role_and_refuses_what_rest_refuses() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = bot_app(&fake).await;
    let admin = token(&app, "anna").await;
    let boris = (1003, Some("boris"));
    let ask = |text: &'static str| say(&fake, boris.0, boris.1, text);

    let t = text_of(&ask("/tasks").await);
    assert!(t.contains("#1 Washer leaks") && !t.contains("Fridge"), "{t}");
    let card = ask("/task 1").await;
    let t = text_of(&card);
    assert!(t.contains("<b>#1 Washer leaks</b>") && t.contains("Assigned to: boris"), "{t}");
    assert!(t.contains("&lt;b&gt;drum&lt;/b&gt;"), "people's text is escaped: {t}");
    let statuses: Vec<String> = buttons(&card).iter().map(|b| b.split(':').nth(2).unwrap().to_string()).collect();
    assert_eq!(statuses, ["in_progress", "done", "cancelled"]);
    assert!(text_of(&ask("/task 999").await).contains("task 999 does not exist"));
    assert!(text_of(&ask("/task x").await).starts_with("Usage: /task N"));

    let t = text_of(&ask("/new Replace the hose").await);
    assert!(t.contains("Created") && t.contains("#4 Replace the hose"), "{t}");
    let created = task(&app, &admin, 4).await;
    assert_eq!(created["created_by"], 3);
    let (_, history) = call(&app, "GET", "/api/tasks/4/history", Some(&admin), None).await;
    assert_eq!(history["items"][0]["source"], "telegram", "{history}");
    assert!(text_of(&ask("/new").await).starts_with("Usage: /new TITLE"));
    assert!(text_of(&ask("/new =1+1").await).contains("spreadsheet formula"), "refused at the door");

    assert!(text_of(&ask("/status 1 in_progress").await).contains("Status set to <b>In progress</b>"));
    assert_eq!(task(&app, &admin, 1).await["status"], "in_progress");
    // A status by its label, in any case.
    assert!(text_of(&ask("/status 1 NEW").await).contains("Status set to <b>New</b>"));
    assert!(text_of(&ask("/status 1 in progress").await).contains("Status set to <b>In progress</b>"));
    let t = text_of(&ask("/status 1 flying").await);
    assert!(t.contains("There is no status \"flying\". Valid ones: New, In progress, Done, Cancelled"), "{t}");
    assert!(text_of(&ask("/status 1").await).starts_with("Usage: /status N STATUS"));
    // A member changes only tasks assigned to or made by them.
    let t = text_of(&ask("/status 2 done").await);
    assert!(t.starts_with("Not allowed"), "{t}");
    assert_eq!(task(&app, &admin, 2).await["status"], "new");
    assert!(text_of(&ask("/done 1").await).contains("<b>Done</b>"));
    assert_eq!(task(&app, &admin, 1).await["status"], "done");

    assert!(text_of(&ask("/comment 1 Fixed the hose, <ok>").await).contains("Comment added to #1"));
    let (_, comments) = call(&app, "GET", "/api/tasks/1/comments", Some(&admin), None).await;
    assert_eq!(comments["items"][0]["message"], "Fixed the hose, <ok>");
    assert!(text_of(&ask("/comment 1").await).starts_with("Usage: /comment N TEXT"));
    let t = text_of(&ask("/comment 1 =HYPERLINK(\"x\")").await);
    assert!(t.contains("spreadsheet formula"), "the door's own rules hold: {t}");

    let t = text_of(&ask("/report").await);
    assert!(t.contains("Hello, boris!") && t.contains("Done today: 1") && !t.contains("Team"), "{t}");
    let t = text_of(&ask("/analyze 1").await);
    assert!(t.contains("Analysis of #1") && t.contains("heuristic"), "{t}");
    let t = text_of(&ask("/settings").await);
    assert!(t.contains("✅ a task is assigned to you"), "{t}");
    assert!(text_of(&ask("/fly").await).starts_with("Unknown command /fly"));
    // Someone the bot does not know gets nothing of any command but how to link.
    for command in ["/tasks", "/task 1", "/new x", "/report", "/settings", "/analyze 1", "/done 1"] {
        let t = text_of(&say(&fake, 5555, Some("nobody_here"), command).await);
        assert!(t.starts_with("This Telegram account is not linked"), "{command}: {t}");
    }

    // A client: their own requests only, no status changes, no taking work.
    let carl = |text: &'static str| say(&fake, 1004, None, text);
    assert!(text_of(&carl("/new Oven is cold").await).contains("#5 Oven is cold"));
    assert_eq!(task(&app, &admin, 5).await["created_by"], 4);
    assert!(text_of(&carl("/task 2").await).contains("task 2 does not exist"));
    let card = carl("/task 5").await;
    assert!(buttons(&card).is_empty(), "a client gets no status buttons: {card}");
    assert!(text_of(&carl("/status 5 done").await).starts_with("Not allowed"));
    assert!(text_of(&carl("/take 5").await).starts_with("Not allowed"));
    assert!(text_of(&carl("/analyze 2").await).contains("task 2 does not exist"));

    // A technician takes unassigned work from the pool; then it is nobody else's to take.
    assert!(text_of(&ask("/take 3").await).contains("It is yours now"));
    assert_eq!(task(&app, &admin, 3).await["assigned_to"], 3);
    let t = text_of(&say(&fake, 1002, None, "/take 3").await);
    assert!(t.contains("task 3 is assigned to someone else"), "{t}");
    assert_eq!(task(&app, &admin, 3).await["assigned_to"], 3);
    // A manager's report has the team's figures.
    assert!(text_of(&say(&fake, 1002, None, "/report").await).contains("<b>Team</b>"));
}

async fn ws_changes(app: &TestApp, admin: &str) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    let url = format!("{}/ws", app.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text(json!({"type": "auth", "token": admin}).to_string())).await.unwrap();
    ws.send(Message::text(json!({"type": "subscribe", "id": "t", "topic": "tasks"}).to_string())).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            let Message::Text(t) = message else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "change" && tx.send(v).is_err() {
                return;
            }
        }
    });
    // The subscription is in place once a change is seen; give it a moment first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assignment_over_rest_tells_the_assignee_once_and_a_button_press_changes_the_task() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = bot_app(&fake).await;
    let admin = token(&app, "anna").await;
    let mut changes = ws_changes(&app, &admin).await;

    let (status, _) = call(&app, "PATCH", "/api/tasks/3", Some(&admin), Some(json!({"assigned_to": 3}))).await;
    assert_eq!(status, 200);
    let notice = fake.wait_text(1003, "Assigned to you").await;
    let text = text_of(&notice.body);
    assert!(text.contains("by anna") && text.contains("#3 Dryer does not start"), "{text}");
    let presses = buttons(&notice.body);
    assert_eq!(presses.len(), 3, "{presses:?}");
    // Exactly one message, and none to the one who did it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fake.sent_to(1003).len(), 1);
    assert!(fake.sent_to(1001).is_empty(), "{:?}", fake.sent_to(1001));
    let first = changes.recv().await.unwrap();
    assert_eq!(first["source"], "api");

    // The press changes the task as boris, through the same use case.
    let done = presses.iter().find(|b| b.contains(":done:")).unwrap().clone();
    let message_id = 1000;
    let answered = fake.calls("answerCallbackQuery").len();
    fake.press(1003, message_id, &done);
    let change = tokio::time::timeout(Duration::from_secs(5), changes.recv()).await.unwrap().unwrap();
    assert_eq!((change["source"].as_str(), change["actor"].as_u64()), (Some("telegram"), Some(3)), "{change}");
    assert_eq!(change["after"]["status"], "done");
    let edit = fake.wait_for("editMessageText", Duration::from_secs(5), |_| true).await;
    assert!(text_of(&edit.body).contains("You set the status to <b>Done</b>"), "{:?}", edit.body);
    assert!(fake.calls("answerCallbackQuery").len() > answered);
    // The creator (anna) hears of the status change; boris, who made it, does not.
    let told = fake.wait_text(1001, "Status: In progress → Done").await;
    assert!(text_of(&told.body).contains("by boris (Telegram)"), "{:?}", told.body);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(fake.sent_to(1003).len(), 1);

    // The same button again: the task changed since it was drawn, so nothing changes.
    let edits = fake.calls("editMessageText").len();
    fake.press(1003, message_id, &done);
    fake.wait_for("editMessageText", Duration::from_secs(5), |_| fake.calls("editMessageText").len() > edits).await;
    let last = fake.calls("editMessageText").pop().unwrap();
    assert!(text_of(&last.body).contains("Changed meanwhile"), "{:?}", last.body);
    let toast = fake.calls("answerCallbackQuery").pop().unwrap();
    assert!(toast.body["text"].as_str().unwrap().contains("changed meanwhile"), "{:?}", toast.body);

    // Roles are checked again at the press: a client's forged button does nothing.
    fake.press(1004, 1, "st:2:done:");
    let refused = fake
        .wait_for("answerCallbackQuery", Duration::from_secs(5), |c| {
            c.body["text"].as_str().unwrap_or("").contains("does not exist")
        })
        .await;
    assert!(refused.body["text"].is_string());
    assert_eq!(task(&app, &admin, 2).await["status"], "new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_report_reaches_a_member_with_their_day_and_a_manager_with_the_teams() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = bot_app_with(&fake, |c| c.telegram.team_chat_id = "-100777".into()).await;
    let admin = token(&app, "anna").await;
    let (status, body) = call(&app, "POST", "/api/system/scheduler/jobs/daily_report/run", Some(&admin), None).await;
    assert!(status < 300, "{status} {body}");
    let member = fake.wait_text(1003, "Hello, boris!").await;
    let t = text_of(&member.body);
    assert!(t.contains("Open: 1") && t.contains("Overdue: 1") && t.contains("#1 Washer leaks (due 2020-01-01)"), "{t}");
    assert!(!t.contains("Team"), "{t}");
    let manager = fake.wait_text(1002, "Hello, mike!").await;
    let t = text_of(&manager.body);
    assert!(t.contains("<b>Team</b>: 3 open, 1 overdue"), "{t}");
    let team = fake.wait_text(-100777, "Team summary").await;
    assert!(text_of(&team.body).contains("boris: 1 open · 1 overdue"), "{:?}", team.body);
    // Olga is deactivated, tanya and vera have no Telegram: none of them is written to.
    assert!(fake.sent_to(1006).is_empty());

    // /settings turns the report off for the next one.
    let settings = say(&fake, 1003, None, "/settings").await;
    let off = buttons(&settings).into_iter().find(|b| b == "set:report:0").unwrap();
    fake.press(1003, 1, &off);
    fake.wait_for("editMessageText", Duration::from_secs(5), |c| text_of(&c.body).contains("❌ your daily report"))
        .await;
    let before = fake.sent_to(1003).len();
    call(&app, "POST", "/api/system/scheduler/jobs/daily_report/run", Some(&admin), None).await;
    fake.wait_text(1002, "Hello, mike!").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(fake.sent_to(1003).len(), before, "boris turned it off");
    let settings = std::fs::read_to_string(app.data().join("telegram.csv")).unwrap();
    assert!(settings.lines().any(|l| l == "3,,,,,false,,,"), "{settings}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_api_that_is_down_at_start_is_retried_until_it_comes_up_and_the_server_serves_meanwhile() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{port}");
    let app = TestApp::spawn_with(prepare, |c| configure(c, &url)).await;
    let admin = token(&app, "anna").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let health = loop {
        let (_, health) = call(&app, "GET", "/api/health", Some(&admin), None).await;
        if health["components"]["telegram"]["state"] == "retrying" {
            break health;
        }
        assert!(Instant::now() < deadline, "{health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let telegram = &health["components"]["telegram"];
    let error = telegram["last_error"].as_str().unwrap();
    assert!(error.contains("getMe"), "{telegram}");
    assert!(!health.to_string().contains("fake-bot-token"), "the token never shows: {health}");
    // Meanwhile the API serves.
    assert_eq!(call(&app, "GET", "/api/tasks/1", Some(&admin), None).await.0, 200);

    let fake = FakeTelegram::start_on(TOKEN, port).await;
    let reply = say(&fake, 1001, None, "/help").await;
    assert!(text_of(&reply).contains("Hello"));
    let (_, health) = call(&app, "GET", "/api/health", Some(&admin), None).await;
    assert_eq!(health["components"]["telegram"]["state"], "ok", "{health}");
    assert_eq!(health["components"]["telegram"]["username"], BOT_USERNAME);
}

/// The next call of `method` is answered as Telegram answers a flood: 429, retry after.
fn too_many(fake: &FakeTelegram, method: &str, seconds: u64) {
    let description = format!("Too Many Requests: retry after {seconds}");
    let body =
        json!({"ok": false, "error_code": 429, "description": description, "parameters": {"retry_after": seconds}});
    fake.fail_next(method, 429, body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_waited_out_as_long_as_telegram_says() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = bot_app(&fake).await;
    too_many(&fake, "sendMessage", 2);
    say(&fake, 1001, None, "/help").await;
    let calls = fake.calls("sendMessage");
    assert_eq!((calls[0].status, calls[1].status), (429, 200));
    let waited = calls[1].at.duration_since(calls[0].at);
    assert!(waited >= Duration::from_millis(1950), "sent again after {waited:?}");
    let admin = token(&app, "anna").await;
    let (_, health) = call(&app, "GET", "/api/health", Some(&admin), None).await;
    assert!(health["components"]["telegram"]["last_error"].as_str().unwrap().contains("429"), "{health}");

    // getUpdates answered 429 too: polling waits as long as told, then goes on.
    too_many(&fake, "getUpdates", 1);
    // The poll in flight takes this message; the next poll meets the 429.
    say(&fake, 1001, None, "/tasks").await;
    let reply = tokio::time::timeout(Duration::from_secs(15), say(&fake, 1001, None, "/tasks")).await.unwrap();
    assert!(text_of(&reply).contains("open tasks"), "{reply}");
    let polls = fake.calls("getUpdates");
    let refused = polls.iter().position(|c| c.status == 429).expect("a poll met the 429");
    let waited = polls[refused + 1].at.duration_since(polls[refused].at);
    assert!(waited >= Duration::from_millis(950), "polled again after {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_blocked_the_bot_is_marked_skipped_and_given_the_backlog_when_they_write_again() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = bot_app(&fake).await;
    let admin = token(&app, "anna").await;
    fake.block(1003);
    call(&app, "PATCH", "/api/tasks/3", Some(&admin), Some(json!({"assigned_to": 3}))).await;
    fake.wait_for("sendMessage", Duration::from_secs(5), |c| c.status == 403).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let file = std::fs::read_to_string(app.data().join("telegram.csv")).unwrap_or_default();
        if file.lines().any(|l| l.starts_with("3,") && l.rsplit(',').next().is_some_and(|at| !at.is_empty())) {
            break;
        }
        assert!(Instant::now() < deadline, "no blocked mark: {file}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Skipped: nothing more is tried.
    call(&app, "PATCH", "/api/tasks/2", Some(&admin), Some(json!({"assigned_to": 3}))).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let tried: Vec<_> = fake.calls("sendMessage").into_iter().filter(|c| c.body["chat_id"] == 1003).collect();
    assert_eq!(tried.len(), 1, "{tried:?}");
    // They unblock and write: the mark goes, what waited for them comes in its order
    // (the message Telegram refused, then the one made while they were away), and they
    // are told things again.
    fake.unblock(1003);
    say(&fake, 1003, None, "/help").await;
    let first = fake.wait_text(1003, "#3").await;
    let second = fake.wait_text(1003, "#2").await;
    assert!(first.at < second.at, "the backlog keeps its order");
    call(&app, "PATCH", "/api/tasks/2", Some(&admin), Some(json!({"assigned_to": 2}))).await;
    call(&app, "PATCH", "/api/tasks/2", Some(&admin), Some(json!({"assigned_to": 3}))).await;
    fake.wait_for("sendMessage", Duration::from_secs(10), |c| {
        c.status == 200
            && c.body["chat_id"] == 1003
            && c.body["text"].as_str().unwrap_or("").contains("Assigned to you")
            && c.at > second.at
    })
    .await;
    let file = std::fs::read_to_string(app.data().join("telegram.csv")).unwrap();
    assert!(file.lines().any(|l| l == "3,,,,,,,,"), "the mark is gone: {file}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_reminders_and_key_expiry_reach_the_people_they_concern() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = bot_app(&fake).await;
    let admin = token(&app, "anna").await;

    // A comment by the client on their request: the assignee (boris) hears of it, the
    // client who wrote it does not.
    let carl = token(&app, "carl").await;
    let (status, _) =
        call(&app, "POST", "/api/tasks/1/comments", Some(&carl), Some(json!({"message": "Still <leaking>"}))).await;
    assert_eq!(status, 201);
    let told = fake.wait_text(1003, "New comment").await;
    assert!(text_of(&told.body).contains("Still &lt;leaking&gt;"), "{:?}", told.body);

    // Deadline reminders: task 1 is overdue and assigned to boris.
    let (status, _) =
        call(&app, "POST", "/api/system/scheduler/jobs/deadline_notifications/run", Some(&admin), None).await;
    assert!(status < 300);
    let reminder = fake.wait_text(1003, "Overdue").await;
    assert!(text_of(&reminder.body).contains("#1 Washer leaks"), "{:?}", reminder.body);
    assert!(!buttons(&reminder.body).is_empty(), "a reminder carries the status buttons");

    // An API key about to expire: its owner is told once.
    let boris = token(&app, "boris").await;
    let soon = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, key) = call(
        &app,
        "POST",
        "/api/keys",
        Some(&boris),
        Some(json!({"name": "dashboard", "scope": "read", "expires_at": soon})),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    for job in ["key_status", "key_notices"] {
        let path = format!("/api/system/scheduler/jobs/{job}/run");
        let (status, _) = call(&app, "POST", &path, Some(&admin), None).await;
        assert!(status < 300);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let notice = fake.wait_text(1003, "🔑").await;
    assert!(text_of(&notice.body).contains("\"dashboard\" expires at"), "{:?}", notice.body);
    let key_text = key["key"].as_str().unwrap();
    assert!(fake.all_calls().iter().all(|c| !c.body.to_string().contains(key_text)), "the key never goes out");

    // An update the bot cannot read is passed over; the next one is answered.
    fake.push(json!({"message": {"message_id": "not a number", "weird": true}}));
    let reply = say(&fake, 1001, None, "/help").await;
    assert!(text_of(&reply).contains("Hello"));
    assert_eq!(fake.unconfirmed(), 0, "the unreadable update was confirmed, not read again");
    // A 5xx from the Bot API: the bot retries and goes on (teloxide waits 10 s first).
    fake.fail_next("getUpdates", 502, json!("Bad Gateway"));
    // The poll in flight takes this message; the next poll meets the 502.
    say(&fake, 1001, None, "/help").await;
    let reply = tokio::time::timeout(Duration::from_secs(40), say(&fake, 1001, None, "/tasks"))
        .await
        .expect("answered after the 5xx");
    assert!(text_of(&reply).contains("open tasks"), "{reply}");
    assert!(fake.calls("getUpdates").iter().any(|c| c.status == 502));
}

/// `/task N` lists the task's checklist; the person doing the job ticks a step with a
/// button (the message is redrawn with the new count); a client reads it without buttons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_card_shows_its_checklist_and_a_button_ticks_a_step() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = bot_app(&fake).await;
    let admin = token(&app, "anna").await;
    assert_eq!(call(&app, "PATCH", "/api/tasks/3", Some(&admin), Some(json!({"assigned_to": 3}))).await.0, 200);
    for text in ["Shut off the water", "Replace the pump"] {
        let (s, _) = call(&app, "POST", "/api/tasks/3/checklist", Some(&admin), Some(json!({"text": text}))).await;
        assert_eq!(s, 201);
    }
    let card = say(&fake, 1003, None, "/task 3").await;
    let text = text_of(&card);
    assert!(text.contains("Checklist 0/2") && text.contains("☐ 1. Shut off the water"), "{text}");
    let tick = buttons(&card).into_iter().find(|b| b.starts_with("ck:") && b.ends_with(":1")).expect("a tick button");

    let edits = fake.calls("editMessageText").len();
    fake.press(1003, 1, &tick);
    fake.wait_for("editMessageText", Duration::from_secs(5), |_| fake.calls("editMessageText").len() > edits).await;
    let redrawn = fake.calls("editMessageText").pop().unwrap();
    assert!(text_of(&redrawn.body).contains("Checklist 1/2"), "{:?}", redrawn.body);
    let (_, list) = call(&app, "GET", "/api/tasks/3/checklist", Some(&admin), None).await;
    assert_eq!(list["items"][0]["done"], true, "{list}");

    // In Russian for a client, on their own request: the list, no buttons to tick.
    let (s, request) =
        call(&app, "POST", "/api/tasks/1/checklist", Some(&admin), Some(json!({"text": "Позвонить"}))).await;
    assert_eq!(s, 201, "{request}");
    fake.message_in(1004, None, "ru", "/task 1");
    let answer = fake.wait_text(1004, "Чек-лист 0/1").await;
    assert!(!buttons(&answer.body).iter().any(|b| b.starts_with("ck:")), "{:?}", answer.body);
    // A forged press by the client changes nothing.
    let item = request["id"].as_u64().unwrap();
    fake.press(1004, 2, &format!("ck:{item}:1"));
    fake.wait_for("answerCallbackQuery", Duration::from_secs(5), |c| {
        c.body["text"].as_str().unwrap_or("").contains("чек-лист")
            || c.body["text"].as_str().unwrap_or("").contains("checklist")
    })
    .await;
    let (_, list) = call(&app, "GET", "/api/tasks/1/checklist", Some(&admin), None).await;
    assert_eq!(list["items"][0]["done"], false);
    app.stop().await;
}
