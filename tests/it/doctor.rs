//! `taskboard doctor` on a good installation and on a broken one: a line per check with
//! ok/warn/fail, exit 1 only when something fails, and no secret printed.

use std::path::Path;

use warp::Filter;

use crate::common::{USERS_CSV, taskboard_in};

/// Runs `taskboard --config config.yaml doctor` in `dir`; its exit code and output.
fn doctor(dir: &Path) -> (i32, String) {
    let out = taskboard_in(dir)
        .args(["--config", "config.yaml", "doctor"])
        .env_remove("OPENAI_API_KEY")
        .env_remove("SECRET_KEY")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// The same, from a test whose runtime also serves the fake LLM endpoint.
async fn doctor_off_the_runtime(dir: &Path) -> (i32, String) {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || doctor(&dir)).await.unwrap()
}

fn line<'a>(out: &'a str, topic: &str) -> &'a str {
    out.lines()
        .find(|l| l[4..].trim_start().starts_with(&format!("{topic}:")))
        .unwrap_or_else(|| panic!("no {topic} line in:\n{out}"))
}

/// A free port, so that the port check finds it free.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_ok_on_a_good_setup_and_fail_with_what_to_do_on_a_broken_one() {
    // A fake LLM endpoint that knows the key.
    let models = warp::path!("v1" / "models").and(warp::header::optional::<String>("authorization")).map(
        |auth: Option<String>| {
            let status = if auth.as_deref() == Some("Bearer sk-doctor-key") { 200 } else { 401 };
            warp::http::Response::builder().status(status).body(r#"{"data": []}"#.to_string()).unwrap()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let llm = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(models).incoming(listener).run());

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/users.csv"), USERS_CSV).unwrap();
    let port = free_port();
    let good = format!(
        "server:\n  host: 127.0.0.1\n  port: {port}\nsecurity:\n  enabled: true\n  validation_method: password\nllm:\n  base_url: {llm}\n  api_key: sk-doctor-key\n"
    );
    std::fs::write(dir.path().join("config.yaml"), &good).unwrap();
    std::fs::write(dir.path().join(".env"), "SECRET_KEY=a-long-random-doctor-secret-0123\n").unwrap();
    let out = doctor_off_the_runtime(dir.path()).await;
    assert_eq!(out.0, 0, "{}", out.1);
    for topic in ["config", "data", "logs", "secret", "port", "tls", "telegram", "llm"] {
        assert!(line(&out.1, topic).starts_with("ok"), "{topic}:\n{}", out.1);
    }
    assert!(!out.1.contains("sk-doctor-key") && !out.1.contains("doctor-secret"), "no secret printed:\n{}", out.1);

    // Broken: a data file with a stray quote, TLS files that are not there, a wrong key.
    std::fs::write(
        dir.path().join("data/tasks.csv"),
        "id,title,description,status,priority,assigned_to,created_by,due_date,created_at,updated_at\n1,bro\"ken,,new,low,,,,2026-11-01T09:00:00Z,2026-11-01T09:00:00Z\n",
    )
    .unwrap();
    let broken = good.replace("sk-doctor-key", "sk-wrong-key").replace(
        "server:\n",
        "server:\n  ssl_enabled: true\n  ssl_cert_path: missing-cert.pem\n  ssl_key_path: missing-key.pem\n",
    );
    std::fs::write(dir.path().join("config.yaml"), broken).unwrap();
    let out = doctor_off_the_runtime(dir.path()).await;
    assert_eq!(out.0, 1, "{}", out.1);
    assert!(line(&out.1, "data").starts_with("fail") && line(&out.1, "data").contains("tasks.csv:2"), "{}", out.1);
    assert!(line(&out.1, "tls").starts_with("fail"), "{}", out.1);
    assert!(line(&out.1, "llm").starts_with("warn") && line(&out.1, "llm").contains("401"), "{}", out.1);
    assert!(!out.1.contains("sk-wrong-key"), "{}", out.1);

    // A configuration that does not read: one fail line naming the key, exit 1.
    std::fs::write(dir.path().join("config.yaml"), "server:\n  prot: 80\n").unwrap();
    let (code, text) = doctor(dir.path());
    assert_eq!(code, 1);
    assert!(line(&text, "config").starts_with("fail") && text.contains("server.prot"), "{text}");
}
