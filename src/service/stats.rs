//! `GET /api/stats`: what the task list says in numbers.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use serde::Serialize;

use super::access::ServiceError;
use crate::domain::TableKind;

use super::access::Principal;
use super::query::parse_time;
use super::records::RecordService;
use crate::auth::policy::{Action, Area, Scope};

#[derive(Debug, Serialize, Default)]
pub struct Stats {
    pub total: usize,
    pub by_status: BTreeMap<String, usize>,
    pub by_priority: BTreeMap<String, usize>,
    /// By assignee id; `unassigned` for none.
    pub by_assignee: BTreeMap<String, usize>,
    pub overdue: usize,
    /// Tasks created per day (UTC date of `created_at`).
    pub created_per_day: BTreeMap<String, usize>,
    /// Tasks that reached `done` per day (from the event log).
    pub completed_per_day: BTreeMap<String, usize>,
    /// Mean hours from creation to `done`, over the tasks done now.
    pub mean_hours_to_complete: Option<f64>,
    /// Tasks overdue at the end of each of the last 30 days (UTC): due before that
    /// day, created by then and not yet closed by then (by the event log).
    pub overdue_per_day: BTreeMap<String, usize>,
    /// Clients' ratings of finished work by assignee id (`unassigned` for none): the
    /// mean and how many, over the tasks counted here.
    pub rating_by_assignee: BTreeMap<String, Rating>,
    /// With `?group_by=COLUMN`: the counts by that column's values (any column of
    /// tasks.csv, a team's own ones too; `""` for an empty cell).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_field: Option<BTreeMap<String, BTreeMap<String, usize>>>,
    /// Tasks done now by assignee id: each technician's throughput over the range.
    pub done_by_assignee: BTreeMap<String, usize>,
}

/// Which tasks statistics count: those created on `since` or later and on `until` or
/// earlier (dates in UTC; either may be open).
#[derive(Debug, Default, Clone, Copy)]
pub struct Range {
    pub since: Option<chrono::NaiveDate>,
    pub until: Option<chrono::NaiveDate>,
}

impl Range {
    fn holds(&self, created: Option<chrono::DateTime<Utc>>) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Some(day) = created.map(|t| t.date_naive()) else { return false };
        self.since.is_none_or(|s| day >= s) && self.until.is_none_or(|u| day <= u)
    }
}

#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct Rating {
    pub mean: f64,
    pub count: usize,
}

/// Days `overdue_per_day` looks back over.
const OVERDUE_DAYS: i64 = 30;

