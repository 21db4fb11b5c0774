//! The listener: accepts TCP connections (TLS when `http.tls_cert`/`http.tls_key` are set),
//! serves HTTP/1.1 on each with hyper, and bounds what a client may hold: open connections
//! (`http.max_connections`; more wait in the listen backlog), the time to send a request head
//! and the idle time of a kept-alive connection (see `clock`). Stops accepting on shutdown and
//! lets open connections finish their requests. Knows the router only as a service.

mod clock;
mod tls;

pub use tls::{TlsCerts, TlsError};

use crate::config::HttpSettings;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use clock::{Answer, Clock};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// What one client may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read: Duration,
    pub keep_alive_idle: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn from_settings(http: &HttpSettings) -> Self {
        Self {
            header_read: Duration::from_secs(http.header_read_timeout_seconds),
            keep_alive_idle: Duration::from_secs(http.keep_alive_idle_seconds),
            max_connections: http.max_connections,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, asks every
/// connection to close after its current request, and returns once all have closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<Arc<TlsCerts>>,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection holds a receiver; the sender sees them all gone.
    let (open_tx, open_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut warned_at: Option<tokio::time::Instant> = None;
    loop {
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Once a minute at most: under a flood this would be every connection.
                if warned_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    warned_at = Some(tokio::time::Instant::now());
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached; new connections wait in the listen backlog until one closes"
                    );
                }
                tokio::select! {
                    permit = Arc::clone(&permits).acquire_owned() => permit.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Reply events are small writes that must leave at once: no Nagle delay behind an
        // unacknowledged earlier write (a proxy in front acknowledges late).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not turn off Nagle's algorithm on a connection");
        }
        let connection = Connection {
            remote,
            router: router.clone(),
            limits,
            stop: stop_rx.clone(),
        };
        let (tls, open) = (tls.clone(), open_rx.clone());
        tokio::spawn(async move {
            metrics::gauge!("plansmith_http_connections").increment(1.0);
            connection.run(tcp, tls.as_deref()).await;
            metrics::gauge!("plansmith_http_connections").decrement(1.0);
            drop((permit, open));
        });
    }
    drop(listener);
    stop_tx.send_replace(true);
    drop(open_rx);
    open_tx.closed().await;
}

/// As hyper did: errors of one connection are skipped; others (out of file descriptors) are
/// logged and accepting pauses a second, so the process does not spin while it cannot accept.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "cannot accept connections; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

struct Connection {
    remote: SocketAddr,
    router: Router,
    limits: Limits,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run(self, tcp: TcpStream, tls: Option<&TlsCerts>) {
        let Some(tls) = tls else {
            return self.http(tcp).await;
        };
        // The handshake is bounded like a request head: a client that stalls it holds nothing.
        match tokio::time::timeout(self.limits.header_read, tls.acceptor().accept(tcp)).await {
            Ok(Ok(stream)) => self.http(stream).await,
            Ok(Err(e)) => tracing::debug!(remote = %self.remote, error = %e, "TLS handshake failed"),
            Err(_) => {
                metrics::counter!("plansmith_http_connections_timed_out_total", "reason" => "tls_handshake")
                    .increment(1);
                tracing::debug!(remote = %self.remote, "TLS handshake timed out");
            }
        }
    }

    async fn http<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            remote,
            router,
            limits,
            mut stop,
        } = self;
        let clock = Clock::new(limits.header_read, limits.keep_alive_idle);
        let service = {
            let clock = clock.clone();
            hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let busy = clock.request_started();
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(remote));
                let router = router.clone();
                async move {
                    let response = router.oneshot(request).await.unwrap_or_else(|never| match never {});
                    Ok::<_, Infallible>(response.map(|body| Answer { body, _busy: busy }))
                }
            })
        };
        let mut http1 = hyper::server::conn::http1::Builder::new();
        // The clock times heads and idle connections (hyper's timer would close idle
        // connections at the head timeout).
        http1.header_read_timeout(None).keep_alive(true);
        let connection = http1.serve_connection(TokioIo::new(clock.watch(io)), service);
        let mut connection = std::pin::pin!(connection);
        let mut stopping = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%remote, error = %e, "connection closed with an error");
                    }
                    return;
                }
                // Answers under way are finished; the connection closes after them.
                _ = stop.wait_for(|stop| *stop), if !stopping => {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
                expiry = clock.expired() => {
                    metrics::counter!("plansmith_http_connections_timed_out_total", "reason" => expiry.as_str())
                        .increment(1);
                    tracing::debug!(%remote, reason = expiry.as_str(), "connection closed by its timeout");
                    return;
                }
            }
        }
    }
}
