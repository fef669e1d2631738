//! Scheduled jobs (`cron.jobs`): when they run (`schedule`), what is due at a moment
//! (`plan`, a pure function), what they do (`tasks`), and the runner here.
//!
//! The runner keeps each job's next run; it sleeps until the earliest, runs what is due
//! on a pool of `thread_pool_size` slots (a job never overlaps itself), and records every
//! run as an event (`job.finished`, `job.failed`, `job.missed`) and a line in
//! scheduler.log. With `jobstore: file`, changes made through the API and the last runs
//! are kept in `data/jobs.csv`, so missed runs are caught up after a restart.

pub mod plan;

pub mod tasks;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::json;
use tokio::sync::{Notify, Semaphore};

pub use crate::domain::schedule::{ScheduleError, Trigger};

use crate::config::{Config, Cron};
use crate::service::Services;
use crate::service::jobs::{JobChange, JobControl, JobError, JobView};
use crate::store::{NewEvent, Storage};

/// Checks the `cron.jobs` section: each schedule or interval parses, and each names a
/// task that exists. The error names the key.
pub fn check_jobs(cron: &Cron) -> Result<(), String> {
    for (name, job) in &cron.jobs {
        let trigger = match (&job.schedule, &job.interval) {
            (Some(s), None) => Trigger::cron(s).map_err(|e| format!("cron.jobs.{name}.schedule: {e}")),
            (None, Some(i)) => Trigger::interval(i).map_err(|e| format!("cron.jobs.{name}.interval: {e}")),
            _ => Err(format!(
                "cron.jobs.{name}: give either schedule (crontab, as \"0 9 * * *\") or interval (as 15m), not both or neither"
            )),
        };
        trigger?;
        if !tasks::TASKS.contains(&job.task.as_str()) {
            return Err(format!(
                "cron.jobs.{name}.task: {:?} is not a task; expected one of {}",
                job.task,
                tasks::TASKS.join(", ")
            ));
        }
    }
    Ok(())
}

struct Job {
    task: String,
    description: String,
    trigger: Trigger,
    /// The schedule or interval as written.
    text: String,
    enabled: bool,
    last_run: Option<DateTime<Utc>>,
    last_result: Option<String>,
    next_run: Option<DateTime<Utc>>,
    running: bool,
}

struct Inner {
    services: Services,
    store: Arc<dyn Storage>,
    config: Arc<Config>,
    tz: Tz,
    jobs: Mutex<BTreeMap<String, Job>>,
    paused: AtomicBool,
    wake: Notify,
    pool: Arc<Semaphore>,
}

/// A cheap-to-clone handle on the scheduler.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

const JOBS_FILE: &str = "jobs.csv";

