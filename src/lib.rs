//! taskboard: a self-hosted task server whose database is a folder of CSV files.
pub mod domain;
pub mod store;
