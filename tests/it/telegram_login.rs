//! Logging in on the board through the bot (number matching): the browser's request,
//! the bot's question to the bound account, the right number turning the request
//! into a session once, and each refusal.

use std::time::Duration;

use serde_json::{Value, json};
use taskboard::config::ValidationMethod;

use crate::common::TestApp;
use crate::common::fake_telegram::{BOT_USERNAME, FakeTelegram};
use crate::people::{repair_app, say_ru, text};
use crate::security::call;
use crate::telegram::say;

/// Starts a board login as a browser does.
async fn start(app: &TestApp) -> Value {
    let r = app
        .client
        .post(app.url("/api/auth/telegram/login"))
        .header("user-agent", "Mozilla/5.0 (Android 14; Mobile) Firefox/133.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn poll(app: &TestApp, request: &Value) -> (u16, Value) {
    call(app, "GET", &format!("/api/auth/telegram/login/{}", request["request_id"].as_str().unwrap()), None, None).await
}

/// The three numbers and Cancel of the bot's question, as (label, callback data).
fn choices(reply: &Value) -> Vec<(String, String)> {
    reply["reply_markup"]["inline_keyboard"][0]
        .as_array()
        .map(|row| {
            row.iter()
                .map(|b| (b["text"].as_str().unwrap().to_string(), b["callback_data"].as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Presses a button and waits for its answer (the toast).
async fn press(fake: &FakeTelegram, from: i64, data: &str) -> String {
    let before = fake.calls("answerCallbackQuery").len();
    fake.press(from, 1, data);
    fake.wait_for("answerCallbackQuery", Duration::from_secs(5), |_| fake.calls("answerCallbackQuery").len() > before)
        .await;
    fake.calls("answerCallbackQuery").pop().unwrap().body["text"].as_str().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_account_confirms_a_board_login_with_the_boards_number_once() {
    let fake = FakeTelegram::start(crate::telegram::TOKEN).await;
    let app = repair_app(&fake).await;
    let request = start(&app).await;
    let code = request["code"].as_str().unwrap();
    assert_eq!(request["deep_link"], format!("https://t.me/{BOT_USERNAME}?start=login-{code}"));
    let matching = request["match"].as_u64().unwrap();
    assert!((10..=99).contains(&matching));
    assert_eq!(poll(&app, &request).await, (202, json!({"status": "pending"})));

    // An account nobody linked is told how to link, and nothing is granted.
    let t = text(&say(&fake, 9999, Some("ivan"), &format!("/start login-{code}")).await);
    assert!(t.contains("not linked"), "{t}");
    assert_eq!(poll(&app, &request).await.0, 202);

    // The technician's bound account is asked, naming the browser, in Russian.
    let ask = say_ru(&fake, 1003, None, &format!("/start login-{code}")).await;
    let t = text(&ask);
    assert!(t.contains("Войти в taskboard?") && t.contains("Firefox/133.0") && t.contains("127.0.0.1"), "{t}");
    let buttons = choices(&ask);
    assert_eq!(buttons.len(), 4, "{buttons:?}");
    assert_eq!(buttons[3].0, "Отмена");
    let numbers: Vec<u64> = buttons[..3].iter().map(|(label, _)| label.parse().unwrap()).collect();
    assert!(numbers.contains(&matching), "{numbers:?} {matching}");
    let right = buttons.iter().find(|(label, _)| *label == matching.to_string()).unwrap().1.clone();
    // Someone else's account cannot press it.
    let toast = press(&fake, 1001, &right).await;
    assert!(toast.contains("expired or was already decided"), "{toast}");
    assert_eq!(poll(&app, &request).await.0, 202);

    let toast = press(&fake, 1003, &right).await;
    assert!(toast.contains("Вход на доску выполнен"), "{toast}");
    let (status, pair) = poll(&app, &request).await;
    assert_eq!(status, 200, "{pair}");
    let access = pair["access_token"].as_str().unwrap();
    let (_, me) = call(&app, "GET", "/api/auth/me", Some(access), None).await;
    assert_eq!(me["username"], "ivan");
    // Once only.
    assert_eq!(poll(&app, &request).await.0, 410);
    let admin = crate::security::token(&app, "anna").await;
    let (_, events) = call(&app, "GET", "/api/events?type=user.login", Some(&admin), None).await;
    assert!(events.to_string().contains("telegram_bot"), "{events}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_number_or_cancel_refuses_the_login_and_unknown_requests_are_not_found() {
    let fake = FakeTelegram::start(crate::telegram::TOKEN).await;
    let app = repair_app(&fake).await;
    for wrong in [true, false] {
        let request = start(&app).await;
        let matching = request["match"].as_u64().unwrap().to_string();
        let ask = say(&fake, 1003, None, &format!("/start login-{}", request["code"].as_str().unwrap())).await;
        let buttons = choices(&ask);
        let pressed = if wrong {
            buttons[..3].iter().find(|(label, _)| *label != matching).unwrap().1.clone()
        } else {
            buttons[3].1.clone()
        };
        let toast = press(&fake, 1003, &pressed).await;
        assert!(toast.contains(if wrong { "Wrong number" } else { "Login cancelled" }), "{toast}");
        assert_eq!(poll(&app, &request).await.0, 403);
        // The right number afterwards changes nothing.
        let right = buttons.iter().find(|(label, _)| *label == matching).unwrap().1.clone();
        assert!(press(&fake, 1003, &right).await.contains("expired or was already decided"));
        assert_eq!(poll(&app, &request).await.0, 403);
        // The code cannot be opened again.
        let t = text(&say(&fake, 1003, None, &format!("/start login-{}", request["code"].as_str().unwrap())).await);
        assert!(t.contains("expired or was already decided"), "{t}");
    }
    let (status, _) = call(&app, "GET", "/api/auth/telegram/login/0123456789abcdef0123456789abcdef", None, None).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_password_login_only_no_board_login_goes_through_the_bot() {
    let fake = FakeTelegram::start(crate::telegram::TOKEN).await;
    let url = fake.url.clone();
    let app = TestApp::spawn_with(crate::telegram::prepare, |c| {
        crate::telegram::configure(c, &url);
        c.security.validation_method = ValidationMethod::Password;
    })
    .await;
    let (status, body) = call(&app, "POST", "/api/auth/telegram/login", None, None).await;
    assert_eq!(status, 403, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_widget_is_offered_only_when_configured_and_its_script_only_then_allowed() {
    let fake = FakeTelegram::start(crate::telegram::TOKEN).await;
    for widget in [false, true] {
        let url = fake.url.clone();
        let app = TestApp::spawn_with(crate::telegram::prepare, |c| {
            crate::telegram::configure(c, &url);
            c.telegram.login_widget = widget;
        })
        .await;
        fake.wait_for("getUpdates", Duration::from_secs(10), |_| true).await;
        let r = app.client.get(app.url("/board/")).send().await.unwrap();
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
        let page = r.text().await.unwrap();
        assert_eq!(csp.contains("script-src 'self' https://telegram.org"), widget, "{csp}");
        assert_eq!(page.contains("&quot;telegram_widget&quot;:true"), widget, "{page}");
        assert!(page.contains("&quot;telegram_login&quot;:true"), "the bot-confirmed login is offered either way");
        let (status, bot) = call(&app, "GET", "/api/auth/telegram/bot", None, None).await;
        assert_eq!((status, bot["username"].as_str()), (200, Some(BOT_USERNAME)));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_login_request_is_gone_for_the_bot_and_the_browser() {
    let fake = FakeTelegram::start(crate::telegram::TOKEN).await;
    let app = repair_app(&fake).await;
    let request = start(&app).await;
    // Five minutes pass: the request's expiry, moved into the past where it is kept.
    let kept = app.data().join(".taskboard/telegram_logins.json");
    let mut all: Value = serde_json::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    all[0]["expires_at"] = json!("2020-01-01T00:00:00Z");
    std::fs::write(&kept, all.to_string()).unwrap();
    let t = text(&say(&fake, 1003, None, &format!("/start login-{}", request["code"].as_str().unwrap())).await);
    assert!(t.contains("expired or was already decided"), "{t}");
    assert_eq!(poll(&app, &request).await.0, 410);
    app.stop().await;
}
