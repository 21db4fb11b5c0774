//! What a connection is doing, and how long it may go on doing it: sending a request head
//! (`http.header_read_timeout_seconds`, counted from its first byte, or from the opening for a
//! new connection), waiting idle for the next request (`http.keep_alive_idle_seconds`, counted
//! from the end of the last answer), or being served (no limit here: the request timeout and
//! the reply's own limits apply).
//!
//! hyper's own header timeout starts as soon as a connection is idle, which would make it the
//! idle limit too; this clock keeps the two apart.

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Why a connection was closed by its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// A request head took too long (a slow or silent client).
    HeaderRead,
    /// No request for too long on a kept-alive connection.
    Idle,
}

impl Expiry {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::HeaderRead => "header_read_timeout",
            Self::Idle => "keep_alive_idle",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Bytes of a request head are arriving (or are awaited on a new connection).
    Head { since: Instant },
    /// Between requests.
    Idle { since: Instant },
    /// This many requests are being answered (their answers not yet sent whole).
    Busy { requests: usize },
}

#[derive(Debug)]
struct Inner {
    phase: Mutex<Phase>,
    changed: Notify,
    header_read: Duration,
    keep_alive_idle: Duration,
}

/// One connection's clock, shared by its reader, its service and its task.
#[derive(Debug, Clone)]
pub(super) struct Clock(Arc<Inner>);

impl Clock {
    /// A new connection owes its first request head within `header_read`.
    pub(super) fn new(header_read: Duration, keep_alive_idle: Duration) -> Self {
        Self(Arc::new(Inner {
            phase: Mutex::new(Phase::Head { since: Instant::now() }),
            changed: Notify::new(),
            header_read,
            keep_alive_idle,
        }))
    }

    fn update(&self, change: impl FnOnce(Phase) -> Option<Phase>) {
        let mut phase = self.0.phase.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(next) = change(*phase) {
            *phase = next;
            drop(phase);
            self.0.changed.notify_one();
        }
    }

    /// Bytes arrived: after an idle pause they start the next request head.
    fn bytes_read(&self) {
        self.update(|phase| match phase {
            Phase::Idle { .. } => Some(Phase::Head { since: Instant::now() }),
            Phase::Head { .. } | Phase::Busy { .. } => None,
        });
    }

    /// A request head is complete; the connection is busy until the returned guard (held by
    /// the answer's body) is dropped.
    pub(super) fn request_started(&self) -> Busy {
        self.update(|phase| match phase {
            Phase::Busy { requests } => Some(Phase::Busy { requests: requests + 1 }),
            Phase::Head { .. } | Phase::Idle { .. } => Some(Phase::Busy { requests: 1 }),
        });
        Busy(self.clone())
    }

    fn deadline(&self) -> Option<(Instant, Expiry)> {
        match *self.0.phase.lock().unwrap_or_else(PoisonError::into_inner) {
            Phase::Head { since } => Some((since + self.0.header_read, Expiry::HeaderRead)),
            Phase::Idle { since } => Some((since + self.0.keep_alive_idle, Expiry::Idle)),
            Phase::Busy { .. } => None,
        }
    }

    /// Resolves when the connection has overstayed its current phase.
    pub(super) async fn expired(&self) -> Expiry {
        loop {
            // A change between reading the deadline and waiting leaves a permit: not missed.
            let changed = self.0.changed.notified();
            match self.deadline() {
                None => changed.await,
                Some((at, why)) if Instant::now() >= at => return why,
                Some((at, _)) => {
                    tokio::select! {
                        () = changed => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
            }
        }
    }

    /// `io` with its reads reported to this clock.
    pub(super) fn watch<I>(&self, io: I) -> Watched<I> {
        Watched {
            io,
            clock: self.clone(),
        }
    }
}

/// A request being answered; dropped with the answer's body (sent whole, or abandoned).
#[derive(Debug)]
pub(super) struct Busy(Clock);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.update(|phase| match phase {
            Phase::Busy { requests } if requests > 1 => Some(Phase::Busy { requests: requests - 1 }),
            _ => Some(Phase::Idle { since: Instant::now() }),
        });
    }
}

/// An answer's body that keeps its connection busy until it is sent.
pub(super) struct Answer {
    pub(super) body: Body,
    pub(super) _busy: Busy,
}

impl http_body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's byte stream, telling its clock when bytes arrive.
#[derive(Debug)]
pub(super) struct Watched<I> {
    io: I,
    clock: Clock,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.clock.bytes_read();
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(60);

    /// The deadline of `clock`, taken between two instants around the change that set it.
    fn deadline_after(clock: &Clock, change: impl FnOnce()) -> (Instant, Instant, Instant, Expiry) {
        let before = Instant::now();
        change();
        let after = Instant::now();
        let (at, why) = clock.deadline().expect("a deadline");
        (before, at, after, why)
    }

    #[test]
    fn a_new_connection_owes_its_head_within_the_header_timeout() {
        let before = Instant::now();
        let clock = Clock::new(HEAD, IDLE);
        let (at, why) = clock.deadline().unwrap();
        assert_eq!(why, Expiry::HeaderRead);
        assert!(at >= before + HEAD && at <= Instant::now() + HEAD);
    }

    #[test]
    fn idle_time_counts_from_the_last_answer_and_a_head_from_its_first_byte() {
        let clock = Clock::new(HEAD, IDLE);
        let busy = clock.request_started();
        clock.bytes_read();
        assert!(clock.deadline().is_none(), "an answer under way is not timed here");
        let (before, at, after, why) = deadline_after(&clock, || drop(busy));
        assert_eq!(why, Expiry::Idle);
        assert!(at >= before + IDLE && at <= after + IDLE);
        let (before, at, after, why) = deadline_after(&clock, || clock.bytes_read());
        assert_eq!(
            why,
            Expiry::HeaderRead,
            "the first byte after idling starts the head clock"
        );
        assert!(at >= before + HEAD && at <= after + HEAD);
        let (_, later, _, _) = deadline_after(&clock, || clock.bytes_read());
        assert_eq!(later, at, "further bytes of the head do not extend it");
    }

    #[test]
    fn the_connection_stays_busy_until_every_answer_is_sent() {
        let clock = Clock::new(HEAD, IDLE);
        let first = clock.request_started();
        let second = clock.request_started();
        drop(first);
        assert!(clock.deadline().is_none());
        drop(second);
        assert_eq!(clock.deadline().unwrap().1, Expiry::Idle);
    }

    #[tokio::test]
    async fn a_waiting_clock_sees_the_idle_connection_start_a_head() {
        let clock = Clock::new(Duration::from_millis(100), Duration::from_secs(60));
        drop(clock.request_started());
        let waiting = tokio::spawn({
            let clock = clock.clone();
            async move { clock.expired().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let head_from = Instant::now();
        clock.bytes_read();
        let why = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("expired at the head deadline, not the idle one")
            .unwrap();
        assert_eq!(why, Expiry::HeaderRead);
        assert!(head_from.elapsed() >= Duration::from_millis(100));
    }
}
