//! The hot read, `GET /api/tasks/{id}`, answered before warp's filter chain: a board
//! or an integration reads single tasks far more than anything else, and the chain
//! (two dozen routes tried in turn, CORS, recovery, the access filter) cost more than
//! the read itself (BENCHMARKS.md, "One door"). The answer is byte for byte the one
//! the chain gives: the same gate, the same use case, the same JSON, ETag, request id,
//! access line and metrics. Anything unusual about the request (a query string, an
//! `Origin` for CORS to judge, a `HEAD`, a path that is not exactly this one) goes the
//! ordinary way.

use std::sync::Arc;
use std::time::Instant;

use warp::http::{Method, Request, StatusCode};
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;
use crate::service::auth::Security;
use crate::service::records::RecordView;

use super::gate::Caller;
use super::json::RowJson;
use super::problem::ApiError;
use super::reply::bytes_response;

/// What the fast path needs: the gate's security and the record use cases.
#[derive(Clone)]
pub struct FastReads {
    security: Arc<Security>,
    records: RecordService,
}

impl FastReads {
    pub fn new(security: Arc<Security>, records: RecordService) -> FastReads {
        FastReads { security, records }
    }

    /// The answer to `request` when it is a plain `GET /api/tasks/{id}`; None sends it
    /// through the filter chain.
    pub fn answer<B>(&self, request: &Request<B>, caller: &Caller) -> Option<Response> {
        if request.method() != Method::GET
            || request.uri().query().is_some()
            || request.headers().contains_key(warp::http::header::ORIGIN)
        {
            return None;
        }
        let path = request.uri().path();
        let id = task_id(path)?;
        // A task this server has not seen may be another server's, just made: the
        // ordinary way catches up with the database first.
        if !self.records.has(TableKind::Tasks, id) {
            return None;
        }
        let start = Instant::now();
        let request_id = super::request_id(request.headers().get("x-request-id").and_then(|v| v.to_str().ok()));
        let mut response = self.read(caller, path, id).unwrap_or_else(|e| e.into_response());
        // The label `metrics::route_label` gives every path this one takes.
        super::log_access(
            &request_id,
            &Method::GET,
            path,
            Some("/api/tasks/{id}"),
            caller.name(),
            start,
            &mut response,
        );
        Some(response)
    }

    fn read(&self, caller: &Caller, path: &str, id: u64) -> Result<Response, ApiError> {
        super::gate::admit(&self.security, caller, &Method::GET, path)?;
        let p = caller.principal.clone()?;
        let RecordView { table, row, etag, columns } = self.records.read(&p, TableKind::Tasks, id)?;
        // About the row's own length plus the names: one allocation, no regrowth.
        let mut body = Vec::with_capacity(row.line().len() * 2 + 256);
        let json = RowJson { table: &table, row: &row, columns: columns.as_deref() };
        if serde_json::to_writer(&mut body, &json).is_err() {
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the record could not be written as JSON"));
        }
        Ok(bytes_response(StatusCode::OK, body, Some(&etag)))
    }
}

/// `/api/tasks/42` → 42, as warp's `u64` parameter would read it; anything else None.
fn task_id(path: &str) -> Option<u64> {
    let digits = path.strip_prefix("/api/tasks/")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_task_path_is_taken() {
        assert_eq!(task_id("/api/tasks/42"), Some(42));
        assert_eq!(task_id("/api/tasks/"), None);
        assert_eq!(task_id("/api/tasks/42/"), None);
        assert_eq!(task_id("/api/tasks/42/history"), None);
        assert_eq!(task_id("/api/tasks/4x"), None);
        assert_eq!(task_id("/api/tasks/+4"), None);
        assert_eq!(task_id("/api/tasks/99999999999999999999999"), None);
        assert_eq!(task_id("/api/comments/1"), None);
    }
}
