//! The tables of the data folder: their files, their documented columns, and what a
//! valid cell of each column is.
//!
//! This is the one description of the data files' layout (README.md, "How the files are kept"); the store, `check`, the API
//! and the export all read it, so the layout cannot drift between them.
//!
//! Why this file is long: it is the one description of every data file; split, the tables would be read in several places.

use super::values::{self, FieldError, Vocabulary};

/// One table of the data folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableKind {
    Users,
    Tasks,
    Events,
    Docs,
    Comments,
    Credentials,
    Feedback,
    ApiKeys,
    Telegram,
    Checklists,
    Recurring,
}

impl TableKind {
    pub const ALL: [TableKind; 11] = [
        TableKind::Users,
        TableKind::Tasks,
        TableKind::Events,
        TableKind::Docs,
        TableKind::Comments,
        TableKind::Credentials,
        TableKind::Feedback,
        TableKind::ApiKeys,
        TableKind::Telegram,
        TableKind::Checklists,
        TableKind::Recurring,
    ];

    /// The tables whose rows have an `id` and are changed through the store's commits.
    pub const RECORDS: [TableKind; 10] = [
        TableKind::Users,
        TableKind::Tasks,
        TableKind::Docs,
        TableKind::Comments,
        TableKind::Credentials,
        TableKind::Feedback,
        TableKind::ApiKeys,
        TableKind::Telegram,
        TableKind::Checklists,
        TableKind::Recurring,
    ];

    pub fn spec(self) -> &'static TableSpec {
        match self {
            TableKind::Users => &USERS,
            TableKind::Tasks => &TASKS,
            TableKind::Events => &EVENTS,
            TableKind::Docs => &DOCS,
            TableKind::Comments => &COMMENTS,
            TableKind::Credentials => &CREDENTIALS,
            TableKind::Feedback => &FEEDBACK,
            TableKind::ApiKeys => &API_KEYS,
            TableKind::Telegram => &TELEGRAM,
            TableKind::Checklists => &CHECKLISTS,
            TableKind::Recurring => &RECURRING,
        }
    }

    /// The table's name as used in URLs, exports and log lines (`tasks`).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The table's segment in the API's record paths (`/api/{path}/{id}`): its name,
    /// but a checklist's items are `/api/checklist/{id}`, as a task's list of them is
    /// `/api/tasks/{id}/checklist`.
    pub fn path(self) -> &'static str {
        match self {
            TableKind::Checklists => "checklist",
            other => other.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<TableKind> {
        TableKind::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The table whose rows are identified by `entity` in events.csv (`task` → tasks).
    pub fn from_entity(entity: &str) -> Option<TableKind> {
        TableKind::ALL.into_iter().find(|t| t.spec().entity == entity)
    }
}

/// What a cell of a column may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// The row's own positive integer id, unique in the file.
    Id,
    /// Free text.
    Text,
    /// One of `ROLES`.
    Role,
    /// One of the configured task statuses.
    Status,
    /// One of `PRIORITIES`.
    Priority,
    /// The id of a row of another table, which must exist.
    Ref(TableKind),
    /// A positive integer id that is not checked against a table (events' user and entity ids).
    LooseId,
    /// An RFC 3339 timestamp.
    Timestamp,
    /// A date or a timestamp.
    DueDate,
    /// true/false (1/0, yes/no).
    Bool,
    /// A whole number ≥ 0.
    Count,
    /// A rating of finished work: a whole number from 1 to 5.
    Rating,
    /// What an API key may do: `read` (GET only) or `write`.
    KeyScope,
    /// Where an API key stands: `active`, `expiring`, `expired` or `revoked`.
    KeyStatus,
    /// A compact JSON object.
    JsonObject,
    /// 64 lowercase hex digits.
    Sha256,
    /// A value that is never logged, exported or served (a password hash).
    Secret,
    /// A phone number as people type it: digits, spaces and `+ ( ) -`.
    Phone,
    /// An email address (`name@host`).
    Email,
    /// A Telegram username, with or without its `@`.
    TelegramUsername,
    /// `ru` or `en`.
    Language,
    /// A standard 5-field crontab line (`0 9 1 * *`), read in `scheduler.timezone`.
    Crontab,
}

/// One documented column.
#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnKind,
    /// An empty cell is an error in the file and a 422 from the API.
    pub required: bool,
}

