//! `GET /api/events`: the event log, filterable by `entity`, `entity_id`, `type`,
//! `user_id`, `after_id`, `since` (and the list conventions); oldest first unless
//! `sort` says otherwise.

use std::sync::Arc;

use warp::Filter;

use super::catalog::{Catalog, Shape};
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;

use super::gate::principal;
use super::records::with_service;
use super::reply::{list_query, page_response, respond};
use crate::service::access::Principal;

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
        .and(principal())
        .map(|params: Vec<(String, String)>, s: RecordService, p: Arc<Principal>| {
            respond((|| {
                let mut query = list_query(&params)?;
                if query.sort.is_empty() {
                    query.sort = vec![("id".into(), false)];
                }
                let (page, query) = s.list(&p, TableKind::Events, query)?;
                Ok(page_response(TableKind::Events, &page, query.fields.as_deref()))
            })())
        })
        .boxed()
}
