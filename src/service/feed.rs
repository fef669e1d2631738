//! The change feed as a person may follow it: topics, filters, and what each role may
//! see of each change. No transport here: the WebSocket session (`api/ws.rs`) and the
//! Telegram notifications both decide with these what reaches whom, and only format
//! the outcome their own way.

use std::sync::Arc;

use serde_json::Value;

use crate::auth::policy::{Action, Area, Role, Scope};
use crate::domain::TableKind;
use crate::store::{Change, ChangeOp, Fields, Source};

use super::access::{self, NAME_FIELDS, Principal, area_of};
use super::auth::Security;
use super::records::RecordService;

/// One subscription: a topic (a table, one record of it, the event log, the
/// scheduler's events) and a filter on the record's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub table: Option<TableKind>,
    /// `tasks/42`: only this record.
    pub id: Option<u64>,
    /// The topic as the client named it.
    pub topic: String,
    /// field → accepted values.
    pub filter: Vec<(String, Vec<String>)>,
}

/// What a change means for one subscription and one viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The change itself (its record trimmed to [`Viewer::columns`]).
    Change,
    /// The record left the subscription: it no longer matches the filter, or it went
    /// out of the viewer's reach.
    Left,
}

impl Subscription {
    /// Parses a topic (`tasks`, `tasks/42`, `comments`, `users`, `docs`, `events`,
    /// `jobs`) and a filter (`{"field": value or [values]}`).
    pub fn parse(topic: &str, filter: Option<&Value>) -> Result<Subscription, String> {
        let (table, id) = parse_topic(topic)?;
        Ok(Subscription { table, id, topic: topic.to_string(), filter: parse_filter(filter)? })
    }

    /// Whether the change is about this subscription's topic (filter aside).
    pub fn wants(&self, change: &Change) -> bool {
        match self.topic.as_str() {
            "events" => true,
            // What the scheduler records: job runs, reminders, reports.
            "jobs" => change.table == TableKind::Events && change.source == Source::Scheduler,
            _ => self.table == Some(change.table) && self.id.is_none_or(|id| id == change.id),
        }
    }

    /// Whether a record's fields pass the filter.
    pub fn matches(&self, fields: Option<&Fields>) -> bool {
        let Some(fields) = fields else { return false };
        self.filter.iter().all(|(k, values)| fields.get(k).is_some_and(|v| values.iter().any(|w| w == v)))
    }

    /// The filter alone: a change, `left`, or nothing.
    pub fn judge(&self, change: &Change) -> Option<Delivery> {
        if !self.wants(change) {
            return None;
        }
        let (was, is) = (self.matches(change.before.as_ref()), self.matches(change.after.as_ref()));
        if self.filter.is_empty() || is || (change.op == ChangeOp::Delete && was) {
            Some(Delivery::Change)
        } else if was {
            Some(Delivery::Left)
        } else {
            None
        }
    }
}

/// Parses `topic` into a table and an optional record id.
pub fn parse_topic(topic: &str) -> Result<(Option<TableKind>, Option<u64>), String> {
    let (name, id) = match topic.split_once('/') {
        Some((name, id)) => (name, Some(id.parse::<u64>().map_err(|_| format!("{topic:?}: the id must be a number"))?)),
        None => (topic, None),
    };
    match name {
        "events" | "jobs" if id.is_none() => Ok((None, None)),
        "tasks" => Ok((Some(TableKind::Tasks), id)),
        "comments" | "users" | "docs" | "feedback" | "checklists" if id.is_none() => {
            Ok((TableKind::from_name(name), None))
        }
        _ => Err(format!(
            "unknown topic {topic:?}; expected tasks, tasks/{{id}}, comments, users, docs, feedback, checklists, \
             events or jobs"
        )),
    }
}

/// Parses a filter object: each field to one value or a list of accepted values.
pub fn parse_filter(filter: Option<&Value>) -> Result<Vec<(String, Vec<String>)>, String> {
    let Some(filter) = filter else { return Ok(Vec::new()) };
    let Value::Object(map) = filter else { return Err("filter must be an object of field: value".into()) };
    map.iter()
        .map(|(k, v)| {
            let scalar = |v: &Value| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                Value::Null => Ok(String::new()),
                _ => Err(format!("filter {k:?}: a value or a list of values")),
            };
            let values = match v {
                Value::Array(items) => items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?,
                other => vec![scalar(other)?],
            };
            Ok((k.clone(), values))
        })
        .collect()
}