const fn col(name: &'static str, kind: ColumnKind, required: bool) -> Column {
    Column { name, kind, required }
}

/// One table: its file and its documented columns, in their documented order.
#[derive(Debug)]
pub struct TableSpec {
    pub kind: TableKind,
    /// Plural name: `tasks`.
    pub name: &'static str,
    /// File in the data folder: `tasks.csv`.
    pub file_name: &'static str,
    /// Singular name used in event types and `entity`: `task`.
    pub entity: &'static str,
    /// The column holding the row's key.
    pub key: &'static str,
    pub columns: &'static [Column],
    /// Changes to this table are journaled in events.csv (before and after values) and
    /// folded into the file shortly after. Tables with secrets are rewritten directly
    /// instead, so that no secret ever reaches events.csv.
    pub journaled: bool,
    /// Whether rows may be exported or served as they are.
    pub exportable: bool,
    /// The column that says who made a record (set by the server to the actor).
    pub creator: Option<&'static str>,
    /// Values a new record gets for columns it leaves empty.
    pub defaults: &'static [(&'static str, &'static str)],
    /// Columns fixed when the record is made (a document's file name, type, size and
    /// hash come from its upload): an update may not change them.
    pub fixed: &'static [&'static str],
}

impl TableSpec {
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn header(&self) -> Vec<&'static str> {
        self.columns.iter().map(|c| c.name).collect()
    }

    /// What a source (REST, the bot...) may not send even where a file may hold it: a
    /// required text of only spaces, a text longer than its column allows, a text a
    /// spreadsheet would run as a formula when someone opens the file, a column only
    /// the server sets (`id`, `created_at`, `updated_at`). People editing the
    /// files are not held to these: a file that loads is never refused for them.
    /// `existing` is the record being changed (None for a new one): a server-set
    /// column sent back unchanged is fine.
    pub fn input_problems<'a>(
        &self,
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
        existing: Option<&CurrentValue<'_>>,
    ) -> Vec<FieldError> {
        let mut problems = Vec::new();
        for (name, value) in fields {
            // A column the table does not document (a team's own) is text: the same
            // formula and length rules hold for it.
            let column = self.column(name).unwrap_or(&EXTRA_COLUMN);
            if SERVER_SET.contains(&name) {
                let unchanged = match existing {
                    Some(current) => current(name).as_deref() == Some(value),
                    None => value.is_empty(),
                };
                if !unchanged {
                    problems.push(FieldError::new(name, "is set by the server"));
                }
                continue;
            }
            // A control character (NUL and the like) is refused in any cell a source
            // sends: no database, spreadsheet or file reader expects one. A tab and a
            // line break are text.
            if let Some(c) = value.chars().find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
                problems.push(FieldError::new(
                    name,
                    format!("contains the control character U+{:04X}; remove it", c as u32),
                ));
                continue;
            }
            if !matches!(column.kind, ColumnKind::Text | ColumnKind::Email) {
                continue;
            }
            if values::runs_as_formula(value) {
                problems.push(FieldError::new(
                    name,
                    "starts like a spreadsheet formula (=, +, @, or - before one); put a space or a ' in front",
                ));
            }
            if column.required && !value.is_empty() && value.trim().is_empty() {
                problems.push(FieldError::new(name, "must not be only spaces"));
            }
            let limit = text_limit(name);
            let length = value.chars().count();
            if length > limit {
                problems.push(FieldError::new(name, format!("is {length} characters long; at most {limit}")));
            }
        }
        problems
    }

    /// Checks one cell against its column. References are checked by the store, which
    /// knows the other tables.
    pub fn check_cell(&self, column: &Column, value: &str, vocabulary: &Vocabulary) -> Result<(), String> {
        if value.is_empty() {
            return if column.required {
                Err(format!("{} is empty; a value is required", column.name))
            } else {
                Ok(())
            };
        }
        match column.kind {
            ColumnKind::Id | ColumnKind::Ref(_) | ColumnKind::LooseId => values::parse_id(value).map(|_| ()),
            ColumnKind::Text | ColumnKind::Secret => Ok(()),
            ColumnKind::Phone => values::check_phone(value),
            ColumnKind::Crontab => super::schedule::Trigger::cron(value)
                .map(|_| ())
                .map_err(|e| format!("{value:?} is not a schedule: {e}")),
            ColumnKind::Email => values::check_email(value),
            ColumnKind::TelegramUsername => values::check_telegram_username(value),
            ColumnKind::Language => match crate::i18n::Lang::parse(value) {
                Some(_) if value.len() == 2 => Ok(()),
                _ => Err(format!("{value:?} is not a language; expected ru or en")),
            },
            ColumnKind::Role => values::check_one_of(value, values::ROLES, "role"),
            ColumnKind::KeyScope => values::check_one_of(value, values::KEY_SCOPES, "scope"),
            ColumnKind::KeyStatus => values::check_one_of(value, values::KEY_STATUSES, "key status"),
            ColumnKind::Priority => values::check_one_of(value, values::PRIORITIES, "priority"),
            ColumnKind::Status => values::check_one_of(value, &vocabulary.statuses, "status"),
            ColumnKind::Timestamp => values::parse_timestamp(value).map(|_| ()),
            ColumnKind::DueDate => values::parse_due_date(value),
            ColumnKind::Bool => values::parse_bool(value).map(|_| ()),
            ColumnKind::Count => value
                .parse::<u64>()
                .map(|_| ())
                .map_err(|_| format!("{value:?} is not a count; expected a whole number ≥ 0")),
            ColumnKind::Rating => match value.parse::<u8>() {
                Ok(1..=5) => Ok(()),
                _ => Err(format!("{value:?} is not a rating; expected a whole number from 1 to 5")),
            },
            ColumnKind::JsonObject => match serde_json::from_str::<serde_json::Value>(value) {
                Ok(serde_json::Value::Object(_)) => Ok(()),
                _ => Err(format!("{value:?} is not a JSON object")),
            },
            ColumnKind::Sha256 => {
                if value.len() == 64 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                    Ok(())
                } else {
                    Err(format!("{value:?} is not a SHA-256; expected 64 lowercase hex digits"))
                }
            }
        }
    }
}

