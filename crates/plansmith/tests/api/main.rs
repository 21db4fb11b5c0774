//! API integration tests: the real server over HTTP, one module per feature.

mod abuse;
mod accounts;
mod auth;
mod bench;
mod documents;
mod email;
mod errors;
mod fairness;
mod gateway;
mod helpers;
mod indexes;
mod lifecycle;
mod loadtest;
mod mfa;
mod observability;
mod openapi;
mod outage;
mod providers;
mod replies;
mod scaleout;
mod security;
mod sessions;
mod takeover;
mod transport;
use plansmith_store_tests::testdb;
mod web_app;
