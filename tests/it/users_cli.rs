//! `taskboard user add|passwd|list`: the way to create the first admin.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use crate::common::{ServerProcess, taskboard_in};

/// The password hash of the first row of credentials.csv (quoted: it holds commas).
fn stored_hash(data: &Path) -> String {
    let mut reader = csv::Reader::from_path(data.join("credentials.csv")).unwrap();
    reader.records().next().unwrap().unwrap()[1].to_string()
}

fn user(data: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = taskboard_in(data.parent().unwrap())
        .args(["--config", "/nonexistent.yaml", "user"])
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn users_are_added_with_hashed_passwords_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (code, out, err) =
        user(&data, &["add", "--username", "anna", "--role", "admin", "--password-stdin"], "Correct-Horse-7\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "added user 1 (anna, admin)");
    let hash = stored_hash(&data);
    assert!(taskboard::auth::password::verify("Correct-Horse-7", &hash));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(data.join("credentials.csv")).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let events = std::fs::read_to_string(data.join("events.csv")).unwrap();
    assert!(events.contains("credential.created") && !events.contains(&hash[10..]), "no hash in events.csv");

    // A weak password names every rule it breaks, and nothing is written.
    let users_before = std::fs::read_to_string(data.join("users.csv")).unwrap();
    let (code, _, err) = user(&data, &["add", "--username", "boris", "--role", "member", "--password-stdin"], "weak\n");
    assert_eq!(code, 1);
    assert!(err.contains("at least 8 characters, an upper-case letter, a digit, a special character"), "{err}");
    assert_eq!(std::fs::read_to_string(data.join("users.csv")).unwrap(), users_before);
    let (code, _, err) = user(&data, &["add", "--username", "ANNA", "--role", "member"], "");
    assert_eq!(code, 1);
    assert!(err.contains("exists already"), "{err}");
    let (code, _, err) = user(&data, &["add", "--username", "x", "--role", "boss"], "");
    assert_eq!(code, 1);
    assert!(err.contains("role"), "{err}");

    let (code, _, err) = user(&data, &["passwd", "anna"], "Another-Horse-8\n");
    assert_eq!(code, 0, "{err}");
    let hash = stored_hash(&data);
    assert!(
        taskboard::auth::password::verify("Another-Horse-8", &hash)
            && !taskboard::auth::password::verify("Correct-Horse-7", &hash)
    );

    user(&data, &["add", "--username", "boris", "--role", "member"], "");
    let (code, out, _) = user(&data, &["list"], "");
    assert_eq!(code, 0);
    assert!(out.contains("1\tanna\tadmin\ttrue\t\tset") && out.contains("2\tboris\tmember\ttrue\t\t-"), "{out}");

    // With a server on the folder, the command says to use the API.
    let server = ServerProcess::start(&data);
    let (code, _, err) = user(&data, &["add", "--username", "carl", "--role", "member"], "");
    assert_eq!(code, 1);
    assert!(err.contains("is using the data folder") && err.contains("POST /api/users"), "{err}");
    assert!(server.terminate().success());
}
