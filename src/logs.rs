//! Logging: `logging.file_path` (every line at `logging.level` and above), `errors.log`
//! beside it (warnings and errors), `scheduler.log` (the scheduler's lines), and
//! standard error. Files rotate at `max_size_mb`; rotated files older than
//! `retention_days` are removed. Lines follow `logging.format`, whose placeholders are
//! Python's: `%(asctime)s`, `%(name)s`, `%(levelname)s`, `%(message)s`.
//!
//! Writing happens on background threads (tracing-appender's non_blocking), so a slow
//! disk never holds a request.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use file_rotate::compression::Compression;
use file_rotate::suffix::{AppendTimestamp, FileLimit};
use file_rotate::{ContentLimit, FileRotate};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::Logging;

/// Keep alive while the program runs: dropping it flushes the files.
pub struct LogGuards(#[allow(dead_code)] Vec<WorkerGuard>);

/// A part of the line format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Time,
    Name,
    Level,
    Message,
}

/// Parses a Python logging format; unknown placeholders are an error naming them.
fn parse_format(format: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = format;
    while let Some(start) = rest.find("%(") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after.find(')').ok_or_else(|| format!("logging.format: unclosed placeholder in {format:?}"))?;
        let name = &after[..end];
        if after.as_bytes().get(end + 1) != Some(&b's') {
            return Err(format!("logging.format: %({name}) must end in s, as in %({name})s"));
        }
        pieces.push(match name {
            "asctime" => Piece::Time,
            "name" => Piece::Name,
            "levelname" => Piece::Level,
            "message" => Piece::Message,
            other => {
                return Err(format!(
                    "logging.format: %({other})s is not supported; use %(asctime)s, %(name)s, %(levelname)s, %(message)s"
                ));
            }
        });
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

/// `INFO`, `WARNING`... as the configuration spells levels (Python's names).
pub fn parse_level(level: &str) -> Result<Level, String> {
    match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Ok(Level::TRACE),
        "DEBUG" => Ok(Level::DEBUG),
        "INFO" => Ok(Level::INFO),
        "WARNING" | "WARN" => Ok(Level::WARN),
        "ERROR" | "CRITICAL" => Ok(Level::ERROR),
        _ => Err(format!("logging.level: {level:?} is not a level; expected DEBUG, INFO, WARNING or ERROR")),
    }
}

/// The local time as Python's asctime, the seconds formatted once per second per thread
/// (formatting and the time zone lookup are the dearest part of a line).
fn asctime(out: &mut String) {
    use std::cell::RefCell;
    thread_local! {
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            use chrono::TimeZone;
            cached.0 = secs;
            cached.1 = chrono::Local
                .timestamp_opt(secs, 0)
                .single()
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default();
        }
        out.push_str(&cached.1);
    });
    let _ = write!(out, ",{:03}", now.subsec_millis());
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARNING",
        Level::ERROR => "ERROR",
    }
}

/// Collects an event's message and fields as `message key=value ...`.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}

/// The layer that writes formatted lines to the files and standard error.
struct FileLayer {
    pieces: Vec<Piece>,
    level: Level,
    main: NonBlocking,
    errors: NonBlocking,
    scheduler: NonBlocking,
    stderr: bool,
}

impl FileLayer {
    fn format(&self, event: &Event<'_>) -> String {
        let meta = event.metadata();
        let mut line = Line::default();
        event.record(&mut line);
        let mut out = String::with_capacity(128);
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                // Python's default asctime: 2026-11-22 09:00:00,123
                Piece::Time => asctime(&mut out),
                Piece::Name => out.push_str(meta.target()),
                Piece::Level => out.push_str(level_name(meta.level())),
                Piece::Message => {
                    out.push_str(&line.message);
                    out.push_str(&line.fields);
                }
            }
        }
        out.push('\n');
        out
    }
}

