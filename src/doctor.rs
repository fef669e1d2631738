//! `taskboard doctor`: checks an installation before (or while) it runs and says, line
//! by line, `ok`, `warn` or `fail` with what to do: the configuration, the data folder
//! (permissions and every file, as `check` reads them), the logs folder, the secret
//! key, the port, the TLS files, the Telegram bot token and the LLM endpoint (both
//! asked over the network, with a short timeout). Exits 1 when any line fails. Never
//! prints a secret.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::Config;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Ok,
    Warn,
    Fail,
}

/// The lines said so far, printed as they come.
#[derive(Default)]
struct Report {
    worst: Option<Level>,
}

impl Report {
    fn say(&mut self, level: Level, topic: &str, text: impl AsRef<str>) {
        let word = match level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "fail",
        };
        // A closed pipe (`| head`) ends the output, not the program.
        let _ = writeln!(std::io::stdout(), "{word} {topic}: {}", text.as_ref());
        self.worst = self.worst.max(Some(level));
    }
}

/// Checks everything it can; a broken configuration stops only the lines that need it.
pub fn run(config_path: &Path) -> ExitCode {
    let mut report = Report::default();
    let config = match Config::load(config_path).and_then(crate::app::check_config) {
        Ok(config) => {
            let source =
                if config_path.exists() { config_path.display().to_string() } else { "defaults (no file)".into() };
            report.say(Level::Ok, "config", format!("{source} reads and checks"));
            config
        }
        Err(e) => {
            report.say(Level::Fail, "config", format!("{e} — fix that key in {}", config_path.display()));
            let _ = writeln!(std::io::stdout(), "(the other checks need a configuration that reads)");
            return ExitCode::FAILURE;
        }
    };
    data_folder(&mut report, &config);
    logs_folder(&mut report, &config);
    secret(&mut report, &config);
    port(&mut report, &config);
    tls(&mut report, &config);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    match runtime {
        Ok(rt) => rt.block_on(async {
            database(&mut report, &config).await;
            telegram(&mut report, &config).await;
            llm(&mut report, &config).await;
        }),
        Err(e) => report.say(Level::Fail, "network checks", format!("cannot start: {e}")),
    }
    if report.worst == Some(Level::Fail) { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn data_folder(report: &mut Report, config: &Config) {
    let dir = &config.storage.data_dir;
    if !dir.exists() {
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if writable(parent) {
            report.say(
                Level::Warn,
                "data",
                format!("{} does not exist yet; the server creates it at start", dir.display()),
            );
        } else {
            report.say(
                Level::Fail,
                "data",
                format!(
                    "{} does not exist and {} is not writable: create it for the server's user",
                    dir.display(),
                    parent.display()
                ),
            );
        }
        return;
    }
    if !writable(dir) {
        report.say(
            Level::Fail,
            "data",
            format!("{} is not writable by this user: chown it to the server's user", dir.display()),
        );
        return;
    }
    let vocabulary = crate::store::StoreConfig::from_config(config).vocabulary;
    let folder = crate::store::csv::check::open_folder(dir, &vocabulary);
    let problems = folder.all_problems();
    if problems.is_empty() {
        let rows: usize = folder.tables.values().map(|t| t.data.rows.len()).sum();
        report.say(Level::Ok, "data", format!("{} is writable; every file is valid ({rows} records)", dir.display()));
    } else {
        let first: Vec<String> = problems.iter().take(3).map(|p| p.to_string()).collect();
        report.say(
            Level::Fail,
            "data",
            format!("{} problem(s), first: {} — `taskboard check` lists them all", problems.len(), first.join("; ")),
        );
    }
}

fn logs_folder(report: &mut Report, config: &Config) {
    let dir = config.logging.file_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // The nearest folder that exists must take the logs (the server makes the rest).
    let existing = dir.ancestors().find(|p| p.as_os_str().is_empty() || p.exists()).unwrap_or(Path::new("."));
    let existing = if existing.as_os_str().is_empty() { Path::new(".") } else { existing };
    if writable(existing) {
        report.say(Level::Ok, "logs", format!("{} can be written", dir.display()));
    } else {
        report.say(
            Level::Fail,
            "logs",
            format!("{} is not writable: give the server's user {}", existing.display(), dir.display()),
        );
    }
}

fn secret(report: &mut Report, config: &Config) {
    if config.security.enabled {
        // check_config refused a missing or short key already.
        report.say(
            Level::Ok,
            "secret",
            format!("SECRET_KEY is set ({} characters)", config.secret_key.expose().chars().count()),
        );
    } else {
        report.say(
            Level::Warn,
            "secret",
            "security is off: every request acts as an admin; set security.enabled: true and SECRET_KEY before others can reach the port",
        );
    }
}

fn port(report: &mut Report, config: &Config) {
    let address = format!("{}:{}", config.server.host, config.server.port);
    match std::net::TcpListener::bind(&address) {
        Ok(_) => report.say(Level::Ok, "port", format!("{address} is free")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => report.say(
            Level::Warn,
            "port",
            format!("{address} is in use: fine if it is this taskboard running; else set server.port"),
        ),
        Err(e) => report.say(
            Level::Fail,
            "port",
            format!("cannot listen on {address}: {e} (a port under 1024 needs privileges)"),
        ),
    }
}

fn tls(report: &mut Report, config: &Config) {
    let s = &config.server;
    match (s.ssl_enabled, &s.ssl_cert_path, &s.ssl_key_path) {
        (false, _, _) => report.say(Level::Ok, "tls", "off: plain HTTP (put a TLS proxy in front, or set ssl_enabled)"),
        (true, Some(cert), Some(key)) => match crate::server::tls_acceptor(cert, key) {
            Ok(_) => report.say(Level::Ok, "tls", format!("{} and its key load", cert.display())),
            Err(e) => {
                report.say(Level::Fail, "tls", format!("{e} — check server.ssl_cert_path and ssl_key_path (PEM)"))
            }
        },
        (true, _, _) => report.say(Level::Fail, "tls", "ssl_enabled needs ssl_cert_path and ssl_key_path"),
    }
}

fn client() -> Option<reqwest::Client> {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().ok()
}

async fn database(report: &mut Report, config: &Config) {
    if !config.db_postgresql.enabled {
        return;
    }
    match crate::store::pg::probe(&crate::store::PgSettings::from_config(config)).await {
        Ok(what) => report.say(Level::Ok, "database", what),
        Err(e) => report.say(
            Level::Fail,
            "database",
            format!("cannot reach db_postgresql.url: {e} — check the URL, the server and its pg_hba.conf"),
        ),
    }
}

async fn telegram(report: &mut Report, config: &Config) {
    let token = config.telegram.bot_token.expose();
    if token.trim().is_empty() {
        report.say(Level::Ok, "telegram", "no bot token: the bot is off");
        return;
    }
    let Some(http) = client() else { return };
    let url = format!("{}/bot{token}/getMe", config.telegram.api_url.trim_end_matches('/'));
    match http.get(&url).send().await {
        Ok(r) if r.status().is_success() => {
            let name = r
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["result"]["username"].as_str().map(str::to_string));
            report.say(
                Level::Ok,
                "telegram",
                format!("the Bot API knows the token (bot @{})", name.unwrap_or_default()),
            );
        }
        Ok(r) => report.say(
            Level::Fail,
            "telegram",
            format!(
                "{} answered {} to the token: check telegram.bot_token",
                config.telegram.api_url,
                r.status().as_u16()
            ),
        ),
        Err(_) => report.say(
            Level::Warn,
            "telegram",
            format!("{} cannot be reached from here (the bot retries once it can)", config.telegram.api_url),
        ),
    }
}

async fn llm(report: &mut Report, config: &Config) {
    let llm = &config.llm;
    let key = llm.api_key.expose();
    if !llm.enabled {
        report.say(Level::Ok, "llm", "off (llm.enabled: false): analyses come from the server's own facts");
        return;
    }
    if key.is_empty() && llm.base_url.contains("api.openai.com") {
        report.say(
            Level::Warn,
            "llm",
            "no key for OpenAI: set OPENAI_API_KEY (or llm.base_url to a local server); analyses fall back to facts",
        );
        return;
    }
    let Some(http) = client() else { return };
    let url = format!("{}/models", llm.base_url.trim_end_matches('/'));
    let mut request = http.get(&url);
    if !key.is_empty() {
        request = request.bearer_auth(key);
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => {
            report.say(Level::Ok, "llm", format!("{} answers (model {})", llm.base_url, llm.model))
        }
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => report.say(
            Level::Warn,
            "llm",
            format!("{} refuses the key ({}): check llm.api_key", llm.base_url, r.status().as_u16()),
        ),
        Ok(r) => {
            report.say(Level::Warn, "llm", format!("{} answered {} to GET /models", llm.base_url, r.status().as_u16()))
        }
        Err(_) => report.say(
            Level::Warn,
            "llm",
            format!("{} cannot be reached: analyses fall back to facts until it can", llm.base_url),
        ),
    }
}

/// Whether this user can create a file in `dir`.
fn writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".taskboard-doctor-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(_) => false,
    }
}
