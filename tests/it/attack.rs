//! What the round-two attack got through, each reproduced: an admin-only table read
//! through its export, other people's API keys in the event log, a Login Widget
//! payload used twice, a key that lives for ever or outlives its owner's password.

use serde_json::{Value, json};

use crate::security::{PASSWORD, call, secured_app, secured_app_with, token, widget};

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn admin_only_users_cannot_be_read_through_their_export() {
    let app = secured_app().await;
    let (anna, mike) = (token(&app, "anna").await, token(&app, "mike").await);
    // Default `admin_only_endpoints` covers /api/users: the manager reads neither.
    assert_eq!(call(&app, "GET", "/api/users", Some(&mike), None).await.0, 403);
    let (s, body) = call(&app, "GET", "/api/export/users.csv", Some(&mike), None).await;
    assert_eq!(s, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("admin_only_endpoints"), "{body}");
    // Tasks stay exportable for a manager; the admin exports users.
    assert_eq!(call(&app, "GET", "/api/export/tasks.csv", Some(&mike), None).await.0, 200);
    assert_eq!(call(&app, "GET", "/api/export/users.csv", Some(&anna), None).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn an_api_keys_events_are_its_owners_and_the_admins_only() {
    let app = secured_app().await;
    let (anna, mike, sue, boris) =
        (token(&app, "anna").await, token(&app, "mike").await, token(&app, "sue").await, token(&app, "boris").await);
    let body = json!({"name": "boris-phone-sync", "scope": "read", "expires_at": in_days(30)});
    assert_eq!(call(&app, "POST", "/api/keys", Some(&boris), Some(body)).await.0, 201);
    let keys_seen = |t: String| {
        let app = &app;
        async move {
            let (s, events) = call(app, "GET", "/api/events?entity=api_key", Some(&t), None).await;
            assert_eq!(s, 200, "{events}");
            events["total"].as_u64().unwrap()
        }
    };
    assert_eq!(keys_seen(mike.clone()).await, 0, "a manager does not see another's keys");
    assert_eq!(keys_seen(sue.clone()).await, 0, "nor a supervisor");
    assert_eq!(keys_seen(anna.clone()).await, 1, "and the admin");
    // Not by paging the whole log either.
    let (_, all) = call(&app, "GET", "/api/events?limit=500", Some(&mike), None).await;
    let leaked: Vec<&Value> = all["items"].as_array().unwrap().iter().filter(|e| e["entity"] == "api_key").collect();
    assert!(leaked.is_empty(), "{leaked:?}");
    app.stop().await;
}

/// The bot token the secured test apps run with.
const BOT_TOKEN: &str = "12345:test-bot-token";

/// A Login Widget payload for tanya_tg (Telegram id 777), signed now.
fn tanyas_widget_payload() -> Value {
    let now = chrono::Utc::now().timestamp();
    widget(&[("id", "777".into()), ("username", "tanya_tg".into()), ("auth_date", now.to_string())], BOT_TOKEN)
}

#[tokio::test]
async fn a_login_widget_payload_logs_in_once() {
    let app = secured_app().await;
    let payload = tanyas_widget_payload();
    assert_eq!(app.post("/api/auth/telegram", payload.clone()).await.status(), 200);
    let again = app.post("/api/auth/telegram", payload).await;
    assert_eq!(again.status(), 401);
    let body: Value = again.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("already used"), "{body}");
    app.stop().await;
}

/// The same payload shown to a second server on the same database is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_widget_payload_logs_in_once_across_servers_on_one_database() {
    if crate::common::pg::or_skip("a_login_widget_payload_logs_in_once_across_servers_on_one_database").is_none() {
        return;
    }
    let (a, b, _) = crate::postgres::two_servers(crate::security::prepare, |c| {
        crate::postgres::secure(c);
        c.telegram.bot_token = taskboard::config::Secret(BOT_TOKEN.into());
    })
    .await;
    let payload = tanyas_widget_payload();
    assert_eq!(a.post("/api/auth/telegram", payload.clone()).await.status(), 200);
    let again = b.post("/api/auth/telegram", payload).await;
    assert_eq!(again.status(), 401, "replayed on the other server");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_key_lives_at_most_the_configured_days_and_not_past_its_owners_password() {
    let app = secured_app().await;
    let anna = token(&app, "anna").await;
    let forever = json!({"name": "forever", "scope": "write", "expires_at": "9999-12-31T00:00:00Z"});
    let (s, body) = call(&app, "POST", "/api/keys", Some(&anna), Some(forever)).await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "expires_at");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("365 days"), "{body}");
    let year = json!({"name": "a year", "scope": "write", "expires_at": in_days(360)});
    assert_eq!(call(&app, "POST", "/api/keys", Some(&anna), Some(year)).await.0, 201);

    // User 8's password is older than the policy: a key issued for them is held as
    // their login is, until they change it.
    let old = json!({"name": "old", "user_id": 8, "scope": "write", "expires_at": in_days(30)});
    let (s, key) = call(&app, "POST", "/api/keys", Some(&anna), Some(old)).await;
    assert_eq!(s, 201, "{key}");
    let key = key["key"].as_str().unwrap().to_string();
    let (s, body) = call(&app, "POST", "/api/tasks", Some(&key), Some(json!({"title": "via key"}))).await;
    assert_eq!(s, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("password is older"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn the_boards_refresh_token_lives_in_an_http_only_cookie_for_the_refresh_route_only() {
    let app = secured_app().await;
    let login = |cookie: bool| {
        let mut r =
            app.client.post(app.url("/api/auth/login")).json(&json!({"username": "anna", "password": PASSWORD}));
        if cookie {
            r = r.header("x-refresh-cookie", "1");
        }
        r.send()
    };
    // Scripts keep getting the token in the body.
    let r = login(false).await.unwrap();
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.json::<Value>().await.unwrap()["refresh_token"].is_string());
    // The board gets it as a cookie no script can read.
    let r = login(true).await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in ["taskboard_refresh=", "HttpOnly", "SameSite=Strict", "Path=/api/auth/refresh"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "no Secure flag without TLS: {cookie}");
    let body: Value = r.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "{body}");
    let jar = cookie.split(';').next().unwrap().to_string();
    let refresh = |header: bool, jar: String| {
        let mut r = app.client.post(app.url("/api/auth/refresh")).header("cookie", jar).json(&json!({}));
        if header {
            r = r.header("x-refresh-cookie", "1");
        }
        r.send()
    };
    // Without the board's header (a cross-site form), the cookie does not count.
    assert_eq!(refresh(false, jar.clone()).await.unwrap().status(), 401);
    let r = refresh(true, jar).await.unwrap();
    assert_eq!(r.status(), 200);
    let next = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let access = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    // Logging out clears it.
    let r = app.client.post(app.url("/api/auth/logout")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let jar = next.split(';').next().unwrap().to_string();
    assert_eq!(refresh(true, jar).await.unwrap().status(), 401, "the session is over");
    app.stop().await;
}

#[tokio::test]
async fn api_answers_are_never_cached_or_sniffed_and_the_docs_page_has_a_policy() {
    let app = secured_app().await;
    for path in ["/api/health", "/api/tasks", "/api/nothing-here"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    }
    let r = app.post("/api/auth/login", json!({"username": "anna", "password": PASSWORD})).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_read_from_allowed_addresses_with_the_token_or_by_an_admin() {
    // Nobody's address is allowed here: only the token or an admin reads them.
    let app = secured_app_with(|c| {
        c.metrics.allow = Vec::new();
        c.metrics.token = taskboard::config::Secret("scrape-me-0123456789".into());
    })
    .await;
    let get = |bearer: Option<String>| {
        let mut r = app.client.get(app.url("/metrics"));
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        r.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 403);
    assert_eq!(get(Some("wrong".into())).await.unwrap().status(), 403);
    assert_eq!(get(Some(token(&app, "mike").await)).await.unwrap().status(), 403);
    assert_eq!(get(Some("scrape-me-0123456789".into())).await.unwrap().status(), 200);
    assert_eq!(get(Some(token(&app, "anna").await)).await.unwrap().status(), 200);
    app.stop().await;
    // Security off: loopback by default, and a range that leaves it out refuses it.
    let open = crate::common::TestApp::spawn().await;
    assert_eq!(open.client.get(open.url("/metrics")).send().await.unwrap().status(), 200);
    open.stop().await;
    let closed = crate::common::TestApp::spawn_with(|_| {}, |c| c.metrics.allow = vec!["10.0.0.0/8".into()]).await;
    assert_eq!(closed.client.get(closed.url("/metrics")).send().await.unwrap().status(), 403);
    closed.stop().await;
}

/// A live view's starting records follow the same rules as the list and the socket:
/// a client's own requests only, users for admins only (admin_only_endpoints), nothing
/// without a login.
#[tokio::test]
async fn a_live_views_start_shows_each_role_what_its_list_shows() {
    let app = secured_app().await;
    let (anna, mike, carl) = (token(&app, "anna").await, token(&app, "mike").await, token(&app, "carl").await);
    let (s, mine) = call(&app, "POST", "/api/tasks", Some(&carl), Some(json!({"title": "carl's request"}))).await;
    assert_eq!(s, 201, "{mine}");
    assert_eq!(call(&app, "POST", "/api/tasks", Some(&mike), Some(json!({"title": "staff only"}))).await.0, 201);
    let (s, start) = call(&app, "GET", "/api/live/tasks?fields=title", Some(&carl), None).await;
    assert_eq!(s, 200, "{start}");
    let titles: Vec<&str> = start["items"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["carl's request"]);
    assert_eq!(start["etags"].as_object().unwrap().len(), 1);
    assert_eq!(call(&app, "GET", "/api/live/users", Some(&carl), None).await.0, 403);
    assert_eq!(call(&app, "GET", "/api/live/users", Some(&mike), None).await.0, 403, "admin_only_endpoints");
    assert_eq!(call(&app, "GET", "/api/live/users", Some(&anna), None).await.0, 200);
    assert_eq!(call(&app, "GET", "/api/live/tasks", None, None).await.0, 401);
    app.stop().await;
}
