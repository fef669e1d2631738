//! The scheduled use cases: deadline reminders and the daily report. The scheduler
//! only says when; what they do, and who may ask for them, is here, so a command or
//! the bot can run them the same way.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::auth::policy::{Action, Area, Scope};
use crate::domain::TableKind;
use crate::i18n::{Lang, Msg};
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

    /// The day's figures for every active user and the team: what the daily report
    /// writes, and what the bot tells each person. Only the scheduler (or an admin) may
    /// ask for everyone's; a person asks for their own with [`RecordService::report_for`].
    pub fn day_figures(&self, p: &Principal, now: DateTime<Utc>) -> Result<DayFigures, ServiceError> {
        may_run_jobs(p)?;
        self.figures(now)
    }

    /// `/report`: the caller's own figures today, with the team's for those who read
    /// everyone's statistics (admin, manager, supervisor).
    pub fn report_for(&self, p: &Principal, now: DateTime<Utc>) -> Result<(Person, Option<Team>), ServiceError> {
        let user_id =
            p.user_id.ok_or_else(|| ServiceError::Forbidden("a report is a user's; none is acting".into()))?;
        let figures = self.figures(now)?;
        let person = figures
            .people
            .into_iter()
            .find(|person| person.user_id == user_id)
            .ok_or_else(|| ServiceError::Forbidden("this account is not active".into()))?;
        let team = (p.scope(Area::Stats, Action::Read) == Scope::All).then_some(figures.team);
        Ok((person, team))
    }

    fn figures(&self, now: DateTime<Utc>) -> Result<DayFigures, ServiceError> {
        let store = self.store();
        let tasks = store.table(TableKind::Tasks)?;
        let users = store.table(TableKind::Users)?;
        let deadlines = self.deadlines();
        let tz = deadlines.tz;
        let today = now.with_timezone(&tz).date_naive();
        let t = |n: &str| tasks.position(n).unwrap_or(usize::MAX);
        let (c_title, c_status, c_assignee, c_due, c_updated, c_completed) =
            (t("title"), t("status"), t("assigned_to"), t("due_date"), t("updated_at"), t("completed_at"));
        // Finished today: by `completed_at`, or the last change for a row from before
        // the column was kept.
        let done_today = |row: &crate::store::Row| {
            let at = match row.cell(c_completed) {
                "" => row.cell(c_updated),
                completed => completed,
            };
            deadlines.is_done(row.cell(c_status))
                && parse_time(at).is_some_and(|u| u.with_timezone(&tz).date_naive() == today)
        };
        let overdue = |row: &crate::store::Row| deadlines.is_overdue(row.cell(c_due), row.cell(c_status), now);
        let line = |id: u64, row: &crate::store::Row| TaskLine {
            id,
            title: row.cell(c_title).to_string(),
            status: row.cell(c_status).to_string(),
            due: row.cell(c_due).to_string(),
        };
        // One pass over the tasks, each filed under its assignee.
        let mut by_assignee: HashMap<u64, Vec<(u64, &crate::store::Row)>> = HashMap::new();
        let mut team = Team::default();
        for (id, row) in tasks.rows.iter() {
            let closed = deadlines.is_closed(row.cell(c_status));
            if let Ok(assignee) = row.cell(c_assignee).parse::<u64>() {
                by_assignee.entry(assignee).or_default().push((*id, row));
            } else if !closed {
                team.unassigned_open += 1;
            }
            team.open += usize::from(!closed);
            team.done_today += usize::from(done_today(row));
            if overdue(row) {
                team.overdue += 1;
                if team.overdue_tasks.len() < 30 {
                    team.overdue_tasks.push((line(*id, row), !row.cell(c_assignee).is_empty()));
                }
            }
        }
        let u = |n: &str| users.position(n).unwrap_or(usize::MAX);
        let (u_name, u_full, u_role, u_active, u_lang) =
            (u("username"), u("full_name"), u("role"), u("is_active"), u("language"));
        let mut people = Vec::new();
        for (uid, user) in users.rows.iter() {
            if crate::domain::values::parse_bool(user.cell(u_active)).ok() == Some(false) {
                continue;
            }
            let mine = by_assignee.get(uid).map(Vec::as_slice).unwrap_or_default();
            let mut person = Person {
                user_id: *uid,
                username: user.cell(u_name).to_string(),
                name: super::users::display_name(user.cell(u_full), user.cell(u_name)).to_string(),
                role: user.cell(u_role).to_string(),
                lang: self.lang_of(user.cell(u_lang)),
                ..Person::default()
            };
            for (id, row) in mine {
                if !deadlines.is_closed(row.cell(c_status)) {
                    *person.by_status.entry(row.cell(c_status).to_string()).or_default() += 1;
                    person.open.push(line(*id, row));
                }
                if overdue(row) {
                    person.overdue.push(line(*id, row));
                }
                if done_today(row) {
                    person.done_today.push(line(*id, row));
                }
            }
            people.push(person);
        }
        Ok(DayFigures { date: today.format("%Y-%m-%d").to_string(), people, team })
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
        let figures = self.day_figures(p, now)?;
        let store = self.store();
        let date = &figures.date;
        let mut files = Vec::new();
        for person in &figures.people {
            let file = format!("reports/{date}/{}.md", person.username);
            store.write_aux(&file, person.markdown(date, &self.deadlines().workflow).as_bytes())?;
            files.push(file);
        }
        // The team file is read by managers: in the team's default language.
        let lang = self.lang_of("");
        let mut team = format!(
            "# {}\n\n{}\n|---|---:|---:|---:|\n",
            lang.f(Msg::ReportFileTeamTitle, &[("date", date)]),
            lang.t(Msg::ReportFileColumns)
        );
        for person in &figures.people {
            let (open, late, done) = (person.open.len(), person.overdue.len(), person.done_today.len());
            let _ = writeln!(team, "| {} | {open} | {late} | {done} |", person.name);
        }
        let totals = &figures.team;
        let all = lang.f(
            Msg::ReportFileAll,
            &[("open", &totals.open), ("overdue", &totals.overdue), ("done", &totals.done_today)],
        );
        let _ = write!(team, "\n{all}\n");
        // The figures above, and the overdue tasks by id, are all a digest may use.
        let late_tasks: Vec<serde_json::Value> = totals
            .overdue_tasks
            .iter()
            .map(|(t, assigned)| json!({"id": t.id, "title": t.title, "due_date": t.due, "assigned": assigned}))
            .collect();
        let facts = json!({
            "date": date, "open": totals.open, "overdue": totals.overdue, "done_today": totals.done_today,
            "unassigned_open": totals.unassigned_open, "overdue_tasks": late_tasks,
            "people": figures.people.iter().map(|p| json!({"name": p.name, "open": p.open.len(), "overdue": p.overdue.len(), "done_today": p.done_today.len()})).collect::<Vec<_>>(),
        });
        if let Some(text) = digest(facts).await {
            let _ = write!(team, "\n## Backlog digest\n\n{text}\n\n_Written by the LLM from the figures above._\n");
        }
        let team_rows: Vec<(&str, &str)> = figures.people.iter().map(|p| (p.name.as_str(), p.role.as_str())).collect();
        let readers: Vec<&str> = team_rows.iter().filter(|r| r.1 == "manager" || r.1 == "admin").map(|r| r.0).collect();
        let team_file = format!("reports/{date}/team.md");
        store.write_aux(&team_file, team.as_bytes())?;
        files.push(team_file);
        let message = format!("daily report for {date}: {} personal reports and the team summary", team_rows.len());
        let data = json!({"date": date, "files": files, "team_summary_for": readers});
        store.record_event(event(p, "report.generated", "", None, None, message.clone(), data, now)).await?;
        Ok(message)
    }
}

