//! Feedback on finished work:
//! - `GET /api/tasks/{id}/feedback`: the task's rating (none or one), for whoever reads the task
//! - `POST /api/tasks/{id}/feedback`: `{rating: 1..5, comment}` by the task's creator once
//!   it is done; a second one is a 409

use std::sync::Arc;

use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;
use crate::service::access::Principal;

use super::catalog::{Catalog, Shape};
use super::gate::principal;
use super::json::whole;
use super::problem::ApiError;
use super::records::{committed_response, json_body, with_service};
use super::reply::{list_query, page_response, respond};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rating {
    rating: Option<serde_json::Value>,
    comment: Option<String>,
}

pub fn routes(service: RecordService, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    cat.add(
        "GET",
        "/api/tasks/{id}/feedback",
        "tasks",
        "The rating of a finished task",
        Some(TableKind::Feedback),
        Shape::List,
    );
    cat.add(
        "POST",
        "/api/tasks/{id}/feedback",
        "tasks",
        "Rate a finished task (its creator, once): {rating, comment}",
        Some(TableKind::Feedback),
        Shape::Other { body: Some("Rating"), response: "Feedback" },
    );
    let svc = || with_service(service.clone());
    let read = warp::path!("api" / "tasks" / u64 / "feedback")
        .and(warp::get())
        .and(warp::query::<Vec<(String, String)>>())
        .and(svc())
        .and(principal())
        .map(|task: u64, params: Vec<(String, String)>, s: RecordService, p: Arc<Principal>| {
            respond((|| {
                let query = list_query(&params)?;
                let fields = query.fields.clone();
                let page = s.feedback(&p, task, query)?;
                Ok(page_response(TableKind::Feedback, &page, fields.as_deref()))
            })())
        });
    let rate = warp::path!("api" / "tasks" / u64 / "feedback")
        .and(warp::post())
        .and(json_body(16 * 1024))
        .and(svc())
        .and(principal())
        .then(|task: u64, bytes: bytes::Bytes, s: RecordService, p: Arc<Principal>| async move {
            respond(
                async {
                    let body: Rating = super::reply::typed_body(&bytes)?;
                    let rating = match body.rating {
                        None | Some(serde_json::Value::Null) => None,
                        Some(value) => Some(value.as_number().and_then(whole).map(|n| n as i64).ok_or_else(|| {
                            ApiError::invalid(vec![crate::domain::values::FieldError::new(
                                "rating",
                                "must be a whole number from 1 to 5",
                            )])
                        })?),
                    };
                    let committed = s.rate(&p, task, rating, body.comment).await?;
                    let mut response = committed_response(TableKind::Feedback, &s, StatusCode::CREATED, &committed)?;
                    if let Ok(location) = HeaderValue::from_str(&format!("/api/tasks/{task}/feedback")) {
                        response.headers_mut().insert(header::LOCATION, location);
                    }
                    Ok(response)
                }
                .await,
            )
        });
    read.or(rate).unify().boxed()
}
