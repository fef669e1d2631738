//! Who is told, against the fake Bot API: the dispatcher of each new request (and the
//! team chat, with "Take it"), whoever assigned work when it moves, the client with
//! rating buttons when it is finished, the technician when his job is re-dated, taken
//! away or deleted. Each in their language; nobody about their own action.

use std::time::Duration;

use serde_json::json;

use crate::common::fake_telegram::FakeTelegram;
use crate::security::{call, token};
use crate::telegram::{TOKEN, bot_app_with, buttons, say, text_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_reaches_exactly_the_people_it_concerns() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = bot_app_with(&fake, |c| {
        c.feedback.form_url = "https://forms.example/rate".into();
        c.telegram.team_chat_id = "-100500".into();
        c.telegram.team_chat_new_tasks = true;
    })
    .await;
    let (anna, mike) = (token(&app, "anna").await, token(&app, "mike").await);

    // A client's request from the chat: the dispatcher (manager) hears, with "Take it";
    // the team chat gets the line; the client (who did it) and the admin hear nothing.
    let reply = say(&fake, 1004, None, "/new Oven is cold").await;
    let id = text_of(&reply).split('#').nth(1).and_then(|s| s.split(' ').next()).unwrap().parse::<u64>().unwrap();
    let told = fake.wait_text(1002, "New task").await;
    assert!(buttons(&told.body).iter().any(|b| b == &format!("take:{id}")), "{:?}", told.body);
    let team = fake.wait_text(-100500, &format!("New task #{id}")).await;
    assert_eq!(buttons(&team.body), [format!("take:{id}")]);
    // boris takes it from the team chat's button.
    fake.press(1003, team.body["message_id"].as_i64().unwrap_or(1), &format!("take:{id}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while call(&app, "GET", &format!("/api/tasks/{id}"), Some(&anna), None).await.1["assigned_to"] != 3 {
        assert!(tokio::time::Instant::now() < deadline, "the take button took nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(fake.sent_to(1001).is_empty(), "the admin is not the dispatcher: {:?}", fake.sent_to(1001));

    // The dispatcher assigns another request to boris; boris finishes it in the bot.
    let (_, other) =
        call(&app, "POST", "/api/tasks", Some(&anna), Some(json!({"title": "Washer leaks again", "created_by": 4})))
            .await;
    let other_id = other["id"].as_u64().unwrap();
    let path = format!("/api/tasks/{other_id}");
    let (s, _) = call(&app, "PATCH", &path, Some(&mike), Some(json!({"assigned_to": 3}))).await;
    assert_eq!(s, 200);
    fake.wait_text(1003, "Washer leaks again").await;
    let t = text_of(&say(&fake, 1003, None, &format!("/done {other_id}")).await);
    assert!(t.contains("Done"), "{t}");
    // Whoever assigned it hears it is finished; the client who asked rates it there.
    fake.wait_text(1002, "Status: New → Done").await;
    let finished = fake.wait_text(1004, "Status: New → Done").await;
    let text = text_of(&finished.body);
    assert!(text.contains("Rate it") && text.contains("https://forms.example/rate"), "{text}");
    let rates = buttons(&finished.body);
    assert_eq!(rates, (1..=5).map(|n| format!("rate:{other_id}:{n}")).collect::<Vec<_>>());
    fake.press(1004, finished.body["message_id"].as_i64().unwrap_or(1), &format!("rate:{other_id}:4"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, feedback) = call(&app, "GET", &format!("/api/tasks/{other_id}/feedback"), Some(&anna), None).await;
        if feedback["total"] == 1 {
            assert_eq!(feedback["items"][0]["rating"], 4, "{feedback}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no rating from the chat: {feedback}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Rating twice is refused, in words.
    fake.press(1004, 1, &format!("rate:{other_id}:1"));
    let refused = fake
        .wait_for("answerCallbackQuery", Duration::from_secs(5), |c| {
            c.body["text"].as_str().unwrap_or("").starts_with("Not done")
        })
        .await;
    assert!(refused.body["text"].as_str().unwrap().contains("rated"), "{:?}", refused.body);

    // The technician's job re-dated, re-prioritised, taken away, deleted: he hears each.
    let job = format!("/api/tasks/{id}");
    call(&app, "PATCH", &job, Some(&mike), Some(json!({"due_date": "2030-01-15"}))).await;
    fake.wait_text(1003, "Due date: none → 2030-01-15").await;
    call(&app, "PATCH", &job, Some(&mike), Some(json!({"priority": "critical"}))).await;
    fake.wait_text(1003, "Priority: medium → critical").await;
    call(&app, "PATCH", &job, Some(&mike), Some(json!({"assigned_to": 5}))).await;
    fake.wait_text(1003, "No longer yours").await;
    call(&app, "PATCH", &job, Some(&mike), Some(json!({"assigned_to": 3}))).await;
    let (s, _) = call(&app, "DELETE", &job, Some(&mike), None).await;
    assert_eq!(s, 204);
    fake.wait_text(1003, "Task deleted").await;
    // Nobody was told of their own doing.
    assert!(fake.sent_to(1002).iter().all(|m| !text_of(&m.body).contains("Due date")));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatcher_sees_the_pool_and_assigns_by_name_and_a_client_reports_their_requests() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = bot_app_with(&fake, |_| {}).await;
    let anna = token(&app, "anna").await;
    let (s, _) = call(&app, "PATCH", "/api/users/3", Some(&anna), Some(json!({"full_name": "Boris Ivanov"}))).await;
    assert_eq!(s, 200);
    // The fixtures: #1 is boris's (by carl), #2 mike's, #3 nobody's.
    let pool = say(&fake, 1002, None, "/unassigned").await;
    let t = text_of(&pool);
    assert!(t.contains("Open tasks nobody has: 1") && t.contains("#3 Dryer does not start"), "{t}");
    assert_eq!(buttons(&pool), ["take:3"]);
    let t = text_of(&say(&fake, 1002, None, "/assign 3 boris ivanov").await);
    assert!(t.contains("Assigned to <b>Boris Ivanov</b>"), "{t}");
    assert_eq!(call(&app, "GET", "/api/tasks/3", Some(&anna), None).await.1["assigned_to"], 3);
    let t = text_of(&say(&fake, 1002, None, "/assign 2 nobody").await);
    assert!(t.contains("Nobody active is called \"nobody\""), "{t}");
    // A technician may not dispatch; /help does not offer it.
    let t = text_of(&say(&fake, 1003, None, "/assign 2 boris").await);
    assert!(t.starts_with("Not allowed"), "{t}");
    assert!(!text_of(&say(&fake, 1003, None, "/help").await).contains("/assign"));
    // The client's /report counts their own requests.
    let t = text_of(&say(&fake, 1004, None, "/report").await);
    assert!(t.contains("Your requests</b>: 1 open, 0 finished") && t.contains("#1 Washer leaks"), "{t}");
    app.stop().await;
}

/// Waits until `chat` got a message containing `needle`, up to `within`.
async fn told_within(fake: &FakeTelegram, chat: i64, needle: &str, within: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let n = fake.sent_to(chat).iter().filter(|c| c.status == 200 && text_of(&c.body).contains(needle)).count();
        if n > 0 {
            return n;
        }
        assert!(tokio::time::Instant::now() < deadline, "{chat} was not told {needle:?} within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_telegram_outage_delays_notices_but_loses_none_even_across_a_restart() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = bot_app_with(&fake, |_| {}).await;
    let anna = token(&app, "anna").await;
    // Down for 20 s (longer than the five tries of before): the notice waits, then
    // arrives once; health says degraded meanwhile.
    fake.set_down(true);
    let (s, _) = call(&app, "PATCH", "/api/tasks/3", Some(&anna), Some(json!({"assigned_to": 3}))).await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_secs(12)).await;
    let (_, health) = call(&app, "GET", "/api/health", Some(&anna), None).await;
    assert_eq!(health["status"], "degraded", "{}", health["components"]["telegram"]);
    tokio::time::sleep(Duration::from_secs(8)).await;
    fake.set_down(false);
    assert_eq!(told_within(&fake, 1003, "Dryer does not start", Duration::from_secs(70)).await, 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while app.get_json("/api/health").await["status"] != "ok" {
        assert!(tokio::time::Instant::now() < deadline, "health stays degraded after Telegram is back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Down, the server stopped with a notice waiting, Telegram back, the server
    // started again: the notice arrives.
    fake.set_down(true);
    let (s, _) = call(&app, "PATCH", "/api/tasks/2", Some(&anna), Some(json!({"assigned_to": 3}))).await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let url = fake.url.clone();
    let dir = app.stop().await;
    fake.set_down(false);
    assert!(fake.sent_to(1003).iter().all(|c| !text_of(&c.body).contains("Fridge noise") || c.status != 200));
    let mut config = crate::common::test_config(&dir.path().join("data"));
    crate::telegram::configure(&mut config, &url);
    let again = crate::common::TestApp::start_in(dir, config).await;
    assert_eq!(told_within(&fake, 1003, "Fridge noise", Duration::from_secs(20)).await, 1);
    again.stop().await;
}

/// Two servers on one database, the Bot API down while each takes a change: when it is
/// back, each notice arrives exactly once (one server at a time sends; the waiting
/// messages are in the database, not in a server's memory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_two_servers_deliver_each_notice_once_after_an_outage() {
    if crate::common::pg::or_skip("on_postgres_two_servers_deliver_each_notice_once_after_an_outage").is_none() {
        return;
    }
    let fake = FakeTelegram::start(TOKEN).await;
    let url = fake.url.clone();
    let (a, b, _) =
        crate::postgres::two_servers(crate::telegram::prepare, |c| crate::telegram::configure(c, &url)).await;
    fake.wait_for("getUpdates", Duration::from_secs(10), |_| true).await;
    let anna = token(&a, "anna").await;
    fake.set_down(true);
    let (s, _) = call(&a, "PATCH", "/api/tasks/3", Some(&anna), Some(json!({"assigned_to": 3}))).await;
    assert_eq!(s, 200);
    let (s, _) = call(&b, "PATCH", "/api/tasks/2", Some(&anna), Some(json!({"assigned_to": 3}))).await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_secs(6)).await;
    fake.set_down(false);
    assert_eq!(told_within(&fake, 1003, "Dryer does not start", Duration::from_secs(60)).await, 1);
    assert_eq!(told_within(&fake, 1003, "Fridge noise", Duration::from_secs(60)).await, 1);
    // Nothing comes twice later either.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for needle in ["Dryer does not start", "Fridge noise"] {
        let n = fake.sent_to(1003).iter().filter(|c| c.status == 200 && text_of(&c.body).contains(needle)).count();
        assert_eq!(n, 1, "{needle} told {n} times");
    }
    a.stop().await;
    b.stop().await;
}
