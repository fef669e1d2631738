//! `GET /api/health`: status, version, uptime, and each table's file state (readable,
//! or the precise problem with file, line and column).

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::store::Storage;

pub fn routes(store: Arc<dyn Storage>, started: Instant, security_enabled: bool) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "health")
        .and(warp::get())
        .map(move || {
            let tables = store.status();
            let healthy = tables.iter().all(|t| t.readable);
            let body = json!({
                "status": if healthy { "ok" } else { "degraded" },
                "version": env!("CARGO_PKG_VERSION"),
                "uptime_seconds": started.elapsed().as_secs(),
                "security_enabled": security_enabled,
                "last_event_id": store.last_event_id(),
                "tables": tables,
            });
            let mut response = Response::new(serde_json::to_vec(&body).unwrap_or_default().into());
            response
                .headers_mut()
                .insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("application/json"));
            response
        })
        .boxed()
}