/// What any column a table does not document is: optional free text.
static EXTRA_COLUMN: Column = col("", ColumnKind::Text, false);

/// The value a column has now in the record being changed.
pub type CurrentValue<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Columns only the server writes.
pub const SERVER_SET: [&str; 4] = ["id", "created_at", "updated_at", "completed_at"];

/// The longest text a source may send into a column, in characters: a title or a name
/// is a line, anything else a page or two.
pub fn text_limit(column: &str) -> usize {
    match column {
        "title" | "filename" => 500,
        "username" | "telegram_id" | "telegram_username" | "phone" | "language" => 64,
        "full_name" | "email" => 200,
        _ => 20_000,
    }
}

use ColumnKind::*;
use TableKind as T;

pub static USERS: TableSpec = TableSpec {
    kind: T::Users,
    name: "users",
    file_name: "users.csv",
    entity: "user",
    key: "id",
    columns: &[
        col("id", Id, true),
        col("username", Text, true),
        col("telegram_id", Text, false),
        col("role", Role, true),
        col("created_at", Timestamp, false),
        col("updated_at", Timestamp, false),
        col("is_active", Bool, false),
        // Optional, added after is_active when a file lacks them.
        col("full_name", Text, false),
        col("phone", Phone, false),
        col("email", Email, false),
        col("telegram_username", TelegramUsername, false),
        col("language", Language, false),
    ],
    journaled: true,
    exportable: true,
    creator: None,
    defaults: &[("role", "member"), ("is_active", "true")],
    fixed: &[],
};

pub static TASKS: TableSpec = TableSpec {
    kind: T::Tasks,
    name: "tasks",
    file_name: "tasks.csv",
    entity: "task",
    key: "id",
    columns: &[
        col("id", Id, true),
        col("title", Text, true),
        col("description", Text, false),
        col("status", Status, true),
        col("priority", Priority, true),
        col("assigned_to", Ref(T::Users), false),
        col("created_by", Ref(T::Users), false),
        col("due_date", DueDate, false),
        col("created_at", Timestamp, false),
        col("updated_at", Timestamp, false),
        // When the task entered a status of kind done; kept by the server.
        col("completed_at", Timestamp, false),
    ],
    journaled: true,
    exportable: true,
    creator: Some("created_by"),
    // A new task's status is the workflow's first (records.rs), not a fixed word.
    defaults: &[("priority", "medium")],
    fixed: &[],
};

