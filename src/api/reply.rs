//! Building responses (JSON with the right headers, pages of records) and reading
//! request bodies and list parameters. Shared by every resource file.

use serde_json::Value;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::{ListQuery, Page};
use crate::store::Fields;

use super::json::{RowJson, json_to_fields, parse_object};
use super::problem::ApiError;

/// The documentation page's policy: its own inline style, nothing else loads.
const DOCS_PAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Headers every answer of the API carries, whatever route or error made it: never
/// sniffed as another type, never kept by a shared or browser cache (tokens and
/// people's data pass here). A route that set its own cache policy keeps it. The
/// documentation page at `/` gets the board's page headers.
pub fn harden(path: &str, response: &mut Response) {
    let headers = response.headers_mut();
    if path.starts_with("/api/") || path == "/metrics" || path == "/ws" {
        headers.entry("x-content-type-options").or_insert(HeaderValue::from_static("nosniff"));
        headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    } else if path == "/" {
        headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_PAGE_CSP));
        headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-cache"));
    }
}

/// Turns a handler's result into a response (errors as problem+json).
pub fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(ApiError::into_response)
}

pub fn json_response(status: StatusCode, value: &Value, etag: Option<&str>) -> Response {
    bytes_response(status, serde_json::to_vec(value).unwrap_or_default(), etag)
}

/// A JSON object body for `table` as cells; 400 if it is not a JSON object (or gives a
/// key twice), 422 per field of the wrong type.
pub fn body_fields(table: TableKind, bytes: &[u8]) -> Result<Fields, ApiError> {
    let value =
        parse_object(bytes).map_err(|e| ApiError::bad_request(format!("the body is not a JSON object: {e}")))?;
    json_to_fields(table, &value).map_err(ApiError::invalid)
}

/// The `If-Match` header as the service takes it: absent, `*`, or the ETag last seen.
/// An empty one is a 400 naming the header (a client that meant "no condition" sends
/// none), not a 412 that reads as "someone changed it".
/// A JSON body read into `T`: a value of the wrong type or an unknown field is a 422,
/// anything that is not JSON a 400.
pub fn typed_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            ApiError::invalid(vec![crate::domain::values::FieldError::new("", e.to_string())])
        } else {
            ApiError::bad_request(format!("the body is not valid JSON: {e}"))
        }
    })
}

pub fn if_match(header: Option<String>) -> Result<Option<String>, ApiError> {
    match header {
        Some(tag) if tag.trim().is_empty() => {
            Err(ApiError::bad_request("If-Match is empty; send the ETag you last saw, or * for any version"))
        }
        other => Ok(other),
    }
}

/// Query parameters as a list query; 422 per bad parameter.
pub fn list_query(params: &[(String, String)]) -> Result<ListQuery, ApiError> {
    ListQuery::from_params(params).map_err(ApiError::invalid)
}

/// `{"items": [...], "total", "page", "per_page"}`, serialised straight from the rows.
pub fn page_response(_table: TableKind, page: &Page, fields: Option<&[String]>) -> Response {
    let columns: Option<Vec<usize>> = fields.map(|f| f.iter().filter_map(|name| page.table.position(name)).collect());
    let items: Vec<RowJson> =
        page.rows.iter().map(|row| RowJson { table: &page.table, row, columns: columns.as_deref() }).collect();
    #[derive(serde::Serialize)]
    struct Body<'a> {
        items: Vec<RowJson<'a>>,
        total: usize,
        page: usize,
        per_page: usize,
    }
    let body = Body { items, total: page.total, page: page.page, per_page: page.per_page };
    bytes_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default(), None)
}

/// A JSON body already serialised.
pub fn bytes_response(status: StatusCode, body: Vec<u8>, etag: Option<&str>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert(header::ETAG, tag);
    }
    response
}

/// `gzip` listed in an Accept-Encoding without `q=0`.
pub fn accepts_gzip(header: &str) -> bool {
    header.split(',').any(|part| {
        let mut pieces = part.split(';').map(str::trim);
        let name = pieces.next().unwrap_or("");
        let refused = pieces.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0");
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    })
}

/// `bytes` gzip-compressed at `level`.
pub fn gzip(bytes: &[u8], level: flate2::Compression) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}
