//! Kept-alive upstream connections, by the address they were opened to (and, for TLS, the
//! server name they were verified for).
//!
//! A connection goes back to the pool only after its response body was read to the end (so the
//! next request cannot be answered with the rest of the last one), and is taken again only while
//! it is open, ready and younger than the idle limit. Keys are the checked socket addresses, so
//! a pooled connection is only ever reused for a destination that resolved and was checked to
//! that same address.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;

/// Connections to one address, each with when it became idle.
type Idle<B> = Vec<(Instant, SendRequest<B>)>;

/// Idle upstream connections.
pub(crate) struct Pool<K, B> {
    idle: Mutex<HashMap<K, Idle<B>>>,
    per_address: usize,
    keep_for: Duration,
}

impl<K: Eq + Hash, B> Pool<K, B> {
    /// A pool keeping at most `per_address` idle connections per address, each for `keep_for`.
    pub(crate) fn new(per_address: usize, keep_for: Duration) -> Self {
        Self {
            idle: Mutex::new(HashMap::new()),
            per_address,
            keep_for,
        }
    }

    /// An idle connection under `key` that can take a request now.
    pub(crate) fn take(&self, key: &K) -> Option<SendRequest<B>> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(key)?;
        while let Some((since, sender)) = list.pop() {
            if since.elapsed() < self.keep_for && !sender.is_closed() && sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    /// Keep a connection whose last exchange finished.
    pub(crate) fn give(&self, key: K, sender: SendRequest<B>) {
        if sender.is_closed() {
            return;
        }
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let now = Instant::now();
        let list = idle.entry(key).or_default();
        list.retain(|(since, s)| now.duration_since(*since) < self.keep_for && !s.is_closed());
        if list.len() < self.per_address {
            list.push((now, sender));
        }
    }
}