pub static EVENTS: TableSpec = TableSpec {
    kind: T::Events,
    name: "events",
    file_name: "events.csv",
    entity: "event",
    key: "id",
    columns: &[
        col("id", Id, true),
        col("type", Text, true),
        col("entity", Text, false),
        col("entity_id", LooseId, false),
        col("user_id", LooseId, false),
        col("source", Text, false),
        col("message", Text, false),
        col("data", JsonObject, false),
        col("created_at", Timestamp, true),
    ],
    journaled: false,
    exportable: true,
    creator: None,
    defaults: &[],
    fixed: &[],
};

pub static DOCS: TableSpec = TableSpec {
    kind: T::Docs,
    name: "docs",
    file_name: "docs.csv",
    entity: "doc",
    key: "id",
    columns: &[
        col("id", Id, true),
        col("title", Text, true),
        col("filename", Text, true),
        col("content_type", Text, false),
        col("size_bytes", Count, false),
        col("sha256", Sha256, false),
        col("task_id", Ref(T::Tasks), false),
        col("uploaded_by", Ref(T::Users), false),
        col("created_at", Timestamp, false),
        col("updated_at", Timestamp, false),
    ],
    journaled: true,
    exportable: true,
    creator: Some("uploaded_by"),
    defaults: &[],
    fixed: &["filename", "content_type", "size_bytes", "sha256"],
};

pub static COMMENTS: TableSpec = TableSpec {
    kind: T::Comments,
    name: "comments",
    file_name: "comments.csv",
    entity: "comment",
    key: "id",
    columns: &[
        col("id", Id, true),
        col("task_id", Ref(T::Tasks), true),
        col("user_id", Ref(T::Users), false),
        col("message", Text, true),
        col("created_at", Timestamp, false),
        col("updated_at", Timestamp, false),
    ],
    journaled: true,
    exportable: true,
    creator: Some("user_id"),
    defaults: &[],
    fixed: &[],
};

/// A task's checklist: the steps of a job, ticked off one by one, in `position` order.
/// Whoever may change a task's status changes its checklist.
pub static CHECKLISTS: TableSpec = TableSpec {
    kind: T::Checklists,
    name: "checklists",
    file_name: "checklists.csv",
    entity: "checklist_item",
    key: "id",
    columns: &[
        col("id", Id, true),
        col("task_id", Ref(T::Tasks), true),
        col("text", Text, true),
        col("done", Bool, false),
        col("position", Count, false),
        col("created_at", Timestamp, false),
        col("updated_at", Timestamp, false),
    ],
    journaled: true,
    exportable: true,
    creator: None,
    defaults: &[("done", "false")],
    fixed: &["task_id"],
};

/// Work that repeats: each row makes a task at every occurrence of its `schedule` (a
/// crontab line in `scheduler.timezone`), due `due_in_days` after it; the job
/// `create_recurring_tasks` does, once per occurrence (service/recurring.rs).
pub static RECURRING: TableSpec = TableSpec {
    kind: T::Recurring,
    name: "recurring",
    file_name: "recurring.csv",
    entity: "recurring",
    key: "id",
    columns: &[
        col("id", Id, true),
        col("title", Text, true),
        col("description", Text, false),
        col("assigned_to", Ref(T::Users), false),
        col("priority", Priority, false),
        col("schedule", Crontab, true),
        col("due_in_days", Count, false),
        col("is_active", Bool, false),
        col("last_run_at", Timestamp, false),
        col("created_by", Ref(T::Users), false),
        col("created_at", Timestamp, false),
        col("updated_at", Timestamp, false),
    ],
    journaled: true,
    exportable: true,
    creator: Some("created_by"),
    defaults: &[("priority", "medium"), ("due_in_days", "0"), ("is_active", "true")],
    fixed: &[],
};

pub static CREDENTIALS: TableSpec = TableSpec {
    kind: T::Credentials,
    name: "credentials",
    file_name: "credentials.csv",
    entity: "credential",
    key: "user_id",
    columns: &[
        col("user_id", Id, true),
        col("password_hash", Secret, true),
        col("password_changed_at", Timestamp, false),
    ],
    journaled: false,
    exportable: false,
    creator: None,
    defaults: &[],
    fixed: &[],
};

