//! Users: `GET, POST /api/users`; `GET, PATCH, DELETE /api/users/{id}` (`DELETE`
//! deactivates: `is_active=false`, so history keeps pointing at a real user).
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;

use super::catalog::Catalog;
use super::records;

pub fn routes(service: RecordService, limit: u64, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    records::standard(TableKind::Users, &service, limit, false, cat)
}
