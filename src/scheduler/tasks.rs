//! The tasks a job may name, and their dispatch: `check_deadlines` and
//! `generate_daily_report` are use cases of the service (`service/reports.rs`),
//! `update_key_status` and `notify_user_about_key_status` too (`service/keys.rs`),
//! `create_recurring_tasks` too (`service/recurring.rs`), `backup_data` a backup of the store. Each returns a one-line summary for
//! `job.finished`.

use chrono::{DateTime, Utc};

use crate::service::Services;
use crate::service::access::Principal;
use crate::store::Source;

/// The tasks a job may name.
pub const TASKS: [&str; 7] = [
    "check_deadlines",
    "generate_daily_report",
    "backup_data",
    "update_key_status",
    "notify_user_about_key_status",
    "calculate_metrics_and_send",
    "create_recurring_tasks",
];

/// Runs one task as the scheduler; the summary goes into `job.finished`.
pub async fn run(task: &str, services: &Services, now: DateTime<Utc>) -> Result<String, String> {
    let p = Principal::system(Source::Scheduler);
    let config = &services.config;
    match task {
        "check_deadlines" => {
            let window = chrono::Duration::hours(config.tasks.reminder_window_hours as i64);
            services.records.check_deadlines(&p, window, now).await.map_err(|e| e.to_string())
        }
        // The device cabinet's name for the daily figures: the same report.
        "generate_daily_report" | "calculate_metrics_and_send" => {
            let analyst = services.analyst.clone();
            let digest = |facts| async move { analyst.backlog_digest(facts).await };
            services.records.daily_report(&p, now, digest).await.map_err(|e| e.to_string())
        }
        "backup_data" => {
            crate::backup::create_from_store(&*services.store, config, crate::backup::BackupKind::Scheduled)
                .await
                .map(|(path, removed)| format!("{} written, {} removed by retention", path.display(), removed.len()))
        }
        "create_recurring_tasks" => {
            let grace = std::time::Duration::from_secs(config.scheduler.misfire_grace_time);
            services.records.create_recurring_tasks(&p, now, grace).await.map_err(|e| e.to_string())
        }
        "update_key_status" => services.records.update_key_statuses(&p, now).await.map_err(|e| e.to_string()),
        "notify_user_about_key_status" => {
            services.records.notify_key_statuses(&p, now).await.map_err(|e| e.to_string())
        }
        other => Err(format!("no task named {other:?}; expected one of {}", TASKS.join(", "))),
    }
}
