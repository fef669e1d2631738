//! Documents:
//! - `GET /api/docs`, `GET /api/docs/{id}`: metadata
//! - `POST /api/docs`: upload, as `multipart/form-data` (a `file` part, optional
//!   `title` and `task_id` parts) or as the raw body with `?filename=&title=&task_id=`
//!   and the file's `Content-Type` (a form may use the query too; a part wins; the
//!   name is `upload` when none is given); at most `performance.max_file_size_mb`
//! - `PATCH /api/docs/{id}`: title and task (what the upload fixed is refused)
//! - `DELETE /api/docs/{id}`: the row and the file
//! - `GET /api/docs/{id}/content`: the file, as an attachment with its type

use std::sync::Arc;

use warp::Filter;

use super::catalog::{Catalog, Shape};
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;
use crate::service::docs::Upload;

use super::gate::principal;
use super::problem::ApiError;
use super::records::{self, json_body, with_service};
use super::reply::{body_fields, if_match, respond};
use crate::service::access::Principal;

/// The file name of an upload that gives none.
const RAW_DEFAULT_NAME: &str = "upload";

pub fn routes(service: RecordService, limit: u64, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    cat.add(
        "POST",
        "/api/docs",
        "docs",
        "Upload: multipart/form-data (file, title, task_id) or a raw body with ?filename=&title=&task_id=",
        Some(TableKind::Docs),
        Shape::Other { body: Some("upload"), response: "Doc" },
    );
    cat.add(
        "PATCH",
        "/api/docs/{id}",
        "docs",
        "Change a document's title or task",
        Some(TableKind::Docs),
        Shape::Update,
    );
    cat.add(
        "GET",
        "/api/docs/{id}/content",
        "docs",
        "The document's file, as an attachment",
        Some(TableKind::Docs),
        Shape::Other { body: None, response: "file" },
    );
    let t = TableKind::Docs;
    let svc = || with_service(service.clone());
    let multipart = warp::path!("api" / "docs")
        .and(warp::post())
        .and(super::multipart::form(limit))
        .and(warp::query::<Vec<(String, String)>>())
        .and(svc())
        .and(principal())
        .then(
            move |form: multer::Multipart<'static>,
                  params: Vec<(String, String)>,
                  s: RecordService,
                  p: Arc<Principal>| async move {
                respond(
                    async {
                        // The query's values stand in for parts the form lacks, so that
                        // both ways of sending them mean the same; where both are given
                        // the part wins, but a query value is checked all the same.
                        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                        let mut upload = read_form(form, limit).await?;
                        let mut filename = Some(upload.filename.clone()).filter(|f| !f.is_empty());
                        for (name, part) in [
                            ("title", &mut upload.title),
                            ("task_id", &mut upload.task_id),
                            ("filename", &mut filename),
                        ] {
                            if let Some(value) = param(name) {
                                if name == "task_id" && !value.is_empty() {
                                    crate::domain::values::parse_id(&value).map_err(|m| {
                                        ApiError::invalid(vec![crate::domain::values::FieldError::new("task_id", m)])
                                    })?;
                                }
                                part.get_or_insert(value);
                            }
                        }
                        upload.filename = filename.unwrap_or_else(|| RAW_DEFAULT_NAME.to_string());
                        store_upload(&s, &p, upload).await
                    }
                    .await,
                )
            },
        );
    let raw = warp::path!("api" / "docs")
        .and(warp::post())
        .and(warp::query::<Vec<(String, String)>>())
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::body::content_length_limit(limit))
        .and(warp::body::bytes())
        .and(svc())
        .and(principal())
        .then(
            |params: Vec<(String, String)>,
             content_type: Option<String>,
             content: bytes::Bytes,
             s: RecordService,
             p: Arc<Principal>| async move {
                respond(
                    async {
                        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                        // No type and no bytes is no upload at all (an empty file says its type).
                        if content_type.is_none() && content.is_empty() {
                            return Err(ApiError::bad_request(
                                "nothing to upload: send the file as the body with its Content-Type, or a multipart/form-data form",
                            ));
                        }
                        let upload = Upload {
                            filename: param("filename").unwrap_or_else(|| RAW_DEFAULT_NAME.to_string()),
                            title: param("title"),
                            task_id: param("task_id"),
                            content_type,
                            content,
                        };
                        store_upload(&s, &p, upload).await
                    }
                    .await,
                )
            },
        );
    let patch = warp::path!("api" / "docs" / u64)
        .and(warp::patch())
        .and(warp::header::optional::<String>("if-match"))
        .and(json_body(limit))
        .and(svc())
        .and(principal())
        .then(|id: u64, tag: Option<String>, bytes: bytes::Bytes, s: RecordService, p: Arc<Principal>| async move {
            respond(
                async {
                    let committed = s
                        .update(&p, TableKind::Docs, id, body_fields(TableKind::Docs, &bytes)?, if_match(tag)?, false)
                        .await?;
                    records::committed_response(TableKind::Docs, &s, StatusCode::OK, &committed)
                }
                .await,
            )
        });
    let content = warp::path!("api" / "docs" / u64 / "content").and(warp::get()).and(svc()).and(principal()).then(
        |id: u64, s: RecordService, p: Arc<Principal>| async move {
            respond(
                async {
                    let (fields, bytes) = s.doc_content(&p, id).await?;
                    Ok(file_response(&fields, bytes))
                }
                .await,
            )
        },
    );
    multipart
        .or(raw)
        .unify()
        .or(records::list(t, svc(), cat))
        .unify()
        .or(records::get(t, svc(), cat))
        .unify()
        .or(patch)
        .unify()
        .or(records::delete(t, svc(), cat))
        .unify()
        .or(content)
        .unify()
        .boxed()
}

