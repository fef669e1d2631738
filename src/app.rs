//! Starting and stopping the whole server. The only module that spawns long-lived
//! tasks; each takes the shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{Config, ConfigError};
use crate::server::ServeOptions;
use crate::service::Services;
use crate::store::{CsvStore, PgSettings, PgStore, Storage};

/// A running server.
pub struct Running {
    /// The address it listens on (port 0 in the config gives a free port).
    pub addr: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    pub store: Arc<dyn Storage>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<()>,
    stop_jobs: oneshot::Sender<()>,
    jobs: JoinHandle<()>,
    bot: Option<crate::bot::Bot>,
    /// The follower of other servers' logins (PostgreSQL only).
    follow: (oneshot::Sender<()>, Option<JoinHandle<()>>),
}

/// The configuration as each subsystem checks its own section. `config.rs` reads the
/// file (shapes, defaults, unknown keys, `${VAR}`) and knows no subsystem; what a valid
/// log level, secret key, job or login setup is, each subsystem says itself.
pub fn check_config(mut config: Config) -> Result<Config, ConfigError> {
    crate::logs::check(&config.logging).map_err(ConfigError::Invalid)?;
    crate::auth::secret::resolve(&mut config).map_err(ConfigError::Invalid)?;
    crate::scheduler::check_jobs(&config.cron).map_err(ConfigError::Invalid)?;
    crate::service::logins::check_login_possible(&config).map_err(ConfigError::Invalid)?;
    crate::bot::check(&config.telegram).map_err(ConfigError::Invalid)?;
    if config.db_postgresql.enabled {
        crate::store::PgSettings::from_config(&config).options().map_err(ConfigError::Invalid)?;
    }
    Ok(config)
}

/// The store the configuration names: the CSV folder, or PostgreSQL with
/// `db_postgresql.enabled` (the folder then keeps only what is local to this server).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Storage>> {
    let store_config = crate::store::StoreConfig::from_config(config);
    let data_dir = store_config.data_dir.clone();
    if config.db_postgresql.enabled {
        let settings = PgSettings::from_config(config);
        let store = tokio::task::spawn_blocking(move || PgStore::open(store_config, settings))
            .await?
            .map_err(anyhow::Error::msg)
            .context("cannot open the PostgreSQL database (db_postgresql)")?;
        return Ok(Arc::new(store));
    }
    let store = tokio::task::spawn_blocking(move || CsvStore::open(store_config))
        .await?
        .with_context(|| format!("cannot open the data folder {}", data_dir.display()))?;
    Ok(Arc::new(store))
}

/// Opens the store and starts serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let store = open_store(&config).await?;
    if !config.security.enabled {
        tracing::warn!("security.enabled is false: every request acts as the built-in admin `anonymous`");
    }
    let addr: SocketAddr = format!("{}:{}", config.server.host, config.server.port).parse().with_context(|| {
        format!("server.host/server.port: {}:{} is not an address", config.server.host, config.server.port)
    })?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    let tls = match (&config.server.ssl_cert_path, &config.server.ssl_key_path) {
        (Some(cert), Some(key)) if config.server.ssl_enabled => {
            Some(crate::server::tls_acceptor(cert, key).map_err(anyhow::Error::msg)?)
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let dyn_store = store.clone();
    // The one application state: every source gets its door from here.
    let services = Services::new(Arc::new(config), dyn_store).map_err(anyhow::Error::msg)?;
    let config = services.config.clone();
    if let Some(why) = crate::service::logins::nobody_can_log_in(&services.config, &*services.store) {
        tracing::warn!("nobody can log in yet: {why}");
    }
    let options = ServeOptions {
        max_connections: config.server.max_connections,
        max_per_address: config.server.max_connections_per_address,
        header_timeout: Duration::from_secs(config.server.header_read_timeout.max(1)),
        request_timeout: Duration::from_secs(config.server.request_timeout.max(1)),
        tls,
        security: services.security.clone(),
        fast: Some(crate::api::fast::FastReads::new(services.security.clone(), services.records.clone())),
        default_lang: config.ui.default_language,
    };
    crate::api::metrics::handle();
    let scheduler = crate::scheduler::Scheduler::new(services.clone(), chrono::Utc::now());
    let (stop_jobs, jobs_stopped) = oneshot::channel::<()>();
    let jobs = tokio::spawn(scheduler.clone().run(async {
        let _ = jobs_stopped.await;
    }));
    let job_control = crate::service::jobs::Jobs::new(Arc::new(scheduler.clone()));
    // The bot is a source like the API: it gets the same Services.
    let bot = crate::bot::start(&services).map_err(anyhow::Error::msg)?;
    // Servers sharing a database count each other's failed logins (see
    // `Security::note_other_server`) and requests per minute; a folder has one server.
    let (stop_follow, follow_stopped) = oneshot::channel::<()>();
    let follow = (store.backend().kind == "postgresql").then(|| {
        let (security, mut feed, store) = (services.security.clone(), store.subscribe(), store.clone());
        tokio::spawn(async move {
            let mut stopped = std::pin::pin!(follow_stopped);
            let mut share = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    change = feed.recv() => match change {
                        Ok(change) => security.note_other_server(&change),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return,
                    },
                    _ = share.tick() => {
                        if let Ok(others) = store.share_counts(security.request_counts()).await {
                            security.requests_elsewhere(others);
                        }
                    }
                }
            }
        })
    });
    let routes = crate::api::routes(&services, job_control, Instant::now());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::serve(listener, routes, options, async {
        let _ = stopped.await;
    }));
    let backend = store.backend().kind;
    tracing::info!(%addr, backend, data_dir = %store.data_dir().display(), "taskboard listening on {scheme}://{addr}");
    Ok(Running { addr, scheme, store, stop, server, stop_jobs, jobs, bot, follow: (stop_follow, follow) })
}

impl Running {
    /// Stops accepting, lets requests in flight finish, then folds every change into
    /// the table files.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
        if let Some(bot) = self.bot {
            bot.stop().await;
        }
        let _ = self.stop_jobs.send(());
        let _ = self.jobs.await;
        let _ = self.follow.0.send(());
        if let Some(follow) = self.follow.1 {
            let _ = follow.await;
        }
        self.store.shutdown().await;
        tracing::info!("taskboard stopped; every table file is complete");
    }
}

/// SIGTERM and Ctrl-C (SIGINT), caught from the moment this is made: made before the
/// server announces its address, so a stop that follows the announcement is always a
/// clean one.
pub struct ShutdownSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    /// Must be called inside the runtime.
    pub fn install() -> std::io::Result<ShutdownSignal> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignal { term: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? })
        }
        #[cfg(not(unix))]
        {
            Ok(ShutdownSignal {})
        }
    }

    /// Resolves when either signal arrives.
    pub async fn received(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.interrupt.recv() => {},
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
