//! The one place where errors become HTTP responses: `application/problem+json`
//! (RFC 9457). A 5xx never carries internals; the cause is logged.

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::domain::FieldError;
use crate::i18n::Lang;
use crate::i18n::problems::translate;
use crate::service::access::ServiceError;
use crate::service::auth::AuthError;
use crate::store::StoreError;

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds, for 429 and 503 answers that know when to come back.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into(), errors: Vec::new(), retry_after: None }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
        Self { status: StatusCode::UNPROCESSABLE_ENTITY, detail, errors, retry_after: None }
    }

    pub fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = ProblemBody {
            kind: "about:blank",
            title,
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = Response::new(json.into());
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("application/problem+json"));
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(warp::http::header::RETRY_AFTER, seconds.into());
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(warp::http::header::WWW_AUTHENTICATE, warp::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            StoreError::Invalid(errors) => ApiError::invalid(errors),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            StoreError::PreconditionFailed => ApiError::new(StatusCode::PRECONDITION_FAILED, e.to_string()),
            StoreError::Unavailable(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m),
            StoreError::Io => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the server could not complete the request")
            }
            StoreError::Closed => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, m),
            ServiceError::Hidden { .. } => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            ServiceError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            ServiceError::Store(e) => e.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthorized(m) => ApiError::new(StatusCode::UNAUTHORIZED, m),
            AuthError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, m),
            AuthError::Invalid { field, message } => ApiError::invalid(vec![FieldError::new(field, message)]),
            AuthError::TooMany(seconds) => {
                ApiError { retry_after: Some(seconds), ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()) }
            }
            AuthError::Store(e) => e.into(),
        }
    }
}

/// The language a request reads: its `Accept-Language`, else `ui.default_language`.
pub fn request_lang(headers: &warp::http::HeaderMap, default: Lang) -> Lang {
    headers
        .get(warp::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Lang::of_accept_language)
        .unwrap_or(default)
}

/// A problem answer with its `detail` and each `errors[].message` in `lang`; `type`,
/// `title`, `status` and `errors[].field` stay as they are. Any other answer, and
/// every answer in English, passes untouched. Problems are small, so reading one
/// back costs nothing worth measuring.
pub async fn localize(response: Response, lang: Lang) -> Response {
    let is_problem = response
        .headers()
        .get(warp::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
    if lang == Lang::En || !is_problem {
        return response;
    }
    use http_body_util::BodyExt;
    let (mut parts, body) = response.into_parts();
    let Ok(collected) = body.collect().await else {
        return Response::from_parts(parts, bytes::Bytes::new().into());
    };
    let bytes = collected.to_bytes();
    let Ok(mut problem) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, bytes.into());
    };
    if let Some(errors) = problem.get_mut("errors").and_then(|e| e.as_array_mut()) {
        let mut parts_of_detail = Vec::new();
        for error in errors.iter_mut() {
            if let Some(message) = error.get("message").and_then(|m| m.as_str()).map(|m| translate(m, lang)) {
                let field = error.get("field").and_then(|f| f.as_str()).unwrap_or("").to_string();
                parts_of_detail.push(format!("{field}: {message}"));
                error["message"] = message.into();
            }
        }
        // A 422's detail is its errors, one after another.
        if problem.get("status").and_then(|s| s.as_u64()) == Some(422) && !parts_of_detail.is_empty() {
            problem["detail"] = parts_of_detail.join("; ").into();
        }
    }
    if problem.get("status").and_then(|s| s.as_u64()) != Some(422)
        && let Some(detail) = problem.get("detail").and_then(|d| d.as_str()).map(|d| translate(d, lang))
    {
        problem["detail"] = detail.into();
    }
    let body = serde_json::to_vec(&problem).unwrap_or_else(|_| bytes.to_vec());
    parts.headers.remove(warp::http::header::CONTENT_LENGTH);
    parts.headers.insert(warp::http::header::CONTENT_LANGUAGE, warp::http::HeaderValue::from_static(lang.code()));
    Response::from_parts(parts, body.into())
}

/// A rejection carrying a problem (from the security gate, before any route).
#[derive(Debug)]
pub struct Refused(pub ApiError);
impl warp::reject::Reject for Refused {}

/// Turns warp's own rejections (no route, body too large...) into problems.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, std::convert::Infallible> {
    let error = if let Some(Refused(e)) = rejection.find::<Refused>() {
        e.clone()
    } else if rejection.is_not_found() {
        ApiError::new(StatusCode::NOT_FOUND, "no such resource")
    } else if let Some(e) = rejection.find::<warp::cors::CorsForbidden>() {
        ApiError::new(StatusCode::FORBIDDEN, format!("{e} (server.cors_origins)"))
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "the request body is larger than performance.max_file_size_mb")
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        ApiError::new(StatusCode::LENGTH_REQUIRED, "a Content-Length header is required")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this resource")
    } else if let Some(e) = rejection.find::<warp::reject::InvalidQuery>() {
        ApiError::bad_request(e.to_string())
    } else if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        ApiError::bad_request(e.to_string())
    } else {
        tracing::error!(?rejection, "unhandled rejection");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the server could not complete the request")
    };
    let too_large = error.status == StatusCode::PAYLOAD_TOO_LARGE;
    let mut response = error.into_response();
    if too_large {
        // The body was not read: the connection cannot carry another request, and a
        // client that reused it would see its next request cut off.
        response.headers_mut().insert(warp::http::header::CONNECTION, warp::http::HeaderValue::from_static("close"));
    }
    Ok(response)
}
