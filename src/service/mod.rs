//! The use cases. Every source (REST, WebSocket, bot, scheduler, command line) calls
//! these with its [`access::Principal`] (who, with which role, through which door),
//! never the store directly, so validation, defaults and permissions are the same
//! whichever door a change comes through.

pub mod access;
pub mod analysis;
pub mod auth;
pub mod binding;
pub mod board_login;
pub mod bot_settings;
pub mod calendar;
pub mod columns;
pub mod docs;
pub mod export;
pub mod feed;
pub mod feedback;
pub mod jobs;
pub mod keys;
pub mod logins;
pub mod notices;
pub mod offers;
pub mod query;
pub mod records;
pub mod recurring;
pub mod reports;
pub mod sessions;
pub mod stats;
pub mod tasks;
pub mod telegram;
pub mod users;

use std::sync::Arc;

pub use query::ListQuery;
pub use records::{Page, RecordService};

use crate::config::Config;
use crate::store::Storage;

/// Every use case behind one cheap-to-clone handle: built once (by `app.rs`, or by a
/// command that opens the folder itself) and handed to every source.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    /// For what is not a use case: health, metrics, the feed's broadcast, backups.
    pub store: Arc<dyn Storage>,
    pub records: RecordService,
    pub security: Arc<auth::Security>,
    pub analyst: analysis::Analyst,
    /// Telegram: who an account is, link codes, notification settings, the bot's state.
    pub chats: Arc<telegram::Chats>,
}

impl Services {
    pub fn new(config: Arc<Config>, store: Arc<dyn Storage>) -> Result<Services, String> {
        let records = RecordService::new(store.clone(), &config);
        let security = Arc::new(auth::Security::new(&config, store.clone())?);
        let analyst = analysis::Analyst::new(&config, records.clone(), security.clone());
        let chats = Arc::new(telegram::Chats::new(&config, store.clone(), security.clone()));
        Ok(Services { config, store, records, security, analyst, chats })
    }

    /// Sets or resets user `id`'s password (an admin's use case) and ends that user's
    /// open sessions: whoever had the old password is logged out everywhere.
    pub async fn reset_password(
        &self,
        p: &access::Principal,
        id: u64,
        password: &str,
    ) -> Result<(), access::ServiceError> {
        self.records.set_password(p, id, password).await?;
        self.security.end_sessions_of(id).map_err(|_| access::ServiceError::Store(crate::store::StoreError::Io))
    }

    /// What a follower of the change feed may see.
    pub fn viewer(&self) -> feed::Viewer {
        feed::Viewer { security: self.security.clone(), records: self.records.clone(), store: self.store.clone() }
    }
}
