//! A Russian-speaking team that lives in Telegram: people's own columns and profile,
//! each person's language (bot, errors), statuses with labels and kinds through a
//! request's whole life, and safe binding of Telegram accounts by username.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use taskboard::config::{Config, Secret, ValidationMethod};

use crate::common::TestApp;
use crate::common::fake_telegram::FakeTelegram;
use crate::security::{SECRET, call, token};
use crate::telegram::{TOKEN, say};

const USERS: &str = "id,username,telegram_id,role,created_at,updated_at,is_active\n\
1,anna,1001,admin,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
2,dispatch,,manager,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
3,ivan,1003,member,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
4,client,1004,client,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n\
5,petr,,member,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z,true\n";

/// The repair service's own workflow, with Russian ids, labels and kinds.
const REPAIR_STATUSES: &str = concat!(
    "tasks:\n  statuses:\n",
    "    - {id: новая, label: {en: New request, ru: Новая заявка}}\n",
    "    - {id: в_работе, label: {en: In progress, ru: В работе}}\n",
    "    - {id: завершена, label: {en: Done, ru: Завершена}, kind: done}\n",
    "    - {id: отменена, label: {en: Cancelled, ru: Отменена}, kind: cancelled}\n",
);

fn prepare(data: &Path) {
    std::fs::write(data.join("users.csv"), USERS).unwrap();
    crate::security::write_credentials(data, 1..=5);
}

/// Security on (passwords too, as an administrator's first setup has them) and the
/// repair service's statuses.
fn secure_repair(c: &mut Config) {
    c.security.enabled = true;
    c.security.validation_method = ValidationMethod::Both;
    c.security.rate_limiting.requests_per_minute = 100_000;
    c.secret_key = Secret(SECRET.into());
    c.tasks = Config::from_yaml(REPAIR_STATUSES, "test").unwrap().tasks;
}

/// The same, with the bot on the fake Bot API at `api_url`.
fn configure(c: &mut Config, api_url: &str) {
    secure_repair(c);
    c.telegram.bot_token = Secret(TOKEN.into());
    c.telegram.api_url = api_url.into();
}

pub(crate) async fn repair_app(fake: &FakeTelegram) -> TestApp {
    let url = fake.url.clone();
    let app = TestApp::spawn_with(prepare, |c| configure(c, &url)).await;
    fake.wait_for("getUpdates", Duration::from_secs(10), |_| true).await;
    app
}

/// Sends `text` from a Telegram client in Russian and waits for the answer.
pub(crate) async fn say_ru(fake: &FakeTelegram, from: i64, username: Option<&str>, text: &str) -> Value {
    say_in(fake, from, username, "ru", text).await
}

