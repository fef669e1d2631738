//! Controlling the scheduled jobs: list, change, run now, pause, resume. The scheduler
//! is a source beside the REST API, so neither imports the other: the scheduler
//! implements [`JobControl`] and every source reaches it through [`Jobs`], which says
//! who may.

use std::sync::Arc;

use serde::Serialize;

use crate::auth::policy::{Action, Area, Scope};

use super::access::{Principal, ServiceError};

/// One job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub id: String,
    pub task: String,
    pub description: String,
    /// `cron` or `interval`.
    pub trigger: &'static str,
    /// The schedule or interval as written (a crontab reads in `timezone`).
    pub schedule: String,
    /// The zone the schedule is read in, and in which the run times are shown.
    pub timezone: String,
    pub enabled: bool,
    pub last_run: Option<String>,
    pub last_result: Option<String>,
    pub next_run: Option<String>,
    pub running: bool,
}

/// A change to a job.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobChange {
    pub schedule: Option<String>,
    pub interval: Option<String>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
}

/// Why a job could not be changed or run.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("no job named {0:?}")]
    NotFound(String),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error(transparent)]
    Denied(#[from] ServiceError),
}

/// What the scheduler offers to be controlled with.
pub trait JobControl: Send + Sync {
    fn list(&self) -> Vec<JobView>;
    fn get(&self, id: &str) -> Result<JobView, JobError>;
    fn update(&self, id: &str, change: JobChange) -> Result<JobView, JobError>;
    fn run_now(&self, id: &str) -> Result<JobView, JobError>;
    fn pause(&self);
    fn resume(&self);
    fn status(&self) -> serde_json::Value;
}

/// The job use cases: the system's, so an admin's (or the scheduler's own).
#[derive(Clone)]
pub struct Jobs {
    control: Arc<dyn JobControl>,
}

impl Jobs {
    pub fn new(control: Arc<dyn JobControl>) -> Jobs {
        Jobs { control }
    }

    fn allowed(p: &Principal, action: Action) -> Result<(), ServiceError> {
        if p.scope(Area::System, action) == Scope::All {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!("the {} role may not manage scheduled jobs", p.role)))
        }
    }

    pub fn list(&self, p: &Principal) -> Result<Vec<JobView>, ServiceError> {
        Self::allowed(p, Action::Read)?;
        Ok(self.control.list())
    }

    pub fn status(&self, p: &Principal) -> Result<serde_json::Value, ServiceError> {
        Self::allowed(p, Action::Read)?;
        Ok(self.control.status())
    }

    pub fn get(&self, p: &Principal, id: &str) -> Result<JobView, JobError> {
        Self::allowed(p, Action::Read)?;
        self.control.get(id)
    }

    pub fn update(&self, p: &Principal, id: &str, change: JobChange) -> Result<JobView, JobError> {
        Self::allowed(p, Action::Update)?;
        self.control.update(id, change)
    }

    pub fn run_now(&self, p: &Principal, id: &str) -> Result<JobView, JobError> {
        Self::allowed(p, Action::Create)?;
        self.control.run_now(id)
    }

    /// Pauses (`true`) or resumes every job; returns the state after.
    pub fn set_paused(&self, p: &Principal, paused: bool) -> Result<serde_json::Value, ServiceError> {
        Self::allowed(p, Action::Create)?;
        if paused {
            self.control.pause()
        } else {
            self.control.resume()
        }
        Ok(self.control.status())
    }
}
