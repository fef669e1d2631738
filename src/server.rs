//! Serving connections: our own accept loop around the warp filter, for what warp 0.4's
//! server does not offer: a connection limit that refuses at once instead of queueing,
//! a limit per client address, a deadline for a request's headers (which also closes
//! idle keep-alive connections), a per-request timeout, TLS, and the peer's address in
//! every request.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tower_service::Service;
use warp::filters::BoxedFilter;
use warp::http::{Request, StatusCode};
use warp::reply::Response;

use crate::api::problem::ApiError;

/// A browser sends `Origin` with a module script, a POST and a WebSocket even to the
/// page's own server; that is not a cross-origin request, and the CORS filter (which
/// knows only `server.cors_origins`) must not refuse the board its own server. The
/// header is dropped when it names the host the request was sent to.
fn forget_same_origin<B>(request: &mut Request<B>) {
    let headers = request.headers();
    let Some(origin) = headers.get(warp::http::header::ORIGIN).and_then(|v| v.to_str().ok()) else { return };
    let host = headers
        .get(warp::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    if host.is_some_and(|h| origin_host.is_some_and(|o| o.eq_ignore_ascii_case(h))) {
        request.headers_mut().remove(warp::http::header::ORIGIN);
    }
}

/// The address a request came from, put in its extensions for filters that need it.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

pub struct ServeOptions {
    /// Connections served at once; past it the longest-idle one is closed to make room,
    /// and only when every one is answering a request is a newcomer answered 503.
    pub max_connections: usize,
    /// Connections one address may hold (0: no limit).
    pub max_per_address: usize,
    /// How long a client may take to send a request's headers, counted from the
    /// connection's start or the previous response; idle connections close after it.
    pub header_timeout: Duration,
    /// How long a request may take to produce its response.
    pub request_timeout: Duration,
    pub tls: Option<TlsAcceptor>,
    /// Authenticates each request before routing (see `api::gate::Caller`).
    pub security: Arc<crate::service::auth::Security>,
    /// The hot read answered before the filter chain (`api::fast`).
    pub fast: Option<crate::api::fast::FastReads>,
    /// `ui.default_language`: errors are written in it when a request's
    /// `Accept-Language` names neither language we speak.
    pub default_lang: crate::i18n::Lang,
}

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a new connection waits for the place an idle one is giving up.
const RECLAIM_WAIT: Duration = Duration::from_secs(1);
/// How long a stop waits for connections still open.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves until `shutdown` resolves, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    routes: BoxedFilter<(Response,)>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let per_address = Arc::new(AddressCounts::default());
    let open = Arc::new(OpenConnections::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let service = warp::service(routes);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off a moment.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => Some(slot),
            // A full house: the connection that has waited longest without a request
            // in progress (a slow or silent client first) makes room for this one.
            Err(_) if open.close_one_idle() => None,
            Err(_) => {
                metrics::counter!("taskboard_connections_refused_total").increment(1);
                tokio::spawn(refuse(stream, options.tls.is_some(), "too many connections (server.max_connections)"));
                continue;
            }
        };
        let Some(address_slot) = per_address.take(peer.ip(), options.max_per_address) else {
            metrics::counter!("taskboard_connections_refused_total").increment(1);
            let why = "too many connections from one address (server.max_connections_per_address)";
            tokio::spawn(refuse(stream, options.tls.is_some(), why));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let timeout = options.request_timeout;
        let filter = service.clone();
        let security = options.security.clone();
        let fast = options.fast.clone();
        // Set by the first request: until then, the connection has `header_timeout` to
        // send one (hyper's own header timer starts only after the protocol is known).
        let spoke = Arc::new(AtomicBool::new(false));
        let spoke_in_handler = spoke.clone();
        let (this, closed) = Connection::new(spoke.clone());
        let this_in_handler = this.clone();
        let default_lang = options.default_lang;
        let handler = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            spoke_in_handler.store(true, Ordering::Relaxed);
            let working = Working::on(&this_in_handler);
            forget_same_origin(&mut request);
            let caller = crate::api::gate::Caller::of(&security, request.headers(), request.uri(), peer);
            let lang = crate::api::problem::request_lang(request.headers(), default_lang);
            let path = request.uri().path().to_string();
            if let Some(mut response) = fast.as_ref().and_then(|f| f.answer(&request, &caller)) {
                // Answered at once, from memory: no filter chain, no timer (an error
                // still goes out in the request's language).
                crate::api::reply::harden(&path, &mut response);
                return Either::Left(async move {
                    let response = crate::api::problem::localize(response, lang).await;
                    drop(working);
                    Ok::<_, Infallible>(response)
                });
            }
            request.extensions_mut().insert(PeerAddr(peer));
            request.extensions_mut().insert(caller);
            let mut filter = filter.clone();
            let response = filter.call(request);
            Either::Right(async move {
                let mut response = match tokio::time::timeout(timeout, response).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the request took longer than server.request_timeout",
                    )
                    .into_response(),
                };
                crate::api::reply::harden(&path, &mut response);
                let response = crate::api::problem::localize(response, lang).await;
                drop(working);
                Ok::<_, Infallible>(response)
            })
        });
        let watcher = graceful.watcher();
        let tls = options.tls.clone();
        let header_timeout = options.header_timeout;
        let slots = slots.clone();
        let open = open.clone();
        tokio::spawn(async move {
            // A place made by closing an idle connection comes free once that one's
            // task has ended; if it does not come in time, this one is refused.
            let slot = match slot {
                Some(slot) => slot,
                None => match tokio::time::timeout(RECLAIM_WAIT, slots.acquire_owned()).await {
                    Ok(Ok(slot)) => slot,
                    _ => {
                        metrics::counter!("taskboard_connections_refused_total").increment(1);
                        refuse(stream, tls.is_some(), "too many connections (server.max_connections)").await;
                        return;
                    }
                },
            };
            open.track(&this);
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let result = match tls {
                None => {
                    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), handler).into_owned();
                    unless_reclaimed(until_silent(watcher.watch(connection), &spoke, header_timeout), &this, &closed)
                        .await
                }
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls_stream)) => {
                        let connection =
                            builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), handler).into_owned();
                        unless_reclaimed(
                            until_silent(watcher.watch(connection), &spoke, header_timeout),
                            &this,
                            &closed,
                        )
                        .await
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        Ok(())
                    }
                    Err(_) => Ok(()),
                },
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            open.forget(&this);
            drop(slot);
            drop(address_slot);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them"),
    }
}

