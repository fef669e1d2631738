//! Tasks:
//! - `GET, POST /api/tasks`; `GET, PATCH, PUT, DELETE /api/tasks/{id}` (a deleted
//!   task takes its comments with it and unlinks its documents)
//! - `GET /api/tasks/{id}/history`: the task's events, oldest first
//! - `POST /api/tasks/{id}/take`: a member or manager takes an open, unassigned task

use std::sync::Arc;

use warp::Filter;

use super::catalog::{Catalog, Shape};
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;

use super::gate::principal;
use super::records::{self, with_service};
use super::reply::{list_query, page_response, respond};
use crate::service::access::Principal;

pub fn routes(service: RecordService, limit: u64, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    cat.add(
        "GET",
        "/api/tasks/{id}/history",
        "tasks",
        "The task's events, oldest first",
        Some(TableKind::Events),
        Shape::List,
    );
    let t = TableKind::Tasks;
    let svc = || with_service(service.clone());
    let history = warp::path!("api" / "tasks" / u64 / "history")
        .and(warp::get())
        .and(warp::query::<Vec<(String, String)>>())
        .and(svc())
        .and(principal())
        .map(|id: u64, params: Vec<(String, String)>, s: RecordService, p: Arc<Principal>| {
            respond((|| {
                let query = list_query(&params)?;
                let page = s.history(&p, id, &query)?;
                Ok(page_response(TableKind::Events, &page, query.fields.as_deref()))
            })())
        });
    cat.add(
        "POST",
        "/api/tasks/{id}/take",
        "tasks",
        "Take an open, unassigned task: you become its assignee (409 when someone has it)",
        Some(t),
        Shape::Other { body: None, response: "Task" },
    );
    let take = warp::path!("api" / "tasks" / u64 / "take")
        .and(warp::post())
        .and(warp::header::optional::<String>("if-match"))
        .and(svc())
        .and(principal())
        .then(move |id: u64, tag: Option<String>, s: RecordService, p: Arc<Principal>| async move {
            respond(
                async {
                    let committed = s.take(&p, id, super::reply::if_match(tag)?).await?;
                    records::committed_response(t, &s, warp::http::StatusCode::OK, &committed)
                }
                .await,
            )
        });
    records::standard(t, &service, limit, true, cat).or(history).unify().or(take).unify().boxed()
}
