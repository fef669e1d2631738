//! The REST routes every record table shares; each resource file mounts them for its
//! table:
//!
//! - `GET /api/{table}`: a page of records (`page`, `per_page`, `limit`, `offset`,
//!   field filters, `q`, `sort`, `fields`)
//! - `POST /api/{table}`: create (201, `Location`, `ETag`)
//! - `GET /api/{table}/{id}`: one record, with its `ETag`
//! - `PATCH /api/{table}/{id}`: change the fields sent (`If-Match` → 412 when stale)
//! - `PUT /api/{table}/{id}`: replace; every writable field is required
//! - `DELETE /api/{table}/{id}`: delete (204)

use serde_json::{Value, json};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::domain::{ColumnKind, FieldError, TableKind};
use crate::service::{ListQuery, RecordService};
use crate::store::{Committed, Context, Source};

use super::json::{json_to_fields, record_to_json};
use super::problem::ApiError;

/// What happens on `DELETE`: users are deactivated, never removed (API.md).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum DeleteMeans {
    Remove,
    Deactivate,
}

/// Mounts the shared routes under `/api/{table}`.
pub fn routes(
    table: TableKind,
    service: RecordService,
    body_limit: u64,
    delete: DeleteMeans,
) -> BoxedFilter<(Response,)> {
    let base = warp::path("api").and(warp::path(table.name()));
    let svc = warp::any().map(move || service.clone());
    let body = warp::body::content_length_limit(body_limit).and(warp::body::bytes());
    let if_match = warp::header::optional::<String>("if-match");

    let list = base
        .and(warp::path::end())
        .and(warp::get())
        .and(warp::query::<Vec<(String, String)>>())
        .and(svc.clone())
        .map(move |params: Vec<(String, String)>, s: RecordService| respond(list(table, &s, params)));
    let create = base
        .and(warp::path::end())
        .and(warp::post())
        .and(body)
        .and(svc.clone())
        .then(move |bytes: bytes::Bytes, s: RecordService| async move { respond(create(table, &s, &bytes).await) });
    // `/api/{table}/{id}`, and that with `If-Match` and a body.
    let one = base.and(warp::path::param::<u64>()).and(warp::path::end());
    let one_with_body = one.and(if_match).and(body).and(svc.clone());
    let get = warp::get().and(one).and(svc.clone()).map(move |id: u64, s: RecordService| respond(get(table, &s, id)));
    let patch = warp::patch().and(one_with_body.clone()).then(
        move |id, tag, bytes: bytes::Bytes, s: RecordService| async move {
            respond(update(table, &s, id, tag, &bytes, false).await)
        },
    );
    let put = warp::put().and(one_with_body).then(move |id, tag, bytes: bytes::Bytes, s: RecordService| async move {
        respond(update(table, &s, id, tag, &bytes, true).await)
    });
    let delete_route = warp::delete()
        .and(one)
        .and(if_match)
        .and(svc)
        .then(move |id, tag, s: RecordService| async move { respond(remove(table, &s, id, tag, delete).await) });
    list.or(create).unify().or(get).unify().or(patch).unify().or(put).unify().or(delete_route).unify().boxed()
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(ApiError::into_response)
}

fn api_context() -> Context {
    // Security (roles, actors) comes with the security issue; until then every request
    // acts as the built-in `anonymous` admin, which has no user id.
    Context { actor: None, source: Source::Api }
}

fn json_response(status: StatusCode, value: &Value, etag: Option<&str>) -> Response {
    let mut response = Response::new(serde_json::to_vec(value).unwrap_or_default().into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("application/json"));
    if let Some(tag) = etag.and_then(|t| warp::http::HeaderValue::from_str(t).ok()) {
        headers.insert(warp::http::header::ETAG, tag);
    }
    response
}

fn parse_body(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
}

fn columns(table: TableKind, s: &RecordService) -> Result<Vec<String>, ApiError> {
    Ok(s.store().table(table)?.header.to_vec())
}