/// What a follower of the feed may see: the same role matrix and record scopes as
/// REST, with the user re-read as the feed goes on.
#[derive(Clone)]
pub struct Viewer {
    pub security: Arc<Security>,
    pub records: RecordService,
    /// The feed itself: its broadcast, and the journal to catch up from.
    pub store: Arc<dyn crate::store::Storage>,
}

impl Viewer {
    /// Brings the follower's user up to date (users.csv and the sessions as they are
    /// now), so a logout, a deactivation or a role change applies at once. None: not
    /// authenticated yet. With security off there is nothing to re-read.
    pub fn refresh(&self, principal: &mut Option<Principal>) -> Option<Result<(), String>> {
        let current = principal.as_ref()?;
        if !self.security.enabled {
            return Some(Ok(()));
        }
        Some(match self.security.recheck(current) {
            Ok(p) => {
                *principal = Some(p.through(current.source));
                Ok(())
            }
            Err(e) => {
                *principal = None;
                Err(e.to_string())
            }
        })
    }

    /// Whether `p` may follow `sub`'s topic at all.
    pub fn topic_allowed(&self, p: &Principal, sub: &Subscription) -> Result<(), String> {
        let (area, path) = match (sub.topic.as_str(), sub.table) {
            ("jobs", _) => (Area::System, "/api/system/scheduler"),
            ("events", _) => (Area::Events, "/api/events"),
            (_, Some(table)) => (
                area_of(table),
                match table {
                    TableKind::Users => "/api/users",
                    TableKind::Comments => "/api/comments",
                    TableKind::Docs => "/api/docs",
                    _ => "/api/tasks",
                },
            ),
            _ => (Area::System, "/api/system"),
        };
        if p.scope(area, Action::Read) == Scope::None
            || (p.role != Role::Admin && self.security.enabled && self.security.admin_only.covers(path))
        {
            return Err(format!("the {} role may not read {}", p.role, sub.topic));
        }
        Ok(())
    }

    /// Whether `p` may read this record of `table` (as a change carries it).
    pub fn visible(&self, p: &Principal, table: TableKind, fields: Option<&Fields>) -> bool {
        fields.is_some_and(|f| access::may_read(&self.records, p, table, f))
    }

