//! One request's audit event while it is under way, and the bodies that count into it.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::Response;
use hyper::body::{Body, Frame, SizeHint};

use super::{ProxyBody, millis, refusal_response};
use crate::event::{Event, Refusal, Sink};

/// A request's event while the exchange is under way: recorded once, when the last part of the
/// exchange (request body, response body, tunnel) lets go of it.
pub(super) struct Exchange {
    sink: Arc<dyn Sink>,
    event: Mutex<Event>,
    up: AtomicU64,
    down: AtomicU64,
    started: Instant,
}

#[derive(Clone, Copy)]
pub(super) enum Direction {
    Up,
    Down,
}

impl Exchange {
    pub(super) fn new(sink: Arc<dyn Sink>, mut event: Event, started: Instant) -> Arc<Self> {
        event.decision = "allow";
        event.reason = "granted";
        Arc::new(Self {
            sink,
            event: Mutex::new(event),
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            started,
        })
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut Event)) {
        if let Ok(mut e) = self.event.lock() {
            f(&mut e);
        }
    }

    pub(super) fn add(&self, direction: Direction, n: u64) {
        let counter = match direction {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The exchange ended in a refusal after it was allowed (a bad ClientHello, a broken
    /// upstream server).
    pub(super) fn fail(&self, refusal: Refusal, detail: String) {
        self.update(|e| {
            e.decision = "deny";
            e.reason = refusal.as_str();
            e.detail = Some(detail);
        });
    }

    /// Fail and answer the client.
    pub(super) fn refuse(&self, refusal: Refusal, detail: String) -> Response<ProxyBody> {
        let response = refusal_response(refusal, &detail);
        self.update(|e| e.status = Some(refusal.status()));
        self.fail(refusal, detail);
        response
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        // The last holder: take the event out rather than copy it.
        let mut event = match self.event.get_mut() {
            Ok(e) => std::mem::take(e),
            Err(poisoned) => std::mem::take(poisoned.into_inner()),
        };
        event.bytes_up = self.up.load(Ordering::Relaxed);
        event.bytes_down = self.down.load(Ordering::Relaxed);
        event.duration_ms = millis(self.started.elapsed());
        self.sink.record(event);
    }
}

/// A body that counts the bytes passing through it into its exchange, and runs `E` once it
/// has been read to its end (a type of its own rather than a boxed closure: a response body's
/// end returns its connection to the pool on every request).
pub(super) struct Metered<B, E = fn()> {
    inner: B,
    exchange: Arc<Exchange>,
    direction: Direction,
    on_end: Option<E>,
}

impl<B> Metered<B> {
    pub(super) fn new(inner: B, exchange: Arc<Exchange>, direction: Direction) -> Self {
        Self {
            inner,
            exchange,
            direction,
            on_end: None,
        }
    }

    pub(super) fn on_end<E: FnOnce() + Send + Unpin>(self, f: E) -> Metered<B, E> {
        Metered {
            inner: self.inner,
            exchange: self.exchange,
            direction: self.direction,
            on_end: Some(f),
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin, E: FnOnce() + Unpin> Body for Metered<B, E> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.exchange.add(this.direction, data.len() as u64);
                }
                // A body of known length may not be polled again after its last frame.
                if this.inner.is_end_stream()
                    && let Some(f) = this.on_end.take()
                {
                    f();
                }
            }
            Poll::Ready(None) => {
                if let Some(f) = this.on_end.take() {
                    f();
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A body of bytes already held, then (when the body was too large to hold whole) the rest.
pub(super) struct Prefixed<B> {
    held: Option<Bytes>,
    rest: Option<B>,
}

impl<B> Prefixed<B> {
    pub(super) fn new(held: Vec<u8>, rest: Option<B>) -> Self {
        Self {
            held: (!held.is_empty()).then(|| Bytes::from(held)),
            rest,
        }
    }
}

impl<B: Body<Data = Bytes, Error = hyper::Error> + Unpin> Body for Prefixed<B> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if let Some(held) = this.held.take() {
            return Poll::Ready(Some(Ok(Frame::data(held))));
        }
        match &mut this.rest {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let held = self.held.as_ref().map_or(0, |b| b.len() as u64);
        match &self.rest {
            Some(rest) => {
                let mut hint = rest.size_hint();
                hint.set_lower(hint.lower() + held);
                if let Some(upper) = hint.upper() {
                    hint.set_upper(upper + held);
                }
                hint
            }
            None => SizeHint::with_exact(held),
        }
    }
}
