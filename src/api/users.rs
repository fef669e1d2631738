//! Users: `GET, POST /api/users`; `GET, PATCH, DELETE /api/users/{id}` (`DELETE`
//! deactivates: `is_active=false`, so history keeps pointing at a real user).

use warp::Filter;

use super::catalog::Catalog;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;

use super::records::{self, DeleteMeans, with_service};

pub fn routes(service: RecordService, limit: u64, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    let t = TableKind::Users;
    let svc = || with_service(service.clone());
    records::list(t, svc(), cat)
        .or(records::create(t, svc(), limit, cat))
        .unify()
        .or(records::get(t, svc(), cat))
        .unify()
        .or(records::update(t, svc(), limit, false, cat))
        .unify()
        .or(records::delete(t, svc(), DeleteMeans::Deactivate, cat))
        .unify()
        .boxed()
}
