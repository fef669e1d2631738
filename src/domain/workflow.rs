//! The task workflow: the statuses of `tasks.statuses` in order, each with its labels
//! in both languages and its kind (`open`, `done`, `cancelled`). Nothing in the server
//! compares a status with a word such as `done`: whether a task is finished, closed,
//! late or may be rated is asked here, by kind.

use serde::{Deserialize, Serialize};

use crate::i18n::Lang;

/// What a status means for the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    /// Work to do or under way.
    #[default]
    Open,
    /// Finished: counted as completed, may be rated, sets `completed_at`.
    Done,
    /// Closed without being done.
    Cancelled,
}

/// A name in both languages (`{en: Done, ru: Завершена}`); either may be absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub en: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ru: String,
}

impl Label {
    /// The label in `lang`, else in the other language, else None.
    pub fn get(&self, lang: Lang) -> Option<&str> {
        let (first, second) = match lang {
            Lang::En => (&self.en, &self.ru),
            Lang::Ru => (&self.ru, &self.en),
        };
        [first, second].into_iter().find(|s| !s.trim().is_empty()).map(String::as_str)
    }
}

/// One status of the workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub id: String,
    pub label: Label,
    pub kind: StatusKind,
}

/// The statuses in workflow order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Workflow {
    statuses: Vec<Status>,
}

impl Default for Workflow {
    fn default() -> Self {
        Workflow::plain(&super::values::DEFAULT_STATUSES.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }
}

impl Workflow {
    /// A plain list of ids: `done` is kind done, `cancelled` kind cancelled, the rest open;
    /// the default four get their labels from the catalogue.
    pub fn plain(ids: &[String]) -> Workflow {
        let statuses = ids
            .iter()
            .map(|id| {
                let kind = match id.as_str() {
                    "done" => StatusKind::Done,
                    "cancelled" => StatusKind::Cancelled,
                    _ => StatusKind::Open,
                };
                Status { id: id.clone(), label: default_label(id), kind }
            })
            .collect();
        Workflow { statuses }
    }

    /// Statuses as declared; checked: ids unique and non-empty, and no id or label
    /// of one status equal (in any case) to an id or label of another, so that a
    /// word a person types names one status at most.
    pub fn new(statuses: Vec<Status>) -> Result<Workflow, String> {
        if statuses.is_empty() {
            return Err("tasks.statuses: at least one status is required".into());
        }
        for (i, s) in statuses.iter().enumerate() {
            if s.id.trim().is_empty() || s.id.contains([',', '\n', '\r']) {
                return Err(format!("tasks.statuses[{i}].id: {:?} is not a status id (no commas, not empty)", s.id));
            }
            for (j, other) in statuses.iter().enumerate().take(i) {
                for word in names(s) {
                    if names(other).any(|w| w.to_lowercase() == word.to_lowercase()) {
                        return Err(format!(
                            "tasks.statuses[{i}]: {word:?} names status {:?} (tasks.statuses[{j}]) too; each id and label must name one status",
                            other.id
                        ));
                    }
                }
            }
        }
        Ok(Workflow { statuses })
    }

    pub fn statuses(&self) -> &[Status] {
        &self.statuses
    }

    pub fn ids(&self) -> Vec<String> {
        self.statuses.iter().map(|s| s.id.clone()).collect()
    }

    /// The status a new task takes.
    pub fn first(&self) -> &str {
        self.statuses.first().map(|s| s.id.as_str()).unwrap_or("")
    }

    /// The first status of kind done (the bot's `/done`), if any.
    pub fn first_done(&self) -> Option<&str> {
        self.statuses.iter().find(|s| s.kind == StatusKind::Done).map(|s| s.id.as_str())
    }

    pub fn kind(&self, id: &str) -> Option<StatusKind> {
        self.statuses.iter().find(|s| s.id == id).map(|s| s.kind)
    }

