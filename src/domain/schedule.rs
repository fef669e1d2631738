//! When a job runs: a standard 5-field crontab `schedule` or an `interval`.
//!
//! The `cron` crate is not crontab: it wants seconds first, numbers weekdays 1=Sunday
//! (Quartz), and ANDs day-of-month with day-of-week. So a crontab line is translated
//! exactly: seconds prepended, the weekday field expanded into day names (0 and 7 are
//! Sunday), and when both day fields are restricted the line becomes two schedules
//! (day-of-month, day-of-week) and the earlier fire time wins, as crontab's OR.
//!
//! Times are walked in the job's time zone as wall-clock times, so a run that falls in
//! an hour skipped by daylight saving happens once, right after the gap, and a run in a
//! repeated hour happens once, the first time.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// What makes a job run.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A crontab line and its translation: one schedule, or two for day-of-month OR
    /// day-of-week.
    Cron {
        line: String,
        schedules: Vec<cron::Schedule>,
    },
    Interval(Duration),
}

/// A schedule that does not parse, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {position})")]
pub struct ScheduleError {
    /// 1-based character position in the text.
    pub position: usize,
    pub message: String,
}

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const FIELDS: [(&str, u32, u32); 5] =
    [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7)];

impl Trigger {
    /// Reads a crontab line (`0 18 * * 1-5`).
    pub fn cron(line: &str) -> Result<Trigger, ScheduleError> {
        let fields: Vec<(usize, &str)> = line
            .char_indices()
            .filter(|(i, c)| !c.is_whitespace() && (*i == 0 || line[..*i].ends_with(char::is_whitespace)))
            .map(|(i, _)| (i, line[i..].split_whitespace().next().unwrap_or("")))
            .collect();
        if fields.len() != 5 {
            return Err(ScheduleError {
                position: 1,
                message: format!(
                    "a schedule has 5 fields (minute hour day-of-month month day-of-week), not {}",
                    fields.len()
                ),
            });
        }
        let mut sets = Vec::new();
        for (n, (at, text)) in fields.iter().enumerate() {
            let (name, low, high) = FIELDS[n];
            sets.push(
                expand(text, low, high, n).map_err(|(offset, m)| ScheduleError {
                    position: at + offset + 1,
                    message: format!("{name}: {m}"),
                })?,
            );
        }
        // Day of week: 7 is Sunday too.
        if sets[4].remove(&7) {
            sets[4].insert(0);
        }
        let restricted = |n: usize| fields[n].1 != "*";
        let minute = list(&sets[0]);
        let hour = list(&sets[1]);
        let month = list(&sets[3]);
        let dom = list(&sets[2]);
        let dow: Vec<String> = sets[4].iter().map(|d| DAY_NAMES[*d as usize].to_string()).collect();
        let dow = dow.join(",");
        let texts: Vec<String> = match (restricted(2), restricted(4)) {
            (true, true) => {
                vec![format!("0 {minute} {hour} {dom} {month} *"), format!("0 {minute} {hour} * {month} {dow}")]
            }
            (false, true) => vec![format!("0 {minute} {hour} * {month} {dow}")],
            _ => vec![format!("0 {minute} {hour} {dom} {month} *")],
        };
        let schedules =
            texts.iter().map(|t| cron::Schedule::from_str(t)).collect::<Result<Vec<_>, _>>().map_err(|e| {
                ScheduleError { position: 1, message: format!("the schedule never fires or does not parse: {e}") }
            })?;
        Ok(Trigger::Cron { line: line.to_string(), schedules })
    }

    /// Reads an interval: `15m`, `2h`, `30s`, `1d`.
    pub fn interval(text: &str) -> Result<Trigger, ScheduleError> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        // At most 999,999 of a unit (2,700 years in days): the product stays exact and
        // the next run a representable time.
        let n: u64 = number.parse().ok().filter(|n| (1..=999_999).contains(n)).ok_or_else(|| ScheduleError {
            position: 1,
            message: format!(
                "{text:?} is not an interval; expected a number from 1 to 999999 and a unit, as 15m or 2h"
            ),
        })?;
        let seconds = match unit {
            "s" => n,
            "m" => n * 60,
            "h" => n * 3600,
            "d" => n * 86400,
            _ => {
                return Err(ScheduleError {
                    position: split + 1,
                    message: format!("{unit:?} is not a unit; expected s, m, h or d"),
                });
            }
        };
        Ok(Trigger::Interval(Duration::from_secs(seconds)))
    }

    /// The first fire time strictly after `after`, in `tz`; for an interval, `after` is
    /// the last run (or the start).
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        match self {
            Trigger::Interval(d) => Some(after + chrono::Duration::from_std(*d).ok()?),
            Trigger::Cron { schedules, .. } => schedules.iter().filter_map(|s| next_wall_clock(s, after, tz)).min(),
        }
    }

    /// The schedule as written.
    pub fn describe(&self) -> String {
        match self {
            Trigger::Cron { line, .. } => line.clone(),
            Trigger::Interval(d) => format!("every {}s", d.as_secs()),
        }
    }
}