impl<S: Subscriber> Layer<S> for FileLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > self.level {
            return;
        }
        // Only our own lines and the HTTP stack's warnings.
        let ours = meta.target().starts_with("taskboard") || meta.target() == "access";
        if !ours && *meta.level() > Level::WARN {
            return;
        }
        let line = self.format(event);
        let _ = self.main.clone().write_all(line.as_bytes());
        if *meta.level() <= Level::WARN {
            let _ = self.errors.clone().write_all(line.as_bytes());
        }
        if meta.target().starts_with("taskboard::scheduler") {
            let _ = self.scheduler.clone().write_all(line.as_bytes());
        }
        // Access lines go to the file only: one per request would flood a terminal.
        if self.stderr && meta.target() != "access" {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

fn rotating(path: &Path, config: &Logging) -> (NonBlocking, WorkerGuard) {
    let max_bytes = ((config.max_size_mb * 1024.0 * 1024.0) as usize).max(1024);
    let file = FileRotate::new(
        path,
        AppendTimestamp::default(FileLimit::Age(chrono::Duration::days(config.retention_days.max(1) as i64))),
        ContentLimit::BytesSurpassed(max_bytes),
        Compression::None,
        None,
    );
    // The writer thread flushes whenever its queue runs dry, so a buffer only gathers
    // the lines of a burst into one write; at most an eighth of a file, so a rotated
    // file passes its size by at most that (a quarter let a busy burst pass 12 KB on
    // a 10 KB file).
    let buffer = (max_bytes / 8).clamp(256, 64 * 1024);
    tracing_appender::non_blocking(std::io::BufWriter::with_capacity(buffer, file))
}

/// The three log files for a configured main file path.
pub fn paths(config: &Logging) -> (PathBuf, PathBuf, PathBuf) {
    let main = config.file_path.clone();
    let dir = main.parent().map(Path::to_path_buf).unwrap_or_default();
    (main, dir.join("errors.log"), dir.join("scheduler.log"))
}

/// Checks the logging keys without setting anything up (configuration loading).
pub fn check(config: &Logging) -> Result<(), String> {
    parse_format(&config.format)?;
    parse_level(&config.level)?;
    if config.max_size_mb.is_nan() || config.max_size_mb <= 0.0 {
        return Err(format!("logging.max_size_mb: {} must be above 0", config.max_size_mb));
    }
    Ok(())
}

/// Sets up logging for the process. `stderr` also prints each line to standard error.
/// `debug` (`server.debug`) lowers the level to DEBUG.
pub fn init(config: &Logging, debug: bool, stderr: bool) -> Result<LogGuards, String> {
    let pieces = parse_format(&config.format)?;
    let level = parse_level(&config.level)?;
    let level = if debug { level.max(Level::DEBUG) } else { level };
    let (main_path, errors_path, scheduler_path) = paths(config);
    if let Some(dir) = main_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("logging.file_path: cannot create {}: {e}", dir.display()))?;
    }
    let (main, g1) = rotating(&main_path, config);
    let (errors, g2) = rotating(&errors_path, config);
    let (scheduler, g3) = rotating(&scheduler_path, config);
    let layer = FileLayer { pieces, level, main, errors, scheduler, stderr };
    tracing_subscriber::registry().with(layer).try_init().map_err(|e| format!("logging is already set up: {e}"))?;
    Ok(LogGuards(vec![g1, g2, g3]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_format_parses() {
        let pieces = parse_format("%(asctime)s - %(name)s - %(levelname)s - %(message)s").unwrap();
        assert_eq!(pieces.len(), 7);
        assert_eq!(pieces[0], Piece::Time);
        assert_eq!(pieces[6], Piece::Message);
        assert!(parse_format("%(process)d %(lineno)s").is_err());
    }

    #[test]
    fn levels_use_python_names() {
        assert_eq!(parse_level("warning"), Ok(Level::WARN));
        assert_eq!(parse_level("INFO"), Ok(Level::INFO));
        assert!(parse_level("LOUD").is_err());
    }
}
