//! The calendar feed:
//! - `POST /api/calendar/token`: a new secret feed link for the caller (the old one
//!   stops working) → 201 `{token, path, url}`
//! - `GET /api/calendar/{token}.ics`: the caller's open tasks with a due date, as an
//!   iCalendar (RFC 5545) that a phone's calendar subscribes to; 404 for a token that
//!   is not (or no longer) anyone's

use std::sync::Arc;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::service::RecordService;
use crate::service::access::Principal;
use crate::service::auth::Security;
use crate::service::calendar::FeedOwner;

use super::catalog::{Catalog, Shape};
use super::gate::principal;
use super::problem::ApiError;
use super::records::with_service;
use super::reply::{json_response, respond};

/// `https://host` as the request reached us (a proxy says the scheme).
fn origin(host: Option<String>, proto: Option<String>) -> String {
    let scheme = proto.filter(|p| p == "https" || p == "http").unwrap_or_else(|| "http".into());
    format!("{scheme}://{}", host.unwrap_or_else(|| "localhost".into()))
}

pub fn routes(service: RecordService, security: Arc<Security>, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    cat.add(
        "POST",
        "/api/calendar/token",
        "calendar",
        "A new secret calendar link for the caller (the previous one stops working)",
        None,
        Shape::Other { body: None, response: "CalendarToken" },
    );
    cat.add(
        "GET",
        "/api/calendar/{token}.ics",
        "calendar",
        "The calendar feed (RFC 5545) of the token's owner: open tasks with a due date",
        None,
        Shape::Other { body: None, response: "Calendar" },
    );
    let headers =
        || warp::header::optional::<String>("host").and(warp::header::optional::<String>("x-forwarded-proto"));
    let token = warp::path!("api" / "calendar" / "token")
        .and(warp::post())
        .and(with_service(service.clone()))
        .and(principal())
        .and(headers())
        .map(|s: RecordService, p: Arc<Principal>, host: Option<String>, proto: Option<String>| {
            respond((|| {
                let token = s.new_calendar_token(&p)?;
                let path = format!("/api/calendar/{token}.ics");
                let body =
                    serde_json::json!({"token": token, "url": format!("{}{path}", origin(host, proto)), "path": path});
                Ok(json_response(StatusCode::CREATED, &body, None))
            })())
        });
    // Only `….ics` is the feed: `/api/calendar/token` is the POST's alone (a GET there
    // is a 405, not a missing calendar).
    let ics = warp::path!("api" / "calendar" / String).and_then(|file: String| async move {
        if file.ends_with(".ics") { Ok(file) } else { Err(warp::reject::not_found()) }
    });
    let feed = ics.and(warp::get()).and(with_service(service)).and(headers()).map(
        move |file: String, s: RecordService, host: Option<String>, proto: Option<String>| {
            respond((|| {
                let gone =
                    || ApiError::new(StatusCode::NOT_FOUND, "no calendar behind this link (it may have been replaced)");
                let token = file.strip_suffix(".ics").filter(|t| !t.is_empty()).ok_or_else(gone)?;
                let p = match s.calendar_owner(token).ok_or_else(gone)? {
                    FeedOwner::User(id) => security.principal_of(id).map_err(|_| gone())?,
                    FeedOwner::Anonymous if !security.enabled => (*security.anonymous).clone(),
                    FeedOwner::Anonymous => return Err(gone()),
                };
                let lang = s.lang_of_user(p.user_id);
                let board = format!("{}/board", origin(host, proto));
                let body = s.calendar(&p, &board, lang, chrono::Utc::now())?;
                let mut response = super::reply::bytes_response(StatusCode::OK, body.into_bytes(), None);
                response.headers_mut().insert(
                    warp::http::header::CONTENT_TYPE,
                    warp::http::HeaderValue::from_static("text/calendar; charset=utf-8"),
                );
                Ok(response)
            })())
        },
    );
    token.or(feed).unify().boxed()
}

/// The answers of these routes in the OpenAPI document: (status, response).
pub(super) fn documented(response: &str) -> (&'static str, serde_json::Value) {
    let content = |description: &str, media: &str, schema: serde_json::Value| serde_json::json!({"description": description, "content": {media: {"schema": schema}}});
    if response == "Calendar" {
        return ("200", content("The feed (RFC 5545)", "text/calendar", serde_json::json!({"type": "string"})));
    }
    let text = serde_json::json!({"type": "string"});
    let schema = serde_json::json!({"type": "object", "required": ["token", "url", "path"],
        "properties": {"token": text, "url": text, "path": text}});
    ("201", content("The new link; the previous one no longer works", "application/json", schema))
}
