//! API keys:
//! - `GET /api/keys`: an admin sees every key, others their own (never the key or its hash)
//! - `POST /api/keys` `{name, user_id?, scope, expires_at}` → 201 with `key`, shown this once
//! - `DELETE /api/keys/{id}`: revoke

use std::sync::Arc;

use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::domain::TableKind;
use crate::service::RecordService;
use crate::service::access::Principal;

use super::catalog::{Catalog, Shape};
use super::gate::principal;
use super::json::record_to_json;
use super::records::{committed_response, json_body, with_service};
use super::reply::{json_response, list_query, page_response, respond};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    #[serde(default)]
    user_id: Option<u64>,
    scope: String,
    expires_at: String,
}

pub fn routes(service: RecordService, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    cat.add(
        "GET",
        "/api/keys",
        "auth",
        "API keys: all for an admin, your own otherwise",
        Some(TableKind::ApiKeys),
        Shape::List,
    );
    cat.add(
        "POST",
        "/api/keys",
        "auth",
        "Issue an API key (shown once): {name, user_id, scope, expires_at}",
        Some(TableKind::ApiKeys),
        Shape::Other { body: Some("NewKey"), response: "Key" },
    );
    cat.add(
        "GET",
        "/api/keys/{id}",
        "auth",
        "One API key: an admin's any, your own otherwise",
        Some(TableKind::ApiKeys),
        Shape::Other { body: None, response: "ApiKey" },
    );
    cat.add(
        "DELETE",
        "/api/keys/{id}",
        "auth",
        "Revoke an API key",
        Some(TableKind::ApiKeys),
        Shape::Other { body: None, response: "ApiKey" },
    );
    let svc = || with_service(service.clone());
    let list = warp::path!("api" / "keys")
        .and(warp::get())
        .and(warp::query::<Vec<(String, String)>>())
        .and(svc())
        .and(principal())
        .map(|params: Vec<(String, String)>, s: RecordService, p: Arc<Principal>| {
            respond((|| {
                let query = list_query(&params)?;
                let fields = query.fields.clone();
                let page = s.keys(&p, query)?;
                Ok(page_response(TableKind::ApiKeys, &page, fields.as_deref()))
            })())
        });
    let issue =
        warp::path!("api" / "keys").and(warp::post()).and(json_body(16 * 1024)).and(svc()).and(principal()).then(
            |bytes: bytes::Bytes, s: RecordService, p: Arc<Principal>| async move {
                respond(
                    async {
                        let body: NewKey = super::reply::typed_body(&bytes)?;
                        let issued = s
                            .issue_key(&p, &body.name, body.user_id, &body.scope, &body.expires_at, chrono::Utc::now())
                            .await?;
                        let columns = s.columns(TableKind::ApiKeys)?;
                        let mut json = issued
                            .committed
                            .record
                            .as_ref()
                            .map(|f| record_to_json(TableKind::ApiKeys, &columns, f, None))
                            .unwrap_or_default();
                        // The key itself joins the record this once; it is kept nowhere.
                        json["key"] = serde_json::Value::String(issued.key);
                        let mut response = json_response(StatusCode::CREATED, &json, issued.committed.etag.as_deref());
                        let headers = response.headers_mut();
                        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                        if let Ok(location) = HeaderValue::from_str(&format!("/api/keys/{}", issued.committed.id)) {
                            headers.insert(header::LOCATION, location);
                        }
                        Ok(response)
                    }
                    .await,
                )
            },
        );
    let one = warp::path!("api" / "keys" / u64).and(warp::get()).and(svc()).and(principal()).map(
        |id: u64, s: RecordService, p: Arc<Principal>| {
            respond((|| {
                let page = s.key(&p, id)?;
                let columns = s.columns(TableKind::ApiKeys)?;
                let record = page.table.fields(&page.rows[0]);
                Ok(json_response(StatusCode::OK, &record_to_json(TableKind::ApiKeys, &columns, &record, None), None))
            })())
        },
    );
    let revoke = warp::path!("api" / "keys" / u64).and(warp::delete()).and(svc()).and(principal()).then(
        |id: u64, s: RecordService, p: Arc<Principal>| async move {
            respond(
                async {
                    let committed = s.revoke_key(&p, id).await?;
                    committed_response(TableKind::ApiKeys, &s, StatusCode::OK, &committed)
                }
                .await,
            )
        },
    );
    list.or(issue).unify().or(one).unify().or(revoke).unify().boxed()
}
