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
        "Counts by status, priority, assignee (and ?group_by=COLUMN), of the tasks created between ?since= and \
         ?until= (dates, both optional); overdue; per day; mean time to complete; done and ratings per assignee",
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
                let mut range = crate::service::stats::Range::default();
                let day = |name: &str, value: &str| {
                    value.parse::<chrono::NaiveDate>().map_err(|_| {
                        super::problem::ApiError::invalid(vec![crate::domain::values::FieldError::new(
                            name,
                            "a date such as 2026-12-01",
                        )])
                    })
                };
                for (name, value) in &params {
                    match name.as_str() {
                        "group_by" => group_by = Some(value.as_str()),
                        "since" => range.since = Some(day(name, value)?),
                        "until" => range.until = Some(day(name, value)?),
                        other => {
                            return Err(super::problem::ApiError::invalid(vec![
                                crate::domain::values::FieldError::new(
                                    other,
                                    "is not a parameter of /api/stats (group_by=COLUMN, since=DATE, until=DATE are)",
                                ),
                            ]));
                        }
                    }
                }
                if let (Some(since), Some(until)) = (range.since, range.until)
                    && since > until
                {
                    return Err(super::problem::ApiError::invalid(vec![crate::domain::values::FieldError::new(
                        "until",
                        "comes before since",
                    )]));
                }
                let stats = s.stats(&p, group_by, range)?;
                Ok(json_response(StatusCode::OK, &serde_json::to_value(stats).unwrap_or_default(), None))
            })())
        })
        .boxed()
}