    pub fn is_done(&self, id: &str) -> bool {
        self.kind(id) == Some(StatusKind::Done)
    }

    /// Done or cancelled: no longer open work.
    pub fn is_closed(&self, id: &str) -> bool {
        matches!(self.kind(id), Some(StatusKind::Done | StatusKind::Cancelled))
    }

    /// The ids of one kind.
    pub fn of_kind(&self, kind: StatusKind) -> Vec<String> {
        self.statuses.iter().filter(|s| s.kind == kind).map(|s| s.id.clone()).collect()
    }

    /// How a person reads a status: its label in `lang`, else the id.
    pub fn label<'a>(&'a self, id: &'a str, lang: Lang) -> &'a str {
        self.statuses.iter().find(|s| s.id == id).and_then(|s| s.label.get(lang)).unwrap_or(id)
    }

    /// The status a person meant: its id or either label, in any case.
    pub fn resolve(&self, word: &str) -> Option<&str> {
        let word = word.trim().to_lowercase();
        self.statuses.iter().find(|s| names(s).any(|n| n.to_lowercase() == word)).map(|s| s.id.as_str())
    }
}

fn names(s: &Status) -> impl Iterator<Item = &str> {
    [s.id.as_str(), s.label.en.as_str(), s.label.ru.as_str()].into_iter().filter(|n| !n.trim().is_empty())
}

/// The labels of the default statuses, from the catalogue.
fn default_label(id: &str) -> Label {
    use crate::i18n::Msg;
    let msg = match id {
        "new" => Msg::StatusNew,
        "in_progress" => Msg::StatusInProgress,
        "done" => Msg::StatusDone,
        "cancelled" => Msg::StatusCancelled,
        _ => return Label::default(),
    };
    Label { en: msg.en().into(), ru: msg.ru().into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: &str, en: &str, ru: &str, kind: StatusKind) -> Status {
        Status { id: id.into(), label: Label { en: en.into(), ru: ru.into() }, kind }
    }

    fn repair() -> Workflow {
        Workflow::new(vec![
            status("новая", "New request", "Новая заявка", StatusKind::Open),
            status("в_работе", "In progress", "В работе", StatusKind::Open),
            status("завершена", "Done", "Завершена", StatusKind::Done),
            status("отменена", "Cancelled", "Отменена", StatusKind::Cancelled),
        ])
        .unwrap()
    }

    #[test]
    fn kinds_not_words_decide() {
        let w = repair();
        assert_eq!(w.first(), "новая");
        assert_eq!(w.first_done(), Some("завершена"));
        assert!(w.is_done("завершена") && !w.is_done("done"));
        assert!(w.is_closed("отменена") && !w.is_closed("в_работе"));
        let plain = Workflow::plain(&["todo".into(), "done".into(), "cancelled".into()]);
        assert!(plain.is_done("done") && plain.is_closed("cancelled") && !plain.is_closed("todo"));
    }

    #[test]
    fn a_status_is_found_by_id_or_either_label_in_any_case() {
        let w = repair();
        assert_eq!(w.resolve("В РАБОТЕ"), Some("в_работе"));
        assert_eq!(w.resolve("in progress"), Some("в_работе"));
        assert_eq!(w.resolve("завершена"), Some("завершена"));
        assert_eq!(w.resolve("closed"), None);
        assert_eq!(w.label("в_работе", Lang::Ru), "В работе");
        assert_eq!(w.label("в_работе", Lang::En), "In progress");
        assert_eq!(Workflow::default().label("in_progress", Lang::Ru), "В работе");
    }

    #[test]
    fn a_label_naming_two_statuses_is_refused() {
        let e = Workflow::new(vec![
            status("new", "New", "Новая", StatusKind::Open),
            status("fresh", "new", "", StatusKind::Open),
        ])
        .unwrap_err();
        assert!(e.contains("tasks.statuses[1]") && e.contains("\"new\""), "{e}");
    }
}
