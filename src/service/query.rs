//! List queries: which rows of a table a request asks for, in which order, which page.
//!
//! Parsed once from the query string (the list conventions of README.md, "The API") and used alike by
//! lists, the event log, task history and CSV export, so their filters never differ.

use std::cmp::Ordering;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::workflow::Workflow;
use crate::domain::{ColumnKind, FieldError};
use crate::store::Row;

use super::columns::{Columnar, TextColumn};

pub use crate::domain::values::parse_time;
use crate::store::TableData;

pub const MAX_PER_PAGE: usize = 500;
pub const DEFAULT_PER_PAGE: usize = 50;

/// One condition a row must meet.
#[derive(Debug, Clone)]
pub enum Condition {
    /// `status=new,in_progress`: the field equals one of the values.
    OneOf(String, Vec<String>),
    /// The field's time is before (`due_before`).
    Before(String, DateTime<Utc>),
    /// The field's time is after (`due_after`), or at or after (`updated_since`, `since`).
    After(String, DateTime<Utc>, bool),
    /// The row's id is greater (`after_id`).
    IdAfter(u64),
    /// `overdue=true|false`: due in the past and not closed.
    Overdue(bool),
    /// Rows whose `.0` field equals `.1` only where the `.2` field equals `.3` (an API
    /// key's events only for its owner); other rows pass. Added by access rules, never
    /// by a query parameter.
    OwnedWhen(String, String, String, String),
}

/// A parsed list request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub conditions: Vec<Condition>,
    /// Text searched in title, description, message, username, filename (any case).
    pub q: Option<String>,
    /// `-updated_at,priority`: (field, descending).
    pub sort: Vec<(String, bool)>,
    pub offset: usize,
    pub per_page: usize,
    /// `fields=id,title`: the fields each item keeps.
    pub fields: Option<Vec<String>>,
}