/// A run time in the scheduler's zone, with its offset (`2026-12-01T09:00:00+03:00`),
/// so it reads beside a schedule written in local time.
fn local_stamp(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What names one run among the servers sharing a store: a cron run by its instant
/// (every server computes the same ones); an interval run by its period since the
/// epoch, since each server counts intervals from its own start: of the runs servers
/// make in one period, one is claimed.
fn claim_key(trigger: &Trigger, at: DateTime<Utc>) -> String {
    match trigger {
        Trigger::Interval(d) => format!("every {}s #{}", d.as_secs(), at.timestamp() / d.as_secs().max(1) as i64),
        Trigger::Cron { .. } => stamp(at),
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Scheduler {
    /// The jobs of the configuration, overlaid with `data/jobs.csv` when the job store is
    /// a file.
    pub fn new(services: Services, now: DateTime<Utc>) -> Scheduler {
        let (store, config) = (services.store.clone(), services.config.clone());
        let tz: Tz = config.scheduler.tz();
        let mut jobs = BTreeMap::new();
        for (id, j) in &config.cron.jobs {
            let (trigger, text) = match (&j.schedule, &j.interval) {
                (Some(s), _) => (Trigger::cron(s), s.clone()),
                (None, Some(i)) => (Trigger::interval(i), i.clone()),
                _ => continue,
            };
            let Ok(trigger) = trigger else { continue }; // checked when the config was read
            jobs.insert(
                id.clone(),
                Job {
                    task: j.task.clone(),
                    description: j.description.clone(),
                    next_run: trigger.next_after(now, tz),
                    trigger,
                    text,
                    enabled: j.enabled,
                    last_run: None,
                    last_result: None,
                    running: false,
                },
            );
        }
        let scheduler = Scheduler {
            inner: Arc::new(Inner {
                pool: Arc::new(Semaphore::new(config.scheduler.thread_pool_size.max(1))),
                services,
                store,
                config,
                tz,
                jobs: Mutex::new(jobs),
                paused: AtomicBool::new(false),
                wake: Notify::new(),
            }),
        };
        if scheduler.file_store() {
            scheduler.load_jobs_file(now);
        }
        scheduler
    }

    fn file_store(&self) -> bool {
        self.inner.config.scheduler.jobstore == "file"
    }

    /// Runs until `stop` resolves.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        if !self.inner.config.cron.enabled {
            tracing::info!(target: "taskboard::scheduler", "cron.enabled is false: no job runs");
            stop.await;
            return;
        }
        let mut stop = std::pin::pin!(stop);
        loop {
            self.tick(Utc::now());
            let wait = self
                .earliest_next()
                .map(|next| (next - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(3600))
                .min(Duration::from_secs(3600));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.inner.wake.notified() => {}
                _ = &mut stop => break,
            }
        }
    }

    fn earliest_next(&self) -> Option<DateTime<Utc>> {
        let jobs = self.inner.jobs.lock().ok()?;
        jobs.values().filter(|j| j.enabled).filter_map(|j| j.next_run).min()
    }

    /// Starts what is due at `now`: runs within the grace time, `job.missed` for the others.
    pub fn tick(&self, now: DateTime<Utc>) {
        if self.inner.paused.load(Ordering::Acquire) {
            return;
        }
        let grace = Duration::from_secs(self.inner.config.scheduler.misfire_grace_time);
        let coalesce = self.inner.config.scheduler.coalesce;
        let mut starts = Vec::new();
        let mut missed = Vec::new();
        let mut changed = false;
        if let Ok(mut jobs) = self.inner.jobs.lock() {
            for (id, job) in jobs.iter_mut().filter(|(_, j)| j.enabled) {
                let Some(next) = job.next_run.filter(|n| *n <= now) else { continue };
                let due = plan::due(&job.trigger, next, now, self.inner.tz, grace, coalesce);
                job.next_run = due.next;
                changed = true;
                missed.extend(due.missed.iter().map(|at| (id.clone(), *at)));
                for at in due.runs {
                    if job.running {
                        missed.push((id.clone(), at)); // a job never overlaps itself
                    } else {
                        job.running = true;
                        starts.push((id.clone(), job.task.clone(), at, claim_key(&job.trigger, at)));
                    }
                }
            }
        }
        if changed {
            self.save();
        }
        for (id, at) in missed {
            tracing::warn!(target: "taskboard::scheduler", job = %id, scheduled = %stamp(at), "run missed (late beyond misfire_grace_time, or still running)");
            let me = self.clone();
            tokio::spawn(async move {
                // Servers sharing a database each see the miss; one says so.
                if !me.inner.store.claim_run(&id, &format!("missed {}", stamp(at))).await.unwrap_or(false) {
                    return;
                }
                let _ = me
                    .inner
                    .store
                    .record_event(me.job_event(
                        "job.missed",
                        &id,
                        format!("{id}: the run of {} was missed", stamp(at)),
                        json!({"scheduled_for": stamp(at)}),
                    ))
                    .await;
            });
        }
        for (id, task, at, claim) in starts {
            let me = self.clone();
            tokio::spawn(async move { me.execute(id, task, at, claim).await });
        }
    }

    fn job_event(&self, kind: &str, id: &str, message: String, data: serde_json::Value) -> NewEvent {
        NewEvent {
            kind: kind.into(),
            entity: "job".into(),
            entity_id: None,
            user_id: None,
            source: "scheduler".into(),
            message,
            data: {
                let mut d = data;
                d["job"] = json!(id);
                d
            },
            created_at: stamp(Utc::now()),
        }
    }

    async fn execute(&self, id: String, task: String, scheduled: DateTime<Utc>, claim: String) {
        // Each run happens once across the servers sharing a database: the first to
        // claim it runs it. (A server that dies mid-run leaves this run done as far as
        // the others know; the next run is claimed afresh.)
        match self.inner.store.claim_run(&id, &claim).await {
            Ok(true) => {}
            outcome => {
                let why = if outcome.is_ok() { "another server took it" } else { "the store could not be asked" };
                tracing::info!(target: "taskboard::scheduler", job = %id, scheduled = %stamp(scheduled), "not run here: {why}");
                if let Ok(mut jobs) = self.inner.jobs.lock()
                    && let Some(job) = jobs.get_mut(&id)
                {
                    job.running = false;
                }
                return;
            }
        }
        let Ok(_slot) = self.inner.pool.clone().acquire_owned().await else { return };
        let started = Instant::now();
        let now = Utc::now();
        let result = tasks::run(&task, &self.inner.services, now).await;
        let ms = started.elapsed().as_millis() as u64;
        let event = match &result {
            Ok(summary) => {
                tracing::info!(target: "taskboard::scheduler", job = %id, task = %task, ms, "finished: {summary}");
                self.job_event(
                    "job.finished",
                    &id,
                    format!("{id} finished in {ms} ms: {summary}"),
                    json!({"task": task, "duration_ms": ms, "summary": summary, "scheduled_for": stamp(scheduled)}),
                )
            }
            Err(error) => {
                tracing::error!(target: "taskboard::scheduler", job = %id, task = %task, ms, "failed: {error}");
                self.job_event(
                    "job.failed",
                    &id,
                    format!("{id} failed: {error}"),
                    json!({"task": task, "duration_ms": ms, "error": error, "scheduled_for": stamp(scheduled)}),
                )
            }
        };
        let _ = self.inner.store.record_event(event).await;
        if let Ok(mut jobs) = self.inner.jobs.lock()
            && let Some(job) = jobs.get_mut(&id)
        {
            job.running = false;
            job.last_run = Some(now);
            job.last_result = Some(match &result {
                Ok(s) => format!("ok: {s}"),
                Err(e) => format!("failed: {e}"),
            });
        }
        self.save();
    }

    /// Writes `data/jobs.csv` (file job store only).
    fn save(&self) {
        if !self.file_store() {
            return;
        }
        let Ok(jobs) = self.inner.jobs.lock() else { return };
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record([
            "id",
            "trigger",
            "schedule",
            "enabled",
            "description",
            "last_run",
            "last_result",
            "next_run",
        ]);
        for (id, j) in jobs.iter() {
            let v = view(id, j, self.inner.tz);
            let _ = w.write_record([
                v.id,
                v.trigger.to_string(),
                v.schedule,
                v.enabled.to_string(),
                v.description,
                v.last_run.unwrap_or_default(),
                v.last_result.unwrap_or_default(),
                v.next_run.unwrap_or_default(),
            ]);
        }
        drop(jobs);
        if let Ok(bytes) = w.into_inner() {
            let _ = self.inner.store.write_aux(JOBS_FILE, &bytes);
        }
    }

    /// Takes what `data/jobs.csv` remembers: triggers changed through the API, enabled
    /// flags, last runs, and next runs (so runs missed while down are caught up).
    fn load_jobs_file(&self, now: DateTime<Utc>) {
        let Some(bytes) = self.inner.store.read_aux(JOBS_FILE) else { return };
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let Ok(mut jobs) = self.inner.jobs.lock() else { return };
        for record in reader.records().flatten() {
            let get = |i: usize| record.get(i).unwrap_or("").to_string();
            let Some(job) = jobs.get_mut(&get(0)) else { continue };
            let trigger = if get(1) == "interval" { Trigger::interval(&get(2)) } else { Trigger::cron(&get(2)) };
            if let Ok(trigger) = trigger {
                job.trigger = trigger;
                job.text = get(2);
            }
            job.enabled = get(3) != "false";
            let time = |s: String| DateTime::parse_from_rfc3339(&s).ok().map(|t| t.with_timezone(&Utc));
            job.last_run = time(get(5));
            job.last_result = Some(get(6)).filter(|s| !s.is_empty());
            job.next_run = time(get(7)).or_else(|| job.trigger.next_after(now, self.inner.tz));
        }
    }
}

impl JobControl for Scheduler {
    fn list(&self) -> Vec<JobView> {
        self.inner
            .jobs
            .lock()
            .map(|j| j.iter().map(|(id, job)| view(id, job, self.inner.tz)).collect())
            .unwrap_or_default()
    }

    fn get(&self, id: &str) -> Result<JobView, JobError> {
        let jobs = self.inner.jobs.lock().map_err(|_| JobError::NotFound(id.into()))?;
        jobs.get(id).map(|j| view(id, j, self.inner.tz)).ok_or_else(|| JobError::NotFound(id.into()))
    }

    /// Changes a job's trigger, enabled flag or description.
    fn update(&self, id: &str, change: JobChange) -> Result<JobView, JobError> {
        let trigger = match (&change.schedule, &change.interval) {
            (Some(_), Some(_)) => {
                return Err(JobError::Invalid {
                    field: "schedule",
                    message: "give schedule or interval, not both".into(),
                });
            }
            (Some(s), None) => Some((
                Trigger::cron(s).map_err(|e| JobError::Invalid { field: "schedule", message: e.to_string() })?,
                s.clone(),
            )),
            (None, Some(i)) => Some((
                Trigger::interval(i).map_err(|e| JobError::Invalid { field: "interval", message: e.to_string() })?,
                i.clone(),
            )),
            (None, None) => None,
        };
        let view = {
            let mut jobs = self.inner.jobs.lock().map_err(|_| JobError::NotFound(id.into()))?;
            let job = jobs.get_mut(id).ok_or_else(|| JobError::NotFound(id.into()))?;
            if let Some((trigger, text)) = trigger {
                job.next_run = trigger.next_after(Utc::now(), self.inner.tz);
                job.trigger = trigger;
                job.text = text;
            }
            if let Some(enabled) = change.enabled {
                job.enabled = enabled;
            }
            if let Some(d) = change.description {
                job.description = d;
            }
            view(id, job, self.inner.tz)
        };
        self.save();
        self.inner.wake.notify_one();
        Ok(view)
    }

    /// Runs a job now, outside its schedule.
    fn run_now(&self, id: &str) -> Result<JobView, JobError> {
        let (task, view) = {
            let mut jobs = self.inner.jobs.lock().map_err(|_| JobError::NotFound(id.into()))?;
            let job = jobs.get_mut(id).ok_or_else(|| JobError::NotFound(id.into()))?;
            if job.running {
                return Err(JobError::Invalid { field: "id", message: format!("{id} is running already") });
            }
            job.running = true;
            (job.task.clone(), view(id, job, self.inner.tz))
        };
        let me = self.clone();
        let id = id.to_string();
        let now = Utc::now();
        let claim = format!("by hand {}", now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
        tokio::spawn(async move { me.execute(id, task, now, claim).await });
        Ok(view)
    }

    fn pause(&self) {
        self.inner.paused.store(true, Ordering::Release);
    }

    fn resume(&self) {
        self.inner.paused.store(false, Ordering::Release);
        self.inner.wake.notify_one();
    }

    fn status(&self) -> serde_json::Value {
        let state = if !self.inner.config.cron.enabled {
            "disabled"
        } else if self.inner.paused.load(Ordering::Acquire) {
            "paused"
        } else {
            "running"
        };
        json!({"state": state, "timezone": self.inner.config.scheduler.timezone, "jobstore": self.inner.config.scheduler.jobstore,
               "thread_pool_size": self.inner.config.scheduler.thread_pool_size})
    }
}

fn view(id: &str, j: &Job, tz: Tz) -> JobView {
    JobView {
        id: id.to_string(),
        task: j.task.clone(),
        description: j.description.clone(),
        trigger: if matches!(j.trigger, Trigger::Interval(_)) { "interval" } else { "cron" },
        schedule: j.text.clone(),
        enabled: j.enabled,
        timezone: tz.name().to_string(),
        last_run: j.last_run.map(|t| local_stamp(t, tz)),
        last_result: j.last_result.clone(),
        next_run: j.next_run.map(|t| local_stamp(t, tz)),
        running: j.running,
    }
}
