//! `GET /api/events`: the event log, filterable by `entity`, `entity_id`, `type`,
//! `user_id`, `after_id`, `since` (and the list conventions); oldest first unless
//! `sort` says otherwise.

use warp::Filter;

use super::catalog::{Catalog, Shape};
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;

use super::records::with_service;
use super::reply::{list_query, page_response, respond};

pub fn routes(service: RecordService, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    cat.add(
        "GET",
        "/api/events",
        "events",
        "The event log (entity, entity_id, type, user_id, after_id, since)",
        Some(TableKind::Events),
        Shape::List,
    );
    warp::path!("api" / "events")
        .and(warp::get())
        .and(warp::query::<Vec<(String, String)>>())
        .and(with_service(service))
        .map(|params: Vec<(String, String)>, s: RecordService| {
            respond((|| {
                let mut query = list_query(&params)?;
                if query.sort.is_empty() {
                    query.sort = vec![("id".into(), false)];
                }
                let page = s.list(TableKind::Events, &query)?;
                Ok(page_response(TableKind::Events, &page, query.fields.as_deref()))
            })())
        })
        .boxed()
}
