//! Who is calling: the client's address, its user agent and the request's id, for sign-in
//! records and security events.

use crate::config::Settings;
use crate::error::current_request_id;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// Longest user agent kept; longer ones are cut (they are only shown to their user).
const MAX_USER_AGENT_CHARS: usize = 256;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    pub address: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// Empty outside a request.
    pub request_id: String,
}

impl Client {
    pub fn of(parts: &Parts, settings: &Settings) -> Self {
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().chars().take(MAX_USER_AGENT_CHARS).collect::<String>())
            .filter(|v| !v.is_empty());
        Self {
            address: client_addr(parts, settings),
            user_agent,
            request_id: current_request_id(),
        }
    }

    pub fn address_text(&self) -> Option<String> {
        self.address.map(|a| a.to_string())
    }
}

/// The client's address: for now the peer of the connection. The one place to change when
/// the address is read from a trusted proxy's headers (`http.trusted_proxies`).
pub fn client_addr(parts: &Parts, _settings: &Settings) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip())
}

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts, &state.settings))
    }
}
