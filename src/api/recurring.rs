//! Recurring work (managers and admins):
//! - `GET, POST /api/recurring`, `GET, PATCH, DELETE /api/recurring/{id}`: the rows of
//!   recurring.csv (`schedule` a crontab line in `scheduler.timezone`)
//! - `GET /api/recurring/{id}/occurrences?count=N&after=T`: the next occurrences
//!   (default 5, after now by default) and the due date a task made then gets

use std::sync::Arc;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;
use crate::service::access::Principal;

use super::catalog::{Catalog, Shape};
use super::gate::principal;
use super::problem::ApiError;
use super::records::{self, with_service};
use super::reply::{json_response, respond};

pub fn routes(service: RecordService, limit: u64, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    let t = TableKind::Recurring;
    cat.add(
        "GET",
        "/api/recurring/{id}/occurrences",
        "recurring",
        "The next occurrences of a recurring row (?count=, at most 50) and each one's due date",
        Some(t),
        Shape::Other { body: None, response: "Occurrences" },
    );
    let occurrences = warp::path!("api" / "recurring" / u64 / "occurrences")
        .and(warp::get())
        .and(warp::query::<Vec<(String, String)>>())
        .and(with_service(service.clone()))
        .and(principal())
        .map(|id: u64, params: Vec<(String, String)>, s: RecordService, p: Arc<Principal>| {
            respond((|| {
                let (mut count, mut after) = (5, chrono::Utc::now());
                for (name, value) in &params {
                    match name.as_str() {
                        "count" => {
                            count = value.parse::<usize>().ok().filter(|n| (1..=50).contains(n)).ok_or_else(|| {
                                ApiError::new(StatusCode::BAD_REQUEST, "count must be a whole number from 1 to 50")
                            })?
                        }
                        "after" => {
                            after = crate::domain::values::parse_timestamp(value)
                                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("after: {e}")))?
                        }
                        other => {
                            return Err(ApiError::new(
                                StatusCode::BAD_REQUEST,
                                format!("unknown parameter {other:?}; expected count or after"),
                            ));
                        }
                    }
                }
                let items: Vec<serde_json::Value> = s
                    .next_occurrences(&p, id, count, after)?
                    .into_iter()
                    .map(|(at, due)| serde_json::json!({"at": at, "due_date": due}))
                    .collect();
                Ok(json_response(StatusCode::OK, &serde_json::json!({"items": items}), None))
            })())
        });
    occurrences.or(records::standard(t, &service, limit, false, cat)).unify().boxed()
}

/// The shape of the occurrences' answer in the OpenAPI document.
pub(super) fn occurrences_schema() -> serde_json::Value {
    serde_json::json!({"type": "object", "required": ["items"], "properties": {"items": {"type": "array",
        "items": {"type": "object", "required": ["at", "due_date"], "properties": {
            "at": {"type": "string", "format": "date-time"},
            "due_date": {"type": "string", "format": "date"}}}}}})
}
