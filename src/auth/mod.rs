//! Security building blocks without I/O: the role matrix (`policy`), rate limits,
//! passwords (policy, argon2id), the token-signing secret, access and refresh tokens,
//! Telegram Login Widget checks. The service layer (`service::auth`, `service::access`)
//! puts them to work.

pub mod limits;
pub mod password;
pub mod policy;
pub mod secret;
pub mod task_fields;
pub mod telegram;
pub mod tokens;
