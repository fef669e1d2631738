//! `taskboard migrate`: a CSV folder into PostgreSQL and back (`store::pg::migrate`),
//! with a progress bar on a terminal and a line per table at the end.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;

/// A progress bar on standard error, drawn only on a terminal.
struct Bar(indicatif::ProgressBar);
impl crate::store::pg::migrate::Progress for Bar {
    fn step(&self, name: &str, total: u64) {
        self.0.set_message(name.to_string());
        self.0.set_length(total);
        self.0.set_position(0);
    }
    fn advance(&self, rows: u64) {
        self.0.inc(rows);
    }
}

pub(super) fn run(config: &Config, to: &str, data_dir: Option<PathBuf>) -> ExitCode {
    if !config.db_postgresql.url.is_set() {
        eprintln!("taskboard migrate: db_postgresql.url (or DATABASE_URL) names no database");
        return ExitCode::from(2);
    }
    let settings = crate::store::PgSettings::from_config(config);
    let vocabulary = crate::store::StoreConfig::from_config(config).vocabulary;
    let style =
        indicatif::ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len}").map(|s| s.progress_chars("=> "));
    let bar =
        Bar(indicatif::ProgressBar::new(0)
            .with_style(style.unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())));
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("taskboard migrate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match (to, data_dir) {
            ("csv", Some(dir)) => crate::store::pg::migrate::to_csv(&dir, &vocabulary, &settings, &bar).await,
            ("csv", None) => Err("--to csv needs --data-dir DIR, the folder to write".into()),
            (_, dir) => {
                let dir = dir.unwrap_or_else(|| config.storage.data_dir.clone());
                crate::store::pg::migrate::to_postgres(&dir, &vocabulary, &settings, &bar).await
            }
        }
    });
    bar.0.finish_and_clear();
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("taskboard migrate: {e}");
            ExitCode::FAILURE
        }
    }
}
