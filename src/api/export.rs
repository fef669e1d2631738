//! `GET /api/export/{table}.csv`: tasks, users, events, comments or docs as CSV, with
//! the list filters, streamed. At most `export.max_export_records` rows (the
//! `X-Total-Count` header says how many matched, `X-Export-Truncated` when cut);
//! `?bom=true` starts the file with a UTF-8 BOM for spreadsheets that need it.

use std::sync::Arc;

use std::convert::Infallible;

use warp::Filter;

use super::catalog::{Catalog, Shape};
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::{Reply, Response};

use crate::config::Export as ExportConfig;
use crate::domain::TableKind;
use crate::service::RecordService;

use super::gate::principal;
use super::problem::ApiError;
use super::records::with_service;
use super::reply::{list_query, respond};
use crate::service::access::Principal;

/// `rows_per_chunk` is `performance.csv_read_batch_size`.
pub fn routes(
    service: RecordService,
    config: ExportConfig,
    rows_per_chunk: usize,
    cat: &mut Catalog,
) -> BoxedFilter<(Response,)> {
    // One operation per table in the document, each with that table's filters.
    for table in TableKind::ALL.into_iter().filter(|t| t.spec().exportable) {
        cat.add(
            "GET",
            format!("/api/export/{}.csv", table.name()),
            "export",
            format!("CSV export of {}, with the list filters", table.name()),
            Some(table),
            Shape::Other { body: None, response: "csv" },
        );
    }
    warp::path!("api" / "export" / String)
        .and(warp::get())
        .and(warp::query::<Vec<(String, String)>>())
        .and(with_service(service))
        .and(principal())
        .map(move |file: String, mut params: Vec<(String, String)>, s: RecordService, p: Arc<Principal>| {
            respond((|| {
                if !config.csv_export_enabled {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "CSV export is disabled (export.csv_export_enabled)",
                    ));
                }
                let table = file.strip_suffix(".csv").and_then(TableKind::from_name).ok_or_else(|| {
                    ApiError::new(StatusCode::NOT_FOUND, format!("no export named {file:?}; try tasks.csv"))
                })?;
                if !table.spec().exportable {
                    return Err(ApiError::new(StatusCode::FORBIDDEN, format!("{} is never exported", table.name())));
                }
                let bom = take_flag(&mut params, "bom")?;
                let query = list_query(&params)?;
                let mut export = s.export(&p, table, query, config.max_export_records, rows_per_chunk, bom)?;
                let (total, truncated) = (export.total, export.truncated);
                if truncated {
                    tracing::warn!(
                        table = table.name(),
                        total,
                        limit = config.max_export_records,
                        "export cut at max_export_records"
                    );
                }
                let chunks = futures_util::stream::iter(std::iter::from_fn(move || {
                    export.next_chunk().map(Ok::<_, Infallible>)
                }));
                let mut response = warp::reply::stream(chunks).into_response();
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
                if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.csv\"", table.name())) {
                    headers.insert(header::CONTENT_DISPOSITION, v);
                }
                headers.insert("x-total-count", HeaderValue::from(total));
                if truncated {
                    headers.insert("x-export-truncated", HeaderValue::from_static("true"));
                }
                Ok(response)
            })())
        })
        .boxed()
}

/// Removes a boolean parameter from the list; 422 if it is not a boolean.
fn take_flag(params: &mut Vec<(String, String)>, name: &str) -> Result<bool, ApiError> {
    let Some(i) = params.iter().position(|(k, _)| k == name) else { return Ok(false) };
    let (_, value) = params.remove(i);
    crate::domain::values::parse_bool(&value)
        .map_err(|m| ApiError::invalid(vec![crate::domain::FieldError::new(name, m)]))
}
