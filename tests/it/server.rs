//! The server around the routes: connection limit, request timeout, TLS, CORS,
//! health, metrics.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::TestApp;

fn raw_request(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_connections_with_every_one_answering_a_request_a_client_is_refused_at_once() {
    let app = TestApp::spawn_with(|_| {}, |c| c.server.max_connections = 2).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    // Each holds a request in progress (a body promised, not yet sent): neither is idle,
    // so neither is closed to make room (an idle one would be: tests/it/hardening.rs).
    let held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"POST /api/tasks HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
                .unwrap();
            s
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let answer = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || raw_request(&addr, "GET /api/health HTTP/1.1\r\nhost: x\r\n\r\n")
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("server.max_connections"));
    assert!(started.elapsed() < Duration::from_secs(1), "refused, not queued");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.get("/api/health").await.status(), 200, "slots come back when connections close");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_slower_than_request_timeout_gets_503() {
    let app = TestApp::spawn_with(|_| {}, |c| c.server.request_timeout = 1).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let started = Instant::now();
    // Promises a body it never sends.
    let answer = tokio::task::spawn_blocking(move || {
        raw_request(&addr, "POST /api/tasks HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"title\":")
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("server.request_timeout"));
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(app.get_json("/api/tasks").await["total"], 0);
    app.stop().await;
}

#[tokio::test]
async fn tls_serves_https_with_the_configured_certificate() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let app = TestApp::spawn_with(
        |_| {},
        |c| {
            c.server.ssl_enabled = true;
            c.server.ssl_cert_path = Some(fixtures.join("tls-cert.pem"));
            c.server.ssl_key_path = Some(fixtures.join("tls-key.pem"));
        },
    )
    .await;
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let cert = reqwest::Certificate::from_pem(&std::fs::read(fixtures.join("tls-ca.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder().add_root_certificate(cert).build().unwrap();
    let r = client.get(format!("https://localhost:{port}/api/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Plain HTTP to the TLS port gets no answer.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/api/health")).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    app.stop().await;
}

#[tokio::test]
async fn tls_with_a_missing_key_stops_start_up() {
    let mut config = crate::common::test_config(Path::new("/tmp/unused"));
    config.server.ssl_enabled = true;
    config.server.ssl_cert_path = Some("/nonexistent/cert.pem".into());
    config.server.ssl_key_path = Some("/nonexistent/key.pem".into());
    let dir = tempfile::tempdir().unwrap();
    config.storage.data_dir = dir.path().to_path_buf();
    let err = taskboard::app::start(config).await.err().expect("refused");
    assert!(err.to_string().contains("server.ssl_cert_path"), "{err}");
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let app = TestApp::spawn_with(|_| {}, |c| c.server.cors_origins = vec!["https://kanban.example.com".into()]).await;
    let r = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/tasks"))
        .header("origin", "https://kanban.example.com")
        .header("access-control-request-method", "PATCH")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://kanban.example.com");
    let r = app.client.get(app.url("/api/tasks")).header("origin", "https://evil.example").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    app.stop().await;
}

#[tokio::test]
async fn health_reports_components_and_config_without_secrets() {
    // SAFETY: no other test reads this variable.
    unsafe { std::env::set_var("TB_HEALTH_TEST_TOKEN", "999:health-secret") };
    let app = TestApp::spawn_with(
        |_| {},
        |c| {
            c.telegram.bot_token = taskboard::config::Secret("999:health-secret".into());
        },
    )
    .await;
    let r = app.get("/api/health").await;
    let text = r.text().await.unwrap();
    assert!(!text.contains("health-secret"), "no secret in /api/health");
    let health: Value = serde_json::from_str(&text).unwrap();
    // The bot's token points at a Telegram this machine cannot reach: the server says
    // degraded (still 200) as soon as the bot has failed to reach it, ok before.
    let telegram_down = health["components"]["telegram"]["state"] == "retrying";
    assert_eq!(health["status"], if telegram_down { "degraded" } else { "ok" }, "{health}");
    assert_eq!(health["config"]["telegram"]["bot_token"], "[set]");
    assert_eq!(health["config"]["server"]["max_connections"], 1000);
    assert_eq!(health["components"]["storage_backend"]["kind"], "csv");
    assert!(health["warnings"][0].as_str().unwrap().contains("security.enabled is false"));
    assert_eq!(health["tables"].as_array().unwrap().len(), 11, "the eleven tables of docs/data-files.md");
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = TestApp::spawn().await;
    app.post("/api/tasks", serde_json::json!({"title": "m"})).await;
    app.get("/api/tasks/1").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for needle in [
        "taskboard_http_requests_total{",
        "route=\"/api/tasks/{id}\"",
        "taskboard_http_request_duration_seconds_bucket{",
        "taskboard_table_rows{table=\"tasks\"}",
        "taskboard_fsync_seconds_bucket",
        "taskboard_commit_batch_size_bucket",
        "taskboard_cache_hits_total",
    ] {
        assert!(text.contains(needle), "{needle} missing from /metrics:\n{text}");
    }
    app.stop().await;
}
