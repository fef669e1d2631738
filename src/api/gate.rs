//! The security gate in front of every route: who the caller is (authenticated by the
//! server as the request arrives, see [`Caller`]), whether their role may call this
//! route at all (`auth::policy`), `admin_only_endpoints`, a password that must be
//! changed first, and the request rate. Record-level scopes are the service's.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{Method, StatusCode};

use crate::auth::policy::{self, Requirement, Role};
use crate::service::access::Principal;
use crate::service::auth::Security;

use super::problem::{ApiError, Refused};

/// Who sent a request: put in its extensions by the server before routing, because
/// warp filters cannot add extensions and every handler needs the principal.
#[derive(Clone)]
pub struct Caller {
    /// Shared: the gate, the handler and the access log all look at it.
    pub principal: Result<Arc<Principal>, ApiError>,
    pub peer: Option<SocketAddr>,
    /// The request brought `metrics.token` as its bearer token (asked of `/metrics` only).
    pub metrics_token: bool,
}

impl Caller {
    /// Authenticates a request from its `Authorization: Bearer` header or its
    /// `X-API-Key` header (or, for the WebSocket, whose browsers cannot set headers,
    /// its `token` query parameter; never an API key there, where logs and histories
    /// keep URLs).
    pub fn of(security: &Security, headers: &warp::http::HeaderMap, uri: &warp::http::Uri, peer: SocketAddr) -> Caller {
        let bearer = headers
            .get(warp::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        let query_token = (uri.path() == "/ws")
            .then(|| uri.query())
            .flatten()
            .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("token=")));
        let api_key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim);
        let principal = if security.enabled {
            if query_token.is_some_and(|t| t.starts_with(crate::service::keys::PREFIX)) {
                Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "an API key is not accepted in a URL: send it as Authorization: Bearer or X-API-Key, \
                     or in the WebSocket's first message",
                ))
            } else {
                security.authenticate(bearer.or(api_key).or(query_token)).map(Arc::new).map_err(ApiError::from)
            }
        } else {
            Ok(security.anonymous.clone())
        };
        let token = &security.metrics_token;
        let metrics_token = uri.path() == "/metrics"
            && !token.is_empty()
            && bearer.is_some_and(|b| constant_time_eq(b.as_bytes(), token.as_bytes()));
        Caller { principal, peer: Some(peer), metrics_token }
    }

    pub fn ip(&self) -> Option<IpAddr> {
        self.peer.map(|p| p.ip())
    }

    /// The name for the access log.
    pub fn name(&self) -> &str {
        self.principal.as_ref().map(|p| p.username.as_str()).unwrap_or("-")
    }
}

/// The principal of a request that passed the gate (an anonymous caller on a public
/// route is refused here with the gate's 401).
pub fn principal() -> BoxedFilter<(Arc<Principal>,)> {
    warp::ext::get::<Caller>()
        .and_then(|caller: Caller| async move { caller.principal.map_err(|e| warp::reject::custom(Refused(e))) })
        .boxed()
}

/// The caller as it is, for public routes that answer more to some (health).
pub fn caller() -> BoxedFilter<(Caller,)> {
    warp::ext::get::<Caller>().boxed()
}

/// `/metrics`, whether security is on or off: an address in `metrics.allow`, the
/// bearer `metrics.token`, or (security on) an admin's login.
fn admit_metrics(security: &Security, caller: &Caller) -> Result<(), ApiError> {
    if caller.ip().is_some_and(|ip| security.metrics_allow.iter().any(|range| range.contains(ip))) {
        return Ok(());
    }
    if caller.metrics_token {
        return Ok(());
    }
    if security.enabled && caller.principal.as_ref().is_ok_and(|p| p.role == crate::auth::policy::Role::Admin) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "/metrics is read from an address in metrics.allow, with metrics.token, or by an admin",
    ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses what the caller may not call; passes everything else on to the routes.
pub fn gate(security: Arc<Security>) -> BoxedFilter<()> {
    warp::ext::get::<Caller>()
        .and(warp::method())
        .and(warp::path::full())
        .and_then(move |caller: Caller, method: Method, path: warp::path::FullPath| {
            let verdict = admit(&security, &caller, &method, path.as_str());
            async move { verdict.map_err(|e| warp::reject::custom(Refused(e))) }
        })
        .untuple_one()
        .boxed()
}

/// The gate's verdict on one request (also asked by the fast path, `api/fast.rs`).
pub(super) fn admit(security: &Security, caller: &Caller, method: &Method, path: &str) -> Result<(), ApiError> {
    if path == "/metrics" && method != Method::OPTIONS {
        return admit_metrics(security, caller);
    }
    if !security.enabled || method == Method::OPTIONS {
        // Security off: everyone is the admin. OPTIONS: CORS preflights carry no token.
        return Ok(());
    }
    security.count_request(caller.principal.as_deref().ok(), caller.ip()).map_err(ApiError::from)?;
    let requirement = policy::requirement(method.as_str(), path);
    if requirement == Requirement::Public {
        return Ok(());
    }
    let p = caller.principal.clone()?;
    if let Some(key) = p.key {
        if key.read_only && method != Method::GET && method != Method::HEAD {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("this API key is read-only: it may not {method}"),
            ));
        }
        // Sessions and passwords belong to logins; a key may only ask who it is.
        if path.starts_with("/api/auth/") && path != "/api/auth/me" {
            return Err(ApiError::new(StatusCode::FORBIDDEN, format!("{path} is for a login session, not an API key")));
        }
    }
    if p.must_change_password && !path.starts_with("/api/auth/") {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "your password is older than {} days: change it with PUT /api/auth/password first",
                crate::auth::password::MAX_AGE_DAYS
            ),
        ));
    }
    if !policy::allows(p.role, requirement, security.export_allow_all) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, format!("the {} role may not {method} {path}", p.role)));
    }
    if p.role != Role::Admin && security.admin_only.covers(path) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{path} is for administrators (security.admin_only_endpoints)"),
        ));
    }
    Ok(())
}