impl RecordService {
    /// Statistics as `p` may see them: members and clients get those of their own
    /// tasks (assigned to or created by them).
    pub fn stats(&self, p: &Principal, group_by: Option<&str>, range: Range) -> Result<Stats, ServiceError> {
        let only_user = match p.scope(Area::Stats, Action::Read) {
            Scope::All => None,
            _ => Some(p.user_id.unwrap_or_default()),
        };
        let tasks = self.store().table(TableKind::Tasks)?;
        let col = |name: &str| tasks.position(name).unwrap_or(usize::MAX);
        let (c_status, c_priority, c_assigned, c_creator, c_due, c_created) =
            (col("status"), col("priority"), col("assigned_to"), col("created_by"), col("due_date"), col("created_at"));
        let mine = only_user.map(|u| u.to_string());
        let group = match group_by {
            None => None,
            Some(name) => match tasks.position(name) {
                Some(at) => Some((name, at, BTreeMap::<String, usize>::new())),
                None => {
                    return Err(ServiceError::invalid(vec![crate::domain::values::FieldError::new(
                        "group_by",
                        format!("tasks.csv has no column {name:?}"),
                    )]));
                }
            },
        };
        let mut group = group;
        let now = Utc::now();
        let mut stats = Stats::default();
        let mut created_at: HashMap<u64, chrono::DateTime<Utc>> = HashMap::new();
        let mut done_now: Vec<u64> = Vec::new();
        let mut assignee_of: HashMap<u64, String> = HashMap::new();
        // Per counted task: (due date, created date, closed now).
        let mut lateness: HashMap<u64, (chrono::NaiveDate, chrono::NaiveDate, bool)> = HashMap::new();
        for (id, row) in tasks.rows.iter() {
            if let Some(me) = &mine
                && row.cell(c_assigned) != me
                && row.cell(c_creator) != me
            {
                continue;
            }
            if !range.holds(parse_time(row.cell(c_created))) {
                continue;
            }
            stats.total += 1;
            if let Some((_, at, counts)) = group.as_mut() {
                *counts.entry(row.cell(*at).to_string()).or_default() += 1;
            }
            let status = row.cell(c_status).to_string();
            *stats.by_priority.entry(row.cell(c_priority).to_string()).or_default() += 1;
            let assignee = match row.cell(c_assigned) {
                "" => "unassigned".to_string(),
                a => a.to_string(),
            };
            *stats.by_assignee.entry(assignee.clone()).or_default() += 1;
            assignee_of.insert(*id, assignee);
            if self.deadlines().is_overdue(row.cell(c_due), &status, now) {
                stats.overdue += 1;
            }
            if let Some(t) = parse_time(row.cell(c_created)) {
                *stats.created_per_day.entry(t.format("%Y-%m-%d").to_string()).or_default() += 1;
                created_at.insert(*id, t);
            }
            if self.deadlines().is_done(&status) {
                done_now.push(*id);
                *stats.done_by_assignee.entry(assignee_of[id].clone()).or_default() += 1;
            }
            let due = row.cell(c_due).get(..10).and_then(|d| d.parse::<chrono::NaiveDate>().ok());
            if let (Some(due), Some(created)) = (due, created_at.get(id)) {
                lateness.insert(*id, (due, created.date_naive(), self.deadlines().is_closed(&status)));
            }
            *stats.by_status.entry(status).or_default() += 1;
        }
        // When each task reached `done`, from the event log.
        let events = self.store().table(TableKind::Events)?;
        let ecol = |name: &str| events.position(name).unwrap_or(usize::MAX);
        let (e_type, e_entity_id, e_data, e_created) =
            (ecol("type"), ecol("entity_id"), ecol("data"), ecol("created_at"));
        let mut completed_at: HashMap<u64, chrono::DateTime<Utc>> = HashMap::new();
        let mut closed_on: HashMap<u64, chrono::NaiveDate> = HashMap::new();
        for row in events.rows.values() {
            let data_cell = row.cell(e_data);
            if row.cell(e_type) != "task.updated" || !data_cell.contains("\"status\"") {
                continue;
            }
            let Ok(task_id) = row.cell(e_entity_id).parse::<u64>() else { continue };
            if !created_at.contains_key(&task_id) {
                continue; // not one of the tasks counted
            }
            let data: serde_json::Value = serde_json::from_str(row.cell(e_data)).unwrap_or_default();
            let status = data["after"]["status"].as_str().unwrap_or("");
            if let Some(at) = parse_time(row.cell(e_created))
                && self.deadlines().is_closed(status)
            {
                closed_on.insert(task_id, at.date_naive());
            }
            if !self.deadlines().is_done(status) {
                continue;
            }
            if let Some(at) = parse_time(row.cell(e_created)) {
                *stats.completed_per_day.entry(at.format("%Y-%m-%d").to_string()).or_default() += 1;
                completed_at.insert(task_id, at);
            }
        }
        // The server's own record of when a task was finished wins over the log's.
        if let Some(c_completed) = tasks.position("completed_at") {
            for id in &done_now {
                if let Some(at) = tasks.rows.get(id).and_then(|row| parse_time(row.cell(c_completed))) {
                    completed_at.insert(*id, at);
                }
            }
        }
        let durations: Vec<f64> = done_now
            .iter()
            .filter_map(|id| Some((*completed_at.get(id)? - *created_at.get(id)?).num_seconds() as f64 / 3600.0))
            .collect();
        let today = now.date_naive();
        for back in (0..OVERDUE_DAYS).rev() {
            let day = today - chrono::Duration::days(back);
            let late = lateness
                .iter()
                .filter(|(id, (due, created, closed_now))| {
                    // Closed now but no event says when: closed since it was made.
                    let closed_by = if *closed_now { closed_on.get(id).copied().or(Some(*created)) } else { None };
                    *due < day && *created <= day && closed_by.is_none_or(|c| c > day)
                })
                .count();
            stats.overdue_per_day.insert(day.format("%Y-%m-%d").to_string(), late);
        }
        let feedback = self.store().table(TableKind::Feedback)?;
        let (f_task, f_rating) =
            (feedback.position("task_id").unwrap_or(usize::MAX), feedback.position("rating").unwrap_or(usize::MAX));
        let mut sums: BTreeMap<String, (u64, usize)> = BTreeMap::new();
        for row in feedback.rows.values() {
            let (Ok(task), Ok(rating)) = (row.cell(f_task).parse::<u64>(), row.cell(f_rating).parse::<u64>()) else {
                continue;
            };
            if let Some(assignee) = assignee_of.get(&task) {
                let sum = sums.entry(assignee.clone()).or_default();
                sum.0 += rating;
                sum.1 += 1;
            }
        }
        stats.rating_by_assignee = sums
            .into_iter()
            .map(|(who, (sum, count))| (who, Rating { mean: sum as f64 / count as f64, count }))
            .collect();
        stats.by_field = group.map(|(name, _, counts)| BTreeMap::from([(name.to_string(), counts)]));
        if !durations.is_empty() {
            stats.mean_hours_to_complete = Some(durations.iter().sum::<f64>() / durations.len() as f64);
        }
        Ok(stats)
    }
}
