//! What the round-two attack got through, each reproduced: an admin-only table read
//! through its export, other people's API keys in the event log, a Login Widget
//! payload used twice, a key that lives for ever or outlives its owner's password.

use serde_json::{Value, json};

use crate::security::{call, secured_app, token, widget};

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

#[tokio::test]
async fn a_login_widget_payload_logs_in_once() {
    let app = secured_app().await;
    let now = chrono::Utc::now().timestamp();
    let payload = widget(
        &[("id", "777".into()), ("username", "tanya_tg".into()), ("auth_date", now.to_string())],
        "12345:test-bot-token",
    );
    assert_eq!(app.post("/api/auth/telegram", payload.clone()).await.status(), 200);
    let again = app.post("/api/auth/telegram", payload).await;
    assert_eq!(again.status(), 401);
    let body: Value = again.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("already used"), "{body}");
    app.stop().await;
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
