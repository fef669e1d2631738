//! The configuration: every key with its default (README.md, "Configuration"; config.yaml), read from `config.yaml`.
//!
//! `.env` beside the config file is loaded first; `${VAR}` and `${VAR:-default}` are
//! replaced inside string values (never in the raw text, so a value cannot inject
//! YAML). An unknown key or a value of the wrong type stops start-up with the key's
//! path and its line.
//!
//! Why this file is long: it is the one place a reader looks a key up, one struct per
//! section with its defaults and the checks across sections; split by section, the
//! keys would scatter over as many files.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A secret value: read from the configuration, never printed.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_set(&self) -> bool {
        !self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() { "\"[set]\"" } else { "\"[not set]\"" })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.is_set() { "[set]" } else { "[not set]" })
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where this configuration was read from (None: defaults only). Not a key.
    #[serde(skip)]
    pub source_path: Option<PathBuf>,
    /// `SECRET_KEY` (or `FLASK_SECRET_KEY`) from the environment: signs tokens. Not a key.
    #[serde(skip)]
    pub secret_key: Secret,
    pub storage: Storage,
    pub security: Security,
    pub server: Server,
    pub performance: Performance,
    pub llm: Llm,
    pub logging: Logging,
    pub export: Export,
    pub cron: Cron,
    pub scheduler: Scheduler,
    pub telegram: Telegram,
    pub db_postgresql: DbPostgresql,
    pub tasks: Tasks,
    pub backup: Backup,
    pub feedback: Feedback,
    pub ui: Ui,
    pub metrics: Metrics,
}

