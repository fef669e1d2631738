//! Feedback on finished work (README.md, "The API"): the task's creator rates it 1–5 with
//! a comment, once, after it is finished (a status of kind done); whoever may read the task may read the rating.

use crate::domain::TableKind;
use crate::domain::values::FieldError;
use crate::store::{Committed, Fields};

use super::access::{self, Principal, ServiceError};
use super::query::{Condition, ListQuery};
use super::records::{Page, RecordService};

/// The longest comment kept with a rating.
const MAX_COMMENT: usize = 2000;

/// One rating at a time, so that two at once cannot both pass the "once" check.
static RATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl RecordService {
    /// The feedback on task `task` (none or one; a person's save of feedback.csv could
    /// add more), if `p` may read the task; the list conventions apply.
    pub fn feedback(&self, p: &Principal, task: u64, query: ListQuery) -> Result<Page, ServiceError> {
        let (record, _) = self.get(TableKind::Tasks, task)?;
        access::check_read(self, p, TableKind::Tasks, task, &record)?;
        let mut query = query;
        query.conditions.push(Condition::OneOf("task_id".into(), vec![task.to_string()]));
        Ok(self.select(TableKind::Feedback, &query)?)
    }

    /// `p` rates task `task`: only its creator, only when done, only once.
    pub async fn rate(
        &self,
        p: &Principal,
        task: u64,
        rating: Option<i64>,
        comment: Option<String>,
    ) -> Result<Committed, ServiceError> {
        let (record, _) = self.get(TableKind::Tasks, task)?;
        access::check_read(self, p, TableKind::Tasks, task, &record)?;
        let creator = record.get("created_by").map(String::as_str).unwrap_or("");
        if p.user_id.is_none_or(|me| creator != me.to_string()) {
            return Err(ServiceError::Forbidden(format!("only the creator of task {task} may rate it")));
        }
        let mut problems = Vec::new();
        let rating = match rating {
            Some(r @ 1..=5) => r,
            Some(other) => {
                problems.push(FieldError::new("rating", format!("{other} is not a rating; expected 1 to 5")));
                0
            }
            None => {
                problems.push(FieldError::new("rating", "is required: a whole number from 1 to 5"));
                0
            }
        };
        let comment = comment.unwrap_or_default();
        if comment.chars().count() > MAX_COMMENT {
            problems.push(FieldError::new("comment", format!("is longer than {MAX_COMMENT} characters")));
        }
        let fields: Fields = [("task_id", task.to_string()), ("rating", rating.to_string()), ("comment", comment)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        problems.extend(TableKind::Feedback.spec().input_problems(
            fields.iter().filter(|(k, _)| *k == "comment").map(|(k, v)| (k.as_str(), v.as_str())),
            None,
        ));
        if !problems.is_empty() {
            return Err(ServiceError::invalid(problems));
        }
        let status = record.get("status").map(String::as_str).unwrap_or("");
        if !self.deadlines().is_done(status) {
            let done = self.deadlines().workflow.of_kind(crate::domain::workflow::StatusKind::Done).join(", ");
            return Err(ServiceError::Conflict(format!(
                "task {task} is {status}; it can be rated once it is finished ({done})"
            )));
        }
        let _one_at_a_time = RATING.lock().await;
        let once = ListQuery { per_page: 1, ..ListQuery::default() };
        if self.feedback(p, task, once)?.total > 0 {
            return Err(ServiceError::Conflict(format!("task {task} has been rated already")));
        }
        Ok(self.insert(TableKind::Feedback, fields, p.context()).await?)
    }
}
