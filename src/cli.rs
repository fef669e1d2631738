//! The command line: `taskboard [--config FILE] <command>` (DATA.md).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

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
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        port: Option<u16>,
    },
    /// Check every data file; print each problem as file:line:column: message.
    Check {
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let mut config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("taskboard: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve { data_dir: None, host: None, port: None }) {
        Command::Serve { data_dir, host, port } => {
            if let Some(d) = data_dir {
                config.storage.data_dir = d;
            }
            if let Some(h) = host {
                config.server.host = h;
            }
            if let Some(p) = port {
                config.server.port = p;
            }
            serve(config)
        }
        Command::Check { data_dir } => {
            if let Some(d) = data_dir {
                config.storage.data_dir = d;
            }
            check(&config)
        }
    }
}

fn init_logging(config: &Config) {
    let level = config.logging.level.to_ascii_lowercase();
    let level = if level == "warning" { "warn".to_string() } else { level };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},access=info")));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn serve(config: Config) -> ExitCode {
    init_logging(&config);
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
        let running = match crate::app::start(config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("taskboard: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        // One line on stdout that scripts and tests read to find the port.
        println!("taskboard listening on http://{}", running.addr);
        crate::app::shutdown_signal().await;
        running.stop().await;
        ExitCode::SUCCESS
    })
}

fn check(config: &Config) -> ExitCode {
    let dir = &config.storage.data_dir;
    let vocabulary = config.store_config().vocabulary;
    if !dir.is_dir() {
        eprintln!("{}: no such folder", dir.display());
        return ExitCode::FAILURE;
    }
    let report = crate::store::check::open_folder(dir, &vocabulary);
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
