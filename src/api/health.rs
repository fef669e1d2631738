//! `GET /api/health`: status, version, uptime, each table's file state (readable, or
//! the precise problem with file, line and column), the components, warnings, and the
//! effective configuration without secrets.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::json;
use warp::Filter;

use crate::auth::policy::Role;

use super::catalog::{Catalog, Shape};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::config::Config;
use crate::store::Storage;

use super::reply::json_response;

pub fn routes(
    store: Arc<dyn Storage>,
    config: Arc<Config>,
    analyst: crate::service::analysis::Analyst,
    chats: Arc<crate::service::telegram::Chats>,
    started: Instant,
    cat: &mut Catalog,
) -> BoxedFilter<(Response,)> {
    cat.add(
        "GET",
        "/api/health",
        "system",
        "Status, tables, components, effective configuration",
        None,
        Shape::Other { body: None, response: "Health" },
    );
    warp::path!("api" / "health")
        .and(warp::get())
        .and(super::gate::caller())
        .map(move |caller: super::gate::Caller| {
            let tables = store.status();
            // Degraded (still 200) while a table cannot be read or written (a broken
            // file, the database gone), Telegram does not take messages, or the model
            // fails; the details name which.
            let telegram = chats.state();
            let model = analyst.health();
            let healthy = tables.iter().all(|t| t.readable)
                && telegram.state != "retrying"
                && telegram.undelivered_since.is_none()
                && model["state"] != "degraded";
            let stats = store.stats();
            let mut warnings = Vec::new();
            if !config.security.enabled {
                warnings.push("security.enabled is false: every request acts as the built-in admin `anonymous`");
            }
            let mut summary = json!({
                "status": if healthy { "ok" } else { "degraded" },
                "version": env!("CARGO_PKG_VERSION"),
                "uptime_seconds": started.elapsed().as_secs(),
                "security_enabled": config.security.enabled,
                "warnings": warnings,
            });
            // The board's banner for those who run the team: which file a person broke
            // and where, while writes go on without it.
            let runs_team =
                caller.principal.as_ref().is_ok_and(|p| matches!(p.role, Role::Admin | Role::Manager | Role::Supervisor));
            if runs_team && store.backend().kind == "csv" {
                summary["broken_files"] = tables
                    .iter()
                    .filter(|t| !t.readable)
                    .map(|t| json!({"file": t.file, "problem": t.problems.first(), "problems": t.problems.len(), "writable": t.writable}))
                    .collect();
            }
            // The details (files, components, configuration) are for admins and supervisors.
            let details = caller.principal.is_ok_and(|p| matches!(p.role, Role::Admin | Role::Supervisor));
            if !details {
                return json_response(StatusCode::OK, &summary, None);
            }
            let mut body = json!({
                "last_event_id": store.last_event_id(),
                "tables": tables,
                "components": {
                    "storage_backend": {"state": "ok", "kind": store.backend().kind, "data_dir": store.data_dir()},
                    "cache": {
                        "state": if config.performance.cache_enabled { "ok" } else { "disabled" },
                        "ttl_seconds": config.performance.cache_ttl_seconds,
                        "hits": stats.cache_hits.load(Ordering::Relaxed),
                        "misses": stats.cache_misses.load(Ordering::Relaxed),
                    },
                    "commits": {
                        "commits": stats.commits.load(Ordering::Relaxed),
                        "batches": stats.batches.load(Ordering::Relaxed),
                        "folds": stats.folds.load(Ordering::Relaxed),
                    },
                    // Components still to be built report themselves absent, not fine.
                    "watcher": {"state": if store.backend().watching { "ok" } else { "off" }},
                    "scheduler": {"state": if config.cron.enabled { "ok" } else { "disabled" }, "jobs": config.cron.jobs.len()},
                    "websocket": {"state": "ok", "clients": super::ws::CLIENTS.load(Ordering::Relaxed)},
                    "telegram": telegram,
                    "llm": model,
                },
                "config": &*config,
            });
            if let (Some(body), serde_json::Value::Object(summary)) = (body.as_object_mut(), summary) {
                body.extend(summary);
            }
            // 200 even when degraded: the server is up and serves the other tables;
            // the body says which file is wrong.
            json_response(StatusCode::OK, &body, None)
        })
        .boxed()
}
