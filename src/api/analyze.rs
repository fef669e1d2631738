//! `POST /api/tasks/{id}/analyze`: an AI analysis of the task (`service::analysis`).
//! The body is optional: `{"refresh": true}` skips the cache. 200 always carries an
//! analysis (from the model, or from the server's own facts with `llm_error`); 429
//! with `Retry-After` when the caller's daily quota is spent.

use std::sync::Arc;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::service::access::Principal;
use crate::service::analysis::{AnalysisError, Analyst};

use super::catalog::{Catalog, Shape};
use super::gate::principal;
use super::json::parse_object;
use super::problem::{ApiError, Refused};
use super::reply::{bytes_response, respond};

/// `{"refresh": true}` with room to spare.
const BODY_LIMIT: u64 = 1024;

pub fn routes(analyst: Analyst, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    cat.add(
        "POST",
        "/api/tasks/{id}/analyze",
        "tasks",
        "AI analysis of the task (cached; {\"refresh\": true} skips the cache)",
        None,
        Shape::Other { body: Some("Analyze"), response: "Analysis" },
    );
    warp::path!("api" / "tasks" / u64 / "analyze")
        .and(warp::post())
        // The body is optional, so a bare `curl -X POST` (no Content-Length) is fine;
        // a long one is refused before it is read.
        .and(
            warp::header::optional::<u64>("content-length")
                .and_then(|length: Option<u64>| async move {
                    match length {
                        Some(n) if n > BODY_LIMIT => Err(warp::reject::custom(Refused(ApiError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "an analysis takes at most {\"refresh\": true} as its body",
                        )))),
                        _ => Ok(()),
                    }
                })
                .untuple_one(),
        )
        .and(warp::body::bytes())
        .and(warp::any().map(move || analyst.clone()))
        .and(principal())
        .then(|id: u64, body: bytes::Bytes, analyst: Analyst, p: Arc<Principal>| async move {
            respond(
                async {
                    let refresh = refresh_of(&body)?;
                    let analysis = analyst.analyze(&p, id, refresh).await.map_err(|e| match e {
                        AnalysisError::Service(e) => ApiError::from(e),
                        AnalysisError::QuotaSpent(seconds) => ApiError {
                            retry_after: Some(seconds),
                            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string())
                        },
                    })?;
                    let body = serde_json::to_vec(&analysis).map_err(|_| {
                        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the analysis could not be written")
                    })?;
                    Ok(bytes_response(StatusCode::OK, body, None))
                }
                .await,
            )
        })
        .boxed()
}

/// `refresh` from an empty body or `{"refresh": bool}`; anything else is a 400/422.
fn refresh_of(body: &[u8]) -> Result<bool, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(false);
    }
    let value = parse_object(body).map_err(|e| ApiError::bad_request(format!("the body is not a JSON object: {e}")))?;
    let map = value.as_object().ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    let mut refresh = false;
    for (key, v) in map {
        match (key.as_str(), v) {
            ("refresh", serde_json::Value::Bool(b)) => refresh = *b,
            ("refresh", _) => {
                return Err(ApiError::invalid(vec![crate::domain::values::FieldError::new(
                    "refresh",
                    "must be true or false",
                )]));
            }
            (other, _) => {
                return Err(ApiError::invalid(vec![crate::domain::values::FieldError::new(other, "unknown field")]));
            }
        }
    }
    Ok(refresh)
}