/// Serves a connection, but drops it if no request has begun within `timeout` of its
/// start: a client that connects and sends nothing (or half a preface) holds no slot.
async fn until_silent<F: Future<Output = Result<(), E>>, E>(
    connection: F,
    spoke: &AtomicBool,
    timeout: Duration,
) -> Result<(), E> {
    let connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection => result,
        () = async {
            tokio::time::sleep(timeout).await;
            if spoke.load(Ordering::Relaxed) {
                std::future::pending::<()>().await;
            }
        } => {
            metrics::counter!("taskboard_connections_timed_out_total").increment(1);
            Ok(())
        }
    }
}

/// Serves `connection` until it ends, or until the accept loop closes it to make room
/// (only while no request of it is in progress; one that just began keeps it open).
async fn unless_reclaimed<F: Future<Output = Result<(), E>>, E>(
    connection: F,
    this: &Arc<Connection>,
    closed: &tokio::sync::Notify,
) -> Result<(), E> {
    let connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection => result,
        () = async {
            loop {
                closed.notified().await;
                if this.working.load(Ordering::Acquire) == 0 {
                    break;
                }
            }
        } => {
            metrics::counter!("taskboard_connections_reclaimed_total").increment(1);
            Ok(())
        }
    }
}

/// One open connection as the accept loop sees it: whether it ever sent a request,
/// how many of its requests are being answered, and since when it has been idle.
struct Connection {
    id: u64,
    spoke: Arc<AtomicBool>,
    working: AtomicUsize,
    /// Milliseconds since [`EPOCH`] when its last request was answered (or it opened).
    idle_since: AtomicU64,
    close: Arc<tokio::sync::Notify>,
}

