//! The field part of the role matrix: which fields of a task each role may set when it
//! creates one and when it changes one it may change at all (`policy::scope` decides
//! that). One table for every door: REST, WebSocket, the bot, the board, API keys.
//!
//! | role | creates with | changes (on a task it may change) |
//! |---|---|---|
//! | admin | anything | anything |
//! | manager | anything | anything but custom fields whose `editable_by` leaves managers out |
//! | member | anything | `status`; `title`, `description` of tasks they created; custom fields `editable_by` allows; never `due_date`, `priority`, `assigned_to` |
//! | client | `title`, `description`, `due_date`, custom fields declared `client_editable` | the same, while the task is in the workflow's first status |
//!
//! Taking unassigned work (`POST /api/tasks/{id}/take`) is its own use case, not a
//! change of `assigned_to`.

use crate::config::Config;

use super::policy::Role;

/// What the configuration adds to the matrix: the first status, and each declared
/// custom field's `client_editable` and `editable_by`.
#[derive(Debug, Clone, Default)]
pub struct TaskFieldRules {
    first_status: String,
    /// (name, client_editable, editable_by).
    custom: Vec<(String, bool, Vec<String>)>,
}

/// Fields only staff set on a task.
const STAFF_ONLY: [&str; 3] = ["due_date", "priority", "assigned_to"];
/// What a client writes besides the custom fields declared for them.
const CLIENT_FIELDS: [&str; 3] = ["title", "description", "due_date"];

impl TaskFieldRules {
    pub fn from_config(config: &Config) -> TaskFieldRules {
        TaskFieldRules {
            first_status: config.tasks.workflow.first().to_string(),
            custom: config
                .tasks
                .fields
                .iter()
                .map(|f| (f.name.clone(), f.client_editable, f.editable_by.clone()))
                .collect(),
        }
    }

    /// The status a client's request must still be in for them to change it.
    pub fn first_status(&self) -> &str {
        &self.first_status
    }

    /// The declared custom fields' names, in the configuration's order.
    pub fn custom_names(&self) -> impl Iterator<Item = &str> {
        self.custom.iter().map(|(name, _, _)| name.as_str())
    }

    fn custom(&self, field: &str) -> Option<&(String, bool, Vec<String>)> {
        self.custom.iter().find(|(name, _, _)| name == field)
    }

    /// Why `role` may not set `field` (None: it may). `created_by_me`: the task is one
    /// the caller created (for a change); `creating`: a new task.
    pub fn refusal(&self, role: Role, field: &str, creating: bool, created_by_me: bool) -> Option<String> {
        let custom = self.custom(field);
        if role == Role::Admin {
            return None;
        }
        if let Some((_, _, editable_by)) = custom
            && !editable_by.is_empty()
            && !editable_by.iter().any(|r| r == role.as_str())
            && !(role == Role::Client && custom.is_some_and(|c| c.1))
        {
            return Some(format!("the field {field} (only {} change it)", editable_by.join(", ")));
        }
        match role {
            Role::Admin | Role::Manager | Role::Supervisor => None,
            Role::Member if creating => None,
            Role::Member => match field {
                f if STAFF_ONLY.contains(&f) => {
                    Some(format!("the field {field} of a task (a dispatcher sets due date, priority and assignee)"))
                }
                "title" | "description" if !created_by_me => {
                    Some(format!("the field {field} of a task someone else created"))
                }
                _ => None,
            },
            Role::Client => {
                let allowed = CLIENT_FIELDS.contains(&field) || custom.is_some_and(|c| c.1);
                (!allowed).then(|| {
                    format!("the field {field} of a request (a client sets title, description, due date and the fields declared client_editable)")
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> TaskFieldRules {
        TaskFieldRules {
            first_status: "new".into(),
            custom: vec![
                ("address".into(), true, vec![]),
                ("techtype".into(), false, vec!["manager".into()]),
                ("notes".into(), false, vec![]),
            ],
        }
    }

    /// The matrix, role × field × own/other, as a table.
    #[test]
    fn each_role_sets_the_fields_the_matrix_gives_it() {
        let r = rules();
        // (role, field, creating, created by me, allowed)
        let table = [
            (Role::Member, "status", false, false, true),
            (Role::Member, "due_date", false, true, false),
            (Role::Member, "priority", false, true, false),
            (Role::Member, "assigned_to", false, true, false),
            (Role::Member, "title", false, false, false),
            (Role::Member, "title", false, true, true),
            (Role::Member, "notes", false, false, true),
            (Role::Member, "techtype", false, false, false),
            (Role::Member, "priority", true, true, true),
            (Role::Manager, "priority", false, false, true),
            (Role::Manager, "techtype", false, false, true),
            (Role::Admin, "techtype", false, false, true),
            (Role::Client, "title", true, true, true),
            (Role::Client, "due_date", true, true, true),
            (Role::Client, "address", true, true, true),
            (Role::Client, "status", true, true, false),
            (Role::Client, "assigned_to", true, true, false),
            (Role::Client, "priority", true, true, false),
            (Role::Client, "notes", false, true, false),
            (Role::Client, "techtype", false, true, false),
        ];
        for (role, field, creating, mine, allowed) in table {
            assert_eq!(
                r.refusal(role, field, creating, mine).is_none(),
                allowed,
                "{role} {field} creating={creating} mine={mine}"
            );
        }
    }
}
