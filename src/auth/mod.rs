//! Authentication building blocks: passwords (policy, argon2id), the token-signing
//! secret, access and refresh tokens, Telegram Login Widget checks. The login routes,
//! sessions, the per-request principal and the roles come with the rest of the security
//! issue; until then `security.enabled: true` is refused at start-up.

pub mod limits;
pub mod password;
pub mod policy;
pub mod secret;
pub mod telegram;
pub mod tokens;
