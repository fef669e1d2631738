//! Building responses: JSON with the right headers, pages of records, and the
//! request context. Shared by every resource file.

use serde_json::{Value, json};
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::{ListQuery, Page};
use crate::store::{Context, Fields, Source};

use super::json::{json_to_fields, record_to_json};
use super::problem::ApiError;

/// Turns a handler's result into a response (errors as problem+json).
pub fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(ApiError::into_response)
}

/// Who is asking. Security (roles, actors) comes with the security issue; until then
/// every request acts as the built-in `anonymous` admin, which has no user id.
pub fn api_context() -> Context {
    Context { actor: None, source: Source::Api }
}

pub fn json_response(status: StatusCode, value: &Value, etag: Option<&str>) -> Response {
    let mut response = Response::new(serde_json::to_vec(value).unwrap_or_default().into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert(header::ETAG, tag);
    }
    response
}

/// A JSON object body as cells; 400 if it is not JSON, 422 per bad field.
pub fn body_fields(bytes: &[u8]) -> Result<Fields, ApiError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    json_to_fields(&value).map_err(ApiError::invalid)
}

/// Query parameters as a list query; 422 per bad parameter.
pub fn list_query(params: &[(String, String)]) -> Result<ListQuery, ApiError> {
    ListQuery::from_params(params).map_err(ApiError::invalid)
}

/// `{"items": [...], "total", "page", "per_page"}`.
pub fn page_response(table: TableKind, page: &Page, fields: Option<&[String]>) -> Response {
    let items: Vec<Value> = page.items.iter().map(|f| record_to_json(table, &page.columns, f, fields)).collect();
    let body = json!({"items": items, "total": page.total, "page": page.page, "per_page": page.per_page});
    json_response(StatusCode::OK, &body, None)
}
