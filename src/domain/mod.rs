//! Plain types of the task board and their validation.
//!
//! No I/O lives here: the store reads files and the API speaks JSON, and both ask
//! this module what a valid user, task, comment, document, event or credential is.

pub mod cidr;
pub mod fields;
pub mod schedule;
pub mod schema;
pub mod values;
pub mod workflow;

pub use schema::{Column, ColumnKind, TableKind, TableSpec};
pub use values::{FieldError, Vocabulary};
