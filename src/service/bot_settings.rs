//! A user's bot settings: the kinds of notification they can turn on or off in
//! `/settings` (each a column of telegram.csv), and whether they blocked the bot.
//! `service::telegram::Chats` reads and writes them.

use serde::Serialize;

/// The kinds of notification a user can turn on or off in `/settings`, each a column of
/// telegram.csv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Assigned,
    Status,
    Comments,
    Deadlines,
    Report,
    Keys,
    /// A new task (managers: the dispatcher's inbox).
    NewTasks,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 7] = [
        NoticeKind::Assigned,
        NoticeKind::Status,
        NoticeKind::Comments,
        NoticeKind::Deadlines,
        NoticeKind::Report,
        NoticeKind::Keys,
        NoticeKind::NewTasks,
    ];

    /// The short name (`/settings`, callback data).
    pub fn name(self) -> &'static str {
        match self {
            NoticeKind::Assigned => "assigned",
            NoticeKind::Status => "status",
            NoticeKind::Comments => "comments",
            NoticeKind::Deadlines => "deadlines",
            NoticeKind::Report => "report",
            NoticeKind::Keys => "keys",
            NoticeKind::NewTasks => "new_tasks",
        }
    }

    pub fn parse(name: &str) -> Option<NoticeKind> {
        NoticeKind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub(super) fn column(self) -> String {
        format!("notify_{}", self.name())
    }
}

/// One user's bot settings as telegram.csv says (no row: everything on, not blocked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub(super) off: Vec<NoticeKind>,
    /// When Telegram said the user blocked the bot.
    pub blocked: bool,
}

impl Settings {
    pub fn is_on(&self, kind: NoticeKind) -> bool {
        !self.off.contains(&kind)
    }
}
