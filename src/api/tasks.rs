//! `/api/tasks` and `/api/tasks/{id}`: the tasks (routes in [`super::records`]).

use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;

use super::records::{self, DeleteMeans};

pub fn routes(service: RecordService, body_limit: u64) -> BoxedFilter<(Response,)> {
    records::routes(TableKind::Tasks, service, body_limit, DeleteMeans::Remove)
}
