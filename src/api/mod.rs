//! The REST API: warp filters, one file per resource. This is the one place where
//! errors become HTTP statuses ([`problem`]).

pub mod analyze;
pub mod auth;
pub mod backups;
pub mod bindings;
pub mod board;
pub mod bodies;
pub mod calendar;
pub mod catalog;
pub mod checklists;
pub mod comments;
pub mod custom_fields;
pub mod docs;
pub mod events;
pub mod export;
pub mod fast;
pub mod feedback;
pub mod gate;
pub mod health;
pub mod json;
pub mod keys;
pub mod metrics;
pub mod multipart;
pub mod openapi;
pub mod problem;
pub mod records;
pub mod recurring;
pub mod reply;
pub mod scheduler;
pub mod stats;
pub mod tasks;
pub mod users;
pub mod ws;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::service::Services;

/// Every route, with CORS, request ids, metrics and problem+json errors.
pub fn routes(services: &Services, jobs: crate::service::jobs::Jobs, started: Instant) -> BoxedFilter<(Response,)> {
    let Services { config, store, records, security, analyst, chats } = services.clone();
    let body_limit = config.performance.max_file_size_mb.max(1) * 1024 * 1024;
    let mut cat = catalog::Catalog::default();
    let cat = &mut cat;
    // Matched in this order: the resources a board reads all the time first, the
    // system's routes after, the documentation last (it is built last, once the catalog
    // is complete). Every route a request passes costs a little.
    let mounted = tasks::routes(records.clone(), body_limit, cat)
        .or(comments::routes(records.clone(), body_limit, cat))
        .unify()
        .or(checklists::routes(records.clone(), body_limit, cat))
        .unify()
        .or(recurring::routes(records.clone(), body_limit, cat))
        .unify()
        .or(calendar::routes(records.clone(), security.clone(), cat))
        .unify()
        .or(analyze::routes(analyst.clone(), cat))
        .unify()
        .or(feedback::routes(records.clone(), cat))
        .unify()
        .or(docs::routes(records.clone(), body_limit, cat))
        .unify()
        .or(users::routes(services, body_limit, cat))
        .unify()
        .or(events::routes(records.clone(), cat))
        .unify()
        .or(stats::routes(records.clone(), cat))
        .unify()
        .or(export::routes(records.clone(), config.export.clone(), config.performance.csv_read_batch_size, cat))
        .unify()
        .or(auth::routes(security.clone(), chats.clone(), cat))
        .unify()
        .or(bindings::routes(chats.clone(), cat))
        .unify()
        .or(keys::routes(records.clone(), cat))
        .unify()
        .or(ws::routes(services.viewer(), config.server.max_connections, cat))
        .unify()
        .or(health::routes(store.clone(), config.clone(), analyst, chats.clone(), started, cat))
        .unify()
        .or(metrics::routes(store.clone(), cat))
        .unify()
        .or(backups::routes(store, config.clone(), cat))
        .unify()
        .or(scheduler::routes(jobs, body_limit, cat))
        .unify()
        .or(board::routes(&config))
        .unify()
        .boxed();
    // Checked when the configuration was read.
    let custom = crate::domain::fields::declare(&config.tasks.fields).unwrap_or_default();
    let docs = openapi::routes(cat, &config.tasks.statuses, &custom, config.security.enabled);
    let mounted_ops = std::sync::Arc::new(catalog::Catalog { operations: cat.operations.clone() });
    let api = gate::gate(security)
        .and(mounted.or(docs).unify())
        .with(cors(&config.server.cors_origins))
        .map(warp::Reply::into_response)
        .recover(problem::recover)
        .unify()
        .boxed();
    observe(api, mounted_ops)
}

/// CORS for the configured origins (checked when the configuration was read).
fn cors(origins: &[String]) -> warp::cors::Builder {
    let builder = warp::cors()
        .allow_methods(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allow_headers(["content-type", "authorization", "if-match", "x-request-id"])
        .expose_headers(["etag", "location", "x-request-id", "x-total-count", "x-export-truncated"])
        .max_age(600);
    if origins.iter().any(|o| o == "*") {
        builder.allow_any_origin()
    } else {
        builder.allow_origins(origins.iter().map(String::as_str))
    }
}

/// The request's own `X-Request-Id` when it is a sane one (at most 128 visible ASCII
/// characters), or a new one.
pub fn request_id(sent: Option<&str>) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    sent.filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(String::from)
        .unwrap_or_else(|| format!("{:08x}", NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// The end of every request: one access line (never the query string: it may carry a
/// token), the request counted in the metrics (under `route` when the caller knows its
/// label), and its id echoed.
pub fn log_access(
    id: &str,
    method: &warp::http::Method,
    path: &str,
    route: Option<&str>,
    user: &str,
    start: Instant,
    response: &mut Response,
) {
    let seconds = start.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    tracing::info!(target: "access", request_id = %id, user = %user, "{} {} {} {:.1}ms", method, path, status, seconds * 1e3);
    match route {
        Some(route) => metrics::record_route(route, method, status, seconds),
        None => metrics::record_request(path, method, status, seconds),
    }
    if let Ok(value) = warp::http::HeaderValue::from_str(id) {
        response.headers_mut().insert("x-request-id", value);
    }
}

/// Echoes the request's `X-Request-Id` (or gives one), logs one access line, and
/// counts the request in the metrics.
fn observe(inner: BoxedFilter<(Response,)>, mounted: std::sync::Arc<catalog::Catalog>) -> BoxedFilter<(Response,)> {
    warp::header::optional::<String>("x-request-id")
        .and(warp::method())
        .and(warp::path::full())
        .and(warp::ext::optional::<gate::Caller>())
        .map(|id: Option<String>, method, path, caller: Option<gate::Caller>| {
            let id = request_id(id.as_deref());
            let user = caller.map(|c| c.name().to_string()).unwrap_or_else(|| "-".into());
            (id, method, path, user, Instant::now())
        })
        .untuple_one()
        .and(inner)
        .map(
            move |id: String,
                  method: warp::http::Method,
                  path: warp::path::FullPath,
                  user: String,
                  start: Instant,
                  mut response: Response| {
                log_access(&id, &method, path.as_str(), None, &user, start, &mut response);
                // A 405 says which methods the path has (RFC 9110).
                if response.status() == warp::http::StatusCode::METHOD_NOT_ALLOWED {
                    let methods = mounted.methods_of(path.as_str()).join(", ");
                    if let Ok(value) = warp::http::HeaderValue::from_str(&methods) {
                        response.headers_mut().insert(warp::http::header::ALLOW, value);
                    }
                }
                response
            },
        )
        .boxed()
}
