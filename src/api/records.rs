//! Route builders the record resources share. Each resource file mounts the ones it
//! offers under its own path (see `tasks.rs`, `users.rs`, `comments.rs`, `docs.rs`).

use std::sync::Arc;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;
use crate::service::access::Principal;
use crate::service::records::{RecordView, Removal};
use crate::store::Committed;

use super::catalog::{Catalog, Shape};
use super::gate::principal;
use super::json::{RowJson, record_to_json};
use super::problem::ApiError;
use super::reply::{body_fields, bytes_response, if_match, json_response, list_query, page_response, respond};

type Svc = BoxedFilter<(RecordService,)>;

pub fn with_service(service: RecordService) -> Svc {
    warp::any().map(move || service.clone()).boxed()
}

/// A JSON body of at most `limit` bytes.
pub fn json_body(limit: u64) -> BoxedFilter<(bytes::Bytes,)> {
    warp::body::content_length_limit(limit).and(warp::body::bytes()).boxed()
}

/// `GET /api/{table}`: a page of records.
pub fn list(table: TableKind, svc: Svc, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    let name = table.name();
    cat.add(
        "GET",
        format!("/api/{}", table.path()),
        name,
        format!("List {name} (pages, filters, q, sort, fields)"),
        Some(table),
        Shape::List,
    );
    warp::path("api")
        .and(warp::path(table.path()))
        .and(warp::path::end())
        .and(warp::get())
        .and(warp::query::<Vec<(String, String)>>())
        .and(svc)
        .and(principal())
        .map(move |params: Vec<(String, String)>, s: RecordService, p: Arc<Principal>| {
            respond((|| {
                let (page, query) = s.list(&p, table, list_query(&params)?)?;
                Ok(page_response(table, &page, query.fields.as_deref()))
            })())
        })
        .boxed()
}

/// `POST /api/{table}`: create (201, `Location`, `ETag`).
pub fn create(table: TableKind, svc: Svc, limit: u64, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    let name = table.name();
    cat.add(
        "POST",
        format!("/api/{}", table.path()),
        name,
        format!("Create a {}", table.spec().entity),
        Some(table),
        Shape::Create,
    );
    warp::path("api")
        .and(warp::path(table.path()))
        .and(warp::path::end())
        .and(warp::post())
        .and(json_body(limit))
        .and(svc)
        .and(principal())
        .then(move |bytes: bytes::Bytes, s: RecordService, p: Arc<Principal>| async move {
            respond(
                async {
                    let committed = s.create(&p, table, body_fields(table, &bytes)?).await?;
                    created_response(table, &s, &committed)
                }
                .await,
            )
        })
        .boxed()
}

/// `GET /api/{table}/{id}`: one record with its `ETag`.
pub fn get(table: TableKind, svc: Svc, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    let name = table.name();
    cat.add(
        "GET",
        format!("/api/{}/{{id}}", table.path()),
        name,
        format!("One {} with its ETag", table.spec().entity),
        Some(table),
        Shape::Get,
    );
    warp::path("api")
        .and(warp::path(table.path()))
        .and(warp::path::param::<u64>())
        .and(warp::path::end())
        .and(warp::get())
        .and(svc)
        .and(principal())
        .then(move |id: u64, s: RecordService, p: Arc<Principal>| async move {
            s.seen(table, id, None).await;
            respond((|| {
                let RecordView { table, row, etag, columns } = s.read(&p, table, id)?;
                // About the row's own length plus the names: one allocation, no regrowth.
                let mut body = Vec::with_capacity(row.line().len() * 2 + 256);
                let json = RowJson { table: &table, row: &row, columns: columns.as_deref() };
                if serde_json::to_writer(&mut body, &json).is_err() {
                    body.clear();
                }
                Ok(bytes_response(StatusCode::OK, body, Some(&etag)))
            })())
        })
        .boxed()
}