impl ListQuery {
    /// Reads query parameters; every problem is one `FieldError`.
    pub fn from_params(params: &[(String, String)]) -> Result<ListQuery, Vec<FieldError>> {
        let mut q = ListQuery::default();
        let mut errors = Vec::new();
        let (mut page, mut per_page, mut limit, mut offset) = (None, None, None, None);
        for (key, value) in params {
            // A text parameter of the list conventions left empty is as if absent
            // (`fields=` with nothing in it is not "no field at all"); an empty number,
            // date or flag is still a 422, as the OpenAPI document says. An empty filter
            // on a column (`assigned_to=`) still means "is empty".
            if value.is_empty() && matches!(key.as_str(), "q" | "fields" | "sort") {
                continue;
            }
            let number = |errors: &mut Vec<FieldError>| match value.parse::<usize>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push(FieldError::new(key.clone(), format!("{value:?} is not a whole number")));
                    None
                }
            };
            let time = |errors: &mut Vec<FieldError>| match parse_time(value) {
                Some(t) => Some(t),
                None => {
                    errors.push(FieldError::new(key.clone(), format!("{value:?} is not a date or RFC 3339 timestamp")));
                    None
                }
            };
            match key.as_str() {
                "page" => page = number(&mut errors),
                "per_page" => per_page = number(&mut errors),
                "limit" => limit = number(&mut errors),
                "offset" => offset = number(&mut errors),
                "q" => q.q = Some(value.clone()).filter(|v| !v.is_empty()),
                "fields" => {
                    let fields: Vec<String> = value.split(',').filter(|f| !f.is_empty()).map(str::to_string).collect();
                    q.fields = (!fields.is_empty()).then_some(fields);
                }
                "sort" => {
                    q.sort = value
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| match s.strip_prefix('-') {
                            Some(name) => (name.to_string(), true),
                            None => (s.to_string(), false),
                        })
                        .collect()
                }
                "due_before" => q.conditions.extend(time(&mut errors).map(|t| Condition::Before("due_date".into(), t))),
                "due_after" => {
                    q.conditions.extend(time(&mut errors).map(|t| Condition::After("due_date".into(), t, false)))
                }
                "updated_since" => {
                    q.conditions.extend(time(&mut errors).map(|t| Condition::After("updated_at".into(), t, true)))
                }
                "since" => {
                    q.conditions.extend(time(&mut errors).map(|t| Condition::After("created_at".into(), t, true)))
                }
                "after_id" => q.conditions.extend(number(&mut errors).map(|n| Condition::IdAfter(n as u64))),
                "overdue" => match crate::domain::values::parse_bool(value) {
                    Ok(b) => q.conditions.push(Condition::Overdue(b)),
                    Err(m) => errors.push(FieldError::new("overdue", m)),
                },
                _ => q.conditions.push(Condition::OneOf(key.clone(), value.split(',').map(str::to_string).collect())),
            }
        }
        // limit/offset win over page/per_page when a client sends both.
        let size = |v: Option<usize>, name: &str, errors: &mut Vec<FieldError>| match v {
            Some(0) => {
                errors.push(FieldError::new(name, "must be at least 1"));
                DEFAULT_PER_PAGE
            }
            Some(n) if n > MAX_PER_PAGE => {
                errors.push(FieldError::new(name, format!("must be at most {MAX_PER_PAGE}")));
                MAX_PER_PAGE
            }
            Some(n) => n,
            None => DEFAULT_PER_PAGE,
        };
        // Every value sent is checked, also one that limit/offset make moot.
        if page == Some(0) {
            errors.push(FieldError::new("page", "pages count from 1"));
        }
        let page_size = size(per_page, "per_page", &mut errors);
        if limit.is_some() || offset.is_some() {
            q.per_page = size(limit, "limit", &mut errors);
            q.offset = offset.unwrap_or(0);
        } else {
            q.per_page = page_size;
            q.offset = (page.unwrap_or(1).max(1) - 1).saturating_mul(q.per_page);
        }
        if errors.is_empty() { Ok(q) } else { Err(errors) }
    }

    /// What selects and orders the rows (not paging, not `fields`), as a cache key;
    /// None when the answer depends on the clock (`overdue`).
    pub fn cache_key(&self) -> Option<String> {
        if self.conditions.iter().any(|c| matches!(c, Condition::Overdue(_))) {
            return None;
        }
        Some(format!("{:?}|{:?}|{:?}", self.conditions, self.q, self.sort))
    }

    /// The page number the offset falls on.
    pub fn page(&self) -> usize {
        self.offset / self.per_page.max(1) + 1
    }

    /// The predicate of this query over table `t`: which rows match. Unknown fields are
    /// 422s, not silent misses.
    pub fn matcher(&self, t: &TableData, deadlines: &Deadlines) -> Result<Matcher, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut position = |name: &str, label: &str| {
            let p = t.position(name);
            if p.is_none() {
                errors.push(FieldError::new(label, format!("{} has no field {name:?}", t.spec().name)));
            }
            p
        };
        let mut tests = Vec::new();
        for c in &self.conditions {
            match c {
                Condition::OneOf(f, v) => tests.extend(position(f, f).map(|p| Test::OneOf(p, v.clone()))),
                Condition::Before(f, at) => tests.extend(position(f, f).map(|p| Test::Before(p, *at))),
                Condition::After(f, at, inclusive) => {
                    tests.extend(position(f, f).map(|p| Test::After(p, *at, *inclusive)))
                }
                Condition::IdAfter(id) => tests.push(Test::IdAfter(*id)),
                Condition::OwnedWhen(field, value, owner_field, owner) => {
                    if let (Some(f), Some(o)) = (t.position(field), t.position(owner_field)) {
                        tests.push(Test::OwnedWhen(f, value.clone(), o, owner.clone()));
                    }
                }
                Condition::Overdue(want) => {
                    if let (Some(d), Some(s)) = (position("due_date", "overdue"), position("status", "overdue")) {
                        tests.push(Test::Overdue(d, s, *want));
                    }
                }
            }
        }
        let sort: Vec<(usize, bool, ColumnKind)> = self
            .sort
            .iter()
            .filter_map(|(name, desc)| {
                let kind = t.spec().column(name).map(|c| c.kind).unwrap_or(ColumnKind::Text);
                position(name, "sort").map(|p| (p, *desc, kind))
            })
            .collect();
        let columns: Vec<usize> = match &self.fields {
            Some(fields) => fields.iter().filter_map(|f| position(f, "fields")).collect(),
            None => (0..t.header.len()).collect(),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Matcher {
            tests,
            sort,
            columns,
            searched: ["title", "description", "message", "username", "filename"]
                .iter()
                .filter_map(|c| t.position(c))
                .collect(),
            needle: self.q.as_ref().map(|q| q.to_lowercase()),
            now: Utc::now(),
            key: t.position(t.spec().key).unwrap_or(0),
            deadlines: deadlines.clone(),
        })
    }

    /// The rows of `t` that match, sorted.
    pub fn select<'t>(&self, t: &'t TableData, deadlines: &Deadlines) -> Result<Vec<&'t Arc<Row>>, Vec<FieldError>> {
        let m = self.matcher(t, deadlines)?;
        let mut rows: Vec<&Arc<Row>> = t.rows.values().filter(|row| m.matches(row)).collect();
        m.sort(&mut rows);
        Ok(rows)
    }
}

