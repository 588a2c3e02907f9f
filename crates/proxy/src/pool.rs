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
/// last connection is taken keeps its place (and its list's room) for the next one given back;
/// once the list holds as many addresses as it may, such an emptied place goes to a new address.
/// Each address's connections are in the order they became idle: taken from the newest end,
/// expired from the oldest.
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
        let at = match idle.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None if idle.len() < MAX_ADDRESSES => {
                idle.push((key, Vec::new()));
                idle.len() - 1
            }
            // Full: the place of an address with no idle connection left, if there is one.
            None => match idle.iter().position(|(_, list)| list.is_empty()) {
                Some(at) => {
                    if let Some((k, _)) = idle.get_mut(at) {
                        *k = key;
                    }
                    at
                }
                None => return,
            },
        };
        let Some((_, list)) = idle.get_mut(at) else {
            return;
        };
        // The expired ones are the oldest, at the front.
        let expired = list
            .iter()
            .take_while(|(since, _)| now.duration_since(*since) >= self.keep_for)
            .count();
        list.drain(..expired);
        if list.len() >= self.per_address {
            list.retain(|(_, s)| !s.is_closed());
        }
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
        assert!(pool.take(&"b").is_some());
        assert!(pool.take(&"b").is_none());
        // Each address keeps its place, emptied, for the next connection given back.
        assert!(pool.idle.lock().unwrap().iter().all(|(_, l)| l.is_empty()));
        let (s, _end) = sender().await;
        pool.give("b", s);
        assert_eq!(pool.idle.lock().unwrap().len(), 2);
        assert!(pool.take(&"b").is_some());

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
        // The emptied place goes to the next new address; the list does not grow.
        let (s, _end) = sender().await;
        pool.give(MAX_ADDRESSES, s);
        assert_eq!(pool.idle.lock().unwrap().len(), MAX_ADDRESSES);
        assert!(pool.take(&MAX_ADDRESSES).is_some());
        assert!(pool.take(&0).is_none());
    }

    #[tokio::test]
    async fn expired_and_closed_connections_make_room() {
        // Expired: the ones given back first go first.
        let pool = Pool::new(2, Duration::from_millis(200));
        let mut ends = Vec::new();
        for _ in 0..2 {
            let (s, end) = sender().await;
            ends.push(end);
            pool.give("a", s);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (s, _fresh) = sender().await;
        pool.give("a", s);
        assert_eq!(
            pool.idle.lock().unwrap()[0].1.len(),
            1,
            "the expired ones stayed"
        );
        assert!(pool.take(&"a").is_some());
        assert!(pool.take(&"a").is_none());

        // Closed: a full list makes room by dropping the connections whose server has gone.
        let pool = Pool::new(2, Duration::from_secs(60));
        let (s, end) = sender().await;
        pool.give("a", s);
        let (s, _open) = sender().await;
        pool.give("a", s);
        drop(end);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !pool.idle.lock().unwrap()[0].1[0].1.is_closed() {
            assert!(tokio::time::Instant::now() < deadline, "never seen closed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (s, _third) = sender().await;
        pool.give("a", s);
        assert_eq!(pool.idle.lock().unwrap()[0].1.len(), 2);
        assert!(pool.take(&"a").is_some());
        assert!(pool.take(&"a").is_some());
        assert!(pool.take(&"a").is_none());
    }
}
