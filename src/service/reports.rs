//! The scheduled use cases: deadline reminders and the daily report. The scheduler
//! only says when; what they do, and who may ask for them, is here, so a command or
//! the bot can run them the same way.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::auth::policy::{Action, Area, Scope};
use crate::domain::TableKind;
use crate::store::NewEvent;

use super::access::{Principal, ServiceError};
use super::query::parse_time;
use super::records::RecordService;

/// Jobs are the system's: an admin (or the scheduler, which acts as one).
fn may_run_jobs(p: &Principal) -> Result<(), ServiceError> {
    if p.scope(Area::System, Action::Update) == Scope::All {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(format!("the {} role may not run jobs", p.role)))
    }
}

#[allow(clippy::too_many_arguments)]
fn event(
    p: &Principal,
    kind: &str,
    entity: &str,
    entity_id: Option<u64>,
    user_id: Option<u64>,
    message: String,
    data: serde_json::Value,
    now: DateTime<Utc>,
) -> NewEvent {
    NewEvent {
        kind: kind.into(),
        entity: entity.into(),
        entity_id,
        user_id,
        source: p.source.name().into(),
        message,
        data,
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

impl RecordService {
    /// Reminds each assignee of their open tasks that are overdue or due within `window`,
    /// once per task and threshold: a `task.reminder` event on the feed for the assignee
    /// (and a Telegram message once the bot exists). Returns a one-line summary.
    pub async fn check_deadlines(
        &self,
        p: &Principal,
        window: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<String, ServiceError> {
        may_run_jobs(p)?;
        let store = self.store();
        let tasks = store.table(TableKind::Tasks)?;
        let events = store.table(TableKind::Events)?;
        let col = |n: &str| events.position(n).unwrap_or(usize::MAX);
        let (e_type, e_id, e_data) = (col("type"), col("entity_id"), col("data"));
        let already: HashSet<(u64, String, String)> = events
            .rows
            .values()
            .filter(|r| r.cell(e_type) == "task.reminder")
            .filter_map(|r| {
                let data: serde_json::Value = serde_json::from_str(r.cell(e_data)).ok()?;
                Some((
                    r.cell(e_id).parse().ok()?,
                    data["threshold"].as_str()?.to_string(),
                    data["assignee"].to_string(),
                ))
            })
            .collect();
        let deadlines = self.deadlines();
        let t = |n: &str| tasks.position(n).unwrap_or(usize::MAX);
        let (c_title, c_status, c_assignee, c_due) = (t("title"), t("status"), t("assigned_to"), t("due_date"));
        let (mut sent, mut skipped) = (0, 0);
        for (id, row) in tasks.rows.iter() {
            let Ok(assignee) = row.cell(c_assignee).parse::<u64>() else { continue };
            let Some(due) = deadlines.due_at(row.cell(c_due)) else { continue };
            if deadlines.is_closed(row.cell(c_status)) {
                continue;
            }
            let threshold = if due <= now {
                "overdue"
            } else if due <= now + window {
                "due_soon"
            } else {
                continue;
            };
            if already.contains(&(*id, threshold.to_string(), assignee.to_string())) {
                skipped += 1;
                continue;
            }
            let what = if threshold == "overdue" { "is overdue" } else { "is due soon" };
            let message = format!("task {id} \"{}\" {what} (due {})", row.cell(c_title), row.cell(c_due));
            let data = json!({"assignee": assignee, "threshold": threshold, "due_date": row.cell(c_due)});
            store
                .record_event(event(p, "task.reminder", "task", Some(*id), Some(assignee), message, data, now))
                .await?;
            sent += 1;
        }
        Ok(format!("{sent} reminders sent, {skipped} already sent before"))
    }

    /// A Markdown report per active user (their open tasks by status, overdue ones, what
    /// they finished today) and a team summary for managers and admins, under
    /// `data/reports/YYYY-MM-DD/`, announced as a `report.generated` event. The day is
    /// the day of `now` in the scheduler's zone.
    ///
    /// `digest` is handed the team's figures (as JSON) and may answer a short backlog
    /// digest for the team summary (the LLM's, `Analyst::backlog_digest`); None leaves
    /// the summary to the figures alone.
    pub async fn daily_report<F, Fut>(
        &self,
        p: &Principal,
        now: DateTime<Utc>,
        digest: F,
    ) -> Result<String, ServiceError>
    where
        F: FnOnce(serde_json::Value) -> Fut,
        Fut: std::future::Future<Output = Option<String>>,
    {
        may_run_jobs(p)?;
        let store = self.store();
        let tasks = store.table(TableKind::Tasks)?;
        let users = store.table(TableKind::Users)?;
        let deadlines = self.deadlines();
        let tz = deadlines.tz;
        let today = now.with_timezone(&tz).date_naive();
        let date = today.format("%Y-%m-%d").to_string();
        let t = |n: &str| tasks.position(n).unwrap_or(usize::MAX);
        let (c_title, c_status, c_assignee, c_due, c_updated) =
            (t("title"), t("status"), t("assigned_to"), t("due_date"), t("updated_at"));
        let done_today = |row: &crate::store::Row| {
            row.cell(c_status) == "done"
                && parse_time(row.cell(c_updated)).is_some_and(|u| u.with_timezone(&tz).date_naive() == today)
        };
        let overdue = |row: &crate::store::Row| deadlines.is_overdue(row.cell(c_due), row.cell(c_status), now);
        let u = |n: &str| users.position(n).unwrap_or(usize::MAX);
        let (u_name, u_role, u_active) = (u("username"), u("role"), u("is_active"));
        let mut files = Vec::new();
        let mut team_rows = Vec::new();
        for (uid, user) in users.rows.iter() {
            if crate::domain::values::parse_bool(user.cell(u_active)).ok() == Some(false) {
                continue;
            }
            let name = user.cell(u_name);
            let mine: Vec<(&u64, &std::sync::Arc<crate::store::Row>)> =
                tasks.rows.iter().filter(|(_, r)| r.cell(c_assignee) == uid.to_string()).collect();
            let open: Vec<_> = mine.iter().filter(|(_, r)| !deadlines.is_closed(r.cell(c_status))).collect();
            let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
            for (_, r) in &open {
                *by_status.entry(r.cell(c_status)).or_default() += 1;
            }
            let late: Vec<_> = mine.iter().filter(|(_, r)| overdue(r)).collect();
            let finished: Vec<_> = mine.iter().filter(|(_, r)| done_today(r)).collect();
            let mut md = format!(
                "# Daily report for {name}, {date}\n\nHello, {name}!\n\n## Your open tasks: {}\n\n",
                open.len()
            );
            for (status, n) in &by_status {
                let _ = writeln!(md, "- {status}: {n}");
            }
            let _ = write!(md, "\n## Overdue: {}\n\n", late.len());
            for (id, r) in &late {
                let _ = writeln!(md, "- #{id} {} (due {})", r.cell(c_title), r.cell(c_due));
            }
            let _ = write!(md, "\n## Done today: {}\n\n", finished.len());
            for (id, r) in &finished {
                let _ = writeln!(md, "- #{id} {}", r.cell(c_title));
            }
            let file = format!("reports/{date}/{name}.md");
            store.write_aux(&file, md.as_bytes())?;
            files.push(file);
            team_rows.push((name.to_string(), user.cell(u_role).to_string(), open.len(), late.len(), finished.len()));
        }
        let mut team =
            format!("# Team summary, {date}\n\n| user | open | overdue | done today |\n|---|---:|---:|---:|\n");
        for (name, _, open, late, done) in &team_rows {
            let _ = writeln!(team, "| {name} | {open} | {late} | {done} |");
        }
        let total_open = tasks.rows.values().filter(|r| !deadlines.is_closed(r.cell(c_status))).count();
        let total_overdue = tasks.rows.values().filter(|r| overdue(r)).count();
        let total_done = tasks.rows.values().filter(|r| done_today(r)).count();
        let _ = write!(team, "\nAll tasks: {total_open} open, {total_overdue} overdue, {total_done} done today.\n");
        // The figures above, and the overdue tasks by id, are all a digest may use.
        let mut late_tasks: Vec<serde_json::Value> = tasks
            .rows
            .iter()
            .filter(|(_, r)| overdue(r))
            .map(|(id, r)| json!({"id": id, "title": r.cell(c_title), "due_date": r.cell(c_due), "assigned": !r.cell(c_assignee).is_empty()}))
            .collect();
        late_tasks.truncate(30);
        let unassigned = tasks
            .rows
            .values()
            .filter(|r| !deadlines.is_closed(r.cell(c_status)) && r.cell(c_assignee).is_empty())
            .count();
        let facts = json!({
            "date": date, "open": total_open, "overdue": total_overdue, "done_today": total_done,
            "unassigned_open": unassigned, "overdue_tasks": late_tasks,
            "people": team_rows.iter().map(|(name, _, open, late, done)| json!({"name": name, "open": open, "overdue": late, "done_today": done})).collect::<Vec<_>>(),
        });
        if let Some(text) = digest(facts).await {
            let _ = write!(team, "\n## Backlog digest\n\n{text}\n\n_Written by the LLM from the figures above._\n");
        }
        let readers: Vec<&str> =
            team_rows.iter().filter(|r| r.1 == "manager" || r.1 == "admin").map(|r| r.0.as_str()).collect();
        let team_file = format!("reports/{date}/team.md");
        store.write_aux(&team_file, team.as_bytes())?;
        files.push(team_file);
        let message = format!("daily report for {date}: {} personal reports and the team summary", team_rows.len());
        let data = json!({"date": date, "files": files, "team_summary_for": readers});
        store.record_event(event(p, "report.generated", "", None, None, message.clone(), data, now)).await?;
        Ok(message)
    }
}
