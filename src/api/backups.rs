//! Backups:
//! - `GET /api/system/backups`: the backups, newest first
//! - `POST /api/system/backups`: take one now (a consistent state; retention applied)
//! - `POST /api/system/backups/{name}/verify`: check every file against the manifest
//! - `GET /api/system/backups/{name}`: the archive itself, to keep elsewhere

use std::sync::Arc;

use serde_json::json;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::config::Config;
use crate::store::Storage;

use super::catalog::{Catalog, Shape};
use super::problem::ApiError;
use super::reply::{json_response, respond};

pub fn routes(store: Arc<dyn Storage>, config: Arc<Config>, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    let other = |response| Shape::Other { body: None, response };
    cat.add("GET", "/api/system/backups", "system", "The backups, newest first", None, other("Backups"));
    cat.add("POST", "/api/system/backups", "system", "Take a backup now", None, other("Backup"));
    cat.add(
        "POST",
        "/api/system/backups/{name}/verify",
        "system",
        "Verify a backup against its manifest",
        None,
        other("Verified"),
    );
    cat.add(
        "GET",
        "/api/system/backups/{name}",
        "system",
        "Download a backup archive",
        None,
        Shape::Other { body: None, response: "binary" },
    );
    let with = {
        let (store, config) = (store.clone(), config.clone());
        warp::any().map(move || (store.clone(), config.clone())).untuple_one()
    };
    let list = warp::path!("api" / "system" / "backups").and(warp::get()).and(with.clone()).map(
        |_: Arc<dyn Storage>, config: Arc<Config>| {
            json_response(StatusCode::OK, &json!({"items": crate::backup::list(&config.backup.dir)}), None)
        },
    );
    let create = warp::path!("api" / "system" / "backups").and(warp::post()).and(with.clone()).then(
        |store: Arc<dyn Storage>, config: Arc<Config>| async move { respond(create_backup(&*store, &config).await) },
    );
    let download = warp::path!("api" / "system" / "backups" / String).and(warp::get()).and(with.clone()).then(
        |name: String, _: Arc<dyn Storage>, config: Arc<Config>| async move {
            respond(
                async {
                    // Only a name the listing gives: never a path of the caller's making.
                    if !crate::backup::list(&config.backup.dir).iter().any(|b| b.name == name) {
                        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no backup named {name:?}")));
                    }
                    let bytes = tokio::fs::read(config.backup.dir.join(&name)).await.map_err(|e| {
                        tracing::error!(backup = %name, error = %e, "a backup could not be read");
                        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the backup could not be read (see the log)")
                    })?;
                    let mut response = Response::new(bytes.into());
                    let headers = response.headers_mut();
                    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/gzip"));
                    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                        headers.insert(header::CONTENT_DISPOSITION, v);
                    }
                    Ok(response)
                }
                .await,
            )
        },
    );
    let verify = warp::path!("api" / "system" / "backups" / String / "verify").and(warp::post()).and(with).then(
        |name: String, _: Arc<dyn Storage>, config: Arc<Config>| async move {
            respond(
                async {
                    if !crate::backup::list(&config.backup.dir).iter().any(|b| b.name == name) {
                        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no backup named {name:?}")));
                    }
                    let path = config.backup.dir.join(&name);
                    let result = tokio::task::spawn_blocking(move || crate::backup::verify(&path))
                        .await
                        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "verification stopped"))?;
                    match result {
                        Ok(m) => Ok(json_response(StatusCode::OK, &json!({"name": name, "ok": true, "files": m.files.len(), "last_event_id": m.last_event_id}), None)),
                        Err(problem) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, problem)),
                    }
                }
                .await,
            )
        },
    );
    list.or(create).unify().or(download).unify().or(verify).unify().boxed()
}

/// Takes a backup from the store's consistent state, then applies retention.
pub async fn create_backup(store: &dyn Storage, config: &Config) -> Result<Response, ApiError> {
    match crate::backup::create_from_store(store, config, crate::backup::BackupKind::Manual).await {
        Ok((path, removed)) => {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            tracing::info!(backup = %name, removed = removed.len(), "backup created");
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            Ok(json_response(
                StatusCode::CREATED,
                &json!({"name": name, "size_bytes": size, "removed_by_retention": removed}),
                None,
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "backup failed");
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the backup could not be written (see the log)"))
        }
    }
}
