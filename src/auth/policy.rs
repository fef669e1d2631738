//! The roles in one matrix (README.md, "The API"), and what each route requires.
//!
//! Every path that reads or changes records (REST, WebSocket, export, history, stats)
//! asks [`scope`] here; nothing else decides who may do what. `admin_only_endpoints`
//! from the configuration is applied on top by [`AdminOnly`].

use std::fmt;

/// A user's role, as users.csv spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Admin,
    Manager,
    Supervisor,
    Member,
    Client,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Manager, Role::Supervisor, Role::Member, Role::Client];

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == value.trim())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Supervisor => "supervisor",
            Role::Member => "member",
            Role::Client => "client",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Area {
    Tasks,
    Comments,
    Users,
    Docs,
    Events,
    Stats,
    /// Scheduler, backups, reload.
    System,
    /// Recurring work (recurring.csv): those who hand out work.
    Recurring,
}

impl Area {
    /// The area of a record table's name (`tasks`, `users`...), for export and topics.
    pub fn of_table(name: &str) -> Option<Area> {
        Some(match name {
            "tasks" => Area::Tasks,
            "comments" => Area::Comments,
            "users" => Area::Users,
            "docs" => Area::Docs,
            "events" => Area::Events,
            "checklists" => Area::Tasks,
            "recurring" => Area::Recurring,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Read,
    Create,
    Update,
    Delete,
}

/// How much of an area a role reaches with an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    None,
    /// Only the user's own records: tasks they created (or, for a member's updates, are
    /// assigned to), comments and documents on such tasks, their own statistics.
    Own,
    /// Users: the names only (id and username).
    Names,
    All,
}

/// THE matrix (README.md, "The API"; ARCHITECTURE.md). Documents are not in the roles table; they follow their
/// task, as comments do.
pub fn scope(role: Role, area: Area, action: Action) -> Scope {
    use Action::*;
    use Area::*;
    use Role::*;
    match (role, area, action) {
        (Admin, _, _) => Scope::All,
        (Manager, Tasks | Comments | Docs | Recurring, _) => Scope::All,
        (Manager, Users | Events | Stats, Read) => Scope::All,
        (Supervisor, Tasks | Comments | Docs | Users | Events | Stats, Read) => Scope::All,
        (Member, Tasks | Comments | Docs, Read) => Scope::All,
        (Member, Tasks, Create) => Scope::All,
        (Member, Tasks, Update) => Scope::Own,
        (Member, Comments | Docs, Create | Update | Delete) => Scope::Own,
        (Member, Users, Read) => Scope::Names,
        (Member, Stats, Read) => Scope::Own,
        (Client, Tasks, Read | Create | Update) => Scope::Own,
        (Client, Comments | Docs, _) => Scope::Own,
        (Client, Stats, Read) => Scope::Own,
        _ => Scope::None,
    }
}

/// Who may call a route at all; record-level scopes are applied by the service.
/// Whether `role` takes unassigned open work for itself (`POST /api/tasks/{id}/take`):
/// the people who do the work and those who hand it out.
pub fn may_take(role: Role) -> bool {
    matches!(role, Role::Member | Role::Manager | Role::Admin)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Anyone, with or without a token.
    Public,
    /// Any logged-in user (their own session, their own password).
    LoggedIn,
    /// A role whose scope for this area and action is not `None`.
    Area(Area, Action),
    /// CSV export: `export.allow_all`, or admin and manager; the table's read scope applies.
    Export,
    /// The Prometheus metrics: admin, or anyone from the loopback address.
    Metrics,
}

/// What a route (method and OpenAPI-style path, as the catalog lists it) requires.
pub fn requirement(method: &str, path: &str) -> Requirement {
    let action = match method {
        "GET" => Action::Read,
        "POST" => Action::Create,
        "PATCH" | "PUT" => Action::Update,
        _ => Action::Delete,
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        [""] | ["api", "health"] | ["board", ..] => Requirement::Public,
        ["api", "auth", "login" | "telegram" | "refresh"] => Requirement::Public,
        // A board login confirmed in the bot: asked and polled before anyone is logged in.
        ["api", "auth", "telegram", "login" | "bot", ..] => Requirement::Public,
        // The feed's secret token in its path is its credential (a phone's calendar
        // sends no header); making a token takes a login.
        ["api", "calendar", "token"] => Requirement::LoggedIn,
        ["api", "calendar", _] => Requirement::Public,
        // The WebSocket authenticates itself: a `token` query parameter, or its first
        // message (browsers cannot set headers on it).
        ["ws"] => Requirement::Public,
        // A live view's starting records: the topic's own read rules apply inside, as
        // for a WebSocket subscription (`service::feed::Viewer::topic_allowed`).
        ["api", "live", _] => Requirement::LoggedIn,
        ["api", "auth", ..] | ["api", "openapi.json"] => Requirement::LoggedIn,
        // Everyone manages their own keys; an admin everyone's (the use cases decide).
        ["api", "keys", ..] => Requirement::LoggedIn,
        ["metrics"] => Requirement::Metrics,
        ["api", "export", ..] => Requirement::Export,
        ["api", "tasks", _, "comments"] => Requirement::Area(Area::Comments, action),
        ["api", "recurring", ..] => Requirement::Area(Area::Recurring, action),
        // A checklist is part of its task: read with it, written by those who change
        // tasks (which task, and its status rule, are the use case's to check).
        ["api", "tasks", _, "checklist"] | ["api", "checklist", ..] => {
            Requirement::Area(Area::Tasks, if action == Action::Read { Action::Read } else { Action::Update })
        }
        ["api", "tasks", _, "history"] => Requirement::Area(Area::Tasks, Action::Read),
        // An analysis changes nothing: whoever may read the task may ask for one.
        ["api", "tasks", _, "analyze"] => Requirement::Area(Area::Tasks, Action::Read),
        // Feedback: whoever reads the task reads it; who may rate is the use case's
        // rule (the task's creator, once it is done).
        ["api", "tasks", _, "feedback"] => Requirement::Area(Area::Tasks, Action::Read),
        ["api", "tasks", ..] => Requirement::Area(Area::Tasks, action),
        ["api", "comments", ..] => Requirement::Area(Area::Comments, action),
        ["api", "docs", ..] => Requirement::Area(Area::Docs, action),
        ["api", "users", ..] => Requirement::Area(Area::Users, action),
        // Whom work can be assigned to, and how people are named: every logged-in
        // user; the use case narrows it (a client sees the people on their requests).
        ["api", "directory"] => Requirement::LoggedIn,
        ["api", "events", ..] => Requirement::Area(Area::Events, Action::Read),
        ["api", "stats", ..] => Requirement::Area(Area::Stats, Action::Read),
        // Everything else (the scheduler, backups, reload, and any route added later
        // without a rule here) is the administrator's.
        _ => Requirement::Area(Area::System, action),
    }
}

/// Whether `role` may call a route with `requirement` (before record-level scopes).
/// `export_allow_all` is the configuration's `export.allow_all`.
pub fn allows(role: Role, requirement: Requirement, export_allow_all: bool) -> bool {
    match requirement {
        Requirement::Public | Requirement::LoggedIn => true,
        Requirement::Area(area, action) => scope(role, area, action) != Scope::None,
        Requirement::Export => export_allow_all || matches!(role, Role::Admin | Role::Manager),
        Requirement::Metrics => role == Role::Admin,
    }
}

/// `security.admin_only_endpoints`: glob patterns on the request path. `*` stands for
/// any characters but `/`, `**` for any characters; a pattern also covers every path
/// below what it matches (`/api/users` covers `/api/users/5`).
#[derive(Debug, Clone, Default)]
pub struct AdminOnly {
    patterns: Vec<String>,
}

impl AdminOnly {
    pub fn new(patterns: &[String]) -> AdminOnly {
        AdminOnly { patterns: patterns.iter().map(|p| p.trim_end_matches('/').to_string()).collect() }
    }

    /// Whether `path`, or the records it reads under another name (an export of a
    /// table is that table's list), is for administrators only.
    pub fn covers(&self, path: &str) -> bool {
        let exported =
            path.strip_prefix("/api/export/").and_then(|t| t.strip_suffix(".csv")).map(|t| format!("/api/{t}"));
        // A live view's starting records (`/api/live/users`) are that table's list too.
        let live = path.strip_prefix("/api/live/").map(|t| format!("/api/{t}"));
        self.matches(path) || exported.is_some_and(|p| self.matches(&p)) || live.is_some_and(|p| self.matches(&p))
    }

    fn matches(&self, path: &str) -> bool {
        self.patterns.iter().any(|p| {
            let p = p.as_bytes();
            let path = path.as_bytes();
            (0..=path.len()).any(|end| (end == path.len() || path[end] == b'/') && glob(p, &path[..end]))
        })
    }
}

/// Matches a whole string against a pattern with `*` and `**`.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        [b'*', rest @ ..] => {
            (0..=text.len()).take_while(|&i| i == 0 || text[i - 1] != b'/').any(|i| glob(rest, &text[i..]))
        }
        [c, rest @ ..] => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_is_api_md_s_table() {
        use Action::*;
        use Area::*;
        // (role, area, [read, create, update, delete])
        let table: &[(Role, Area, [Scope; 4])] = &[
            (Role::Manager, Tasks, [Scope::All; 4]),
            (Role::Manager, Users, [Scope::All, Scope::None, Scope::None, Scope::None]),
            (Role::Supervisor, Tasks, [Scope::All, Scope::None, Scope::None, Scope::None]),
            (Role::Supervisor, Comments, [Scope::All, Scope::None, Scope::None, Scope::None]),
            (Role::Member, Tasks, [Scope::All, Scope::All, Scope::Own, Scope::None]),
            (Role::Member, Comments, [Scope::All, Scope::Own, Scope::Own, Scope::Own]),
            (Role::Member, Users, [Scope::Names, Scope::None, Scope::None, Scope::None]),
            (Role::Member, Events, [Scope::None; 4]),
            (Role::Member, Stats, [Scope::Own, Scope::None, Scope::None, Scope::None]),
            (Role::Client, Tasks, [Scope::Own, Scope::Own, Scope::Own, Scope::None]),
            (Role::Client, Users, [Scope::None; 4]),
            (Role::Client, System, [Scope::None; 4]),
            (Role::Manager, System, [Scope::None; 4]),
        ];
        for (role, area, want) in table {
            let got = [Read, Create, Update, Delete].map(|a| scope(*role, *area, a));
            assert_eq!(&got, want, "{role} {area:?}");
        }
        for area in [Tasks, Comments, Users, Docs, Events, Stats, System] {
            assert_eq!(scope(Role::Admin, area, Delete), Scope::All);
        }
    }

