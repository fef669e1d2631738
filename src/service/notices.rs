//! Who is told about a change, and as which kind of notification. Nobody is told about
//! their own action.
//!
//! | change | who is told |
//! |---|---|
//! | a new task | its assignee; every active manager (the dispatcher's inbox) |
//! | a reassignment | the new assignee and the former one ("no longer yours") |
//! | a status change | the creator, the assignee and whoever last assigned it |
//! | a change of due date or priority | the assignee |
//! | a deletion | the assignee |
//! | a comment | the task's creator and assignee |
//! | a reminder, a key notice | the user the event names |
//!
//! Pure:
//! the bot decides with this whom to write to, checks that each recipient may read
//! what the notice is about (`feed::Viewer`), and formats the message its own way.

use crate::domain::TableKind;
use crate::store::{Change, ChangeOp, Fields};

use super::telegram::NoticeKind;

/// One person to tell about one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub user_id: u64,
    pub kind: NoticeKind,
    /// The task the notice is about, if any.
    pub task_id: Option<u64>,
}

/// What `notices_of` needs to know beyond the change: a task's fields as they are now
/// (a comment names only its task; a change read back from the journal holds only the
/// fields it changed), the active managers, and who last assigned a task.
pub struct Context<'a> {
    pub task: &'a dyn Fn(u64) -> Option<Fields>,
    pub managers: &'a [u64],
    pub last_assigner: &'a dyn Fn(u64) -> Option<u64>,
}

/// The notices a change gives.
pub fn notices_of(change: &Change, context: &Context<'_>) -> Vec<Notice> {
    let task = context.task;
    let mut out: Vec<Notice> = Vec::new();
    // An event of the log names as its "actor" the user it is about (a reminder's
    // assignee, a key's owner): nobody did anything, so nobody is left out.
    let actor = if change.table == TableKind::Events { None } else { change.actor };
    let mut tell = |user: Option<u64>, kind: NoticeKind, task_id: Option<u64>| {
        let Some(user_id) = user else { return };
        if actor == Some(user_id) || out.iter().any(|n| n.user_id == user_id && n.task_id == task_id) {
            return;
        }
        out.push(Notice { user_id, kind, task_id });
    };
    let id_in = |fields: Option<&Fields>, name: &str| fields.and_then(|f| f.get(name)).and_then(|v| v.parse().ok());
    match (change.table, change.op) {
        (TableKind::Tasks, ChangeOp::Create) => {
            tell(id_in(change.after.as_ref(), "assigned_to"), NoticeKind::Assigned, Some(change.id));
            for manager in context.managers {
                tell(Some(*manager), NoticeKind::NewTasks, Some(change.id));
            }
        }
        (TableKind::Tasks, ChangeOp::Delete) => {
            tell(id_in(change.before.as_ref(), "assigned_to"), NoticeKind::Status, Some(change.id));
        }
        (TableKind::Tasks, ChangeOp::Update) => {
            let (before, after) = (change.before.as_ref(), change.after.as_ref());
            let changed = |name: &str| {
                after.and_then(|a| a.get(name)).is_some_and(|new| before.and_then(|b| b.get(name)) != Some(new))
            };
            let now = task(change.id);
            // The people of the task as it is now, where the change does not say.
            let person = |name: &str| id_in(after, name).or_else(|| id_in(now.as_ref(), name));
            if changed("assigned_to") {
                tell(id_in(after, "assigned_to"), NoticeKind::Assigned, Some(change.id));
                tell(id_in(before, "assigned_to"), NoticeKind::Assigned, Some(change.id));
            }
            if changed("status") {
                tell(person("created_by"), NoticeKind::Status, Some(change.id));
                tell(person("assigned_to"), NoticeKind::Status, Some(change.id));
                tell((context.last_assigner)(change.id), NoticeKind::Status, Some(change.id));
            }
            if changed("due_date") || changed("priority") {
                tell(person("assigned_to"), NoticeKind::Status, Some(change.id));
            }
        }
        (TableKind::Comments, ChangeOp::Create) => {
            let after = change.after.as_ref();
            let Some(task_id) = id_in(after, "task_id") else { return out };
            let Some(t) = task(task_id) else { return out };
            let author = id_in(after, "user_id");
            for person in [id_in(Some(&t), "created_by"), id_in(Some(&t), "assigned_to")] {
                if person != author {
                    tell(person, NoticeKind::Comments, Some(task_id));
                }
            }
        }
        (TableKind::Events, ChangeOp::Create) => {
            let after = change.after.as_ref();
            let kind = after.and_then(|a| a.get("type")).map(String::as_str).unwrap_or("");
            let user = id_in(after, "user_id");
            match kind {
                "task.reminder" => tell(user, NoticeKind::Deadlines, id_in(after, "entity_id")),
                "api_key.expiring" | "api_key.expired" => tell(user, NoticeKind::Keys, None),
                _ => {}
            }
        }
        _ => {}
    }
    out
}

