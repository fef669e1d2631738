//! Logging in and out:
//! - `POST /api/auth/login` `{username, password}` → tokens
//! - `POST /api/auth/telegram` the Login Widget's payload → tokens
//! - `POST /api/auth/refresh` `{refresh_token}` → a new pair (the old one stops working)
//! - `POST /api/auth/logout`: revokes the session
//! - `GET, PATCH /api/auth/me`: the current user (in `users.rs`, beside the users)
//! - `PUT /api/auth/password` `{current_password, new_password}` → a new pair
//! - `POST /api/auth/telegram/link`: a one-time code that links the caller's Telegram
//!   account through the bot

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::service::access::Principal;
use crate::service::auth::Security;

use super::catalog::{Catalog, Shape};
use super::gate::{Caller, caller, principal};
use super::problem::ApiError;
use super::records::json_body;
use super::reply::{json_response, respond};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Refresh {
    /// Absent when the board's HttpOnly cookie carries it.
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// A JSON body as `T`: 400 when it is not JSON or not the expected object.
fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not what this route takes: {e}")))
}

/// The refresh token's cookie, for the board (see [`RefreshCookie`]).
const COOKIE: &str = "taskboard_refresh";
/// Where the cookie goes: only to the refresh route.
const COOKIE_PATH: &str = "/api/auth/refresh";
/// The header by which the board asks for the cookie, and which a cookie-carried
/// refresh must bring: another site's form cannot set a header, and without CORS
/// permission its script cannot either.
const COOKIE_HEADER: &str = "x-refresh-cookie";

/// How a login answers its refresh token. Scripts get it in the JSON body, as ever.
/// The board (which sends `X-Refresh-Cookie: 1`) gets it only in an HttpOnly,
/// SameSite=Strict cookie scoped to `/api/auth/refresh` (Secure under TLS), so no
/// script that runs in the page can read the long-lived token.
#[derive(Clone, Copy)]
struct RefreshCookie {
    wanted: bool,
    secure: bool,
    max_age: u64,
}

fn refresh_cookie(
    security: &Security,
) -> impl Filter<Extract = (RefreshCookie,), Error = warp::Rejection> + Clone + use<> {
    let (secure, max_age) = (security.cookie_secure, security.refresh_seconds);
    warp::header::optional::<String>(COOKIE_HEADER).map(move |h: Option<String>| RefreshCookie {
        wanted: h.as_deref() == Some("1"),
        secure,
        max_age,
    })
}

fn tokens(pair: crate::service::auth::TokenPair, cookie: RefreshCookie) -> Response {
    let mut body = serde_json::to_value(&pair).unwrap_or_default();
    if !cookie.wanted {
        return json_response(StatusCode::OK, &body, None);
    }
    if let Some(object) = body.as_object_mut() {
        object.remove("refresh_token");
    }
    let mut response = json_response(StatusCode::OK, &body, None);
    set_cookie(&mut response, &pair.refresh_token, cookie.max_age, cookie.secure);
    response
}

fn set_cookie(response: &mut Response, value: &str, max_age: u64, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}");
    if let Ok(v) = warp::http::HeaderValue::from_str(&cookie) {
        response.headers_mut().append(warp::http::header::SET_COOKIE, v);
    }
}

/// The refresh token from the request's cookie header, if it has ours.
fn cookie_token(header: Option<&str>) -> Option<String> {
    header?.split(';').find_map(|c| c.trim().strip_prefix(&format!("{COOKIE}="))).map(str::to_string)
}

