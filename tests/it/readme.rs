//! The README smoke test: the README's "Try it" and "Security" steps, run as written
//! (with the test's port and binary in place of 5000 and ./target/release), so the
//! steps a new user pastes cannot drift from what the server does.

use std::path::Path;
use std::process::Command;

/// The fenced block after `<!-- readme-smoke:NAME -->`.
fn block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- readme-smoke:{name} -->");
    let start = readme.find(&marker).unwrap_or_else(|| panic!("README.md has {marker}"));
    let rest = &readme[start..];
    let open = rest.find("```sh\n").expect("a ```sh block follows the marker") + 6;
    let close = rest[open..].find("\n```").expect("the block ends") + open;
    rest[open..close].to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn the_readme_steps_work_when_pasted_in_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for tool in ["bash", "curl", "openssl", "sed"] {
        if Command::new("which").arg(tool).output().map(|o| !o.status.success()).unwrap_or(true) {
            panic!("the README smoke test needs {tool} (.ci/run installs it)");
        }
    }
    let port = free_port();
    let binary = crate::common::binary();
    let here = |text: String| {
        text.replace("localhost:5000", &format!("127.0.0.1:{port}"))
            .replace("./target/release/taskboard", binary)
            .replace(" serve &", &format!(" serve --host 127.0.0.1 --port {port} &"))
    };
    let script = format!(
        r#"set -euo pipefail
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
wait_up() {{ for _ in $(seq 1 100); do curl -sf -o /dev/null 127.0.0.1:{port}/api/health && return 0; sleep 0.1; done; echo "no server" >&2; return 1; }}
# "cargo run --release", in another terminal.
{binary} serve --host 127.0.0.1 --port {port} > first-run.log 2>&1 &
FIRST=$!
wait_up
echo '--- try'
{try_it}
echo
echo '--- stop'
kill $FIRST; wait $FIRST || true
echo '--- security'
{security}
"#,
        try_it = here(block(&readme, "try")),
        security = here(block(&readme, "security")),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env_remove("SECRET_KEY")
        .env_remove("TASKBOARD_CONFIG")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the README's steps failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("\"status\":\"in_progress\""), "the PATCH with the ETag went through: {stdout}");
    assert!(stdout.contains("report.txt"), "the upload went through: {stdout}");
    assert!(stdout.contains("\"username\":\"boris\""), "onboarding and the directory worked: {stdout}");
}