/// Walks wall-clock times of `tz`: the schedule is evaluated on local times (as if they
/// were UTC), each local time is placed in the zone once: a skipped one just after the
/// gap, a repeated one at its first occurrence.
fn next_wall_clock(schedule: &cron::Schedule, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let local_after = after.with_timezone(&tz).naive_local();
    // Start a little before, so a wall-clock time that maps past `after` (a gap) is seen.
    let start = Utc.from_utc_datetime(&(local_after - chrono::Duration::hours(3)));
    for candidate in schedule.after(&start).take(10_000) {
        let naive: NaiveDateTime = candidate.naive_utc();
        let instant = match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            LocalResult::None => {
                // Skipped by a change to summer time: run once, as soon as the clock
                // has moved on (the first valid minute after the gap).
                let mut probe = naive;
                loop {
                    probe += chrono::Duration::minutes(1);
                    if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                        break t.with_timezone(&Utc);
                    }
                }
            }
        };
        if instant > after {
            return Some(instant);
        }
    }
    None
}

fn list(set: &std::collections::BTreeSet<u32>) -> String {
    set.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")
}

/// Expands one crontab field (`*`, `5`, `1-5`, `*/15`, `1-10/2`, lists, names) into its
/// values; the error carries the offset within the field.
fn expand(field: &str, low: u32, high: u32, index: usize) -> Result<std::collections::BTreeSet<u32>, (usize, String)> {
    let mut out = std::collections::BTreeSet::new();
    let mut offset = 0;
    for part in field.split(',') {
        let fail = |m: String| Err((offset, m));
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => match s.parse::<u32>() {
                Ok(s) if s > 0 => (r, s),
                _ => return fail(format!("{s:?} is not a step; expected a positive number")),
            },
            None => (part, 1),
        };
        let value = |text: &str| -> Result<u32, String> {
            let named = match index {
                3 => ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
                    .iter()
                    .position(|m| m.eq_ignore_ascii_case(text))
                    .map(|p| p as u32 + 1),
                4 => DAY_NAMES.iter().position(|d| d.eq_ignore_ascii_case(text)).map(|p| p as u32),
                _ => None,
            };
            let v = named.or_else(|| text.parse().ok()).ok_or_else(|| format!("{text:?} is not a number"))?;
            if v < low || v > high {
                return Err(format!("{v} is out of range {low}-{high}"));
            }
            Ok(v)
        };
        let (from, to) = if range == "*" {
            (low, high)
        } else if let Some((a, b)) = range.split_once('-') {
            match (value(a), value(b)) {
                (Ok(a), Ok(b)) if a <= b => (a, b),
                (Ok(a), Ok(b)) => return fail(format!("the range {a}-{b} runs backwards")),
                (Err(m), _) | (_, Err(m)) => return fail(m),
            }
        } else {
            match value(range) {
                Ok(v) if step == 1 => (v, v),
                Ok(v) => (v, high),
                Err(m) => return fail(m),
            }
        };
        out.extend((from..=to).step_by(step as usize));
        offset += part.len() + 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(line: &str, after: &str, tz: Tz) -> String {
        Trigger::cron(line)
            .unwrap()
            .next_after(at(after), tz)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    const MSK: Tz = chrono_tz::Europe::Moscow;
    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    #[test]
    fn the_documented_schedules_in_moscow() {
        // 2026-11-22 is a Sunday; Moscow is UTC+3 all year.
        assert_eq!(next("0 9 * * *", "2026-11-22T10:00:00Z", MSK), "2026-11-23T06:00:00Z");
        assert_eq!(next("0 9 * * *", "2026-11-22T05:59:00Z", MSK), "2026-11-22T06:00:00Z");
        assert_eq!(next("0 2 * * *", "2026-11-22T10:00:00Z", MSK), "2026-11-22T23:00:00Z");
        // Monday to Friday at 18:00: from Friday evening to Monday.
        assert_eq!(next("0 18 * * 1-5", "2026-11-20T16:00:00Z", MSK), "2026-11-23T15:00:00Z");
        assert_eq!(next("0 18 * * 1-5", "2026-11-22T10:00:00Z", MSK), "2026-11-23T15:00:00Z");
        assert_eq!(next("0 18 * * 1-5", "2026-11-23T10:00:00Z", MSK), "2026-11-23T15:00:00Z");
    }

    #[test]
    fn sunday_is_0_and_7_and_days_are_or_ed() {
        assert_eq!(next("0 12 * * 0", "2026-11-18T00:00:00Z", MSK), "2026-11-22T09:00:00Z");
        assert_eq!(next("0 12 * * 7", "2026-11-18T00:00:00Z", MSK), "2026-11-22T09:00:00Z");
        assert_eq!(next("0 12 * * SUN", "2026-11-18T00:00:00Z", MSK), "2026-11-22T09:00:00Z");
        // The 13th OR a Friday: Friday 2026-11-27 comes before 2026-12-13.
        assert_eq!(next("0 0 13 * 5", "2026-11-22T00:00:00Z", MSK), "2026-11-26T21:00:00Z");
        // ...and the 13th comes before the next Friday after 2026-12-11.
        assert_eq!(next("0 0 13 * 5", "2026-12-11T22:00:00Z", MSK), "2026-12-12T21:00:00Z");
        assert_eq!(next("*/15 * * * *", "2026-11-22T10:07:00Z", MSK), "2026-11-22T10:15:00Z");
    }

    #[test]
    fn a_skipped_or_repeated_hour_runs_once() {
        // Berlin springs forward on 2027-03-28 at 02:00 to 03:00: 02:30 does not exist.
        assert_eq!(next("30 2 * * *", "2027-03-27T12:00:00Z", BERLIN), "2027-03-28T01:00:00Z"); // 03:00 CEST
        assert_eq!(next("30 2 * * *", "2027-03-28T01:00:00Z", BERLIN), "2027-03-29T00:30:00Z");
        // Berlin falls back on 2026-10-25 at 03:00 to 02:00: 02:30 happens twice.
        let first = next("30 2 * * *", "2026-10-24T12:00:00Z", BERLIN);
        assert_eq!(first, "2026-10-25T00:30:00Z"); // 02:30 CEST, the first time
        assert_eq!(next("30 2 * * *", &first, BERLIN), "2026-10-26T01:30:00Z", "not again at 02:30 CET");
    }

    #[test]
    fn bad_schedules_name_the_field_and_position() {
        let e = Trigger::cron("0 25 * * *").unwrap_err();
        assert_eq!(e.position, 3);
        assert!(e.message.starts_with("hour: 25 is out of range 0-23"), "{e}");
        let e = Trigger::cron("0 9 * * 1-9").unwrap_err();
        assert_eq!(e.position, 9);
        assert!(e.message.starts_with("day of week:"), "{e}");
        assert!(Trigger::cron("0 9 * *").unwrap_err().message.contains("5 fields"));
        assert!(Trigger::cron("0 9 * * 5-1").unwrap_err().message.contains("backwards"));
    }

    #[test]
    fn intervals() {
        let t = Trigger::interval("15m").unwrap();
        assert_eq!(t.next_after(at("2026-11-22T10:00:00Z"), MSK).unwrap(), at("2026-11-22T10:15:00Z"));
        assert!(matches!(Trigger::interval("2h"), Ok(Trigger::Interval(d)) if d.as_secs() == 7200));
        assert_eq!(Trigger::interval("15x").unwrap_err().position, 3);
        assert!(Trigger::interval("m").is_err());
        // A number whose product with its unit would overflow is refused, not wrapped.
        assert!(Trigger::interval("999999d").is_ok());
        assert!(Trigger::interval("1000000d").unwrap_err().message.contains("999999"));
        assert!(Trigger::interval("99999999999999999999s").is_err());
    }
}

#[cfg(test)]
mod never_tests {
    use super::*;

    /// A schedule that names no real day (the 31st of February) answers "never" at
    /// once rather than searching forever: recurring.csv may hold one.
    #[test]
    fn a_day_that_never_comes_is_never() {
        let t = Trigger::cron("0 0 31 2 *").unwrap();
        let started = std::time::Instant::now();
        assert_eq!(t.next_after(Utc::now(), chrono_tz::Europe::Moscow), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
