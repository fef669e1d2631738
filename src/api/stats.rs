//! `GET /api/stats`: counts by status, priority and assignee; overdue; created and
//! completed per day; mean time to complete.

use std::sync::Arc;

use warp::Filter;

use super::catalog::{Catalog, Shape};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::service::RecordService;

use super::gate::principal;
use super::records::with_service;
use super::reply::{json_response, respond};
use crate::service::access::Principal;

pub fn routes(service: RecordService, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    cat.add(
        "GET",
        "/api/stats",
        "stats",
        "Counts by status, priority, assignee (and ?group_by=COLUMN); overdue; per day; mean time to complete",
        None,
        Shape::Other { body: None, response: "Stats" },
    );
    warp::path!("api" / "stats")
        .and(warp::get())
        .and(warp::query::<Vec<(String, String)>>())
        .and(with_service(service))
        .and(principal())
        .map(|params: Vec<(String, String)>, s: RecordService, p: Arc<Principal>| {
            respond((|| {
                let mut group_by = None;
                for (name, value) in &params {
                    match name.as_str() {
                        "group_by" => group_by = Some(value.as_str()),
                        other => {
                            return Err(super::problem::ApiError::invalid(vec![
                                crate::domain::values::FieldError::new(
                                    other,
                                    "is not a parameter of /api/stats (group_by=COLUMN is)",
                                ),
                            ]));
                        }
                    }
                }
                let stats = s.stats(&p, group_by)?;
                Ok(json_response(StatusCode::OK, &serde_json::to_value(stats).unwrap_or_default(), None))
            })())
        })
        .boxed()
}