/// A request of a connection being answered: the connection is not idle meanwhile.
struct Working(Arc<Connection>);

impl Working {
    fn on(connection: &Arc<Connection>) -> Self {
        connection.working.fetch_add(1, Ordering::AcqRel);
        Working(connection.clone())
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        self.0.idle_since.store(millis_since_epoch(), Ordering::Relaxed);
        self.0.working.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The instant idle times are counted from: a number is cheaper to keep per request
/// than a lock around an `Instant`.
static EPOCH: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

fn millis_since_epoch() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

/// Every open connection, so that a full house closes an idle one rather than turning
/// a new client away: a thousand slow or silent sockets cannot keep people out, since
/// each is idle by definition (no request of theirs has reached the handler).
#[derive(Default)]
struct OpenConnections {
    all: std::sync::Mutex<std::collections::HashMap<u64, Arc<Connection>>>,
}

impl Connection {
    fn new(spoke: Arc<AtomicBool>) -> (Arc<Connection>, Arc<tokio::sync::Notify>) {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let close = Arc::new(tokio::sync::Notify::new());
        let connection = Arc::new(Connection {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            spoke,
            working: AtomicUsize::new(0),
            idle_since: AtomicU64::new(millis_since_epoch()),
            close: close.clone(),
        });
        (connection, close)
    }
}

impl OpenConnections {
    /// Counts `connection` among those that may be closed to make room (once it holds
    /// a place: one still waiting for its place is never chosen).
    fn track(&self, connection: &Arc<Connection>) {
        if let Ok(mut all) = self.all.lock() {
            all.insert(connection.id, connection.clone());
        }
    }

    fn forget(&self, connection: &Connection) {
        if let Ok(mut all) = self.all.lock() {
            all.remove(&connection.id);
        }
    }

    /// Closes the idle connection that has waited longest, those that never sent a
    /// request first; false when every open connection is answering a request.
    fn close_one_idle(&self) -> bool {
        let Ok(mut all) = self.all.lock() else { return false };
        let oldest = all
            .values()
            .filter(|c| c.working.load(Ordering::Acquire) == 0)
            .min_by_key(|c| (c.spoke.load(Ordering::Relaxed), c.idle_since.load(Ordering::Relaxed)))
            .map(|c| c.id);
        let Some(id) = oldest else { return false };
        if let Some(connection) = all.remove(&id) {
            connection.close.notify_one();
        }
        true
    }
}

/// Open connections per client address, for `max_connections_per_address`.
#[derive(Default)]
struct AddressCounts(std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>);

/// One connection's place in its address's count, given back when dropped.
struct AddressSlot {
    counts: Option<(Arc<AddressCounts>, IpAddr)>,
}

impl AddressCounts {
    /// A place for one more connection from `ip`, or None at the limit (0: no limit).
    fn take(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<AddressSlot> {
        if limit == 0 {
            return Some(AddressSlot { counts: None });
        }
        let mut counts = self.0.lock().ok()?;
        let n = counts.entry(ip).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(AddressSlot { counts: Some((self.clone(), ip)) })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let Some((counts, ip)) = self.counts.take() else { return };
        if let Ok(mut counts) = counts.0.lock()
            && let Some(n) = counts.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                counts.remove(&ip);
            }
        }
    }
}

/// Past a connection limit: a plain 503 (or a closed socket under TLS) right away.
async fn refuse(mut stream: TcpStream, tls: bool, why: &str) {
    if !tls {
        let body = format!(r#"{{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"{why}"}}"#);
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\n\
             connection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
    }
    let _ = stream.shutdown().await;
}

/// Reads a PEM certificate chain and key into a TLS acceptor (HTTP/2 and HTTP/1.1).
pub fn tls_acceptor(cert_path: &Path, key_path: &Path) -> Result<TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("server.ssl_cert_path: cannot read {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!("server.ssl_cert_path: {} holds no certificate", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("server.ssl_key_path: cannot read a private key from {}: {e}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("server.ssl_cert_path/ssl_key_path: the key does not fit the certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
