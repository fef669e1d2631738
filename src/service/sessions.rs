//! The login sessions file, `data/.taskboard/sessions.csv`: one row per session with
//! the refresh token valid for it, rewritten whole on each change so that a logout or a
//! revocation survives a restart. Expired sessions are dropped when it is read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;

use crate::store::{Storage, StoreError};

const SESSIONS_FILE: &str = ".taskboard/sessions.csv";

/// One login session: the refresh token currently valid for it.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) user_id: u64,
    pub(super) refresh_jti: String,
    pub(super) expires_at: i64,
    pub(super) revoked: bool,
    pub(super) must_change_password: bool,
}

pub(super) fn write_sessions(sessions: &HashMap<String, Session>) -> Vec<u8> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record(["session", "user_id", "refresh_jti", "expires_at", "revoked", "must_change_password"]);
    let mut sorted: Vec<_> = sessions.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (sid, s) in sorted {
        let _ = out.write_record([
            sid.as_str(),
            &s.user_id.to_string(),
            &s.refresh_jti,
            &s.expires_at.to_string(),
            &s.revoked.to_string(),
            &s.must_change_password.to_string(),
        ]);
    }
    out.into_inner().unwrap_or_default()
}

pub(super) fn read_sessions(bytes: &[u8]) -> HashMap<String, Session> {
    let mut reader = csv::Reader::from_reader(bytes);
    let now = Utc::now().timestamp();
    reader
        .records()
        .flatten()
        .filter_map(|r| {
            let session = Session {
                user_id: r.get(1)?.parse().ok()?,
                refresh_jti: r.get(2)?.to_string(),
                expires_at: r.get(3)?.parse().ok()?,
                revoked: r.get(4)? == "true",
                must_change_password: r.get(5)? == "true",
            };
            let sid = r.get(0)?.to_string();
            (session.expires_at > now).then_some((sid, session))
        })
        .collect()
}

/// The sessions as this server knows them, kept in step with the file: servers that
/// share a store (PostgreSQL) see each other's logins, logouts and revocations.
pub(super) struct SessionBook {
    store: Arc<dyn Storage>,
    sessions: Mutex<HashMap<String, Session>>,
    /// The store's generation of the file when it was last read.
    generation: AtomicU64,
}

impl SessionBook {
    pub(super) fn open(store: Arc<dyn Storage>) -> SessionBook {
        let generation = AtomicU64::new(store.aux_generation(SESSIONS_FILE));
        let sessions = store.read_aux(SESSIONS_FILE).map(|b| read_sessions(&b)).unwrap_or_default();
        SessionBook { store, sessions: Mutex::new(sessions), generation }
    }

    /// Session `sid`, revoked or not.
    pub(super) fn get(&self, sid: &str) -> Option<Session> {
        self.as_stored(false);
        let found = self.sessions.lock().ok()?.get(sid).cloned();
        // A session another server started a moment ago may not have been announced
        // yet: one more look at the file before refusing a correctly signed token.
        found.or_else(|| {
            self.as_stored(true);
            self.sessions.lock().ok()?.get(sid).cloned()
        })
    }

    /// The ids of `user_id`'s sessions that are not revoked.
    pub(super) fn of_user(&self, user_id: u64) -> Vec<String> {
        self.as_stored(true);
        self.sessions
            .lock()
            .map(|s| s.iter().filter(|(_, v)| v.user_id == user_id && !v.revoked).map(|(k, _)| k.clone()).collect())
            .unwrap_or_default()
    }

    pub(super) fn revoke(&self, sid: &str) -> Result<(), StoreError> {
        if let Some(mut session) = self.get(sid) {
            session.revoked = true;
            self.save(sid, session)?;
        }
        Ok(())
    }

    /// Sets one session and rewrites the file (expired sessions are dropped), in one
    /// step from what the file holds (`update_aux`), not from this server's copy.
    pub(super) fn save(&self, sid: &str, session: Session) -> Result<(), StoreError> {
        let mut merged = HashMap::new();
        self.store.update_aux(SESSIONS_FILE, &mut |stored| {
            let mut sessions = stored.map(read_sessions).unwrap_or_default();
            sessions.insert(sid.to_string(), session.clone());
            let now = Utc::now().timestamp();
            sessions.retain(|_, s| s.expires_at > now);
            let bytes = write_sessions(&sessions);
            merged = sessions;
            bytes
        })?;
        *self.sessions.lock().map_err(|_| StoreError::Io)? = merged;
        Ok(())
    }

    /// Reads the file again when another server changed it since (or when `always`).
    fn as_stored(&self, always: bool) {
        let generation = self.store.aux_generation(SESSIONS_FILE);
        if !always && generation == self.generation.load(Ordering::Acquire) {
            return;
        }
        if let Some(bytes) = self.store.read_aux(SESSIONS_FILE)
            && let Ok(mut sessions) = self.sessions.lock()
        {
            *sessions = read_sessions(&bytes);
        }
        self.generation.store(generation, Ordering::Release);
    }
}