    #[test]
    fn routes_map_to_requirements() {
        assert_eq!(requirement("GET", "/"), Requirement::Public);
        assert_eq!(requirement("POST", "/api/auth/login"), Requirement::Public);
        assert_eq!(requirement("GET", "/api/auth/me"), Requirement::LoggedIn);
        assert_eq!(requirement("POST", "/api/tasks/{id}/comments"), Requirement::Area(Area::Comments, Action::Create));
        assert_eq!(requirement("GET", "/api/tasks/{id}/history"), Requirement::Area(Area::Tasks, Action::Read));
        assert_eq!(
            requirement("PUT", "/api/system/scheduler/jobs/{id}"),
            Requirement::Area(Area::System, Action::Update)
        );
        assert_eq!(requirement("GET", "/api/whatever-comes-next"), Requirement::Area(Area::System, Action::Read));
    }

    #[test]
    fn admin_only_globs_cover_the_paths_below() {
        let a = AdminOnly::new(&["/api/users".into(), "/api/system/*".into(), "/api/**/secret".into()]);
        assert!(a.covers("/api/users") && a.covers("/api/users/5"));
        assert!(!a.covers("/api/usersx"));
        assert!(a.covers("/api/system/backups") && a.covers("/api/system/scheduler/jobs/x/run"));
        assert!(!a.covers("/api/system"));
        assert!(a.covers("/api/a/b/secret") && !a.covers("/api/tasks"));
    }
}
