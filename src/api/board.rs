//! `GET /board/...`: the web board. Its files are built from `web/` into `web/dist`
//! (committed, so that `cargo build` needs no Node.js) and embedded in the binary. They
//! are read and compressed once, when the routes are built; a request picks the gzip or
//! the plain bytes by `Accept-Encoding` and may get a 304 by `If-None-Match`.
//!
//! Every path below `/board/` that is not a built file answers the app's page, so that
//! a deep link (`/board/tasks/42`) opens the app, which routes on the client. Files under
//! `assets/` carry a content hash in their names and are cached for a year; the page is
//! revalidated every time. The page's settings (statuses, priorities, whether security
//! is on) travel in a `<meta name="taskboard">` tag filled in here, because the
//! Content-Security-Policy allows no inline script.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::config::Config;

#[derive(rust_embed::Embed)]
#[folder = "web/dist"]
struct Built;

/// The page may load only what the server serves itself; no inline script, no eval.
/// `frame-src` admits Telegram's login frame, the one outside page the board may show.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
     font-src 'self'; connect-src 'self'; frame-src https://oauth.telegram.org; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// The same, with Telegram's Login Widget script allowed (`telegram.login_widget`):
/// then the one outside script the board loads.
const CSP_WITH_WIDGET: &str = "default-src 'self'; script-src 'self' https://telegram.org; style-src 'self'; \
     img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; frame-src https://oauth.telegram.org; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Whether the board offers Telegram's Login Widget.
fn offers_widget(config: &Config) -> bool {
    config.telegram.login_widget
        && config.security.enabled
        && config.telegram.bot_token.is_set()
        && config.security.validation_method != crate::config::ValidationMethod::Password
}

/// One file, ready to send.
struct Asset {
    plain: Bytes,
    /// Present when compressing made it smaller.
    gzip: Option<Bytes>,
    content_type: &'static str,
    etag: HeaderValue,
    /// Fingerprinted: its name changes whenever its bytes do.
    immutable: bool,
}

/// The board's files by their path below `/board/`; `index.html` is the app's page.
pub struct Board {
    files: HashMap<String, Asset>,
    /// The page's Content-Security-Policy.
    csp: &'static str,
}

impl Board {
    /// Reads and compresses every built file, and fills the page's settings in.
    pub fn load(config: &Config) -> Board {
        let settings = page_settings(config);
        let mut files = HashMap::new();
        for path in Built::iter() {
            let Some(file) = Built::get(&path) else { continue };
            let mut bytes = file.data.into_owned();
            if path == "index.html" {
                let page = String::from_utf8_lossy(&bytes).replace(
                    r#"<meta name="taskboard" content="">"#,
                    &format!(r#"<meta name="taskboard" content="{}">"#, escape_attribute(&settings)),
                );
                bytes = page.into_bytes();
            }
            let immutable = path.starts_with("assets/");
            files.insert(path.to_string(), asset(&path, bytes, immutable));
        }
        Board { files, csp: if offers_widget(config) { CSP_WITH_WIDGET } else { CSP } }
    }

    fn answer(&self, tail: &str, accepts_gzip: bool, if_none_match: Option<&str>) -> Response {
        let (name, asset) = match self.files.get(tail) {
            Some(asset) if !tail.is_empty() => (tail, asset),
            // A missing fingerprinted file is a 404: answering the page would hand a
            // script tag HTML, and the browser's error would hide the real cause.
            _ if tail.starts_with("assets/") => return not_found(tail),
            _ => match self.files.get("index.html") {
                Some(page) => ("index.html", page),
                None => return not_found("index.html"),
            },
        };
        let mut response = Response::new(Bytes::new().into());
        let headers = response.headers_mut();
        headers.insert(header::ETAG, asset.etag.clone());
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if asset.immutable { "public, max-age=31536000, immutable" } else { "no-cache" }),
        );
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        if name == "index.html" {
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(self.csp));
            headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        }
        if if_none_match.is_some_and(|tags| tags.split(',').any(|t| t.trim() == asset.etag || t.trim() == "*")) {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            return response;
        }
        let body = match (&asset.gzip, accepts_gzip) {
            (Some(gzip), true) => {
                response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                gzip.clone()
            }
            _ => asset.plain.clone(),
        };
        *response.body_mut() = body.into();
        response
    }
}

