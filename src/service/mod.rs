//! The use cases. Every source (REST, WebSocket, bot, scheduler) calls these, never
//! the store directly, so validation and defaults are the same whichever door a change
//! comes through.

pub mod records;

pub use records::{ListQuery, Page, RecordService};
