//! Users: `GET, POST /api/users`; `GET, PATCH, DELETE /api/users/{id}` (`DELETE`
//! deactivates: `is_active=false`, so history keeps pointing at a real user);
//! `PUT /api/users/{id}/password` (an admin sets or resets a password); and
//! `GET /api/directory`, the active users staff can assign work to.

use std::sync::Arc;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::domain::{FieldError, TableKind};
use crate::service::access::Principal;
use crate::service::{RecordService, Services};

use super::catalog::{Catalog, Shape};
use super::gate::principal;
use super::problem::ApiError;
use super::records::{self, json_body, with_service};
use super::reply::{body_fields, json_response, respond};

pub fn routes(services: &Services, limit: u64, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    let service = services.records.clone();
    let all = services.clone();
    let t = TableKind::Users;
    let svc = || with_service(service.clone());
    cat.add(
        "POST",
        "/api/users",
        "users",
        "Create a user; an admin may give an initial `password`",
        Some(t),
        Shape::Create,
    );
    let create = warp::path!("api" / "users").and(warp::post()).and(json_body(limit)).and(svc()).and(principal()).then(
        move |bytes: bytes::Bytes, s: RecordService, p: Arc<Principal>| async move {
            respond(
                async {
                    let mut fields = body_fields(t, &bytes)?;
                    let password = fields.remove("password");
                    let committed = s.add_user(&p, fields, password.as_deref()).await?;
                    records::created_response(t, &s, &committed)
                }
                .await,
            )
        },
    );
    cat.add(
        "PUT",
        "/api/users/{id}/password",
        "users",
        "Set or reset a user's password (admin): {password}",
        Some(t),
        Shape::Other { body: Some("Password"), response: "empty" },
    );
    let password = warp::path!("api" / "users" / u64 / "password")
        .and(warp::put())
        .and(json_body(4096))
        .and(warp::any().map(move || all.clone()))
        .and(principal())
        .then(move |id: u64, bytes: bytes::Bytes, s: Services, p: Arc<Principal>| async move {
            respond(
                async {
                    let mut fields = body_fields(t, &bytes)?;
                    let password = fields.remove("password").ok_or_else(|| {
                        ApiError::invalid(vec![FieldError::new("password", "is required: {\"password\": \"...\"}")])
                    })?;
                    if let Some(other) = fields.keys().next() {
                        return Err(ApiError::invalid(vec![FieldError::new(other.clone(), "unknown field")]));
                    }
                    s.reset_password(&p, id, &password).await?;
                    let mut response = Response::new(Vec::new().into());
                    *response.status_mut() = StatusCode::NO_CONTENT;
                    Ok(response)
                }
                .await,
            )
        });
    cat.add(
        "GET",
        "/api/directory",
        "users",
        "Active users (id, username, role): whom work can be assigned to",
        None,
        Shape::Other { body: None, response: "Directory" },
    );
    let directory = warp::path!("api" / "directory").and(warp::get()).and(svc()).and(principal()).map(
        |s: RecordService, p: Arc<Principal>| {
            respond((|| {
                let items = s.directory(&p)?;
                Ok(json_response(StatusCode::OK, &serde_json::json!({"items": items}), None))
            })())
        },
    );
    cat.add(
        "GET",
        "/api/auth/me",
        "auth",
        "The current user: who, role, name, phone, email, language",
        None,
        Shape::Other { body: None, response: "Me" },
    );
    let me = warp::path!("api" / "auth" / "me").and(warp::get()).and(svc()).and(principal()).map(
        |s: RecordService, p: Arc<Principal>| {
            respond(s.profile(&p).map(|body| json_response(StatusCode::OK, &body, None)).map_err(ApiError::from))
        },
    );
    cat.add(
        "PATCH",
        "/api/auth/me",
        "auth",
        "Change your own full_name, phone, email or language",
        None,
        Shape::Other { body: Some("Profile"), response: "Me" },
    );
    let update_me =
        warp::path!("api" / "auth" / "me").and(warp::patch()).and(json_body(limit)).and(svc()).and(principal()).then(
            move |bytes: bytes::Bytes, s: RecordService, p: Arc<Principal>| async move {
                respond(
                    async {
                        let fields = body_fields(t, &bytes)?;
                        let body = s.update_profile(&p, fields).await?;
                        Ok(json_response(StatusCode::OK, &body, None))
                    }
                    .await,
                )
            },
        );
    records::list(t, svc(), cat)
        .or(create)
        .unify()
        .or(records::one_record(t, &service, limit, cat))
        .unify()
        .or(password)
        .unify()
        .or(directory)
        .unify()
        .or(me)
        .unify()
        .or(update_me)
        .unify()
        .boxed()
}

/// The shape of `GET /api/auth/me` in the OpenAPI document, `can` included.
pub(super) fn me_schema() -> serde_json::Value {
    use serde_json::json;
    let situations = json!({"type": "array", "items": {"type": "string",
        "pattern": "^(created|assigned|other):(first|later)$"}});
    let scope = json!({"type": "string", "enum": ["all", "own", "names", "none"]});
    let can = json!({"type": "object",
    "required": ["create", "create_fields", "create_other", "edit", "edit_other", "delete", "take", "areas"],
    "properties": {
        "create": {"type": "boolean"},
        "create_fields": {"type": "array", "items": {"type": "string"}},
        "create_other": {"type": "boolean"},
        "edit": {"type": "object", "additionalProperties": situations},
        "edit_other": situations,
        "delete": situations,
        "take": {"type": "boolean"},
        "areas": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": scope}},
    }});
    json!({"type": "object", "required": ["id", "username", "role", "can"], "properties": {
        "id": {"type": ["integer", "null"]},
        "username": {"type": "string"},
        "role": {"type": "string", "enum": ["admin", "manager", "supervisor", "member", "client"]},
        "can": can,
    }})
}