/// `PATCH /api/{table}/{id}` changes the fields sent; `PUT` replaces the record and
/// demands every writable field. Both honour `If-Match` (412 when stale).
pub fn update(table: TableKind, svc: Svc, limit: u64, replace: bool, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    let (name, entity) = (table.name(), table.spec().entity);
    if replace {
        cat.add(
            "PUT",
            format!("/api/{}/{{id}}", table.path()),
            name,
            format!("Replace a {entity} (every writable field; If-Match)"),
            Some(table),
            Shape::Replace,
        );
    } else {
        cat.add(
            "PATCH",
            format!("/api/{}/{{id}}", table.path()),
            name,
            format!("Change fields of a {entity} (If-Match)"),
            Some(table),
            Shape::Update,
        );
    }
    let method = if replace { warp::put().boxed() } else { warp::patch().boxed() };
    warp::path("api")
        .and(warp::path(table.path()))
        .and(warp::path::param::<u64>())
        .and(warp::path::end())
        .and(method)
        .and(warp::header::optional::<String>("if-match"))
        .and(json_body(limit))
        .and(svc)
        .and(principal())
        .then(
            move |id: u64, tag: Option<String>, bytes: bytes::Bytes, s: RecordService, p: Arc<Principal>| async move {
                respond(
                    async {
                        let fields = body_fields(table, &bytes)?;
                        let committed = s.update(&p, table, id, fields, if_match(tag)?, replace).await?;
                        committed_response(table, &s, StatusCode::OK, &committed)
                    }
                    .await,
                )
            },
        )
        .boxed()
}

/// `DELETE /api/{table}/{id}`: 204, or 200 with the record for a table whose records
/// are deactivated rather than removed (users).
pub fn delete(table: TableKind, svc: Svc, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    let (name, entity) = (table.name(), table.spec().entity);
    let summary = match (Removal::of(table), table) {
        (Removal::Deactivate, _) => format!("Deactivate a {entity} (is_active=false)"),
        (Removal::Delete, TableKind::Tasks) => "Delete a task with its comments (its documents are unlinked)".into(),
        (Removal::Delete, _) => format!("Delete a {entity}"),
    };
    cat.add("DELETE", format!("/api/{}/{{id}}", table.path()), name, summary, Some(table), Shape::Delete);
    warp::path("api")
        .and(warp::path(table.path()))
        .and(warp::path::param::<u64>())
        .and(warp::path::end())
        .and(warp::delete())
        .and(warp::header::optional::<String>("if-match"))
        .and(svc)
        .and(principal())
        .then(move |id: u64, tag: Option<String>, s: RecordService, p: Arc<Principal>| async move {
            respond(
                async {
                    if let Some(committed) = s.remove(&p, table, id, if_match(tag)?).await? {
                        return committed_response(table, &s, StatusCode::OK, &committed);
                    }
                    let mut response = Response::new(Vec::new().into());
                    *response.status_mut() = StatusCode::NO_CONTENT;
                    Ok(response)
                }
                .await,
            )
        })
        .boxed()
}

/// `GET`, `PATCH` and `DELETE` of one record: what every record table offers beside
/// its own list and create.
pub fn one_record(
    table: TableKind,
    service: &RecordService,
    limit: u64,
    cat: &mut Catalog,
) -> BoxedFilter<(Response,)> {
    let svc = || with_service(service.clone());
    get(table, svc(), cat)
        .or(update(table, svc(), limit, false, cat))
        .unify()
        .or(delete(table, svc(), cat))
        .unify()
        .boxed()
}

/// The standard routes of a record table: list, create, get, PATCH, PUT when
/// `with_put`, and DELETE.
pub fn standard(
    table: TableKind,
    service: &RecordService,
    limit: u64,
    with_put: bool,
    cat: &mut Catalog,
) -> BoxedFilter<(Response,)> {
    let svc = || with_service(service.clone());
    let mut routes = list(table, svc(), cat)
        .or(create(table, svc(), limit, cat))
        .unify()
        .or(get(table, svc(), cat))
        .unify()
        .or(update(table, svc(), limit, false, cat))
        .unify()
        .boxed();
    if with_put {
        routes = routes.or(update(table, svc(), limit, true, cat)).unify().boxed();
    }
    routes.or(delete(table, svc(), cat)).unify().boxed()
}

pub fn committed_response(
    table: TableKind,
    s: &RecordService,
    status: StatusCode,
    c: &Committed,
) -> Result<Response, ApiError> {
    let columns = s.columns(table)?;
    let body = c.record.as_ref().map(|f| record_to_json(table, &columns, f, None)).unwrap_or_default();
    Ok(json_response(status, &body, c.etag.as_deref()))
}

/// 201 with the record, its `ETag` and its `Location`.
pub fn created_response(table: TableKind, s: &RecordService, c: &Committed) -> Result<Response, ApiError> {
    let mut response = committed_response(table, s, StatusCode::CREATED, c)?;
    if let Ok(location) = warp::http::HeaderValue::from_str(&format!("/api/{}/{}", table.path(), c.id)) {
        response.headers_mut().insert(warp::http::header::LOCATION, location);
    }
    Ok(response)
}
