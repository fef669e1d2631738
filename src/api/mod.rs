//! The REST API: warp filters, one file per resource. This is the one place where
//! errors become HTTP statuses ([`problem`]).

pub mod comments;
pub mod docs;
pub mod events;
pub mod export;
pub mod health;
pub mod json;
pub mod problem;
pub mod records;
pub mod reply;
pub mod stats;
pub mod tasks;
pub mod users;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::config::Config;
use crate::service::RecordService;
use crate::store::Storage;

/// Every route, with request ids and problem+json errors.
pub fn routes(store: Arc<dyn Storage>, config: &Config, started: Instant) -> BoxedFilter<(Response,)> {
    let body_limit = config.performance.max_file_size_mb.max(1) * 1024 * 1024;
    let records = RecordService::new(store.clone(), &config.tasks.statuses);
    let api = health::routes(store, started, config.security.enabled)
        .or(tasks::routes(records.clone(), body_limit))
        .unify()
        .or(comments::routes(records.clone(), body_limit))
        .unify()
        .or(docs::routes(records.clone(), body_limit))
        .unify()
        .or(users::routes(records.clone(), body_limit))
        .unify()
        .or(events::routes(records.clone()))
        .unify()
        .or(stats::routes(records.clone()))
        .unify()
        .or(export::routes(records, config.export.clone()))
        .unify()
        .recover(problem::recover)
        .unify()
        .boxed();
    with_request_id(api)
}

/// Echoes the request's `X-Request-Id`, or gives one, and logs one line per request.
fn with_request_id(inner: BoxedFilter<(Response,)>) -> BoxedFilter<(Response,)> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    warp::header::optional::<String>("x-request-id")
        .and(warp::method())
        .and(warp::path::full())
        .map(|id: Option<String>, method, path| {
            let id = id
                .filter(|v| !v.is_empty() && v.len() <= 128)
                .unwrap_or_else(|| format!("{:08x}", NEXT.fetch_add(1, Ordering::Relaxed)));
            (id, method, path, Instant::now())
        })
        .untuple_one()
        .and(inner)
        .map(
            |id: String,
             method: warp::http::Method,
             path: warp::path::FullPath,
             start: Instant,
             mut response: Response| {
                // One line per request; the user is `anonymous` until the security issue.
                tracing::info!(
                    target: "access",
                    request_id = %id,
                    user = "anonymous",
                    "{} {} {} {:.1}ms",
                    method,
                    path.as_str(),
                    response.status().as_u16(),
                    start.elapsed().as_secs_f64() * 1e3,
                );
                if let Ok(value) = warp::http::HeaderValue::from_str(&id) {
                    response.headers_mut().insert("x-request-id", value);
                }
                response
            },
        )
        .boxed()
}
