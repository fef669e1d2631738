//! The command line: `taskboard [--config FILE] <command>` (README.md, "Command line").

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

mod migrate;
mod users;

#[derive(Parser, Debug)]
#[command(name = "taskboard", version, about = "A task server whose database is a folder of CSV files")]
pub struct Cli {
    /// The configuration file (absent is fine: every key has a default).
    #[arg(long, global = true, env = "TASKBOARD_CONFIG", default_value = "config.yaml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default command).
    Serve {
        /// The data folder (default: storage.data_dir of the configuration, ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The address to listen on (default: server.host, 0.0.0.0).
        #[arg(long)]
        host: Option<String>,
        /// The port to listen on; 0 picks a free one (default: server.port, 5000).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Check an installation: config, data folder and files, logs, secret key, port,
    /// TLS files, bot token, LLM endpoint; a line each with ok/warn/fail and what to do.
    Doctor,
    /// Check every data file; print each problem as file:line:column: message.
    Check {
        /// The data folder (default: storage.data_dir of the configuration, ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Backups of the data folder and config.yaml: create, list, verify FILE.
    Backup {
        #[command(subcommand)]
        action: Option<BackupAction>,
        /// The data folder (default: storage.data_dir of the configuration, ./data).
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
    },
    /// Restore a backup: verifies it, moves the current data folder aside, and refuses
    /// while a server runs on the folder unless --force.
    Restore {
        /// The backup: a name from `taskboard backup list` or a path to its .tar.gz.
        file: PathBuf,
        /// The data folder (default: storage.data_dir of the configuration, ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Restore even while a server holds the data folder (stop it first if you can).
        #[arg(long)]
        force: bool,
    },
    /// Users: add one (the way to create the first admin), set a password, list them.
    User {
        #[command(subcommand)]
        action: UserAction,
        /// The data folder (default: storage.data_dir of the configuration, ./data).
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
    },
    /// Write a table as CSV (tasks, users, events, comments, docs), read straight from
    /// the files (safe while a server runs); formula cells are neutralised.
    Export {
        /// tasks, users, events, comments or docs.
        table: String,
        /// The data folder (default: storage.data_dir of the configuration, ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Where to write (standard output without it).
        #[arg(long)]
        output: Option<PathBuf>,
        /// A list filter as on the API, e.g. --filter status=new,in_progress --filter sort=-updated_at.
        #[arg(long = "filter", value_name = "NAME=VALUE")]
        filters: Vec<String>,
        /// Start with a UTF-8 BOM (for spreadsheets that need it).
        #[arg(long)]
        bom: bool,
    },
    /// Copy the data folder into an empty PostgreSQL database (db_postgresql.url), or
    /// (--to csv --data-dir DIR) the database into a new folder; checked table by table.
    Migrate {
        /// `postgres` or `csv`.
        #[arg(long, value_parser = ["postgres", "csv"])]
        to: String,
        /// The folder to copy from (to postgres; default storage.data_dir) or into (to csv).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// Add a user; with --password-stdin the first line of standard input is their password.
    Add {
        /// The login name (letters, digits, `_`, `.`, `-`; unique, any case).
        #[arg(long)]
        username: String,
        /// One of admin, manager, supervisor, member, client.
        #[arg(long)]
        role: String,
        /// Their numeric Telegram id, for Telegram logins (else bound at first login).
        #[arg(long)]
        telegram_id: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password from the first line of standard input.
    Passwd {
        /// The user's login name.
        username: String,
    },
    /// The users, with their role, state and whether they have a password.
    List,
}

#[derive(Subcommand, Debug)]
pub enum BackupAction {
    /// Take a backup now (the default), then apply retention.
    Create,
    /// The backups, newest first.
    List,
    /// Check every file of a backup against its manifest.
    Verify {
        /// The backup: a name from `taskboard backup list` or a path to its .tar.gz.
        file: PathBuf,
    },
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    // The doctor reports a broken configuration as one of its lines.
    if matches!(cli.command, Some(Command::Doctor)) {
        return crate::doctor::run(&cli.config);
    }
    let mut config = match Config::load(&cli.config).and_then(crate::app::check_config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("taskboard: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve { data_dir: None, host: None, port: None }) {
        Command::Serve { data_dir, host, port } => {
            use_folder(&mut config, data_dir);
            if let Some(h) = host {
                config.server.host = h;
            }
            if let Some(p) = port {
                config.server.port = p;
            }
            serve(config)
        }
        Command::Doctor => crate::doctor::run(&cli.config),
        Command::Check { data_dir } => check(&in_folder(config, data_dir)),
        Command::User { action, data_dir } => users::run(&in_folder(config, data_dir), action),
        Command::Backup { action, data_dir } => {
            backup(&in_folder(config, data_dir), action.unwrap_or(BackupAction::Create))
        }
        Command::Restore { file, data_dir, force } => {
            use_folder(&mut config, data_dir);
            let file = crate::backup::locate(&config.backup.dir, &file);
            match crate::backup::restore(&file, &config.storage.data_dir, config.source_path.as_deref(), force) {
                Ok(r) => {
                    println!(
                        "restored {} files from {} (events up to {})",
                        r.manifest.files.len(),
                        file.display(),
                        r.manifest.last_event_id
                    );
                    if let Some(aside) = r.moved_aside {
                        println!("the previous data folder is at {}", aside.display());
                    }
                    if let Some(copy) = r.config_copy {
                        println!("the backup's config.yaml is at {} (compare it with yours)", copy.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("taskboard restore: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Migrate { to, data_dir } => migrate::run(&config, &to, data_dir),
        Command::Export { table, data_dir, output, filters, bom } => {
            export(&in_folder(config, data_dir), &table, output.as_deref(), &filters, bom)
        }
    }
}

/// `--data-dir`, where given, in place of `storage.data_dir`.
fn use_folder(config: &mut Config, data_dir: Option<PathBuf>) {
    if let Some(d) = data_dir {
        config.storage.data_dir = d;
    }
}

fn in_folder(mut config: Config, data_dir: Option<PathBuf>) -> Config {
    use_folder(&mut config, data_dir);
    config
}

fn serve(config: Config) -> ExitCode {
    let _log_files = match crate::logs::init(&config.logging, config.server.debug, true) {
        Ok(guards) => guards,
        Err(e) => {
            eprintln!("taskboard: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.performance.worker_processes)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("taskboard: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let mut stop = match crate::app::ShutdownSignal::install() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("taskboard: cannot catch signals: {e}");
                return ExitCode::FAILURE;
            }
        };
        let running = match crate::app::start(config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("taskboard: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        // One line on stdout that scripts and tests read to find the port.
        println!("taskboard listening on {}://{}", running.scheme, running.addr);
        stop.received().await;
        running.stop().await;
        ExitCode::SUCCESS
    })
}

fn check(config: &Config) -> ExitCode {
    let dir = &config.storage.data_dir;
    let vocabulary = crate::store::StoreConfig::from_config(config).vocabulary;
    if !dir.is_dir() {
        eprintln!("{}: no such folder", dir.display());
        return ExitCode::FAILURE;
    }
    let report = crate::store::csv::check::open_folder(dir, &vocabulary);
    let problems = report.all_problems();
    for p in &problems {
        println!("{p}");
    }
    if report.replayed > 0 {
        println!(
            "note: {} rows have changes recorded in events.csv that their files do not show yet; the server writes them in when it starts",
            report.replayed
        );
    }
    if problems.is_empty() {
        let rows: usize = report.tables.values().map(|t| t.data.rows.len()).sum();
        println!("{}: every file is valid ({} records)", dir.display(), rows);
        ExitCode::SUCCESS
    } else {
        println!("{} problem(s) found", problems.len());
        ExitCode::FAILURE
    }
}

fn export(config: &Config, table: &str, output: Option<&std::path::Path>, filters: &[String], bom: bool) -> ExitCode {
    use std::io::Write;
    let Some(kind) = crate::domain::TableKind::from_name(table).filter(|k| k.spec().exportable) else {
        eprintln!(
            "taskboard export: {table:?} is not an exportable table; expected tasks, users, events, comments or docs"
        );
        return ExitCode::from(2);
    };
    let mut params = Vec::new();
    for f in filters {
        let Some((k, v)) = f.split_once('=') else {
            eprintln!("taskboard export: --filter {f:?}: expected NAME=VALUE");
            return ExitCode::from(2);
        };
        params.push((k.to_string(), v.to_string()));
    }
    let query = match crate::service::ListQuery::from_params(&params) {
        Ok(q) => q,
        Err(errors) => {
            for e in errors {
                eprintln!("taskboard export: {}: {}", e.field, e.message);
            }
            return ExitCode::from(2);
        }
    };
    let snapshot = if config.db_postgresql.enabled {
        match with_store(config, |store| store.table(kind).map(|t| (*t).clone()).map_err(|e| e.to_string())) {
            Ok(table) => Some(table),
            Err(e) => {
                eprintln!("taskboard export: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        let store_config = crate::store::StoreConfig::from_config(config);
        let report = crate::store::csv::check::open_folder(&store_config.data_dir, &store_config.vocabulary);
        if let Some(problems) = report.problems.get(&kind) {
            for p in problems {
                eprintln!("{p}");
            }
            return ExitCode::FAILURE;
        }
        if kind == crate::domain::TableKind::Events {
            report.events.clone()
        } else {
            report.tables.get(&kind).map(|l| l.data.clone())
        }
    };
    let Some(snapshot) = snapshot else {
        eprintln!("taskboard export: {} could not be read", kind.spec().file_name);
        return ExitCode::FAILURE;
    };
    let deadlines = crate::service::query::Deadlines::new(&config.tasks.workflow, config.scheduler.tz());
    let max = config.export.max_export_records;
    let rows_per_chunk = config.performance.csv_read_batch_size;
    let snapshot = std::sync::Arc::new(snapshot);
    let mut export = match crate::service::export::Export::new(snapshot, &query, &deadlines, max, rows_per_chunk, bom) {
        Ok(e) => e,
        Err(errors) => {
            for e in errors {
                eprintln!("taskboard export: {}: {}", e.field, e.message);
            }
            return ExitCode::from(2);
        }
    };
    let mut out: Box<dyn Write> = match output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => {
                eprintln!("taskboard export: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    while let Some(chunk) = export.next_chunk() {
        if let Err(e) = out.write_all(&chunk) {
            eprintln!("taskboard export: {e}");
            return ExitCode::FAILURE;
        }
    }
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    if export.truncated {
        eprintln!(
            "taskboard export: {} rows matched; the first {max} were written (export.max_export_records)",
            export.total
        );
    }
    ExitCode::SUCCESS
}

fn backup(config: &Config, action: BackupAction) -> ExitCode {
    let dir = &config.backup.dir;
    match action {
        BackupAction::List => {
            for b in crate::backup::list(dir) {
                println!("{}\t{}\t{}", b.name, b.size_bytes, b.created_at);
            }
            ExitCode::SUCCESS
        }
        BackupAction::Verify { file } => match crate::backup::verify(&crate::backup::locate(dir, &file)) {
            Ok(m) => {
                println!(
                    "{}: {} files match the manifest (events up to {})",
                    file.display(),
                    m.files.len(),
                    m.last_event_id
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                ExitCode::FAILURE
            }
        },
        BackupAction::Create if config.db_postgresql.enabled => {
            let kind = crate::backup::BackupKind::Manual;
            let taken = with_store_async(config, |store| {
                Box::pin(async move { crate::backup::create_from_store(&*store, config, kind).await })
            });
            match taken {
                Ok((path, removed)) => {
                    println!("{}", path.display());
                    removed.iter().for_each(|r| println!("removed by retention: {r}"));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("taskboard backup: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        BackupAction::Create => {
            let store_config = crate::store::StoreConfig::from_config(config);
            let extras = crate::backup::Extras {
                config_path: config.source_path.as_deref(),
                include_env: config.backup.include_env,
            };
            let entries =
                match crate::backup::entries_from_folder(&store_config.data_dir, &store_config.vocabulary, &extras) {
                    Ok(e) => e,
                    Err(e) => {
                        eprintln!("taskboard backup: {e}");
                        return ExitCode::FAILURE;
                    }
                };
            let last = crate::store::csv::journal::read_events(
                &store_config.data_dir.join("events.csv"),
                &store_config.vocabulary,
            )
            .ok()
            .and_then(|e| e.rows.keys().next_back().copied())
            .unwrap_or(0);
            match crate::backup::write_archive(
                entries,
                dir,
                last,
                chrono::Utc::now(),
                crate::backup::BackupKind::Manual,
            ) {
                Ok(path) => {
                    println!("{}", path.display());
                    let b = &config.backup;
                    for removed in crate::backup::prune(dir, crate::backup::Retention::from(b)) {
                        println!("removed by retention: {removed}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("taskboard backup: cannot write into {}: {e}", dir.display());
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Runs `work` on the configured store (opened, then shut down): for the commands
/// that read PostgreSQL rather than a folder.
fn with_store<T: Send>(
    config: &Config,
    work: impl FnOnce(&dyn crate::store::Storage) -> Result<T, String>,
) -> Result<T, String> {
    with_store_async(config, |store| {
        let result = work(&*store);
        Box::pin(async move { result })
    })
}

fn with_store_async<'a, T>(
    config: &'a Config,
    work: impl FnOnce(std::sync::Arc<dyn crate::store::Storage>) -> crate::store::BoxFuture<'a, Result<T, String>>,
) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = crate::app::open_store(config).await.map_err(|e| format!("{e:#}"))?;
        let result = work(store.clone()).await;
        store.shutdown().await;
        result
    })
}