/// A client's rating of finished work: one per task, by its creator (README.md, "The API").
pub static FEEDBACK: TableSpec = TableSpec {
    kind: T::Feedback,
    name: "feedback",
    file_name: "feedback.csv",
    entity: "feedback",
    key: "id",
    columns: &[
        col("id", Id, true),
        col("task_id", Ref(T::Tasks), true),
        col("user_id", Ref(T::Users), false),
        col("rating", Rating, true),
        col("comment", Text, false),
        col("created_at", Timestamp, false),
    ],
    journaled: true,
    exportable: true,
    creator: Some("user_id"),
    defaults: &[],
    fixed: &["task_id", "user_id", "rating", "comment"],
};

/// API keys (README.md, "The API"): each acts as its user within its scope until it
/// expires or is revoked. Only a hash of the key is kept; like credentials, the table
/// is rewritten directly, never journaled, so the hash never reaches events.csv.
pub static API_KEYS: TableSpec = TableSpec {
    kind: T::ApiKeys,
    name: "api_keys",
    file_name: "api_keys.csv",
    entity: "api_key",
    key: "id",
    columns: &[
        col("id", Id, true),
        col("name", Text, true),
        col("user_id", Ref(T::Users), true),
        col("key_hash", Secret, true),
        col("scope", KeyScope, true),
        col("status", KeyStatus, true),
        col("expires_at", Timestamp, true),
        col("last_used_at", Timestamp, false),
        col("created_at", Timestamp, false),
        col("updated_at", Timestamp, false),
    ],
    journaled: false,
    exportable: false,
    creator: None,
    defaults: &[],
    fixed: &["user_id", "key_hash", "scope", "expires_at"],
};

/// A user's bot settings (README.md, "The Telegram bot"): which notifications they want, and
/// whether they blocked the bot. A user without a row gets every notification. The
/// bot's own bookkeeping, not work history: rewritten directly, never journaled.
pub static TELEGRAM: TableSpec = TableSpec {
    kind: T::Telegram,
    name: "telegram",
    file_name: "telegram.csv",
    entity: "telegram_setting",
    key: "user_id",
    columns: &[
        col("user_id", Ref(T::Users), true),
        col("notify_assigned", Bool, false),
        col("notify_status", Bool, false),
        col("notify_comments", Bool, false),
        col("notify_deadlines", Bool, false),
        col("notify_report", Bool, false),
        col("notify_keys", Bool, false),
        col("notify_new_tasks", Bool, false),
        // Set when Telegram answered that the user blocked the bot; cleared when they
        // write to it again. Nothing is sent to them meanwhile.
        col("blocked_at", Timestamp, false),
    ],
    journaled: false,
    exportable: false,
    creator: None,
    defaults: &[],
    fixed: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_first_columns_are_kept_exactly() {
        assert_eq!(
            USERS.header().join(","),
            "id,username,telegram_id,role,created_at,updated_at,is_active,full_name,phone,email,telegram_username,language"
        );
        assert_eq!(
            TASKS.header().join(","),
            "id,title,description,status,priority,assigned_to,created_by,due_date,created_at,updated_at,completed_at"
        );
        assert_eq!(EVENTS.header().join(","), "id,type,entity,entity_id,user_id,source,message,data,created_at");
        assert_eq!(
            DOCS.header().join(","),
            "id,title,filename,content_type,size_bytes,sha256,task_id,uploaded_by,created_at,updated_at"
        );
        assert_eq!(COMMENTS.header().join(","), "id,task_id,user_id,message,created_at,updated_at");
        assert_eq!(CREDENTIALS.header().join(","), "user_id,password_hash,password_changed_at");
    }

    #[test]
    fn cells_are_checked_by_kind() {
        let v = Vocabulary::default();
        let status = TASKS.column("status").unwrap();
        assert!(TASKS.check_cell(status, "done", &v).is_ok());
        let err = TASKS.check_cell(status, "finished", &v).unwrap_err();
        assert!(err.contains("expected one of new, in_progress, done, cancelled"), "{err}");
        let title = TASKS.column("title").unwrap();
        assert!(TASKS.check_cell(title, "", &v).unwrap_err().contains("required"));
    }
}
