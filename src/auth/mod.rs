//! Authentication building blocks. Today: passwords (policy, argon2id hashing) and the
//! token-signing secret. Logins, tokens and roles come with the rest of the security
//! issue; until then `security.enabled: true` is refused at start-up.

pub mod password;
pub mod secret;
pub mod tokens;