/// Whether a change is the daily report being written (everyone who wants it gets
/// their own; the team chat the summary).
pub fn is_daily_report(change: &Change) -> bool {
    change.table == TableKind::Events
        && change.op == ChangeOp::Create
        && change.after.as_ref().and_then(|a| a.get("type")).is_some_and(|t| t == "report.generated")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Source;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn change(table: TableKind, op: ChangeOp, before: Option<Fields>, after: Option<Fields>, actor: u64) -> Change {
        Change {
            event_id: 1,
            table,
            op,
            id: 42,
            before,
            after,
            actor: Some(actor),
            source: Source::Api,
            at: String::new(),
            etag: None,
            remote: false,
        }
    }

    fn none(_: u64) -> Option<Fields> {
        None
    }

    fn nobody(_: u64) -> Option<u64> {
        None
    }

    fn ctx<'a>(task: &'a dyn Fn(u64) -> Option<Fields>) -> Context<'a> {
        Context { task, managers: &[], last_assigner: &nobody }
    }

    #[test]
    fn an_assignment_tells_the_assignee_once_and_never_the_actor() {
        let before = fields(&[("status", "new"), ("assigned_to", ""), ("created_by", "1")]);
        let after = fields(&[("status", "new"), ("assigned_to", "2"), ("created_by", "1")]);
        let c = change(TableKind::Tasks, ChangeOp::Update, Some(before.clone()), Some(after.clone()), 1);
        assert_eq!(
            notices_of(&c, &ctx(&none)),
            vec![Notice { user_id: 2, kind: NoticeKind::Assigned, task_id: Some(42) }]
        );
        // Taking a task oneself tells nobody.
        let c = change(TableKind::Tasks, ChangeOp::Update, Some(before), Some(after), 2);
        assert!(notices_of(&c, &ctx(&none)).is_empty());
    }

    #[test]
    fn a_status_change_tells_creator_and_assignee_but_not_who_made_it() {
        let before = fields(&[("status", "new"), ("assigned_to", "2"), ("created_by", "3")]);
        let after = fields(&[("status", "done"), ("assigned_to", "2"), ("created_by", "3")]);
        let c = change(TableKind::Tasks, ChangeOp::Update, Some(before), Some(after), 2);
        assert_eq!(
            notices_of(&c, &ctx(&none)),
            vec![Notice { user_id: 3, kind: NoticeKind::Status, task_id: Some(42) }]
        );
    }

    #[test]
    fn reassigning_and_moving_at_once_tells_the_new_assignee_one_thing() {
        let before = fields(&[("status", "new"), ("assigned_to", "2"), ("created_by", "3")]);
        let after = fields(&[("status", "in_progress"), ("assigned_to", "4"), ("created_by", "3")]);
        let c = change(TableKind::Tasks, ChangeOp::Update, Some(before), Some(after), 1);
        let got = notices_of(&c, &ctx(&none));
        assert_eq!(
            got,
            vec![
                Notice { user_id: 4, kind: NoticeKind::Assigned, task_id: Some(42) },
                // The former assignee: no longer theirs.
                Notice { user_id: 2, kind: NoticeKind::Assigned, task_id: Some(42) },
                Notice { user_id: 3, kind: NoticeKind::Status, task_id: Some(42) },
            ]
        );
    }

    #[test]
    fn the_dispatcher_hears_of_new_tasks_and_whoever_assigned_work_of_its_progress() {
        let created = change(TableKind::Tasks, ChangeOp::Create, None, Some(fields(&[("assigned_to", "")])), 5);
        let context = Context { task: &none, managers: &[2, 5], last_assigner: &|_| Some(2) };
        assert_eq!(
            notices_of(&created, &context),
            vec![Notice { user_id: 2, kind: NoticeKind::NewTasks, task_id: Some(42) }]
        );
        let before = fields(&[("status", "new"), ("assigned_to", "4"), ("created_by", "3")]);
        let after = fields(&[("status", "done"), ("assigned_to", "4"), ("created_by", "3")]);
        let done = change(TableKind::Tasks, ChangeOp::Update, Some(before.clone()), Some(after), 4);
        let told: Vec<u64> = notices_of(&done, &context).iter().map(|n| n.user_id).collect();
        assert_eq!(told, vec![3, 2], "the creator and the dispatcher who assigned it");
        // Re-dated, re-prioritised, taken away, deleted: the technician hears of each.
        let redated =
            fields(&[("status", "new"), ("assigned_to", "4"), ("created_by", "3"), ("due_date", "2030-01-01")]);
        let c = change(TableKind::Tasks, ChangeOp::Update, Some(before.clone()), Some(redated), 2);
        assert_eq!(notices_of(&c, &context), vec![Notice { user_id: 4, kind: NoticeKind::Status, task_id: Some(42) }]);
        let moved = fields(&[("status", "new"), ("assigned_to", "6"), ("created_by", "3")]);
        let c = change(TableKind::Tasks, ChangeOp::Update, Some(before.clone()), Some(moved), 2);
        let told: Vec<u64> = notices_of(&c, &context).iter().map(|n| n.user_id).collect();
        assert_eq!(told, vec![6, 4]);
        let c = change(TableKind::Tasks, ChangeOp::Delete, Some(before), None, 2);
        assert_eq!(notices_of(&c, &context), vec![Notice { user_id: 4, kind: NoticeKind::Status, task_id: Some(42) }]);
    }

    #[test]
    fn a_replayed_change_finds_the_tasks_people_as_they_are_now() {
        // From the journal: only the changed field.
        let c = change(
            TableKind::Tasks,
            ChangeOp::Update,
            Some(fields(&[("status", "new")])),
            Some(fields(&[("status", "done")])),
            9,
        );
        let now = |_| Some(fields(&[("assigned_to", "2"), ("created_by", "3")]));
        let users: Vec<u64> = notices_of(&c, &ctx(&now)).iter().map(|n| n.user_id).collect();
        assert_eq!(users, vec![3, 2]);
    }

    #[test]
    fn a_comment_tells_the_tasks_people_but_not_its_author() {
        let c = change(
            TableKind::Comments,
            ChangeOp::Create,
            None,
            Some(fields(&[("task_id", "7"), ("user_id", "2"), ("message", "hi")])),
            2,
        );
        let task = |id| (id == 7).then(|| fields(&[("assigned_to", "2"), ("created_by", "3")]));
        assert_eq!(
            notices_of(&c, &ctx(&task)),
            vec![Notice { user_id: 3, kind: NoticeKind::Comments, task_id: Some(7) }]
        );
    }

    #[test]
    fn reminders_and_key_notices_go_to_the_user_the_event_names() {
        let mut c = change(
            TableKind::Events,
            ChangeOp::Create,
            None,
            Some(fields(&[("type", "task.reminder"), ("entity_id", "5"), ("user_id", "2")])),
            // The journal's event names the user it is about as its actor.
            2,
        );
        assert_eq!(
            notices_of(&c, &ctx(&none)),
            vec![Notice { user_id: 2, kind: NoticeKind::Deadlines, task_id: Some(5) }]
        );
        c.after = Some(fields(&[("type", "api_key.expiring"), ("entity_id", "1"), ("user_id", "4")]));
        assert_eq!(notices_of(&c, &ctx(&none)), vec![Notice { user_id: 4, kind: NoticeKind::Keys, task_id: None }]);
        c.after = Some(fields(&[("type", "report.generated")]));
        assert!(notices_of(&c, &ctx(&none)).is_empty());
        assert!(is_daily_report(&c));
    }
}