fn asset(path: &str, bytes: Vec<u8>, immutable: bool) -> Asset {
    let content_type = content_type(path);
    let gzip = content_type.starts_with("text/") || content_type.starts_with("application/");
    let gzip = gzip.then(|| compress(&bytes)).flatten().filter(|g| g.len() < bytes.len()).map(Bytes::from);
    let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&bytes));
    Asset {
        plain: Bytes::from(bytes),
        gzip,
        content_type,
        etag: HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"0\"")),
        immutable,
    }
}

fn compress(bytes: &[u8]) -> Option<Vec<u8>> {
    super::reply::gzip(bytes, flate2::Compression::best())
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn not_found(path: &str) -> Response {
    super::problem::ApiError::new(StatusCode::NOT_FOUND, format!("the board has no file {path}")).into_response()
}

/// What the page needs before it can draw a form: it cannot ask the API for the
/// configuration (that is for admins), and these are no secret.
fn page_settings(config: &Config) -> String {
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "security_enabled": config.security.enabled,
        "statuses": config.tasks.statuses,
        // Each status's labels and kind: the board names columns by label and decides
        // what is closed or finished by kind, as the server does.
        "workflow": config.tasks.workflow,
        "priorities": crate::domain::values::PRIORITIES,
        "max_file_size_mb": config.performance.max_file_size_mb,
        "feedback_form_url": config.feedback.form_url,
        // Declared custom columns: the task form draws each by its type.
        "fields": config.tasks.fields,
        // Closed tasks untouched this many days leave the columns (0: never).
        "archive_after_days": config.tasks.archive_after_days,
        // The Telegram Login Widget needs the bot's username, which the bot learns from
        // getMe after the page was built: not offered yet (the board logs in by password).
        "telegram_bot": serde_json::Value::Null,
        // "Link Telegram" is offered when a bot runs to take the code.
        "telegram_link": config.telegram.bot_token.is_set(),
        // The password form, unless the method is telegram_username alone.
        "password_login": !config.security.enabled
            || config.security.validation_method != crate::config::ValidationMethod::TelegramUsername,
        // Telegram's Login Widget (telegram.login_widget); the page asks the bot's name
        // from /api/auth/telegram/bot.
        "telegram_widget": offers_widget(config),
        // "Log in with Telegram" (confirmed in the bot) where the method allows it.
        "telegram_login": config.security.enabled
            && config.telegram.bot_token.is_set()
            && config.security.validation_method != crate::config::ValidationMethod::Password,
    })
    .to_string()
}

fn escape_attribute(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `GET /board`, `GET /board/` and every path below it.
pub fn routes(config: &Config) -> BoxedFilter<(Response,)> {
    let board = Arc::new(Board::load(config));
    warp::path("board")
        .and(warp::path::full())
        .and(warp::path::tail())
        .and(get_or_head())
        .and(warp::header::optional::<String>("accept-encoding"))
        .and(warp::header::optional::<String>("if-none-match"))
        .map(
            move |full: warp::path::FullPath,
                  tail: warp::path::Tail,
                  encodings: Option<String>,
                  tags: Option<String>| {
                if full.as_str() == "/board" {
                    // The app's relative URLs need the slash.
                    let mut response = Response::new(Bytes::new().into());
                    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
                    response.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/board/"));
                    return response;
                }
                let gzip = encodings.is_some_and(|e| super::reply::accepts_gzip(&e));
                board.answer(tail.as_str(), gzip, tags.as_deref())
            },
        )
        .boxed()
}

fn get_or_head() -> BoxedFilter<()> {
    warp::get().or(warp::head()).unify().boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_taken_unless_refused() {
        assert!(super::super::reply::accepts_gzip("gzip, deflate, br"));
        assert!(super::super::reply::accepts_gzip("br;q=1.0, gzip;q=0.8"));
        assert!(!super::super::reply::accepts_gzip("gzip;q=0"));
        assert!(!super::super::reply::accepts_gzip("br, deflate"));
    }

    #[test]
    fn settings_cannot_break_out_of_the_attribute() {
        assert_eq!(escape_attribute(r#"{"a":"<x>&"}"#), "{&quot;a&quot;:&quot;&lt;x&gt;&amp;&quot;}");
    }
}
