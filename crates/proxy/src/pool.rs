//! Kept-alive upstream connections, by the address they were opened to (and, for TLS, the
//! server name they were verified for).
//!
//! A connection goes back to the pool only after its response body was read to the end (so the
//! next request cannot be answered with the rest of the last one), and is taken again only while
//! it is open, ready and younger than the idle limit. Keys are the checked socket addresses, so
//! a pooled connection is only ever reused for a destination that resolved and was checked to
//! that same address.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;

/// Connections to one address, each with when it became idle.
type Idle<B> = Vec<(Instant, SendRequest<B>)>;

/// Addresses with idle connections kept at most; a connection to another one is closed.
const MAX_ADDRESSES: usize = 256;

/// Idle upstream connections. A list of addresses rather than a hash map: an agent talks to a
/// handful of servers, and comparing a few keys costs less than hashing one. An address whose
/// last connection is taken leaves the list, so it holds only addresses with idle connections.
pub(crate) struct Pool<K, B> {
    idle: Mutex<Vec<(K, Idle<B>)>>,
    per_address: usize,
    keep_for: Duration,
}

impl<K: Eq, B> Pool<K, B> {
    /// A pool keeping at most `per_address` idle connections per address, each for `keep_for`.
    pub(crate) fn new(per_address: usize, keep_for: Duration) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            per_address,
            keep_for,
        }
    }

    /// An idle connection under `key` that can take a request now.
    pub(crate) fn take(&self, key: &K) -> Option<SendRequest<B>> {
        let mut idle = self.idle.lock().ok()?;
        let at = idle.iter().position(|(k, _)| k == key)?;
        let (_, list) = idle.get_mut(at)?;
        let mut found = None;
        while let Some((since, sender)) = list.pop() {
            if since.elapsed() < self.keep_for && !sender.is_closed() && sender.is_ready() {
                found = Some(sender);
                break;
            }
        }
        if list.is_empty() {
            idle.swap_remove(at);
        }
        found
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
        let list = match idle.iter().position(|(k, _)| *k == key) {
            Some(at) => match idle.get_mut(at) {
                Some((_, list)) => list,
                None => return,
            },
            None if idle.len() < MAX_ADDRESSES => {
                idle.push((key, Vec::new()));
                match idle.last_mut() {
                    Some((_, list)) => list,
                    None => return,
                }
            }
            None => return,
        };
        list.retain(|(since, s)| now.duration_since(*since) < self.keep_for && !s.is_closed());
        if list.len() < self.per_address {
            list.push((now, sender));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Empty;
    use hyper_util::rt::TokioIo;

    /// A client connection over an in-memory pipe, ready for a request (its other end is kept
    /// open by the returned handle).
    async fn sender() -> (SendRequest<Empty<Bytes>>, tokio::io::DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(64);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(ours))
            .await
            .unwrap();
        tokio::spawn(conn);
        sender.ready().await.unwrap();
        (sender, theirs)
    }

    #[tokio::test]
    async fn connections_are_taken_back_by_address_and_only_while_fresh() {
        let pool = Pool::new(2, Duration::from_secs(60));
        let mut ends = Vec::new();
        for key in ["a", "a", "a", "b"] {
            let (s, end) = sender().await;
            ends.push(end);
            pool.give(key, s);
        }
        // Two kept for `a` (the third was one too many), one for `b`.
        assert!(pool.take(&"a").is_some());
        assert!(pool.take(&"a").is_some());
        assert!(pool.take(&"a").is_none());
        assert!(pool.take(&"c").is_none());
        // An address whose connections are all taken is no longer listed.
        assert_eq!(pool.idle.lock().unwrap().len(), 1);
        assert!(pool.take(&"b").is_some());
        assert!(pool.idle.lock().unwrap().is_empty());

        // A connection idle longer than the limit is not taken.
        let stale = Pool::new(2, Duration::ZERO);
        let (s, _end) = sender().await;
        stale.give("a", s);
        assert!(stale.take(&"a").is_none());
    }

    #[tokio::test]
    async fn the_addresses_kept_are_bounded() {
        let pool = Pool::new(1, Duration::from_secs(60));
        let mut ends = Vec::new();
        for key in 0..=MAX_ADDRESSES {
            let (s, end) = sender().await;
            ends.push(end);
            pool.give(key, s);
        }
        assert_eq!(pool.idle.lock().unwrap().len(), MAX_ADDRESSES);
        assert!(pool.take(&MAX_ADDRESSES).is_none(), "one address too many");
        assert!(pool.take(&0).is_some());
    }
}
