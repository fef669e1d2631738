//! Telegram bindings waiting for an admin (a staff account claimed by its Telegram
//! username; `service::binding`):
//! - `GET /api/telegram/bindings`: the waiting ones
//! - `POST /api/telegram/bindings/{user_id}/{telegram_id}/confirm` and `.../reject`
//!
//! The same decision as the Confirm and Reject buttons the bot sends the admins.

use std::sync::Arc;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::service::access::Principal;
use crate::service::telegram::Chats;

use super::catalog::{Catalog, Shape};
use super::gate::principal;
use super::problem::ApiError;
use super::reply::{json_response, respond};

pub fn routes(chats: Arc<Chats>, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    cat.add(
        "GET",
        "/api/telegram/bindings",
        "telegram",
        "Staff accounts claimed by Telegram username, waiting for an admin's confirmation",
        None,
        Shape::Other { body: None, response: "Bindings" },
    );
    let listed = chats.clone();
    let list =
        warp::path!("api" / "telegram" / "bindings").and(warp::get()).and(principal()).map(move |p: Arc<Principal>| {
            if p.role != crate::auth::policy::Role::Admin {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!("the {} role may not read Telegram bindings", p.role),
                )
                .into_response();
            }
            let items: Vec<serde_json::Value> = listed
                .held_bindings()
                .into_iter()
                .map(|b| {
                    serde_json::json!({
                        "user_id": b.user_id,
                        "name": listed.name_of(b.user_id),
                        "telegram_id": b.telegram_id.to_string(),
                        "telegram_username": b.telegram_username,
                        "asked_at": b.asked_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    })
                })
                .collect();
            json_response(StatusCode::OK, &serde_json::json!({"items": items}), None)
        });
    for verdict in ["confirm", "reject"] {
        cat.add(
            "POST",
            format!("/api/telegram/bindings/{{user_id}}/{{telegram_id}}/{verdict}"),
            "telegram",
            format!("{verdict} a waiting binding (admin)"),
            None,
            Shape::Other { body: None, response: "empty" },
        );
    }
    let decide = warp::path!("api" / "telegram" / "bindings" / u64 / i64 / String)
        .and(warp::post())
        .and(principal())
        .then(move |user: u64, telegram: i64, verdict: String, p: Arc<Principal>| {
            let chats = chats.clone();
            async move {
                let confirm = match verdict.as_str() {
                    "confirm" => true,
                    "reject" => false,
                    _ => return ApiError::new(StatusCode::NOT_FOUND, "no such resource").into_response(),
                };
                respond(chats.decide_binding(&p, user, telegram, confirm).await.map_err(ApiError::from).map(|_| {
                    let mut response = Response::new(Vec::new().into());
                    *response.status_mut() = StatusCode::NO_CONTENT;
                    response
                }))
            }
        });
    list.or(decide).unify().boxed()
}

/// The shape of the waiting bindings' list in the OpenAPI document.
pub(super) fn list_schema() -> serde_json::Value {
    let text = serde_json::json!({"type": "string"});
    serde_json::json!({"type": "object", "required": ["items"], "properties": {"items": {"type": "array",
        "items": {"type": "object", "properties": {
            "user_id": {"type": "integer"}, "name": text, "telegram_id": text, "telegram_username": text,
            "asked_at": {"type": "string", "format": "date-time"}}}}}})
}
