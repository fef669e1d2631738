//! The login sessions file, `data/.taskboard/sessions.csv`: one row per session with
//! the refresh token valid for it, rewritten whole on each change so that a logout or a
//! revocation survives a restart. Expired sessions are dropped when it is read.

use std::collections::HashMap;

use chrono::Utc;

pub(super) const SESSIONS_FILE: &str = ".taskboard/sessions.csv";

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
