//! Starting and stopping the whole server. The only module that spawns long-lived
//! tasks; each takes the shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::store::{CsvStore, Storage};

/// A running server.
pub struct Running {
    /// The address it listens on (port 0 in the config gives a free port).
    pub addr: SocketAddr,
    pub store: Arc<CsvStore>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

/// Opens the data folder and starts serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let store_config = config.store_config();
    let data_dir = store_config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || CsvStore::open(store_config))
        .await?
        .with_context(|| format!("cannot open the data folder {}", data_dir.display()))?;
    let store = Arc::new(store);
    if !config.security.enabled {
        tracing::warn!("security.enabled is false: every request acts as the built-in admin `anonymous`");
    }
    let addr: SocketAddr = format!("{}:{}", config.server.host, config.server.port).parse().with_context(|| {
        format!("server.host/server.port: {}:{} is not an address", config.server.host, config.server.port)
    })?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    let routes = crate::api::routes(store.clone() as Arc<dyn Storage>, &config, Instant::now());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        warp::serve(routes)
            .incoming(listener)
            .graceful(async {
                let _ = stopped.await;
            })
            .run()
            .await;
    });
    tracing::info!(%addr, data_dir = %store.data_dir().display(), "taskboard listening");
    Ok(Running { addr, store, stop, server })
}

impl Running {
    /// Stops accepting, lets requests in flight finish, then folds every change into
    /// the table files.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
        self.store.shutdown().await;
        tracing::info!("taskboard stopped; every table file is complete");
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
