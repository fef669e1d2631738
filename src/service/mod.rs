//! The use cases. Every source (REST, WebSocket, bot, scheduler) calls these, never
//! the store directly, so validation and defaults are the same whichever door a change
//! comes through.

pub mod access;
pub mod auth;
pub mod docs;
pub mod export;
pub mod feed;
pub mod query;
pub mod records;
pub mod stats;
pub mod tasks;

pub use query::ListQuery;
pub use records::{Page, RecordService};
