//! Two servers on one database behind a load balancer without sticky sessions: a
//! record acknowledged by server A is found by server B at once (a read, a PATCH, an
//! If-Match with A's ETag), because B catches up with the database's head before it
//! answers "not found" or "changed since".

use serde_json::json;

use crate::common::pg;
use crate::postgres::{secure, two_servers};
use crate::security::{PASSWORD, prepare};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_made_on_one_server_is_found_on_the_other_at_once() {
    if pg::or_skip("a_task_made_on_one_server_is_found_on_the_other_at_once").is_none() {
        return;
    }
    let (a, b, _) = two_servers(prepare, secure).await;
    let login = a.post("/api/auth/login", json!({"username": "anna", "password": PASSWORD})).await;
    let token = login.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let mut misses = Vec::new();
    // Eight writers at once, each reading and changing on B what A just acknowledged.
    let mut writers = Vec::new();
    for w in 0..8 {
        let (a_base, b_base, token) = (a.base.clone(), b.base.clone(), token.clone());
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut misses = Vec::new();
            for i in 0..40 {
                let created: serde_json::Value = client
                    .post(format!("{a_base}/api/tasks"))
                    .bearer_auth(&token)
                    .json(&json!({"title": format!("on A {w}-{i}")}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let id = created["id"].as_u64().unwrap();
                let path = format!("/api/tasks/{id}");
                let r = client.get(format!("{b_base}{path}")).bearer_auth(&token).send().await.unwrap();
                if r.status() != 200 {
                    misses.push(format!("GET {id} on B: {}", r.status()));
                }
                // Changed on A, then changed on B naming A's new version.
                let r = client
                    .patch(format!("{a_base}{path}"))
                    .bearer_auth(&token)
                    .json(&json!({"description": "A"}))
                    .send()
                    .await
                    .unwrap();
                let etag = r.headers()["etag"].clone();
                let r = client
                    .patch(format!("{b_base}{path}"))
                    .bearer_auth(&token)
                    .header("if-match", etag)
                    .json(&json!({"description": "B"}))
                    .send()
                    .await
                    .unwrap();
                if r.status() != 200 {
                    misses.push(format!("PATCH {id} on B with A's ETag: {}", r.status()));
                }
            }
            misses
        }));
    }
    for w in writers {
        misses.extend(w.await.unwrap());
    }
    assert!(misses.is_empty(), "{misses:?}");
    a.stop().await;
    b.stop().await;
}