pub fn routes(
    security: Arc<Security>,
    chats: Arc<crate::service::telegram::Chats>,
    cat: &mut Catalog,
) -> BoxedFilter<(Response,)> {
    let other = |body, response| Shape::Other { body, response };
    let chats_for_login = chats.clone();
    let chats_for_bot = chats.clone();
    cat.add("POST", "/api/auth/login", "auth", "Log in with a password", None, other(Some("Login"), "Tokens"));
    cat.add(
        "POST",
        "/api/auth/telegram",
        "auth",
        "Log in with the Telegram Login Widget",
        None,
        other(Some("TelegramLogin"), "Tokens"),
    );
    cat.add(
        "POST",
        "/api/auth/refresh",
        "auth",
        "A new token pair for a refresh token",
        None,
        other(Some("Refresh"), "Tokens"),
    );
    cat.add("POST", "/api/auth/logout", "auth", "End this session", None, other(None, "empty"));
    cat.add("PUT", "/api/auth/password", "auth", "Change your password", None, other(Some("PasswordChange"), "Tokens"));
    let cookie = refresh_cookie(&security);
    let sec = move || {
        let security = security.clone();
        warp::any().map(move || security.clone())
    };
    let limit = 64 * 1024;
    // A login door: `POST /api/auth/{name}` with a JSON body, answered with tokens.
    let door = |name: &'static str| {
        warp::path("api")
            .and(warp::path("auth"))
            .and(warp::path(name))
            .and(warp::path::end())
            .and(warp::post())
            .and(json_body(limit))
            .and(sec())
            .and(caller())
            .and(cookie.clone())
    };
    let login = door("login").then(
        |bytes: bytes::Bytes, security: Arc<Security>, caller: Caller, cookie: RefreshCookie| async move {
            respond(
                async {
                    let body: Login = parse(&bytes)?;
                    let pair = security.login_password(&body.username, &body.password, caller.ip()).await?;
                    Ok(tokens(pair, cookie))
                }
                .await,
            )
        },
    );
    let telegram = door("telegram").then(
        |bytes: bytes::Bytes, security: Arc<Security>, caller: Caller, cookie: RefreshCookie| async move {
            respond(
                async {
                    // The widget sends numbers (id, auth_date) and strings; the signed
                    // data-check-string is their text.
                    let body: BTreeMap<String, Value> = parse(&bytes)?;
                    let payload: BTreeMap<String, String> = body
                        .into_iter()
                        .map(|(k, v)| match v {
                            Value::String(s) => Ok((k, s)),
                            Value::Number(n) => Ok((k, n.to_string())),
                            _ => Err(ApiError::bad_request(format!("{k}: a string or a number is expected"))),
                        })
                        .collect::<Result<_, _>>()?;
                    Ok(tokens(security.login_telegram(&payload, caller.ip()).await?, cookie))
                }
                .await,
            )
        },
    );
    let refresh = warp::path!("api" / "auth" / "refresh")
        .and(warp::post())
        .and(json_body(limit))
        .and(sec())
        .and(cookie.clone())
        .and(warp::header::optional::<String>("cookie"))
        .then(|bytes: bytes::Bytes, security: Arc<Security>, cookie: RefreshCookie, jar: Option<String>| async move {
            respond(
                async {
                    let body: Refresh = parse(&bytes)?;
                    // The cookie counts only with the board's header (see COOKIE_HEADER).
                    let from_cookie = cookie.wanted.then(|| cookie_token(jar.as_deref())).flatten();
                    let Some(token) = body.refresh_token.or(from_cookie) else {
                        return Err(ApiError::new(
                            StatusCode::UNAUTHORIZED,
                            "no refresh token: send refresh_token, or log in again",
                        ));
                    };
                    Ok(tokens(security.refresh(&token).await?, cookie))
                }
                .await,
            )
        });
    let logout = warp::path!("api" / "auth" / "logout").and(warp::post()).and(sec()).and(principal()).then(
        |security: Arc<Security>, p: Arc<Principal>| async move {
            respond(
                async {
                    security.logout(&p).await?;
                    let mut response = Response::new(Vec::new().into());
                    *response.status_mut() = StatusCode::NO_CONTENT;
                    // The board's cookie goes with the session.
                    set_cookie(&mut response, "", 0, security.cookie_secure);
                    Ok(response)
                }
                .await,
            )
        },
    );
    let password = warp::path!("api" / "auth" / "password")
        .and(warp::put())
        .and(json_body(limit))
        .and(sec())
        .and(principal())
        .and(cookie.clone())
        .then(|bytes: bytes::Bytes, security: Arc<Security>, p: Arc<Principal>, cookie: RefreshCookie| async move {
            respond(
                async {
                    let body: PasswordChange = parse(&bytes)?;
                    let pair = security.change_password(&p, &body.current_password, &body.new_password).await?;
                    Ok(tokens(pair, cookie))
                }
                .await,
            )
        });
    cat.add(
        "POST",
        "/api/auth/telegram/link",
        "auth",
        "A one-time code (10 minutes) that links your Telegram account: send /start CODE to the bot",
        None,
        other(None, "TelegramLink"),
    );
    let link =
        warp::path!("api" / "auth" / "telegram" / "link").and(warp::post()).and(principal()).map(
            move |p: Arc<Principal>| {
                respond(chats.issue_link(&p, chrono::Utc::now()).map_err(ApiError::from).map(|code| {
                    json_response(StatusCode::CREATED, &serde_json::to_value(code).unwrap_or_default(), None)
                }))
            },
        );
    cat.add(
        "POST",
        "/api/auth/telegram/login",
        "auth",
        "Start a board login confirmed in the bot: open deep_link (or send /start login-CODE) and press the number `match` shows",
        None,
        other(None, "BoardLogin"),
    );
    let chats_for_start = chats_for_login.clone();
    let start = warp::path!("api" / "auth" / "telegram" / "login")
        .and(warp::post())
        .and(warp::header::optional::<String>("user-agent"))
        .and(caller())
        .map(move |agent: Option<String>, caller: Caller| {
            let address = caller.ip().map(|ip| ip.to_string()).unwrap_or_default();
            respond(
                chats_for_start
                    .start_board_login(agent.as_deref().unwrap_or(""), &address)
                    .map_err(ApiError::from)
                    .map(|started| {
                        json_response(StatusCode::CREATED, &serde_json::to_value(started).unwrap_or_default(), None)
                    }),
            )
        });
    cat.add(
        "GET",
        "/api/auth/telegram/login/{id}",
        "auth",
        "A board login's state: 202 pending, 200 tokens (once), 403 cancelled or a wrong number, 410 expired or used",
        None,
        other(None, "LoginPoll"),
    );
    let poll = warp::path!("api" / "auth" / "telegram" / "login" / String).and(warp::get()).and(cookie).then(
        move |request_id: String, cookie: RefreshCookie| {
            let chats = chats_for_login.clone();
            async move {
                use crate::service::board_login::Poll;
                let outcome = match chats.poll_board_login(&request_id).await {
                    Ok(Ok(pair)) => Ok(tokens(pair, cookie)),
                    Ok(Err(Poll::Pending)) => {
                        Ok(json_response(StatusCode::ACCEPTED, &serde_json::json!({"status": "pending"}), None))
                    }
                    Ok(Err(Poll::Refused)) => {
                        Err(ApiError::new(StatusCode::FORBIDDEN, "the login was cancelled in Telegram"))
                    }
                    Ok(Err(Poll::Gone | Poll::Approved(_))) => {
                        Err(ApiError::new(StatusCode::GONE, "this login request expired or was already used"))
                    }
                    Ok(Err(Poll::Unknown)) => Err(ApiError::new(StatusCode::NOT_FOUND, "no such login request")),
                    Err(e) => Err(ApiError::from(e)),
                };
                respond(outcome)
            }
        },
    );
    cat.add(
        "GET",
        "/api/auth/telegram/bot",
        "auth",
        "The bot's Telegram username (for the Login Widget); 404 without a bot, 503 until it has met Telegram",
        None,
        other(None, "Bot"),
    );
    let bot = warp::path!("api" / "auth" / "telegram" / "bot").and(warp::get()).map(move || {
        let state = chats_for_bot.state();
        match state.username {
            Some(username) => json_response(StatusCode::OK, &serde_json::json!({"username": username}), None),
            None if state.state == "absent" => {
                ApiError::new(StatusCode::NOT_FOUND, "no Telegram bot runs here (telegram.bot_token)").into_response()
            }
            None => {
                let waiting = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the bot does not know its name yet");
                ApiError { retry_after: Some(5), ..waiting }.into_response()
            }
        }
    });
    login
        .or(bot)
        .unify()
        .or(start)
        .unify()
        .or(poll)
        .unify()
        .or(telegram)
        .unify()
        .or(link)
        .unify()
        .or(refresh)
        .unify()
        .or(logout)
        .unify()
        .or(password)
        .unify()
        .boxed()
}