/// Sends `text` from a Telegram client speaking `language` and waits for the answer.
async fn say_in(fake: &FakeTelegram, from: i64, username: Option<&str>, language: &str, text: &str) -> Value {
    let before = fake.sent_to(from).len();
    fake.message_in(from, username, language, text);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sent = fake.sent_to(from);
        if sent.len() > before {
            return sent[before].body.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no answer to {text:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn text(reply: &Value) -> String {
    reply["text"].as_str().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_russian_technician_is_answered_in_russian_with_labels_and_names() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = repair_app(&fake).await;
    let anna = token(&app, "anna").await;
    // The dispatcher's name and the technician's, as people are shown.
    let (s, _) = call(&app, "PATCH", "/api/users/3", Some(&anna), Some(json!({"full_name": "Иван Петров"}))).await;
    assert_eq!(s, 200);
    let (s, task) = call(
        &app,
        "POST",
        "/api/tasks",
        Some(&anna),
        Some(json!({"title": "Стиральная машина течёт", "assigned_to": 3})),
    )
    .await;
    assert_eq!(s, 201, "{task}");
    assert_eq!(task["status"], "новая", "a new task takes the workflow's first status");
    fake.wait_text(1003, "#1").await;

    let reply = say_ru(&fake, 1003, None, "/start").await;
    let t = text(&reply);
    assert!(t.contains("Здравствуйте, <b>Иван Петров</b>!") && t.contains("/take N — взять свободную задачу"), "{t}");
    let t = text(&say_ru(&fake, 1003, None, "/tasks").await);
    assert!(t.contains("Ваши открытые задачи: 1") && t.contains("Новая заявка"), "{t}");
    assert!(!t.contains("новая,") && !t.contains("in_progress"), "labels, not ids: {t}");
    // A status by either label, in any case.
    let t = text(&say_ru(&fake, 1003, None, "/status 1 В РАБОТЕ").await);
    assert!(t.contains("Статус: <b>В работе</b>") && t.contains("Исполнитель: Иван Петров"), "{t}");
    let t = text(&say_ru(&fake, 1003, None, "/status 1 in progress").await);
    assert!(t.contains("В работе"), "{t}");
    let t = text(&say_ru(&fake, 1003, None, "/status 1 летает").await);
    assert!(t.contains("Статуса «летает» нет. Допустимые: Новая заявка, В работе, Завершена, Отменена"), "{t}");
    // /done is the first status of kind done, whatever it is called.
    let t = text(&say_ru(&fake, 1003, None, "/done 1").await);
    assert!(t.contains("<b>Завершена</b>"), "{t}");
    let (_, task) = call(&app, "GET", "/api/tasks/1", Some(&anna), None).await;
    assert_eq!(task["status"], "завершена");
    assert!(task["completed_at"].as_str().is_some_and(|c| !c.is_empty()), "completed_at is kept: {task}");
    // The same person from an English client: English (their language cell is empty).
    let t = text(&say_in(&fake, 1003, None, "en-GB", "/tasks").await);
    assert!(t.contains("You have no open tasks"), "{t}");
    // A language chosen in the profile wins over the client's.
    let ivan = token(&app, "ivan").await;
    let (s, me) = call(&app, "PATCH", "/api/auth/me", Some(&ivan), Some(json!({"language": "ru"}))).await;
    assert_eq!(s, 200, "{me}");
    let t = text(&say_in(&fake, 1003, None, "en", "/tasks").await);
    assert!(t.contains("Открытых задач нет"), "{t}");
    // The command menu is registered in both languages.
    let menus = fake.calls("setMyCommands");
    assert!(menus.iter().any(|c| c.body["language_code"] == "ru"), "{menus:?}");
    assert!(menus.iter().any(|c| c.body.get("language_code").is_none()), "{menus:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problem_details_follow_accept_language_and_keep_their_fields() {
    let app = crate::security::secured_app().await;
    let anna = token(&app, "anna").await;
    let ask = |path: &str, language: &str, body: Option<Value>| {
        let mut r = if body.is_some() { app.client.post(app.url(path)) } else { app.client.get(app.url(path)) };
        r = r.bearer_auth(&anna).header("Accept-Language", language);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    let r = ask("/api/tasks/999", "ru-RU,ru;q=0.9,en;q=0.8", None).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["title"].as_str(), body["detail"].as_str()),
        (Some("Not Found"), Some("задача 999 не существует"))
    );
    let r = ask("/api/tasks/999", "en", None).await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["detail"], "task 999 does not exist");
    // A 422: each message in Russian, the field names as they are.
    let r = ask("/api/tasks", "ru", Some(json!({"title": "=1+1", "priority": "urgent"}))).await.unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    let errors = body["errors"].as_array().unwrap();
    let message = |field: &str| errors.iter().find(|e| e["field"] == field).unwrap()["message"].as_str().unwrap();
    assert!(message("title").starts_with("начинается как формула"), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("title: начинается как формула"), "{body}");
    let r = ask("/api/tasks", "ru", Some(json!({"title": "Кран", "priority": "urgent"}))).await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "priority", "{body}");
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("ожидается одно из: low, medium, high, critical"),
        "{body}"
    );
    // A wrong password, in Russian; an unknown language falls back to the default.
    let r = app
        .client
        .post(app.url("/api/auth/login"))
        .header("Accept-Language", "ru")
        .json(&json!({"username": "anna", "password": "Wrong-Guess-1!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["detail"], "неверное имя пользователя или пароль");
    let r = ask("/api/tasks/999", "de-DE", None).await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["detail"], "task 999 does not exist");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_lives_its_whole_life_in_russian_statuses() {
    let app = TestApp::spawn_with(prepare, secure_repair).await;
    let (anna, client) = (token(&app, "anna").await, token(&app, "client").await);
    let (s, task) = call(
        &app,
        "POST",
        "/api/tasks",
        Some(&client),
        Some(json!({"title": "Холодильник не морозит", "due_date": "2020-01-01"})),
    )
    .await;
    assert_eq!(s, 201, "{task}");
    let id = task["id"].as_u64().unwrap();
    assert_eq!((task["status"].as_str(), &task["completed_at"]), (Some("новая"), &Value::Null));
    // completed_at is the server's.
    let (s, _) = call(
        &app,
        "PATCH",
        &format!("/api/tasks/{id}"),
        Some(&anna),
        Some(json!({"completed_at": "2026-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(s, 422);
    let rate = json!({"rating": 5});
    let (s, body) = call(&app, "POST", &format!("/api/tasks/{id}/feedback"), Some(&client), Some(rate.clone())).await;
    assert_eq!(s, 409, "not finished yet: {body}");
    for status in ["в_работе", "завершена"] {
        let (s, body) = call(
            &app,
            "PATCH",
            &format!("/api/tasks/{id}"),
            Some(&anna),
            Some(json!({"status": status, "assigned_to": 3})),
        )
        .await;
        assert_eq!(s, 200, "{body}");
    }
    let (_, done) = call(&app, "GET", &format!("/api/tasks/{id}"), Some(&anna), None).await;
    assert!(!done["completed_at"].as_str().unwrap().is_empty(), "{done}");
    let (s, body) = call(&app, "POST", &format!("/api/tasks/{id}/feedback"), Some(&client), Some(rate)).await;
    assert_eq!(s, 201, "a finished request is rated: {body}");
    let (_, stats) = call(&app, "GET", "/api/stats", Some(&anna), None).await;
    assert_eq!(stats["overdue"], 0, "a finished task is not late: {stats}");
    let completed: u64 = stats["completed_per_day"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(completed, 1, "{stats}");
    assert!(stats["mean_hours_to_complete"].is_number(), "from completed_at: {stats}");
    // Reminders skip it.
    let (s, _) = call(&app, "POST", "/api/system/scheduler/jobs/deadline_notifications/run", Some(&anna), None).await;
    assert_eq!(s, 202);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, reminders) = call(&app, "GET", "/api/events?type=task.reminder", Some(&anna), None).await;
    assert_eq!(reminders["total"], 0, "{reminders}");
    // Leaving the finished status clears completed_at.
    let (_, back) =
        call(&app, "PATCH", &format!("/api/tasks/{id}"), Some(&anna), Some(json!({"status": "в_работе"}))).await;
    assert_eq!(back["completed_at"], Value::Null, "{back}");
    app.stop().await;
}

#[tokio::test]
async fn a_status_label_naming_two_statuses_is_refused_at_start() {
    let yaml = "tasks:\n  statuses:\n    - {id: new, label: {en: Open}}\n    - {id: open}\n";
    let e = Config::from_yaml(yaml, "config.yaml").unwrap_err().to_string();
    assert!(e.contains("tasks.statuses[1]") && e.contains("\"open\""), "{e}");
    let e = Config::from_yaml("ui:\n  default_language: de\n", "config.yaml").unwrap_err().to_string();
    assert!(e.contains("ui.default_language"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_claiming_a_staff_account_waits_for_an_admin_and_a_member_is_announced() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = repair_app(&fake).await;
    let anna = token(&app, "anna").await;
    // A stranger picks the dispatcher's login as their Telegram username.
    let t = text(&say(&fake, 7777, Some("Dispatch"), "/tasks").await);
    assert!(t.contains("An administrator confirms this first"), "{t}");
    let (_, user) = call(&app, "GET", "/api/users/2", Some(&anna), None).await;
    assert_eq!(user["telegram_id"], Value::Null, "nothing is granted before the admin says so");
    let t = text(&say(&fake, 7777, Some("Dispatch"), "/tasks").await);
    assert!(t.contains("An administrator confirms this first"), "still held: {t}");
    // The bound admin is asked, with Confirm and Reject.
    let ask = fake.wait_text(1001, "asks to be").await;
    let buttons: Vec<String> = ask.body["reply_markup"]["inline_keyboard"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["callback_data"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(buttons, ["bind:ok:2:7777", "bind:no:2:7777"]);
    // The board's users page lists it for admins only.
    let (s, waiting) = call(&app, "GET", "/api/telegram/bindings", Some(&anna), None).await;
    assert_eq!(s, 200);
    assert_eq!(waiting["items"][0]["user_id"], 2, "{waiting}");
    assert_eq!(waiting["items"][0]["telegram_id"], "7777", "{waiting}");
    let ivan = token(&app, "ivan").await;
    assert_eq!(call(&app, "GET", "/api/telegram/bindings", Some(&ivan), None).await.0, 403);
    assert_eq!(call(&app, "POST", "/api/telegram/bindings/2/7777/confirm", Some(&ivan), None).await.0, 403);
    // Someone else than an admin cannot confirm it.
    fake.press(1003, 1, "bind:ok:2:7777");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, user) = call(&app, "GET", "/api/users/2", Some(&anna), None).await;
    assert_eq!(user["telegram_id"], Value::Null);
    fake.press(1001, ask.body["message_id"].as_i64().unwrap_or(1), "bind:ok:2:7777");
    fake.wait_text(7777, "Confirmed").await;
    let (_, user) = call(&app, "GET", "/api/users/2", Some(&anna), None).await;
    assert_eq!(user["telegram_id"], "7777");
    let (_, events) = call(&app, "GET", "/api/events?type=user.telegram_bound", Some(&anna), None).await;
    assert_eq!(events["total"], 1, "{events}");
    let (_, waiting) = call(&app, "GET", "/api/telegram/bindings", Some(&anna), None).await;
    assert_eq!(waiting["items"], json!([]), "decided: {waiting}");
    // A decided binding is not there to decide again.
    assert_eq!(call(&app, "POST", "/api/telegram/bindings/2/7777/reject", Some(&anna), None).await.0, 404);

    // A member's binding takes effect at once, and the admin hears of it.
    let t = text(&say(&fake, 8888, Some("petr"), "/start").await);
    assert!(t.contains("Hello"), "{t}");
    let (_, user) = call(&app, "GET", "/api/users/5", Some(&anna), None).await;
    assert_eq!(user["telegram_id"], "8888");
    fake.wait_text(1001, "is now linked to <b>petr</b>").await;

    // Re-binding an account: the one that loses the user is told.
    let (s, _) = call(&app, "PATCH", "/api/users/5", Some(&anna), Some(json!({"telegram_id": ""}))).await;
    assert_eq!(s, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_security_off_the_bot_answers_only_bound_accounts_and_binds_nobody() {
    let fake = FakeTelegram::start(TOKEN).await;
    let url = fake.url.clone();
    let app = TestApp::spawn_with(prepare, |c| {
        configure(c, &url);
        c.security.enabled = false;
    })
    .await;
    fake.wait_for("getUpdates", Duration::from_secs(10), |_| true).await;
    let t = text(&say(&fake, 9999, Some("petr"), "/tasks").await);
    assert!(t.starts_with("This Telegram account is not linked"), "{t}");
    assert_eq!(app.get_json("/api/users/5").await["telegram_id"], Value::Null, "nobody is bound with security off");
    let t = text(&say(&fake, 1003, None, "/tasks").await);
    assert!(t.contains("open tasks"), "an account already in users.csv is answered: {t}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_keep_their_own_name_phone_and_language_and_clients_see_names_not_phones() {
    let app = crate::security::secured_app().await;
    let boris = token(&app, "boris").await;
    let profile = json!({"full_name": "Борис Иванов", "phone": "+7 900 123-45-67", "language": "ru"});
    let (s, me) = call(&app, "PATCH", "/api/auth/me", Some(&boris), Some(profile)).await;
    assert_eq!(s, 200, "a phone as people type it is no formula: {me}");
    assert_eq!((me["name"].as_str(), me["phone"].as_str()), (Some("Борис Иванов"), Some("+7 900 123-45-67")));
    let (_, me) = call(&app, "GET", "/api/auth/me", Some(&boris), None).await;
    assert_eq!(me["language"], "ru");
    let (s, body) =
        call(&app, "PATCH", "/api/auth/me", Some(&boris), Some(json!({"phone": "8 (900) 123-45-67"}))).await;
    assert_eq!(s, 200, "{body}");
    for bad in
        [json!({"role": "admin"}), json!({"phone": "=1+1"}), json!({"language": "de"}), json!({"full_name": "=cmd"})]
    {
        let (s, body) = call(&app, "PATCH", "/api/auth/me", Some(&boris), Some(bad.clone())).await;
        assert_eq!(s, 422, "{bad}: {body}");
    }
    // A client sees the assignee's name on their request, never the phone.
    let (anna, carl) = (token(&app, "anna").await, token(&app, "carl").await);
    let (_, task) = call(&app, "POST", "/api/tasks", Some(&carl), Some(json!({"title": "Духовка"}))).await;
    let id = task["id"].as_u64().unwrap();
    let (s, _) = call(&app, "PATCH", &format!("/api/tasks/{id}"), Some(&anna), Some(json!({"assigned_to": 4}))).await;
    assert_eq!(s, 200);
    let (s, directory) = call(&app, "GET", "/api/directory", Some(&carl), None).await;
    assert_eq!(s, 200);
    let boris_entry = directory["items"].as_array().unwrap().iter().find(|u| u["id"] == 4).cloned().unwrap();
    assert_eq!((boris_entry["name"].as_str(), boris_entry["phone"].as_str()), (Some("Борис Иванов"), Some("")));
    assert!(!directory.to_string().contains("900"), "{directory}");
    // A technician takes a request from the pool; then nobody else can.
    let (_, pooled) = call(&app, "POST", "/api/tasks", Some(&carl), Some(json!({"title": "Кондиционер"}))).await;
    let take = format!("/api/tasks/{}/take", pooled["id"]);
    let (s, taken) = call(&app, "POST", &take, Some(&boris), None).await;
    assert_eq!((s, taken["assigned_to"].as_u64()), (200, Some(4)), "{taken}");
    let mike = token(&app, "mike").await;
    let (s, body) = call(&app, "POST", &take, Some(&mike), None).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(call(&app, "POST", &take, Some(&carl), None).await.0, 403, "a client takes no work");
    // Staff see the phone.
    let (_, staff) = call(&app, "GET", "/api/directory", Some(&anna), None).await;
    assert!(staff.to_string().contains("8 (900) 123-45-67"), "{staff}");
    // An admin writes the people columns; a file written before them gains them.
    let (s, body) = call(
        &app,
        "PATCH",
        "/api/users/5",
        Some(&anna),
        Some(json!({"email": "carl@example.com", "telegram_username": "@carl_tg"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let file = std::fs::read_to_string(app.data().join("users.csv")).unwrap();
    assert!(file.starts_with("id,username,telegram_id,role,created_at,updated_at,is_active,full_name,phone,email,telegram_username,language\n"), "{file}");
    app.stop().await;
}
