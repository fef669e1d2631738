//! What the board may offer the caller: which fields of which tasks they change, whether
//! they create, take and delete, and how far each area reaches. Computed by putting
//! made-up tasks (one per relation to the caller and stage of the workflow) through the
//! very checks every request goes through (`access::check_write`), so the board keeps
//! no copy of the role matrix: it reads this answer (`GET /api/auth/me`, `can`).

use serde_json::{Map, Value, json};

use crate::auth::policy::{Action, Area, Scope};
use crate::domain::TableKind;
use crate::store::Fields;

use super::access::{self, Principal, TaskLookup};

/// How a task stands to the caller, as the board tells it from the record: they
/// created it; it is assigned to them; neither.
const RELATIONS: [&str; 3] = ["created", "assigned", "other"];
/// Where the task is in the workflow: still in the first status, or past it.
const STAGES: [&str; 2] = ["first", "later"];

/// A column someone added to tasks.csv by hand, declared nowhere: it stands for
/// every such column (they are free text, and the matrix treats them alike).
const UNDECLARED: &str = "column-added-by-hand";

/// An id that is nobody's, for "someone else" in a made-up task.
const SOMEONE_ELSE: &str = "18446744073709551615";

/// The caller's offers (the `can` object): `create_fields`: the fields they may set on
/// a new task (empty: they create none), `create_other` whether they set a column
/// added by hand; `edit`: field → the situations (`relation:stage`) in which they may
/// change it, `edit_other` the same for a column added by hand; `delete`: the situations in which
/// they delete a task; `take`: whether they take unassigned open work; `areas`: area →
/// action → scope (`all`, `own`, `names`, `none`).
pub fn offers(lookup: &impl TaskLookup, p: &Principal, fields: &[String]) -> Value {
    let me = p.me();
    let first = lookup.field_rules().first_status().to_string();
    let made_up = |relation: &str, stage: &str| -> Fields {
        let (created_by, assigned_to) = match relation {
            "created" => (me.clone(), String::new()),
            "assigned" => (SOMEONE_ELSE.to_string(), me.clone()),
            _ => (SOMEONE_ELSE.to_string(), SOMEONE_ELSE.to_string()),
        };
        let status = if stage == "first" { first.clone() } else { format!("{first}-later") };
        [("id", "0".to_string()), ("status", status), ("created_by", created_by), ("assigned_to", assigned_to)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    };
    let situations: Vec<(String, Fields)> = RELATIONS
        .iter()
        .flat_map(|r| STAGES.iter().map(move |s| (*r, *s)))
        .map(|(r, s)| (format!("{r}:{s}"), made_up(r, s)))
        .collect();
    let one = |field: &str| -> Fields { [(field.to_string(), "changed".to_string())].into() };
    let allowed = |action: Action, existing: Option<&Fields>, sent: &Fields| {
        access::check_write(lookup, p, TableKind::Tasks, action, existing.map(|r| (0, r)), sent).is_ok()
    };

    let when_changed = |field: &str| -> Value {
        let sent = one(field);
        situations
            .iter()
            .filter(|(_, record)| allowed(Action::Update, Some(record), &sent))
            .map(|(name, _)| Value::String(name.clone()))
            .collect()
    };
    let edit: Map<String, Value> = fields.iter().map(|f| (f.clone(), when_changed(f))).collect();
    let delete: Vec<Value> = situations
        .iter()
        .filter(|(_, record)| allowed(Action::Delete, Some(record), &Fields::new()))
        .map(|(name, _)| Value::String(name.clone()))
        .collect();
    let creates = allowed(Action::Create, None, &Fields::new());
    let create_fields: Vec<Value> = fields
        .iter()
        .filter(|f| creates && allowed(Action::Create, None, &one(f)))
        .map(|f| Value::String(f.clone()))
        .collect();
    let read_only = p.key.is_some_and(|k| k.read_only);
    json!({
        "create": creates,
        "create_fields": create_fields,
        "create_other": creates && allowed(Action::Create, None, &one(UNDECLARED)),
        "edit": edit,
        "edit_other": when_changed(UNDECLARED),
        "delete": delete,
        "take": !read_only && crate::auth::policy::may_take(p.role) && p.user_id.is_some(),
        "areas": areas(p),
    })
}

fn areas(p: &Principal) -> Value {
    let name = |s: Scope| match s {
        Scope::All => "all",
        Scope::Own => "own",
        Scope::Names => "names",
        Scope::None => "none",
    };
    let areas = [
        (Area::Tasks, "tasks"),
        (Area::Comments, "comments"),
        (Area::Docs, "docs"),
        (Area::Users, "users"),
        (Area::Events, "events"),
        (Area::Stats, "stats"),
        (Area::System, "system"),
        (Area::Recurring, "recurring"),
    ];
    let actions =
        [(Action::Read, "read"), (Action::Create, "create"), (Action::Update, "update"), (Action::Delete, "delete")];
    let mut out = Map::new();
    for (area, area_name) in areas {
        let mut by_action = Map::new();
        for (action, action_name) in actions {
            by_action.insert(action_name.into(), name(p.scope(area, action)).into());
        }
        out.insert(area_name.into(), Value::Object(by_action));
    }
    Value::Object(out)
}
