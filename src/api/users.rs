//! `/api/users` and `/api/users/{id}`: the users; `DELETE` deactivates
//! (`is_active=false`), so history keeps pointing at a real user.

use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;

use super::records::{self, DeleteMeans};

pub fn routes(service: RecordService, body_limit: u64) -> BoxedFilter<(Response,)> {
    records::routes(TableKind::Users, service, body_limit, DeleteMeans::Deactivate)
}