enum Test {
    OneOf(usize, Vec<String>),
    Before(usize, DateTime<Utc>),
    After(usize, DateTime<Utc>, bool),
    IdAfter(u64),
    Overdue(usize, usize, bool),
    OwnedWhen(usize, String, usize, String),
}

/// A list query bound to one table: owns everything it needs, so a streamed export
/// can keep it while it walks the table.
pub struct Matcher {
    tests: Vec<Test>,
    /// (position, descending, kind) for each sort key.
    sort: Vec<(usize, bool, ColumnKind)>,
    /// The positions `fields=` keeps, in order (all columns without it).
    pub columns: Vec<usize>,
    searched: Vec<usize>,
    needle: Option<String>,
    now: DateTime<Utc>,
    key: usize,
    deadlines: Deadlines,
}

impl Matcher {
    pub fn matches(&self, row: &Row) -> bool {
        let conditions = self.tests.iter().all(|test| match test {
            Test::OneOf(p, values) => values.iter().any(|v| v == row.cell(*p)),
            Test::Before(p, at) => parse_time(row.cell(*p)).is_some_and(|v| v < *at),
            Test::After(p, at, incl) => parse_time(row.cell(*p)).is_some_and(|v| v > *at || (*incl && v == *at)),
            Test::IdAfter(id) => row.cell(self.key).parse::<u64>().is_ok_and(|v| v > *id),
            Test::Overdue(d, s, want) => self.deadlines.is_overdue(row.cell(*d), row.cell(*s), self.now) == *want,
            Test::OwnedWhen(f, value, o, owner) => row.cell(*f) != value || row.cell(*o) == owner,
        });
        conditions
            && match &self.needle {
                Some(n) => self.searched.iter().any(|p| row.cell(*p).to_lowercase().contains(n.as_str())),
                None => true,
            }
    }

