//! Connection plumbing: accepted streams, activity watching for idle limits.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use super::Listener;
use crate::event::Peer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Whether a connection moves bytes, and how many of its requests wait for an upstream answer
/// (their own timeout bounds that wait). Moving a byte only bumps a counter: reading the clock on
/// every read and write cost more than the rest of the bookkeeping. The idle watch looks at the
/// counter a few times per limit instead.
pub(super) struct Activity {
    moved: AtomicU64,
    waiting: AtomicU64,
}

/// How many times per idle limit the watch looks: a quiet connection is closed after between one
/// and `1 + 1/IDLE_CHECKS` limits without a byte.
const IDLE_CHECKS: u32 = 4;

/// Marks a request as waiting for its answer while it lives.
pub(super) struct Waiting(Arc<Activity>);

impl Waiting {
    pub(super) fn new(activity: &Arc<Activity>) -> Self {
        activity.waiting.fetch_add(1, Ordering::Relaxed);
        Self(activity.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.touch();
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Activity {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            moved: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
        })
    }

    pub(super) fn touch(&self) {
        self.moved.fetch_add(1, Ordering::Relaxed);
    }

    /// Completes once nothing has moved for at least `limit` (and at most a quarter more) while
    /// no request waited for an answer.
    pub(super) async fn idle(&self, limit: Duration) {
        let step = limit / IDLE_CHECKS;
        let mut seen = self.moved.load(Ordering::Relaxed);
        let mut quiet = 0;
        while quiet < IDLE_CHECKS {
            tokio::time::sleep(step).await;
            let now = self.moved.load(Ordering::Relaxed);
            if now == seen && self.waiting.load(Ordering::Relaxed) == 0 {
                quiet += 1;
            } else {
                seen = now;
                quiet = 0;
            }
        }
    }
}

/// A stream that notes every byte it moves in an [`Activity`].
pub(super) struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub(super) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl<S> Watched<S> {
    /// A write's outcome, noted in the activity when it moved bytes.
    fn wrote(&self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = &polled
            && *n > 0
        {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        this.wrote(polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(polled)
    }

    // Vectored when the stream is: hyper then writes a response's head and body with one
    // `writev` instead of first copying them into one buffer.
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// An accepted connection, TCP or unix.
pub(super) enum Stream {
    Tcp(TcpStream),
    Unix(tokio::net::UnixStream),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, data),
            Self::Unix(s) => Pin::new(s).poll_write(cx, data),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(s) => s.is_write_vectored(),
            Self::Unix(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

pub(super) async fn accept(listener: &Listener) -> io::Result<(Stream, Peer)> {
    match listener {
        Listener::Tcp(l) => {
            let (s, peer): (TcpStream, SocketAddr) = l.accept().await?;
            let _ = s.set_nodelay(true);
            Ok((Stream::Tcp(s), Peer::tcp(peer)))
        }
        Listener::Unix(l) => {
            let (s, _) = l.accept().await?;
            Ok((Stream::Unix(s), Peer::unix()))
        }
    }
}

pub(super) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || e
        .raw_os_error()
        .is_some_and(|code| code == 24 || code == 23)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use tokio::time::Instant;

    const LIMIT: Duration = Duration::from_secs(60);

    /// How long (in paused time) the idle watch takes to complete while `during` runs beside it.
    async fn idle_after(activity: &Arc<Activity>, during: impl Future<Output = ()>) -> Duration {
        let start = Instant::now();
        tokio::join!(activity.idle(LIMIT), during);
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_connection_is_idle_after_its_limit_and_at_most_a_quarter_more() {
        let activity = Activity::new();
        let took = idle_after(&activity, async {}).await;
        assert!(took >= LIMIT && took <= LIMIT + LIMIT / 4, "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_moving_keep_a_connection_from_going_idle() {
        let activity = Activity::new();
        let last = Arc::new(std::sync::Mutex::new(Instant::now()));
        let moving = async {
            // A byte at 1 s and every 20 s after for nearly five minutes (the last just after a
            // look at the counter), then nothing.
            for i in 0..15 {
                let pause = if i == 0 { 1 } else { 20 };
                tokio::time::sleep(Duration::from_secs(pause)).await;
                activity.touch();
                *last.lock().unwrap() = Instant::now();
            }
        };
        let start = Instant::now();
        let took = idle_after(&activity, moving).await;
        let quiet = start + took - *last.lock().unwrap();
        assert!(took >= Duration::from_secs(281) + LIMIT, "{took:?}");
        assert!(quiet >= LIMIT && quiet <= LIMIT + LIMIT / 4, "{quiet:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_waiting_for_its_answer_keeps_a_connection_from_going_idle() {
        let activity = Activity::new();
        let waiting = async {
            let w = Waiting::new(&activity);
            tokio::time::sleep(Duration::from_secs(200)).await;
            // The answer came: that moved bytes.
            drop(w);
        };
        let took = idle_after(&activity, waiting).await;
        assert!(
            took >= Duration::from_secs(200) + LIMIT
                && took <= Duration::from_secs(200) + LIMIT + LIMIT / 4,
            "{took:?}"
        );
    }
}