/// One task as a report lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskLine {
    pub id: u64,
    pub title: String,
    pub status: String,
    pub due: String,
}

/// One person's day: their open tasks (and how many per status), the overdue ones,
/// what they finished today.
#[derive(Debug, Clone, Default)]
pub struct Person {
    pub user_id: u64,
    /// The login name (the report file is named after it).
    pub username: String,
    /// How the person is shown: full name, else username.
    pub name: String,
    /// The language their report is written in.
    pub lang: Lang,
    pub role: String,
    pub by_status: BTreeMap<String, usize>,
    pub open: Vec<TaskLine>,
    pub overdue: Vec<TaskLine>,
    pub done_today: Vec<TaskLine>,
}

impl Person {
    /// The personal report file, in the person's language.
    fn markdown(&self, date: &str, workflow: &crate::domain::workflow::Workflow) -> String {
        let (name, lang) = (&self.name, self.lang);
        let mut md = format!(
            "# {}\n\n{}\n\n## {}: {}\n\n",
            lang.f(Msg::ReportFileTitle, &[("name", name), ("date", &date)]),
            lang.f(Msg::ReportFileHello, &[("name", name)]),
            lang.t(Msg::ReportFileOpen),
            self.open.len()
        );
        for (status, n) in &self.by_status {
            let _ = writeln!(md, "- {}: {n}", workflow.label(status, lang));
        }
        let _ = write!(md, "\n## {}: {}\n\n", lang.t(Msg::ReportOverdue), self.overdue.len());
        for t in &self.overdue {
            let _ = writeln!(md, "- #{} {} ({})", t.id, t.title, lang.f(Msg::LineDue, &[("due", &t.due)]));
        }
        let _ = write!(md, "\n## {}: {}\n\n", lang.t(Msg::ReportDoneToday), self.done_today.len());
        for t in &self.done_today {
            let _ = writeln!(md, "- #{} {}", t.id, t.title);
        }
        md
    }
}

/// The whole team's day.
#[derive(Debug, Clone, Default)]
pub struct Team {
    pub open: usize,
    pub overdue: usize,
    pub done_today: usize,
    pub unassigned_open: usize,
    /// The first 30 overdue tasks, each with whether anyone is assigned.
    pub overdue_tasks: Vec<(TaskLine, bool)>,
}

/// Everyone's day, as of one moment.
#[derive(Debug, Clone, Default)]
pub struct DayFigures {
    /// The day in the scheduler's zone, `YYYY-MM-DD`.
    pub date: String,
    pub people: Vec<Person>,
    pub team: Team,
}
