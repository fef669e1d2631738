//! Recurring work (recurring.csv): the monthly boiler check, the quarterly filters.
//! Each active row makes one task per occurrence of its `schedule` (a crontab line in
//! `scheduler.timezone`), due `due_in_days` after the occurrence's day.
//!
//! Exactly once, across restarts and servers: each task made carries the key
//! `recurrence` = `{row}@{occurrence}` (a column tasks.csv gains the first time); an
//! occurrence is first claimed through the store (one server of several wins; on a
//! folder there is only one), then made unless a task with its key exists (a server
//! stopped between making the task and moving the row's `last_run_at` on makes
//! nothing twice when it starts again). `last_run_at` then moves to the newest
//! occurrence, guarded by the row's version. An occurrence later than
//! `misfire_grace_time` (the server was down) is skipped, as a job run would be.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::TableKind;
use crate::domain::schedule::Trigger;
use crate::domain::values::{parse_bool, parse_timestamp};
use crate::store::{Fields, StoreError};

use super::access::{Principal, ServiceError};
use super::records::RecordService;

/// The column of tasks.csv naming the row and occurrence a task was made for.
pub const RECURRENCE: &str = "recurrence";
/// Occurrences one row may catch up in one run (a schedule every minute after a long
/// stop is bounded by the grace time anyway).
const MOST_PER_RUN: usize = 100;

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The row and occurrence a task's `recurrence` names: (row id, occurrence).
pub fn recurrence_of(task: &Fields) -> Option<(u64, String)> {
    let (row, at) = task.get(RECURRENCE)?.split_once('@')?;
    Some((row.parse().ok()?, at.to_string()))
}

impl RecordService {
    /// The next `count` occurrences of row `id` after `now`, each with the due date a
    /// task made then gets.
    pub fn next_occurrences(
        &self,
        p: &Principal,
        id: u64,
        count: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>, ServiceError> {
        let view = self.read(p, TableKind::Recurring, id)?;
        let row = view.table.fields(&view.row);
        let get = |k: &str| row.get(k).map(String::as_str).unwrap_or("");
        let trigger = Trigger::cron(get("schedule")).map_err(|e| {
            ServiceError::Store(StoreError::Invalid(vec![crate::domain::FieldError::new("schedule", e.to_string())]))
        })?;
        let tz = self.deadlines().tz;
        let mut at = now;
        let mut out = Vec::new();
        while out.len() < count.min(50) {
            let Some(next) = trigger.next_after(at, tz) else { break };
            out.push((stamp(next), self.due_date_for(next, get("due_in_days"))));
            at = next;
        }
        Ok(out)
    }

    /// The due date of a task made at `occurrence`: its day in the team's zone plus
    /// `due_in_days`.
    fn due_date_for(&self, occurrence: DateTime<Utc>, due_in_days: &str) -> String {
        let day = occurrence.with_timezone(&self.deadlines().tz).date_naive();
        let days = due_in_days.trim().parse::<u64>().unwrap_or(0);
        (day + chrono::Days::new(days)).format("%Y-%m-%d").to_string()
    }

    /// The job `create_recurring_tasks`: a task for every due occurrence of every
    /// active row; answers a line for `job.finished`.
    pub async fn create_recurring_tasks(
        &self,
        p: &Principal,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Result<String, ServiceError> {
        let rows = self.store().table(TableKind::Recurring)?;
        let (mut made, mut skipped, mut broken) = (0, 0, 0);
        for (&id, row) in rows.rows.iter() {
            let fields = rows.fields(row);
            let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
            if !parse_bool(get("is_active")).unwrap_or(true) {
                continue;
            }
            let Ok(trigger) = Trigger::cron(get("schedule")) else {
                broken += 1;
                continue;
            };
            let etag = crate::store::etag_of(row);
            // Where this row's occurrences are counted from: its last run, else when it
            // was made; a row typed into the file with neither starts now.
            let since = [get("last_run_at"), get("created_at")].into_iter().find_map(|t| parse_timestamp(t).ok());
            let Some(since) = since else {
                self.move_on(p, id, now, &etag).await;
                continue;
            };
            let mut due = Vec::new();
            let mut newest = None;
            let mut at = since;
            while let Some(next) = trigger.next_after(at, self.deadlines().tz).filter(|n| *n <= now) {
                at = next;
                newest = Some(next);
                if (now - next).to_std().unwrap_or_default() > grace {
                    skipped += 1;
                } else if due.len() < MOST_PER_RUN {
                    due.push(next);
                }
            }
            for occurrence in due {
                if self.make_occurrence(p, id, &fields, occurrence).await? {
                    made += 1;
                }
            }
            if let Some(newest) = newest {
                self.move_on(p, id, newest, &etag).await;
            }
        }
        Ok(format!(
            "{made} recurring task(s) made, {skipped} occurrence(s) missed, {broken} row(s) with a bad schedule"
        ))
    }

    /// Makes the task of one occurrence unless another server claimed it or a task
    /// for it exists; true when it made one.
    async fn make_occurrence(
        &self,
        p: &Principal,
        id: u64,
        row: &Fields,
        occurrence: DateTime<Utc>,
    ) -> Result<bool, ServiceError> {
        let key = format!("{id}@{}", stamp(occurrence));
        if !self.store().claim_run("create_recurring_tasks", &key).await? {
            return Ok(false);
        }
        let tasks = self.store().table(TableKind::Tasks)?;
        if let Some(column) = tasks.position(RECURRENCE)
            && tasks.rows.values().any(|r| r.cell(column) == key)
        {
            return Ok(false);
        }
        let get = |k: &str| row.get(k).cloned().unwrap_or_default();
        let mut task: Fields = Fields::new();
        for column in ["title", "description", "assigned_to", "priority", "created_by"] {
            let value = get(column);
            if !value.is_empty() {
                task.insert(column.into(), value);
            }
        }
        task.insert("due_date".into(), self.due_date_for(occurrence, &get("due_in_days")));
        // Checked as any create, then made with the key only the server sets.
        let checked =
            super::access::check_write(self, p, TableKind::Tasks, crate::auth::policy::Action::Create, None, &task)
                .and_then(|_| super::records::check_input(TableKind::Tasks, &task, None));
        task.insert(RECURRENCE.into(), key);
        let made = match checked {
            Ok(()) => self.insert(TableKind::Tasks, task, p.context()).await.map_err(ServiceError::from),
            Err(e) => Err(e),
        };
        match made {
            Ok(_) => Ok(true),
            // Which field, so that the job's result tells the manager what to fix.
            Err(ServiceError::Store(StoreError::Invalid(problems))) => {
                let why: Vec<String> = problems.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
                Err(ServiceError::Conflict(format!("recurring row {id} makes no task: {}", why.join("; "))))
            }
            Err(other) => Err(other),
        }
    }

    /// Moves row `id`'s `last_run_at` on to `to`, unless the row changed since it was
    /// read (its next run reads it again) or has moved further already.
    async fn move_on(&self, p: &Principal, id: u64, to: DateTime<Utc>, etag: &str) {
        let fields: Fields = [("last_run_at".to_string(), stamp(to))].into();
        match self.change(TableKind::Recurring, id, fields, Some(etag.to_string()), p.context()).await {
            Ok(_) | Err(StoreError::PreconditionFailed) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => {
                tracing::warn!(target: "taskboard::scheduler", recurring = id, error = %e, "last_run_at not moved on")
            }
        }
    }
}
