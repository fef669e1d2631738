//! Comments:
//! - `GET /api/tasks/{id}/comments`: the task's comments (list conventions apply)
//! - `POST /api/tasks/{id}/comments`: `{message}` → 201
//! - `PATCH /api/comments/{id}`, `DELETE /api/comments/{id}`

use std::sync::Arc;

use warp::Filter;

use super::catalog::{Catalog, Shape};
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;

use super::gate::principal;
use super::records::{self, json_body, with_service};
use super::reply::{body_fields, list_query, page_response, respond};
use crate::service::access::Principal;

pub fn routes(service: RecordService, limit: u64, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    cat.add(
        "GET",
        "/api/tasks/{id}/comments",
        "comments",
        "The task's comments",
        Some(TableKind::Comments),
        Shape::List,
    );
    cat.add(
        "POST",
        "/api/tasks/{id}/comments",
        "comments",
        "Comment on a task: {message}",
        Some(TableKind::Comments),
        Shape::Create,
    );
    let t = TableKind::Comments;
    let svc = || with_service(service.clone());
    let list = warp::path!("api" / "tasks" / u64 / "comments")
        .and(warp::get())
        .and(warp::query::<Vec<(String, String)>>())
        .and(svc())
        .and(principal())
        .map(|task: u64, params: Vec<(String, String)>, s: RecordService, p: Arc<Principal>| {
            respond((|| {
                let (page, query) = s.comments(&p, task, list_query(&params)?)?;
                Ok(page_response(TableKind::Comments, &page, query.fields.as_deref()))
            })())
        });
    let create = warp::path!("api" / "tasks" / u64 / "comments")
        .and(warp::post())
        .and(json_body(limit))
        .and(svc())
        .and(principal())
        .then(|task: u64, bytes: bytes::Bytes, s: RecordService, p: Arc<Principal>| async move {
            respond(
                async {
                    let committed = s.comment(&p, task, body_fields(TableKind::Comments, &bytes)?).await?;
                    records::created_response(TableKind::Comments, &s, &committed)
                }
                .await,
            )
        });
    list.or(create).unify().or(records::one_record(t, &service, limit, cat)).unify().boxed()
}
