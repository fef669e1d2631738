//! Recurring work (recurring.csv): the monthly boiler check, the quarterly filters.
//! Each active row makes one task per occurrence of its `schedule` (a crontab line in
//! `scheduler.timezone`), due `due_in_days` after the occurrence's day.
//!
//! Never twice, across restarts and servers: before making the task of an occurrence
//! the job moves the row's `last_run_at` on to it, guarded by the row's version, and
//! only the one change that lands makes the task (another server, or an edit of the
//! row meanwhile, is refused and tries again on its next run). A server killed between
//! those two steps loses that one occurrence (the gap is written down in
//! ARCHITECTURE.md). An occurrence later than `misfire_grace_time` (the server was
//! down) is skipped, as a job run would be.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::TableKind;
use crate::domain::schedule::Trigger;
use crate::domain::values::{parse_bool, parse_timestamp};
use crate::store::{Fields, StoreError};

use super::access::{Principal, ServiceError};
use super::records::RecordService;

/// Occurrences one row may catch up in one run (a schedule every minute after a long
/// stop is bounded by the grace time anyway).
const MOST_PER_RUN: usize = 100;

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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
            let mut due: Vec<DateTime<Utc>> = Vec::new();
            let mut newest = None;
            // Occurrences older than the grace time are missed, however many: counting
            // starts at the grace time's edge (a row last run in 1970 every minute
            // would otherwise be walked minute by minute).
            let edge = now - chrono::Duration::from_std(grace).unwrap_or_default();
            let mut at = since;
            if since < edge {
                skipped += 1;
                at = edge;
                newest = trigger.next_after(since, self.deadlines().tz).filter(|n| *n <= edge).map(|_| edge);
            }
            while let Some(next) = trigger.next_after(at, self.deadlines().tz).filter(|n| *n <= now) {
                at = next;
                newest = Some(next);
                if due.len() >= MOST_PER_RUN {
                    break;
                }
                due.push(next);
            }
            // Only missed occurrences (older than the grace time): the row moves past them.
            let due_was_empty = due.is_empty();
            // Each occurrence in turn: the row moves on first, and only then is its task
            // made, so that no occurrence ever makes two.
            let mut version = etag;
            for occurrence in due {
                match self.move_on(p, id, occurrence, &version).await {
                    Some(next) => version = next,
                    None => break,
                }
                self.make_occurrence(p, &fields, occurrence).await?;
                made += 1;
            }
            if due_was_empty && let Some(newest) = newest {
                self.move_on(p, id, newest, &version).await;
            }
        }
        Ok(format!(
            "{made} recurring task(s) made, {skipped} occurrence(s) missed, {broken} row(s) with a bad schedule"
        ))
    }

    /// Makes the task of one occurrence of `row`.
    async fn make_occurrence(
        &self,
        p: &Principal,
        row: &Fields,
        occurrence: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let get = |k: &str| row.get(k).cloned().unwrap_or_default();
        let mut task: Fields = Fields::new();
        for column in ["title", "description", "assigned_to", "priority", "created_by"] {
            let value = get(column);
            if !value.is_empty() {
                task.insert(column.into(), value);
            }
        }
        task.insert("due_date".into(), self.due_date_for(occurrence, &get("due_in_days")));
        match self.create(p, TableKind::Tasks, task).await {
            Ok(_) => Ok(()),
            // Which field, so that the job's result tells the manager what to fix.
            Err(ServiceError::Store(StoreError::Invalid(problems))) => {
                let why: Vec<String> = problems.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
                Err(ServiceError::Conflict(format!("recurring row {} makes no task: {}", get("id"), why.join("; "))))
            }
            Err(other) => Err(other),
        }
    }

    /// Moves row `id`'s `last_run_at` on to `to` if the row is still at `version`;
    /// answers its new version, or None when it changed meanwhile (another server made
    /// this occurrence, or someone edited the row: the next run reads it again).
    async fn move_on(&self, p: &Principal, id: u64, to: DateTime<Utc>, version: &str) -> Option<String> {
        let fields: Fields = [("last_run_at".to_string(), stamp(to))].into();
        match self.change(TableKind::Recurring, id, fields, Some(version.to_string()), p.context()).await {
            Ok(committed) => committed.etag.clone().or_else(|| self.get(TableKind::Recurring, id).ok().map(|(_, e)| e)),
            Err(StoreError::PreconditionFailed) | Err(StoreError::NotFound { .. }) => None,
            Err(e) => {
                tracing::warn!(target: "taskboard::scheduler", recurring = id, error = %e, "last_run_at not moved on");
                None
            }
        }
    }
}
