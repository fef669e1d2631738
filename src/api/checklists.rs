//! A task's checklist:
//! - `GET /api/tasks/{id}/checklist`: its items in order (`position`, then id)
//! - `POST /api/tasks/{id}/checklist`: `{text, done?, position?}` → 201 (last unless
//!   `position` says where)
//! - `PATCH /api/checklist/{id}` (tick: `{done: true}`, reword, move: `{position}`),
//!   `DELETE /api/checklist/{id}`
//!
//! Whoever may change the task's status changes its checklist; whoever reads the task
//! reads it.

use std::sync::Arc;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;
use crate::service::access::Principal;

use super::catalog::{Catalog, Shape};
use super::gate::principal;
use super::records::{self, json_body, with_service};
use super::reply::{body_fields, list_query, page_response, respond};

pub fn routes(service: RecordService, limit: u64, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    let t = TableKind::Checklists;
    cat.add("GET", "/api/tasks/{id}/checklist", "checklist", "The task's checklist, in order", Some(t), Shape::List);
    cat.add(
        "POST",
        "/api/tasks/{id}/checklist",
        "checklist",
        "Add an item to the task's checklist: {text, done?, position?}",
        Some(t),
        Shape::Create,
    );
    let svc = || with_service(service.clone());
    let list = warp::path!("api" / "tasks" / u64 / "checklist")
        .and(warp::get())
        .and(warp::query::<Vec<(String, String)>>())
        .and(svc())
        .and(principal())
        .map(move |task: u64, params: Vec<(String, String)>, s: RecordService, p: Arc<Principal>| {
            respond((|| {
                let (page, query) = s.checklist(&p, task, list_query(&params)?)?;
                Ok(page_response(t, &page, query.fields.as_deref()))
            })())
        });
    let create = warp::path!("api" / "tasks" / u64 / "checklist")
        .and(warp::post())
        .and(json_body(limit))
        .and(svc())
        .and(principal())
        .then(move |task: u64, bytes: bytes::Bytes, s: RecordService, p: Arc<Principal>| async move {
            respond(
                async {
                    let committed = s.add_checklist_item(&p, task, body_fields(t, &bytes)?).await?;
                    records::created_response(t, &s, &committed)
                }
                .await,
            )
        });
    list.or(create).unify().or(records::one_record(t, &service, limit, cat)).unify().boxed()
}
