//! Scheduled jobs. Today: when a job runs (`schedule`); the runner, the job store and
//! the tasks come with the rest of the scheduler issue.

pub mod schedule;

pub use schedule::{ScheduleError, Trigger};
