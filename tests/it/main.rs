//! One integration-test binary: every test starts the real server and talks to it
//! over HTTP (and, as the features arrive, WebSocket) like a client.

mod attack;
mod backups;
mod board;
mod broken_file;
mod calendar;
mod checklists;
mod common;
mod custom_fields;
mod doctor;
mod feedback;
mod hardening;
mod keys;
mod live;
mod llm;
mod logs_and_config;
mod people;
mod postgres;
mod read_your_writes;
mod readme;
mod recurring;
mod rest;
mod scheduler;
mod security;
mod server;
mod storage;
mod telegram;
mod telegram_login;
mod tidy;
mod users_cli;
mod who_is_told;
mod workflow;