async fn store_upload(s: &RecordService, p: &Principal, upload: Upload) -> Result<Response, ApiError> {
    let committed = s.upload(p, upload).await?;
    records::created_response(TableKind::Docs, s, &committed)
}

/// Reads the parts of a multipart upload.
async fn read_form(mut form: multer::Multipart<'static>, limit: u64) -> Result<Upload, ApiError> {
    let malformed = |e: multer::Error| ApiError::bad_request(format!("the multipart body is malformed: {e}"));
    let mut upload = Upload {
        filename: String::new(),
        title: None,
        task_id: None,
        content_type: None,
        content: bytes::Bytes::new(),
    };
    let mut found_file = false;
    while let Some(mut part) = form.next_field().await.map_err(malformed)? {
        let name = part.name().unwrap_or_default().to_string();
        let filename = part
            .headers()
            .get(header::CONTENT_DISPOSITION)
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
            .and_then(super::multipart::filename_of);
        let content_type = part.content_type().map(|m| m.to_string());
        let mut data = Vec::new();
        while let Some(chunk) = part.chunk().await.map_err(malformed)? {
            data.extend_from_slice(&chunk);
            if data.len() as u64 > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the file is larger than performance.max_file_size_mb",
                ));
            }
        }
        match name.as_str() {
            "file" => {
                found_file = true;
                upload.filename = filename.unwrap_or_default();
                upload.content_type = content_type;
                upload.content = data.into();
            }
            "title" => upload.title = Some(String::from_utf8_lossy(&data).into_owned()),
            "task_id" => upload.task_id = Some(String::from_utf8_lossy(&data).into_owned()),
            other => {
                return Err(ApiError::bad_request(format!("unknown part {other:?}; expected file, title, task_id")));
            }
        }
    }
    if !found_file {
        return Err(ApiError::bad_request("the upload has no part named \"file\""));
    }
    Ok(upload)
}

/// The file as an attachment: never rendered by the browser as a page of ours.
fn file_response(fields: &crate::store::Fields, bytes: Vec<u8>) -> Response {
    let filename = fields.get("filename").cloned().unwrap_or_default();
    let content_type = fields.get("content_type").cloned().unwrap_or_default();
    let mut response = Response::new(bytes.into());
    let headers = response.headers_mut();
    let content_type =
        HeaderValue::from_str(&content_type).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}
