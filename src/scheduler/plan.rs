//! What a job should do at a given moment, as a pure function of its trigger, its next
//! run time and the clock: the tests drive it with any clock, without waiting.
//!
//! APScheduler's meaning: every fire time between the job's next run and now is due; one
//! later than `misfire_grace_time` is missed (skipped, reported); with `coalesce` the
//! runnable ones become a single run.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::Trigger;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Due {
    /// Scheduled times to run now (one at most when coalescing).
    pub runs: Vec<DateTime<Utc>>,
    /// Scheduled times that are later than the grace time: not run.
    pub missed: Vec<DateTime<Utc>>,
    /// The next fire time after now.
    pub next: Option<DateTime<Utc>>,
}

/// At most this many fire times are walked at once (a job every second, down a year).
const MAX_WALK: usize = 100_000;

pub fn due(
    trigger: &Trigger,
    next_run: DateTime<Utc>,
    now: DateTime<Utc>,
    tz: Tz,
    grace: Duration,
    coalesce: bool,
) -> Due {
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    let mut runnable = Vec::new();
    let mut missed = Vec::new();
    let mut t = Some(next_run);
    let mut walked = 0;
    while let Some(at) = t.filter(|at| *at <= now) {
        if now - at > grace {
            missed.push(at);
        } else {
            runnable.push(at);
        }
        t = trigger.next_after(at, tz);
        walked += 1;
        if walked >= MAX_WALK {
            t = trigger.next_after(now, tz);
            break;
        }
    }
    if coalesce && runnable.len() > 1 {
        runnable = runnable.split_off(runnable.len() - 1);
    }
    Due { runs: runnable, missed, next: t }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    const MSK: Tz = chrono_tz::Europe::Moscow;
    const GRACE: Duration = Duration::from_secs(600);

    #[test]
    fn a_run_missed_while_down_still_happens_within_the_grace_time() {
        // Daily at 09:00 MSK (06:00Z); the server came back at 06:05Z.
        let t = Trigger::cron("0 9 * * *").unwrap();
        let d = due(&t, at("2026-11-22T06:00:00Z"), at("2026-11-22T06:05:00Z"), MSK, GRACE, true);
        assert_eq!(d.runs, [at("2026-11-22T06:00:00Z")]);
        assert!(d.missed.is_empty());
        assert_eq!(d.next, Some(at("2026-11-23T06:00:00Z")));
    }

    #[test]
    fn beyond_the_grace_time_it_is_missed_not_run() {
        let t = Trigger::cron("0 9 * * *").unwrap();
        let d = due(&t, at("2026-11-22T06:00:00Z"), at("2026-11-22T06:30:00Z"), MSK, GRACE, true);
        assert!(d.runs.is_empty());
        assert_eq!(d.missed, [at("2026-11-22T06:00:00Z")]);
        assert_eq!(d.next, Some(at("2026-11-23T06:00:00Z")));
    }

    #[test]
    fn several_missed_runs_coalesce_into_one_or_run_each() {
        // Every 15 minutes; down for 40 minutes, grace of an hour.
        let t = Trigger::interval("15m").unwrap();
        let hour = Duration::from_secs(3600);
        let d = due(&t, at("2026-11-22T10:00:00Z"), at("2026-11-22T10:40:00Z"), MSK, hour, true);
        assert_eq!(d.runs, [at("2026-11-22T10:30:00Z")]);
        assert_eq!(d.next, Some(at("2026-11-22T10:45:00Z")));
        let d = due(&t, at("2026-11-22T10:00:00Z"), at("2026-11-22T10:40:00Z"), MSK, hour, false);
        assert_eq!(d.runs, [at("2026-11-22T10:00:00Z"), at("2026-11-22T10:15:00Z"), at("2026-11-22T10:30:00Z")]);
    }

    #[test]
    fn nothing_is_due_before_the_next_run() {
        let t = Trigger::interval("2h").unwrap();
        let d = due(&t, at("2026-11-22T12:00:00Z"), at("2026-11-22T11:59:59Z"), MSK, GRACE, true);
        assert_eq!(d, Due { runs: vec![], missed: vec![], next: Some(at("2026-11-22T12:00:00Z")) });
    }
}