    /// The positions in `cols` of the rows that match, in id order: each condition
    /// narrows the candidates over its packed column; only conditions that need the
    /// whole row (overdue, `q`) read rows, and only the rows still in.
    pub fn filter(&self, cols: &Columnar) -> Vec<u32> {
        let mut keep: Vec<u32> = (0..cols.len() as u32).collect();
        for test in &self.tests {
            match test {
                Test::OneOf(p, values) => {
                    let c = cols.text(*p);
                    keep.retain(|&i| {
                        let v = c.get(i);
                        values.iter().any(|w| w == v)
                    });
                }
                Test::Before(p, at) => {
                    let (c, at) = (cols.time(*p), at.timestamp_nanos_opt().unwrap_or(i64::MAX));
                    keep.retain(|&i| c[i as usize].is_some_and(|v| v < at));
                }
                Test::After(p, at, inclusive) => {
                    let (c, at) = (cols.time(*p), at.timestamp_nanos_opt().unwrap_or(i64::MAX));
                    keep.retain(|&i| c[i as usize].is_some_and(|v| v > at || (*inclusive && v == at)));
                }
                Test::IdAfter(id) => keep.retain(|&i| cols.ids[i as usize] > *id),
                Test::OwnedWhen(f, value, o, owner) => {
                    let (field, owners) = (cols.text(*f), cols.text(*o));
                    keep.retain(|&i| field.get(i) != value || owners.get(i) == owner);
                }
                Test::Overdue(d, s, want) => keep.retain(|&i| {
                    let row = &cols.rows[i as usize];
                    self.deadlines.is_overdue(row.cell(*d), row.cell(*s), self.now) == *want
                }),
            }
        }
        if let Some(needle) = &self.needle {
            keep.retain(|&i| {
                let row = &cols.rows[i as usize];
                self.searched.iter().any(|p| row.cell(*p).to_lowercase().contains(needle.as_str()))
            });
        }
        keep
    }

    /// Puts the first `need` of `rows` (positions in `cols`) in the query's order; the
    /// rest stay behind them in no order. Ties keep id order, as a stable sort would.
    pub fn order_prefix(&self, cols: &Columnar, rows: &mut [u32], need: usize) {
        if self.sort.is_empty() || rows.len() < 2 || need == 0 {
            return;
        }
        // A timestamp column is compared on its parsed instants (packed once per
        // snapshot), not as text: no string compare in the sort's inner loop.
        let keys: Vec<SortKey> = self
            .sort
            .iter()
            .map(|(p, desc, kind)| SortKey {
                text: cols.text(*p),
                times: (*kind == ColumnKind::Timestamp).then(|| cols.time(*p)),
                desc: *desc,
                kind: *kind,
            })
            .collect();
        let order = |a: &u32, b: &u32| {
            for key in &keys {
                let o = match key.times.map(|t| (t[*a as usize], t[*b as usize])) {
                    Some((Some(x), Some(y))) => x.cmp(&y),
                    _ => compare_cells(key.kind, key.text.get(*a), key.text.get(*b)),
                };
                if o != Ordering::Equal {
                    return if key.desc { o.reverse() } else { o };
                }
            }
            a.cmp(b)
        };
        if need < rows.len() {
            rows.select_nth_unstable_by(need - 1, order);
            rows[..need].sort_unstable_by(order);
        } else {
            rows.sort_unstable_by(order);
        }
    }

    /// Whether the query asks for an order other than the table's (by id).
    pub fn is_sorted(&self) -> bool {
        !self.sort.is_empty()
    }

    pub fn sort<R: AsRef<Row>>(&self, rows: &mut [R]) {
        if self.sort.is_empty() {
            return;
        }
        rows.sort_by(|a, b| {
            let (a, b) = (a.as_ref(), b.as_ref());
            for (p, desc, kind) in &self.sort {
                let o = compare_cells(*kind, a.cell(*p), b.cell(*p));
                if o != Ordering::Equal {
                    return if *desc { o.reverse() } else { o };
                }
            }
            Ordering::Equal
        });
    }
}

/// One sort key of a query over packed columns.
struct SortKey<'a> {
    text: &'a TextColumn,
    /// The parsed instants, for a timestamp column.
    times: Option<&'a [Option<i64>]>,
    desc: bool,
    kind: ColumnKind,
}

