//! Who a request comes from: the client's address, for limits, sign-in records and the
//! security log, with its user agent and the request's id. Behind a proxy the connection's
//! peer is the proxy, so `X-Forwarded-For` is read, but only from proxies named in
//! `http.trusted_proxies`: anyone else could write any address into it.

use crate::error::current_request_id;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use ipnet::IpNet;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Addresses (`10.0.0.1`, `::1`) or networks (`10.0.0.0/8`); the error names the entry
    /// that is neither.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("'{entry}' is not an address or a network like 10.0.0.0/8"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client of a request from `peer`: the peer itself unless it is a trusted proxy;
    /// otherwise, walking `X-Forwarded-For` from the right (the hop nearest to us), the first
    /// address that is not a trusted proxy. An entry that is not an address ends the walk at
    /// the hop that wrote it; when every hop is trusted, the leftmost is the client.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        for hop in forwarded.iter().rev() {
            let Some(addr) = parse_hop(hop) else {
                return client;
            };
            client = addr.to_canonical();
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The client address of a request (see [`TrustedProxies::client_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The address as limits count it: an IPv6 client by its /64 network, since one
    /// subscriber usually holds a whole /64 and could otherwise change address per attempt.
    pub fn limit_key(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        }
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ClientAddr {
    pub fn of(parts: &Parts, state: &AppState) -> Self {
        // Every connection the server accepts carries its peer; a request built in a test
        // without one is counted as coming from an unspecified address.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |ConnectInfo(peer)| peer.ip());
        Self(state.proxies.client_of(peer, &parts.headers))
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(Self::of(parts, state))
    }
}

/// Longest user agent kept; longer ones are cut (they are only shown to their user).
const MAX_USER_AGENT_CHARS: usize = 256;

/// Who is calling, for sign-in records and security events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub addr: ClientAddr,
    pub user_agent: Option<String>,
    /// Empty outside a request.
    pub request_id: String,
}

impl Client {
    pub fn of(parts: &Parts, state: &AppState) -> Self {
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().chars().take(MAX_USER_AGENT_CHARS).collect::<String>())
            .filter(|v| !v.is_empty());
        Self {
            addr: ClientAddr::of(parts, state),
            user_agent,
            request_id: current_request_id(),
        }
    }

    pub fn address_text(&self) -> Option<String> {
        Some(self.addr.to_string())
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.168.1.7".into()]).unwrap();
        let spoofed = headers(&["6.6.6.6"]);
        assert_eq!(proxies.client_of(ip("203.0.113.9"), &spoofed), ip("203.0.113.9"));
        assert_eq!(proxies.client_of(ip("10.1.2.3"), &spoofed), ip("6.6.6.6"));
        // A client writing its own header cannot hide behind it: the nearest untrusted hop wins.
        let chain = headers(&["6.6.6.6, 203.0.113.9", "10.0.0.5"]);
        assert_eq!(proxies.client_of(ip("192.168.1.7"), &chain), ip("203.0.113.9"));
        assert_eq!(
            proxies.client_of(ip("10.0.0.1"), &headers(&["10.0.0.2"])),
            ip("10.0.0.2")
        );
        assert_eq!(proxies.client_of(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        assert_eq!(
            proxies.client_of(ip("10.0.0.1"), &headers(&["garbage, 10.0.0.9"])),
            ip("10.0.0.9"),
            "the walk stops at what is not an address"
        );
        assert_eq!(
            proxies.client_of(ip("10.0.0.1"), &headers(&["[2001:db8::1]:443", "198.51.100.1:80"])),
            ip("198.51.100.1")
        );
        assert_eq!(
            proxies.client_of(ip("::ffff:10.0.0.1"), &headers(&["::ffff:198.51.100.2"])),
            ip("198.51.100.2"),
            "IPv4-mapped addresses are IPv4"
        );
        assert_eq!(
            TrustedProxies::default().client_of(ip("127.0.0.1"), &spoofed),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn entries_that_are_not_networks_are_named() {
        let error = TrustedProxies::parse(&["10.0.0.0/8".into(), "proxy.internal".into()]).unwrap_err();
        assert!(error.contains("'proxy.internal'"), "{error}");
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_network() {
        let a = ClientAddr(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientAddr(ip("2001:db8:1:2:bbbb::9"));
        assert_eq!(a.limit_key(), b.limit_key());
        assert_eq!(a.limit_key(), "2001:db8:1:2::/64");
        assert_eq!(ClientAddr(ip("198.51.100.4")).limit_key(), "198.51.100.4");
    }
}