/// How the server speaks to people who have not said which language they read.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ui {
    /// `ru` or `en`: for a person whose `language` cell is empty and whose Telegram
    /// or browser says nothing we speak.
    pub default_language: crate::i18n::Lang,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    pub data_dir: PathBuf,
}
impl Default for Storage {
    fn default() -> Self {
        Self { data_dir: PathBuf::from("./data") }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Security {
    pub enabled: bool,
    pub validation_method: ValidationMethod,
    pub session_timeout_hours: u64,
    pub refresh_token_days: u64,
    pub telegram_auth_max_age_hours: u64,
    pub admin_only_endpoints: Vec<String>,
    pub rate_limiting: RateLimiting,
    /// The longest an API key may live, in days from its creation.
    pub api_key_max_days: u64,
}
impl Default for Security {
    fn default() -> Self {
        Self {
            enabled: false,
            validation_method: ValidationMethod::TelegramUsername,
            session_timeout_hours: 1,
            refresh_token_days: 7,
            telegram_auth_max_age_hours: 24,
            admin_only_endpoints: vec!["/api/users".into(), "/api/system/*".into()],
            rate_limiting: RateLimiting::default(),
            api_key_max_days: 365,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ValidationMethod {
    TelegramUsername,
    Password,
    Both,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimiting {
    pub requests_per_minute: u32,
    pub llm_requests_per_day: u32,
}
impl Default for RateLimiting {
    fn default() -> Self {
        Self { requests_per_minute: 100, llm_requests_per_day: 50 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub ssl_enabled: bool,
    pub ssl_cert_path: Option<PathBuf>,
    pub ssl_key_path: Option<PathBuf>,
    pub max_connections: usize,
    /// Connections one client address may hold at once (0: no limit, for a server
    /// behind a reverse proxy on the same machine, where every client is the proxy).
    pub max_connections_per_address: usize,
    /// Seconds a client has to send a request's headers, from when the connection
    /// opens or the last response went out; an idle keep-alive connection closes then.
    pub header_read_timeout: u64,
    pub request_timeout: u64,
    pub cors_origins: Vec<String>,
    pub debug: bool,
}
impl Default for Server {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 5000,
            ssl_enabled: false,
            ssl_cert_path: None,
            ssl_key_path: None,
            max_connections: 1000,
            max_connections_per_address: 250,
            header_read_timeout: 20,
            request_timeout: 30,
            cors_origins: vec!["https://kanban.example.com".into()],
            debug: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Performance {
    pub cache_enabled: bool,
    pub cache_ttl_seconds: u64,
    pub csv_read_batch_size: usize,
    pub worker_processes: usize,
    pub max_file_size_mb: u64,
}
impl Default for Performance {
    fn default() -> Self {
        Self {
            cache_enabled: true,
            cache_ttl_seconds: 300,
            csv_read_batch_size: 1000,
            worker_processes: 4,
            max_file_size_mb: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Llm {
    pub enabled: bool,
    pub provider: String,
    pub base_url: String,
    pub api_key: Secret,
    pub model: String,
    pub max_tokens: u32,
    pub cache_minutes: u64,
    pub timeout_seconds: u64,
}
impl Default for Llm {
    fn default() -> Self {
        Self {
            enabled: true,
            provider: "openai".into(),
            base_url: "https://api.openai.com/v1".into(),
            api_key: Secret(std::env::var("OPENAI_API_KEY").unwrap_or_default()),
            model: "gpt-4-turbo-preview".into(),
            max_tokens: 2000,
            cache_minutes: 60,
            timeout_seconds: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Logging {
    pub level: String,
    pub file_path: PathBuf,
    /// Fractions allowed (0.5 = 512 KiB).
    pub max_size_mb: f64,
    pub format: String,
    pub retention_days: u64,
}
impl Default for Logging {
    fn default() -> Self {
        Self {
            level: "INFO".into(),
            file_path: PathBuf::from("./logs/task_system.log"),
            max_size_mb: 100.0,
            format: "%(asctime)s - %(name)s - %(levelname)s - %(message)s".into(),
            retention_days: 30,
        }
    }
}

/// Who reads `GET /metrics`: callers from `allow` (address ranges), callers that
/// bring `token` as a bearer token, and (security on) admins.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Metrics {
    pub allow: Vec<String>,
    pub token: Secret,
}
impl Default for Metrics {
    fn default() -> Self {
        Self { allow: vec!["127.0.0.1/32".into(), "::1/128".into()], token: Secret::default() }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Export {
    pub allow_all: bool,
    pub csv_export_enabled: bool,
    pub max_export_records: usize,
}
impl Default for Export {
    fn default() -> Self {
        Self { allow_all: true, csv_export_enabled: true, max_export_records: 10000 }
    }
}

/// Clients' feedback on finished work.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Feedback {
    /// An outside form (`FEEDBACK_FORM_URL`) offered beside the built-in rating when a
    /// task is done: on the board now, in the "done" notification once the bot sends
    /// them. Empty: none.
    pub form_url: String,
}
impl Default for Feedback {
    fn default() -> Self {
        Self { form_url: std::env::var("FEEDBACK_FORM_URL").unwrap_or_default() }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cron {
    pub enabled: bool,
    pub jobs: BTreeMap<String, Job>,
}
impl Default for Cron {
    fn default() -> Self {
        // A trigger with a space is a crontab line; without, an interval (`15m`).
        let job = |trigger: &str, task: &str, description: &str| Job {
            schedule: trigger.contains(' ').then(|| trigger.into()),
            interval: (!trigger.contains(' ')).then(|| trigger.into()),
            enabled: true,
            task: task.into(),
            description: description.into(),
        };
        Self {
            enabled: true,
            jobs: BTreeMap::from([
                (
                    "deadline_notifications".into(),
                    job("0 9 * * *", "check_deadlines", "Remind assignees of tasks due soon or overdue"),
                ),
                ("daily_report".into(), job("0 18 * * 1-5", "generate_daily_report", "Personal and team reports")),
                ("backup_job".into(), job("0 2 * * *", "backup_data", "Back up the data folder")),
                ("key_status".into(), job("15m", "update_key_status", "Move API keys to expiring and expired")),
                (
                    "recurring".into(),
                    job("1m", "create_recurring_tasks", "Make the tasks of recurring work as they fall due"),
                ),
                (
                    "key_notices".into(),
                    job("0 10 * * *", "notify_user_about_key_status", "Tell owners of expiring and expired API keys"),
                ),
            ]),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub task: String,
    #[serde(default)]
    pub description: String,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scheduler {
    pub timezone: String,
    pub jobstore: String,
    pub thread_pool_size: usize,
    pub misfire_grace_time: u64,
    pub coalesce: bool,
}
impl Scheduler {
    /// The zone as a time zone (checked at load; UTC if it somehow is not one).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }
}

impl Default for Scheduler {
    fn default() -> Self {
        Self {
            timezone: "Europe/Moscow".into(),
            jobstore: "memory".into(),
            thread_pool_size: 5,
            misfire_grace_time: 600,
            coalesce: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Telegram {
    pub bot_token: Secret,
    pub api_url: String,
    /// A group or channel for the team summary: a chat id (`-100…`) or `@channel`.
    pub team_chat_id: String,
    /// Offer Telegram's Login Widget on the board (loads telegram.org's script).
    pub login_widget: bool,
    /// Also announce each new task in `team_chat_id`, with a "Take it" button.
    pub team_chat_new_tasks: bool,
    /// A message Telegram did not take is retried until it is this old (also across
    /// restarts: what waits is kept in the data folder or the database).
    pub max_message_age_hours: u64,
}
impl Default for Telegram {
    fn default() -> Self {
        Self {
            bot_token: Secret(std::env::var("TELEGRAM_BOT_TOKEN").unwrap_or_default()),
            api_url: "https://api.telegram.org".into(),
            team_chat_id: String::new(),
            login_widget: false,
            team_chat_new_tasks: false,
            max_message_age_hours: 24,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DbPostgresql {
    /// Serve from PostgreSQL instead of the CSV folder.
    pub enabled: bool,
    /// `postgres://user:password@host:port/database`; never logged.
    pub url: Secret,
    /// Connections this server keeps open to the database at most.
    pub max_connections: u32,
}
impl Default for DbPostgresql {
    fn default() -> Self {
        Self { enabled: false, url: Secret(std::env::var("DATABASE_URL").unwrap_or_default()), max_connections: 10 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tasks {
    /// `tasks.statuses` as written: plain ids, or entries with labels and a kind.
    #[serde(rename = "statuses")]
    pub declared_statuses: Vec<StatusDecl>,
    /// The status ids in workflow order (from `declared_statuses`). Not a key.
    #[serde(skip)]
    pub statuses: Vec<String>,
    /// The statuses with their labels and kinds. Not a key.
    #[serde(skip)]
    pub workflow: crate::domain::workflow::Workflow,
    /// Custom columns of tasks.csv with a type (`domain::fields`).
    pub fields: Vec<crate::domain::fields::FieldDecl>,
    pub reminder_window_hours: u64,
    /// Closed tasks untouched for longer leave the board's columns ("Show archived"
    /// brings them back); 0 keeps them for ever. Nothing is removed from the files.
    pub archive_after_days: u64,
}
impl Default for Tasks {
    fn default() -> Self {
        let ids: Vec<String> = crate::domain::values::DEFAULT_STATUSES.iter().map(|s| s.to_string()).collect();
        Self {
            declared_statuses: ids.iter().cloned().map(StatusDecl::Plain).collect(),
            workflow: crate::domain::workflow::Workflow::plain(&ids),
            statuses: ids,
            fields: Vec::new(),
            reminder_window_hours: 24,
            archive_after_days: 14,
        }
    }
}

/// One entry of `tasks.statuses`: an id alone (`done`), or
/// `{id: done, label: {en: Done, ru: Завершена}, kind: done}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum StatusDecl {
    Plain(String),
    Full {
        id: String,
        #[serde(default)]
        label: crate::domain::workflow::Label,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<crate::domain::workflow::StatusKind>,
    },
}

impl Tasks {
    /// The workflow `tasks.statuses` declares: a plain id takes the kind its word
    /// says (`done`, `cancelled`), an entry the kind it names (open by default).
    fn declared_workflow(&self) -> Result<crate::domain::workflow::Workflow, String> {
        use crate::domain::workflow::{Status, Workflow};
        let statuses = self
            .declared_statuses
            .iter()
            .map(|d| match d {
                StatusDecl::Plain(id) => Workflow::plain(std::slice::from_ref(id)).statuses()[0].clone(),
                StatusDecl::Full { id, label, kind } => {
                    let plain = Workflow::plain(std::slice::from_ref(id)).statuses()[0].clone();
                    Status { id: id.clone(), label: label.clone(), kind: kind.unwrap_or(plain.kind) }
                }
            })
            .collect();
        Workflow::new(statuses)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backup {
    pub dir: PathBuf,
    /// The newest `keep_last` backups always stay, whatever their day: two taken
    /// before and after an upgrade on one afternoon are both there afterwards.
    pub keep_last: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    pub include_env: bool,
}
impl Default for Backup {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("./backups"),
            keep_last: 3,
            keep_daily: 7,
            keep_weekly: 4,
            keep_monthly: 12,
            include_env: false,
        }
    }
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: not valid YAML: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}:{line}: {key}: {message}")]
    Key { path: String, line: usize, key: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads the configuration file if it exists (defaults otherwise), after loading
    /// `.env` from beside it.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let env_file = path.parent().unwrap_or(Path::new(".")).join(".env");
        if env_file.exists() {
            let _ = dotenvy::from_path(&env_file);
        }
        if !path.exists() {
            return Config::default().validated();
        }
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        let mut config = Config::from_yaml(&text, &path.display().to_string())?;
        config.source_path = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses configuration text; `label` names it in errors.
    pub fn from_yaml(text: &str, label: &str) -> Result<Config, ConfigError> {
        let mut value: yaml_serde::Value = yaml_serde::from_str(text)
            .map_err(|e| ConfigError::Syntax { path: label.into(), message: e.to_string() })?;
        if value.is_null() {
            return Config::default().validated();
        }
        substitute_env(&mut value).map_err(ConfigError::Invalid)?;
        let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Key { path: label.into(), line: line_of(text, &key), key, message: e.inner().to_string() }
        })?;
        config.validated()
    }

    fn validated(mut self) -> Result<Config, ConfigError> {
        let form = &self.feedback.form_url;
        if !(form.is_empty() || form.starts_with("https://") || form.starts_with("http://")) {
            return Err(ConfigError::Invalid(format!(
                "feedback.form_url: {form:?} is not a web address; expected https://..."
            )));
        }
        crate::domain::fields::declare(&self.tasks.fields).map_err(ConfigError::Invalid)?;
        self.tasks.workflow = self.tasks.declared_workflow().map_err(ConfigError::Invalid)?;
        self.tasks.statuses = self.tasks.workflow.ids();
        if self.performance.worker_processes == 0 {
            return Err(ConfigError::Invalid("performance.worker_processes: must be at least 1".into()));
        }
        if self.scheduler.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "scheduler.timezone: {:?} is not a time zone; expected an IANA name such as Europe/Moscow",
                self.scheduler.timezone
            )));
        }
        for (name, job) in &self.cron.jobs {
            if job.schedule.is_some() == job.interval.is_some() {
                return Err(ConfigError::Invalid(format!(
                    "cron.jobs.{name}: give either schedule (crontab, as \"0 9 * * *\") or interval (as 15m), not both or neither"
                )));
            }
        }
        for origin in &self.server.cors_origins {
            if !valid_origin(origin) {
                return Err(ConfigError::Invalid(format!(
                    "server.cors_origins: {origin:?} is not an origin; expected \"*\" or scheme://host[:port], as https://kanban.example.com"
                )));
            }
        }
        if self.server.ssl_enabled && (self.server.ssl_cert_path.is_none() || self.server.ssl_key_path.is_none()) {
            return Err(ConfigError::Invalid(
                "server.ssl_enabled: true needs server.ssl_cert_path and server.ssl_key_path (PEM files)".into(),
            ));
        }
        for range in &self.metrics.allow {
            crate::domain::cidr::Cidr::parse(range).map_err(|e| ConfigError::Invalid(format!("metrics.allow: {e}")))?;
        }
        if !matches!(self.scheduler.jobstore.as_str(), "memory" | "file") {
            return Err(ConfigError::Invalid(format!(
                "scheduler.jobstore: {:?} is not a job store; expected memory or file",
                self.scheduler.jobstore
            )));
        }
        Ok(self)
    }
}

/// `*`, or `scheme://host[:port]` with nothing after it.
fn valid_origin(origin: &str) -> bool {
    if origin == "*" {
        return true;
    }
    let Some((scheme, rest)) = origin.split_once("://") else { return false };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.is_none_or(|p| p.parse::<u16>().is_ok())
}

/// Replaces `${VAR}` and `${VAR:-default}` in every string value.
fn substitute_env(value: &mut yaml_serde::Value) -> Result<(), String> {
    match value {
        yaml_serde::Value::String(s) if s.contains("${") => {
            let replaced = expand(s)?;
            // A whole value that was a variable may be a number or a boolean.
            *value = if s.trim().starts_with("${") && s.trim().ends_with('}') {
                yaml_serde::from_str::<yaml_serde::Value>(&replaced)
                    .ok()
                    .filter(|v| matches!(v, yaml_serde::Value::Bool(_) | yaml_serde::Value::Number(_)))
                    .unwrap_or(yaml_serde::Value::String(replaced))
            } else {
                yaml_serde::Value::String(replaced)
            };
            Ok(())
        }
        yaml_serde::Value::Sequence(items) => items.iter_mut().try_for_each(substitute_env),
        yaml_serde::Value::Mapping(map) => map.iter_mut().try_for_each(|(_, v)| substitute_env(v)),
        _ => Ok(()),
    }
}

fn expand(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("unclosed ${{ in {s:?}"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match std::env::var(name) {
            Ok(v) if !v.is_empty() => out.push_str(&v),
            _ => out.push_str(default.unwrap_or("")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The line where the last part of a key path is written (1 when not found).
fn line_of(text: &str, key_path: &str) -> usize {
    let parts: Vec<&str> = key_path.split('.').filter(|p| !p.is_empty() && !p.starts_with('[')).collect();
    let mut from = 0;
    let lines: Vec<&str> = text.lines().collect();
    for part in &parts {
        let needle = format!("{}:", part.split('[').next().unwrap_or(part));
        if let Some(i) = lines.iter().skip(from).position(|l| l.trim_start().starts_with(&needle)) {
            from += i;
        }
    }
    from + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_means_every_default() {
        let c = Config::from_yaml("", "config.yaml").unwrap();
        assert_eq!(c.server.port, 5000);
        assert_eq!(c.performance.max_file_size_mb, 10);
        assert_eq!(c.tasks.statuses, ["new", "in_progress", "done", "cancelled"]);
    }

    #[test]
    fn an_unknown_key_names_its_path_and_line() {
        let err = Config::from_yaml("server:\n  port: 8080\n  prot: 1\n", "config.yaml").unwrap_err().to_string();
        assert!(err.starts_with("config.yaml:3: server.prot: unknown field"), "{err}");
    }

    #[test]
    fn a_wrong_type_names_its_path() {
        let err = Config::from_yaml("performance:\n  cache_enabled: sometimes\n", "c.yaml").unwrap_err().to_string();
        assert!(err.starts_with("c.yaml:2: performance.cache_enabled:"), "{err}");
    }

    #[test]
    fn variables_are_replaced_inside_values() {
        // SAFETY: tests in this module do not read this variable concurrently.
        unsafe { std::env::set_var("TB_TEST_PORT", "6001") };
        let c =
            Config::from_yaml("server:\n  port: ${TB_TEST_PORT}\n  host: ${TB_UNSET_HOST:-127.0.0.1}\n", "c").unwrap();
        assert_eq!(c.server.port, 6001);
        assert_eq!(c.server.host, "127.0.0.1");
    }

    #[test]
    fn dot_env_beside_the_config_is_loaded_first() {
        let dir = std::env::temp_dir().join(format!("tb-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".env"), "TB_DOTENV_PORT=6123\nTB_DOTENV_TOKEN=1:from-dotenv\n").unwrap();
        std::fs::write(
            dir.join("config.yaml"),
            "server:\n  port: ${TB_DOTENV_PORT}\ntelegram:\n  bot_token: ${TB_DOTENV_TOKEN}\n",
        )
        .unwrap();
        let c = Config::load(&dir.join("config.yaml")).unwrap();
        assert_eq!(c.server.port, 6123);
        assert_eq!(c.telegram.bot_token.expose(), "1:from-dotenv");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn secrets_never_print() {
        let c = Config::from_yaml("telegram:\n  bot_token: 123:abc\n", "c").unwrap();
        assert!(!format!("{c:?}").contains("123:abc"));
        assert!(!serde_json::to_string(&c).unwrap().contains("123:abc"));
    }
}