/// Orders two cells the way their column means: numbers as numbers, priorities by
/// weight, timestamps by the instant they name, the rest as text.
fn compare_cells(kind: ColumnKind, a: &str, b: &str) -> Ordering {
    match kind {
        ColumnKind::Id | ColumnKind::Ref(_) | ColumnKind::LooseId | ColumnKind::Count | ColumnKind::Rating => {
            a.parse::<u64>().unwrap_or(0).cmp(&b.parse::<u64>().unwrap_or(0))
        }
        ColumnKind::Priority => {
            let w = |v: &str| crate::domain::values::PRIORITIES.iter().position(|p| *p == v);
            w(a).cmp(&w(b))
        }
        // Instants in time order (a fraction of a second or an offset would misorder
        // as text); a cell that is not a timestamp as text, as it is everywhere else.
        ColumnKind::Timestamp => match (parse_time(a), parse_time(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => a.cmp(b),
        },
        _ => a.cmp(b),
    }
}

/// When a task is late: the statuses that close a task, and the zone in which a
/// date-only due date ends (`scheduler.timezone`). One definition for the `overdue`
/// filter, the statistics, reminders and the daily report.
#[derive(Debug, Clone)]
pub struct Deadlines {
    /// The statuses and their kinds: which close a task, which finish it.
    pub workflow: Workflow,
    pub tz: chrono_tz::Tz,
}

impl Deadlines {
    pub fn new(workflow: &Workflow, tz: chrono_tz::Tz) -> Deadlines {
        Deadlines { workflow: workflow.clone(), tz }
    }

    /// Done or cancelled (by kind).
    pub fn is_closed(&self, status: &str) -> bool {
        self.workflow.is_closed(status)
    }

    /// Finished (kind done).
    pub fn is_done(&self, status: &str) -> bool {
        self.workflow.is_done(status)
    }

    /// The moment a due date passes: a timestamp as written; a date alone at the end
    /// of that day in the zone (a task due today is not late at noon).
    pub fn due_at(&self, due: &str) -> Option<DateTime<Utc>> {
        let v = due.trim();
        if let Ok(day) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
            let next = day.succ_opt()?.and_hms_opt(0, 0, 0)?;
            return next.and_local_timezone(self.tz).earliest().map(|t| t.with_timezone(&Utc));
        }
        parse_time(v)
    }

    /// Open, and its due moment is past.
    pub fn is_overdue(&self, due: &str, status: &str, now: DateTime<Utc>) -> bool {
        !self.is_closed(status) && self.due_at(due).is_some_and(|at| at <= now)
    }
}

#[cfg(test)]
mod deadline_tests {
    use super::*;

    #[test]
    fn a_date_only_due_date_ends_at_midnight_in_the_zone() {
        let d = Deadlines::new(&Workflow::plain(&["new".into(), "done".into()]), chrono_tz::Europe::Moscow);
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // Noon in Moscow on the due day: not late.
        assert!(!d.is_overdue("2026-12-01", "new", at("2026-12-01T12:02:00+03:00")));
        assert!(!d.is_overdue("2026-12-01", "new", at("2026-12-01T23:59:59+03:00")));
        assert!(d.is_overdue("2026-12-01", "new", at("2026-12-02T00:00:00+03:00")));
        // Closed tasks are never late; a timestamp means exactly that moment.
        assert!(!d.is_overdue("2026-12-01", "done", at("2026-12-05T00:00:00Z")));
        assert!(d.is_overdue("2026-12-01T09:00:00Z", "new", at("2026-12-01T09:00:01Z")));
        assert!(!d.is_overdue("", "new", at("2030-01-01T00:00:00Z")));
    }
}

#[cfg(test)]
mod order_tests {
    use super::*;

    #[test]
    fn timestamps_order_by_instant_and_other_text_as_text() {
        let t = ColumnKind::Timestamp;
        // As text, ".5Z" sorts before "Z" and an offset anywhere; as instants they do not.
        assert_eq!(compare_cells(t, "2026-11-01T09:00:00.5Z", "2026-11-01T09:00:00Z"), Ordering::Greater);
        assert_eq!(compare_cells(t, "2026-11-01T12:00:00+03:00", "2026-11-01T09:00:00Z"), Ordering::Equal);
        assert_eq!(compare_cells(t, "2026-11-01T08:00:00Z", "2026-11-01T09:00:00Z"), Ordering::Less);
        // An empty cell (no timestamp) sorts first, as an empty text does.
        assert_eq!(compare_cells(t, "", "2026-11-01T09:00:00Z"), Ordering::Less);
        assert_eq!(compare_cells(ColumnKind::Text, "b", "a"), Ordering::Greater);
    }
}
