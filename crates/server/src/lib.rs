//! The HTTP application: the REST + SSE API under `/api/v1`, authentication, error mapping,
//! request ids, health checks, the OpenAPI document, the listener (TLS, timeouts, the
//! connection cap) and graceful shutdown. It wires the store, cache and LLM crates together and
//! is the only crate that knows HTTP.

pub mod accounts;
pub mod admin;
pub mod analytics;
pub mod app;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod billing;
pub mod client;
pub mod common_passwords;
pub mod config;
pub mod consents;
pub mod crypto;
pub mod data_export;
pub mod demo;
pub mod documents;
mod docx;
pub mod erasures;
pub mod error;
pub mod errors;
pub mod events;
pub mod evidence;
pub mod extract;
pub mod flags;
pub mod forecast;
pub mod generation;
pub mod health;
pub mod holds;
pub mod incidents;
pub mod mail;
pub mod messages;
pub mod mfa;
pub mod monitoring;
pub mod outbox;
pub mod quality;
pub mod recovery;
pub mod retention;
pub mod sealed;
pub mod security_events;
pub mod sessions;
pub mod state;
pub mod telemetry;
pub mod themes;
pub mod traces;
pub mod transport;
pub mod web;
pub mod workflows;

pub use app::{Application, Overrides, StartError, open_store};
pub use config::{ConfigError, Settings, redact_url};
pub use transport::{TlsCerts, TlsError};