fn list(table: TableKind, s: &RecordService, params: Vec<(String, String)>) -> Result<Response, ApiError> {
    let mut query = ListQuery::default();
    let mut only: Option<Vec<String>> = None;
    let number = |name: &str, v: &str| {
        v.parse::<usize>().map_err(|_| ApiError::invalid(vec![FieldError::new(name, "must be a whole number")]))
    };
    for (key, value) in params {
        match key.as_str() {
            "page" => query.page = Some(number("page", &value)?),
            "per_page" => query.per_page = Some(number("per_page", &value)?),
            "limit" => query.limit = Some(number("limit", &value)?),
            "offset" => query.offset = Some(number("offset", &value)?),
            "q" => query.q = Some(value),
            "sort" => {
                query.sort = value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| match s.strip_prefix('-') {
                        Some(name) => (name.to_string(), true),
                        None => (s.to_string(), false),
                    })
                    .collect()
            }
            "fields" => only = Some(value.split(',').map(str::to_string).collect()),
            _ => query.filters.push((key, value.split(',').map(str::to_string).collect())),
        }
    }
    let page = s.list(table, &query)?;
    let order = columns(table, s)?;
    let items: Vec<Value> = page.items.iter().map(|f| record_to_json(table, &order, f, only.as_deref())).collect();
    let body = json!({"items": items, "total": page.total, "page": page.page, "per_page": page.per_page});
    Ok(json_response(StatusCode::OK, &body, None))
}

fn get(table: TableKind, s: &RecordService, id: u64) -> Result<Response, ApiError> {
    let (fields, etag) = s.get(table, id)?;
    let order = columns(table, s)?;
    Ok(json_response(StatusCode::OK, &record_to_json(table, &order, &fields, None), Some(&etag)))
}

async fn create(table: TableKind, s: &RecordService, bytes: &[u8]) -> Result<Response, ApiError> {
    let fields = json_to_fields(&parse_body(bytes)?).map_err(ApiError::invalid)?;
    let committed = s.create(table, fields, api_context()).await?;
    let mut response = committed_response(table, s, StatusCode::CREATED, &committed)?;
    if let Ok(location) = warp::http::HeaderValue::from_str(&format!("/api/{}/{}", table.name(), committed.id)) {
        response.headers_mut().insert(warp::http::header::LOCATION, location);
    }
    Ok(response)
}

async fn update(
    table: TableKind,
    s: &RecordService,
    id: u64,
    if_match: Option<String>,
    bytes: &[u8],
    replace: bool,
) -> Result<Response, ApiError> {
    let fields = json_to_fields(&parse_body(bytes)?).map_err(ApiError::invalid)?;
    if replace {
        let missing: Vec<FieldError> = writable_columns(table)
            .filter(|c| !fields.contains_key(*c))
            .map(|c| FieldError::new(c, "is required by PUT (use PATCH to change some fields)"))
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::invalid(missing));
        }
    }
    let committed = s.update(table, id, fields, if_match, api_context()).await?;
    committed_response(table, s, StatusCode::OK, &committed)
}

async fn remove(
    table: TableKind,
    s: &RecordService,
    id: u64,
    if_match: Option<String>,
    delete: DeleteMeans,
) -> Result<Response, ApiError> {
    if delete == DeleteMeans::Deactivate {
        let fields = [("is_active".to_string(), "false".to_string())].into();
        let committed = s.update(table, id, fields, if_match, api_context()).await?;
        return committed_response(table, s, StatusCode::OK, &committed);
    }
    s.delete(table, id, if_match, api_context()).await?;
    let mut response = Response::new(Vec::new().into());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// Documented columns a client may set (not the key, not the server's timestamps).
fn writable_columns(table: TableKind) -> impl Iterator<Item = &'static str> {
    let spec = table.spec();
    spec.columns
        .iter()
        .filter(move |c| {
            c.name != spec.key && c.kind != ColumnKind::Secret && !matches!(c.name, "created_at" | "updated_at")
        })
        .map(|c| c.name)
}

fn committed_response(
    table: TableKind,
    s: &RecordService,
    status: StatusCode,
    c: &Committed,
) -> Result<Response, ApiError> {
    let order = columns(table, s)?;
    let body = c.record.as_ref().map(|f| record_to_json(table, &order, f, None)).unwrap_or(Value::Null);
    Ok(json_response(status, &body, c.etag.as_deref()))
}
