//! taskboard: a self-hosted task server whose database is a folder of CSV files.
//!
//! Dependencies point one way: `cli`, `app` → `api` → `service` → `store` → `domain`.
//! ARCHITECTURE.md has the codemap and the invariants.

pub mod api;
pub mod app;
pub mod auth;
pub mod backup;
pub mod bot;
pub mod cli;
pub mod config;
pub mod doctor;
pub mod domain;
pub mod i18n;
pub mod llm;
pub mod logs;
pub mod scheduler;
pub mod server;
pub mod service;
pub mod store;