    /// The columns `p` sees of `table` (None: all).
    pub fn columns(&self, p: &Principal, table: TableKind) -> Option<&'static [&'static str]> {
        (p.scope(area_of(table), Action::Read) == Scope::Names).then_some(&NAME_FIELDS[..])
    }

    /// Whether the record a change is about, before or after it, is one `p` may read.
    pub fn sees_change(&self, p: &Principal, change: &Change) -> bool {
        match change.table {
            // The topic was allowed or refused at subscribe; a key's events are its owner's.
            TableKind::Events => change.after.as_ref().is_none_or(|e| access::may_read_event(p, e)),
            table => self.visible(p, table, change.after.as_ref()) || self.visible(p, table, change.before.as_ref()),
        }
    }

    /// What `change` means for `sub` as `p` may see it: a change to a record they
    /// cannot read is nothing; one that takes a record out of their reach is `Left`.
    pub fn deliver(&self, p: &Principal, sub: &Subscription, change: &Change) -> Option<Delivery> {
        if change.table == TableKind::Events && !self.sees_change(p, change) {
            return None;
        }
        if change.table != TableKind::Events {
            let before = self.visible(p, change.table, change.before.as_ref());
            let after = self.visible(p, change.table, change.after.as_ref());
            if !before && !after {
                return None;
            }
            if before && !after && change.op != ChangeOp::Delete {
                return sub.wants(change).then_some(Delivery::Left);
            }
        }
        sub.judge(change)
    }

    /// A change replayed from the journal, whose update holds only the changed fields:
    /// the filter cannot be judged on fields it lacks, so it is sent whenever the topic
    /// wants it and `p` may read the record (then or as it is now).
    pub fn deliver_replayed(&self, p: &Principal, sub: &Subscription, change: &Change) -> Option<Delivery> {
        if change.op != ChangeOp::Update || !sub.wants(change) {
            return self.deliver(p, sub, change);
        }
        let now = self.records.current(change.table, change.id);
        (self.sees_change(p, change) || self.visible(p, change.table, now.as_ref())).then_some(Delivery::Change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(op: ChangeOp, before: Option<&[(&str, &str)]>, after: Option<&[(&str, &str)]>) -> Change {
        let fields =
            |f: Option<&[(&str, &str)]>| f.map(|f| f.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        Change {
            event_id: 7,
            table: TableKind::Tasks,
            op,
            id: 42,
            before: fields(before),
            after: fields(after),
            actor: None,
            source: Source::Api,
            at: String::new(),
            etag: None,
            remote: false,
        }
    }

    #[test]
    fn topics_parse_and_unknown_ones_are_named() {
        assert_eq!(parse_topic("tasks").unwrap(), (Some(TableKind::Tasks), None));
        assert_eq!(parse_topic("tasks/42").unwrap(), (Some(TableKind::Tasks), Some(42)));
        assert_eq!(parse_topic("events").unwrap(), (None, None));
        assert!(parse_topic("tasks/x").unwrap_err().contains("must be a number"));
        assert!(parse_topic("users/3").unwrap_err().contains("unknown topic"));
        assert!(parse_topic("boards").unwrap_err().contains("unknown topic \"boards\""));
    }

    #[test]
    fn filters_take_values_or_lists_and_refuse_nesting() {
        let f = parse_filter(Some(&json!({"status": ["new", "done"], "assigned_to": 3, "done": true}))).unwrap();
        assert!(f.contains(&("status".into(), vec!["new".into(), "done".into()])));
        assert!(f.contains(&("assigned_to".into(), vec!["3".into()])));
        assert!(f.contains(&("done".into(), vec!["true".into()])));
        assert!(parse_filter(Some(&json!({"status": {"in": "new"}}))).is_err());
        assert!(parse_filter(Some(&json!(["status"]))).is_err());
    }

    #[test]
    fn a_filtered_subscription_gets_entries_changes_and_lefts() {
        let sub = Subscription::parse("tasks", Some(&json!({"status": "new"}))).unwrap();
        // Enters the filter, changes within it, leaves it, is deleted while in it.
        let enters = change(ChangeOp::Update, Some(&[("status", "done")]), Some(&[("status", "new")]));
        let within = change(ChangeOp::Update, Some(&[("status", "new")]), Some(&[("status", "new")]));
        let leaves = change(ChangeOp::Update, Some(&[("status", "new")]), Some(&[("status", "done")]));
        let deleted = change(ChangeOp::Delete, Some(&[("status", "new")]), None);
        let elsewhere = change(ChangeOp::Update, Some(&[("status", "done")]), Some(&[("status", "blocked")]));
        assert_eq!(sub.judge(&enters), Some(Delivery::Change));
        assert_eq!(sub.judge(&within), Some(Delivery::Change));
        assert_eq!(sub.judge(&leaves), Some(Delivery::Left));
        assert_eq!(sub.judge(&deleted), Some(Delivery::Change));
        assert_eq!(sub.judge(&elsewhere), None);
    }

    #[test]
    fn a_record_topic_wants_only_its_record_and_jobs_only_the_scheduler() {
        let one = Subscription::parse("tasks/42", None).unwrap();
        let other = Subscription::parse("tasks/41", None).unwrap();
        let c = change(ChangeOp::Update, Some(&[]), Some(&[("title", "x")]));
        assert!(one.wants(&c));
        assert!(!other.wants(&c));
        let jobs = Subscription::parse("jobs", None).unwrap();
        let mut event = c.clone();
        event.table = TableKind::Events;
        assert!(!jobs.wants(&event));
        event.source = Source::Scheduler;
        assert!(jobs.wants(&event));
    }
}
