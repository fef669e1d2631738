//! `GET /metrics`: Prometheus text format: requests by route, method and status and
//! their latency, table sizes, commit batch sizes, fsync latency, cache hits, folds.

use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use warp::Filter;

use super::catalog::{Catalog, Shape};
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, header};
use warp::reply::Response;

use crate::store::Storage;

/// The process's recorder: one per process (tests start many servers in one).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0])
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may be installed already (embedding); then ours only renders.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

pub fn routes(store: Arc<dyn Storage>, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    cat.add(
        "GET",
        "/metrics",
        "system",
        "Prometheus metrics",
        None,
        Shape::Other { body: None, response: "prometheus" },
    );
    warp::path!("metrics")
        .and(warp::get())
        .map(move || {
            // Values read at scrape time.
            for table in store.status() {
                if let Some(rows) = table.rows {
                    metrics::gauge!("taskboard_table_rows", "table" => table.table).set(rows as f64);
                }
                metrics::gauge!("taskboard_table_readable", "table" => table.table).set(if table.readable {
                    1.0
                } else {
                    0.0
                });
            }
            let stats = store.stats();
            let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
            metrics::counter!("taskboard_commits_total").absolute(get(&stats.commits));
            metrics::counter!("taskboard_commit_batches_total").absolute(get(&stats.batches));
            metrics::counter!("taskboard_folds_total").absolute(get(&stats.folds));
            metrics::counter!("taskboard_cache_hits_total").absolute(get(&stats.cache_hits));
            metrics::counter!("taskboard_cache_misses_total").absolute(get(&stats.cache_misses));
            metrics::gauge!("taskboard_last_event_id").set(store.last_event_id() as f64);
            let mut response = Response::new(handle().render().into());
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
            response
        })
        .boxed()
}

/// Counts a request and records its duration under its route, method and status. The
/// registry is asked for the pair of handles once per thread and label set, not on
/// every request (a labelled lookup costs more than the rest of a small request's
/// bookkeeping).
pub fn record_request(path: &str, method: &warp::http::Method, status: u16, seconds: f64) {
    record_route(&route_label(path, status), method, status, seconds);
}

/// The same, for a caller that knows its route's label (the fast read).
pub fn record_route(route: &str, method: &warp::http::Method, status: u16, seconds: f64) {
    use std::cell::RefCell;
    use std::collections::HashMap;
    type Handles = (metrics::Counter, metrics::Histogram);
    thread_local! {
        static HANDLES: RefCell<HashMap<(String, warp::http::Method, u16), Handles>> = RefCell::new(HashMap::new());
    }
    /// Label sets are few (ids are folded, unknown paths are one label); an unusual
    /// method could still add some, so the cache stops growing here.
    const MAX_CACHED: usize = 512;
    let register = |route: &str| -> Handles {
        let labels = [("route", route.to_string()), ("method", method.to_string()), ("status", status.to_string())];
        let counter = metrics::counter!("taskboard_http_requests_total", &labels);
        let histogram = metrics::histogram!("taskboard_http_request_duration_seconds", "route" => route.to_string());
        (counter, histogram)
    };
    HANDLES.with(|cell| {
        let mut handles = cell.borrow_mut();
        let key = (route.to_string(), method.clone(), status);
        let (counter, histogram) = match handles.get(&key) {
            Some(h) => h.clone(),
            None if handles.len() < MAX_CACHED => {
                let h = register(&key.0);
                handles.insert(key, h.clone());
                h
            }
            None => register(&key.0),
        };
        counter.increment(1);
        histogram.record(seconds);
    });
}

/// A route label with ids folded, so labels stay few whatever the paths.
pub fn route_label(path: &str, status: u16) -> String {
    const KNOWN: [&str; 11] =
        ["health", "tasks", "users", "comments", "docs", "events", "stats", "export", "openapi.json", "system", "auth"];
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if parts.first() == Some(&"board") {
        // The board's files and its deep links: one label, however many paths.
        return "/board".into();
    }
    let known = match parts.as_slice() {
        [""] | ["metrics"] => true,
        ["api", second, ..] => KNOWN.contains(second) && parts.len() <= 5,
        _ => false,
    };
    if !known || (status == 404 && parts.len() > 3) {
        return "unmatched".into();
    }
    let folded: Vec<&str> =
        parts.iter().map(|p| if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) { "{id}" } else { p }).collect();
    format!("/{}", folded.join("/"))
}

#[cfg(test)]
mod tests {
    use super::route_label;

    #[test]
    fn route_labels_fold_ids_and_unknown_paths() {
        assert_eq!(route_label("/api/tasks/42", 200), "/api/tasks/{id}");
        assert_eq!(route_label("/api/tasks/42/comments", 201), "/api/tasks/{id}/comments");
        assert_eq!(route_label("/api/whatever-you-like", 404), "unmatched");
        assert_eq!(route_label("/wp-login.php", 404), "unmatched");
        assert_eq!(route_label("/metrics", 200), "/metrics");
        assert_eq!(route_label("/board/tasks/42", 200), "/board");
    }
}
