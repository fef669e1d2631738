//! Tasks:
//! - `GET, POST /api/tasks`; `GET, PATCH, PUT, DELETE /api/tasks/{id}` (a deleted
//!   task takes its comments with it and unlinks its documents)
//! - `GET /api/tasks/{id}/history`: the task's events, oldest first

use std::sync::Arc;

use warp::Filter;

use super::catalog::{Catalog, Shape};
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;

use super::gate::principal;
use super::records::{self, DeleteMeans, with_service};
use super::reply::{list_query, page_response, respond};
use crate::auth::policy::{Action, Area, Scope};
use crate::service::access::{Denied, Principal};

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
                match s.get(TableKind::Tasks, id) {
                    Ok((task, _)) => s.check_read(&p, TableKind::Tasks, id, &task)?,
                    // A deleted task's history is for those who read every task.
                    Err(_) if p.scope(Area::Tasks, Action::Read) != Scope::All => {
                        return Err(Denied::Hidden { table: TableKind::Tasks, id }.into());
                    }
                    Err(_) => {}
                }
                let query = list_query(&params)?;
                let page = s.task_history(id, &query)?;
                Ok(page_response(TableKind::Events, &page, query.fields.as_deref()))
            })())
        });
    records::standard(t, &service, limit, true, DeleteMeans::RemoveTask, cat).or(history).unify().boxed()
}
