//! Access and refresh tokens: JWTs signed with HS256 and `SECRET_KEY`, nothing else.
//!
//! Only HS256 is accepted (so `alg: none` and algorithm swaps are refused), expiry is
//! checked without leeway, and a token says what it is for (`typ`), so a refresh token
//! cannot stand in for an access token. Each token has a random `jti`; a session (`sid`)
//! ties a refresh token to its rotations.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Secret;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id (a string, as the JWT `sub` claim is).
    pub sub: String,
    /// The session this token belongs to.
    pub sid: String,
    /// `access` or `refresh`.
    pub typ: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    /// The user's id, when `sub` is one.
    pub fn user_id(&self) -> Option<u64> {
        self.sub.parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
    #[error("this is a {found} token; a {wanted} token is needed")]
    WrongType { found: String, wanted: &'static str },
}

/// Signs and checks tokens with one secret.
#[derive(Clone)]
pub struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

/// A random id: 16 bytes from the operating system, in hex.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    // getrandom fails only where the OS has no entropy source at all.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = Utc::now().timestamp_nanos_opt().unwrap_or(0).to_le_bytes().repeat(2).try_into().unwrap_or([0; 16]);
    }
    crate::domain::values::hex(&bytes)
}

impl Signer {
    pub fn new(secret: &Secret, session_timeout_hours: u64, refresh_token_days: u64) -> Signer {
        Signer {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            access_ttl: Duration::hours(session_timeout_hours.max(1) as i64),
            refresh_ttl: Duration::days(refresh_token_days.max(1) as i64),
        }
    }

    /// A new token of `typ` for `user` in session `sid`.
    pub fn issue(&self, user: u64, sid: &str, typ: &'static str, now: DateTime<Utc>) -> (String, Claims) {
        let ttl = if typ == "refresh" { self.refresh_ttl } else { self.access_ttl };
        let claims = Claims {
            sub: user.to_string(),
            sid: sid.to_string(),
            typ: typ.to_string(),
            jti: random_id(),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
        };
        // Encoding with a secret key cannot fail for a serialisable struct.
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default();
        (token, claims)
    }

    /// Checks a token's signature, algorithm, expiry (at `now`) and purpose.
    pub fn verify(&self, token: &str, wanted: &'static str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.validate_exp = false; // checked below against `now`, without leeway
        validation.required_spec_claims = ["exp", "sub"].into_iter().map(String::from).collect();
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        if claims.user_id().is_none() {
            return Err(TokenError::Invalid);
        }
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        if claims.typ != wanted {
            return Err(TokenError::WrongType { found: claims.typ, wanted });
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(secret: &str) -> Signer {
        Signer::new(&Secret(secret.into()), 1, 7)
    }

    fn b64(bytes: &[u8]) -> String {
        use std::fmt::Write;
        // base64url without padding, enough for a test.
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | *b as u32) << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                let _ = out.write_char(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn a_token_round_trips_and_expires() {
        let s = signer("k3v9-Qw7s-Zt2p-Lm8x-Rb4n");
        let now = Utc::now();
        let (token, claims) = s.issue(7, "sess", "access", now);
        assert_eq!(s.verify(&token, "access", now).unwrap(), claims);
        assert_eq!(claims.user_id(), Some(7));
        assert_eq!(s.verify(&token, "access", now + Duration::hours(1)), Err(TokenError::Expired));
        assert!(matches!(s.verify(&token, "refresh", now), Err(TokenError::WrongType { .. })));
        let (refresh, _) = s.issue(7, "sess", "refresh", now);
        assert!(s.verify(&refresh, "refresh", now + Duration::days(6)).is_ok());
        assert!(matches!(s.verify(&refresh, "access", now), Err(TokenError::WrongType { .. })));
    }

    #[test]
    fn forged_tampered_and_alg_none_tokens_are_refused() {
        let s = signer("k3v9-Qw7s-Zt2p-Lm8x-Rb4n");
        let now = Utc::now();
        let (forged, _) = signer("another-secret-of-some-length").issue(1, "s", "access", now);
        assert_eq!(s.verify(&forged, "access", now), Err(TokenError::Invalid));
        let (token, _) = s.issue(7, "sess", "access", now);
        let parts: Vec<&str> = token.split('.').collect();
        let admin = b64(format!(
            r#"{{"sub":"1","sid":"sess","typ":"access","jti":"x","iat":{},"exp":{}}}"#,
            now.timestamp(),
            now.timestamp() + 3600
        )
        .as_bytes());
        let tampered = format!("{}.{admin}.{}", parts[0], parts[2]);
        assert_eq!(s.verify(&tampered, "access", now), Err(TokenError::Invalid));
        let none = format!("{}.{admin}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
        assert_eq!(s.verify(&none, "access", now), Err(TokenError::Invalid));
        let hs512 = format!("{}.{admin}.{}", b64(br#"{"alg":"HS512","typ":"JWT"}"#), parts[2]);
        assert_eq!(s.verify(&hs512, "access", now), Err(TokenError::Invalid));
        assert_eq!(s.verify("not a token", "access", now), Err(TokenError::Invalid));
    }
}
