//! CONNECT tunnels: the ClientHello check, then bytes copied blind, or TLS ended with a minted
//! leaf and each request inside decided on its own.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use super::conn::{Activity, Waiting, Watched};
use super::exchange::{Direction, Exchange};
use super::{Call, Carry, Proxy, ProxyBody, admit, describe_destination, empty};
use crate::event::{Event, Peer, Refusal, redacted};
use crate::gate::Verdict;
use crate::head::Target;
use crate::hello::{self, Hello, HelloError, Parsed};
use crate::inspect::Rewind;

impl Proxy {
    #[expect(
        clippy::too_many_arguments,
        reason = "one request's state, passed on once"
    )]
    pub(super) async fn tunnel(
        self: Arc<Self>,
        req: Request<Incoming>,
        url: Url,
        verdict: Verdict,
        mut event: Event,
        started: Instant,
        call: Call,
        carry: Carry,
    ) -> Response<ProxyBody> {
        // Connect (blind) or check the addresses (inspected) before answering, so a refusal is
        // still an HTTP response.
        let upstream = match carry {
            Carry::Blind => match self.connect(&url, &verdict, &mut event).await {
                Ok(s) => Some(s),
                Err((refusal, detail)) => return self.refuse(event, started, refusal, detail),
            },
            Carry::Inspected => {
                // Opened because grants reach parts of the host: one of them may name its address.
                let named = verdict.names_address || self.gate.names_address_anywhere(&url);
                if let Err((refusal, detail)) = self.resolver.addresses(&url, named).await {
                    return self.refuse(event, started, refusal, detail);
                }
                None
            }
        };
        let expected = url.host_str().unwrap_or_default().to_owned();
        let literal = !matches!(url.host(), Some(url::Host::Domain(_)));
        let exchange = Exchange::new(self.sink.clone(), event, started);
        exchange.update(|e| {
            e.status = Some(200);
            if carry == Carry::Inspected {
                e.inspected = true;
                if !verdict.decision.is_allow() {
                    // No grant covers the whole host; some cover parts of it.
                    e.reason = "partial_grant";
                }
                e.detail = Some(
                    "opened for inspection: each request inside is decided and recorded on its own"
                        .to_owned(),
                );
            }
        });
        let proxy = self.clone();
        tokio::spawn(async move {
            // The tunnel holds the connection's slot until it ends.
            let Call {
                activity,
                slot,
                peer,
                last: _,
            } = call;
            let _slot = slot;
            let upgraded = match hyper::upgrade::on(req).await {
                Ok(u) => u,
                Err(e) => {
                    exchange.fail(
                        Refusal::UpstreamError,
                        format!("the client left before the tunnel opened: {e}"),
                    );
                    return;
                }
            };
            let mut client = TokioIo::new(upgraded);
            let Some(hello) = proxy
                .checked_hello(&mut client, &expected, literal, &exchange)
                .await
            else {
                return;
            };
            let run = async {
                match upstream {
                    Some(upstream) => {
                        proxy
                            .relay(client, hello, upstream, &exchange, &activity)
                            .await;
                    }
                    None => {
                        let inner = Inner {
                            origin: url,
                            peer,
                            activity: activity.clone(),
                        };
                        proxy.clone().inspect(client, hello, inner, &exchange).await;
                    }
                }
            };
            if tokio::time::timeout(proxy.limits.total_timeout, run)
                .await
                .is_err()
            {
                exchange
                    .update(|e| e.detail = Some("the tunnel reached its time limit".to_owned()));
            }
        });
        let mut ok = Response::new(empty());
        *ok.status_mut() = StatusCode::OK;
        ok
    }

    /// Read and check the tunnel's ClientHello; `None` (the client told, the exchange failed)
    /// when it is refused.
    pub(super) async fn checked_hello(
        &self,
        client: &mut TokioIo<hyper::upgrade::Upgraded>,
        expected: &str,
        literal: bool,
        exchange: &Exchange,
    ) -> Option<Vec<u8>> {
        let refused = match read_hello(client, self.limits.hello_timeout).await {
            Ok((bytes, hello)) => {
                exchange.update(|e| e.server_name.clone_from(&hello.server_name));
                match check_hello(&hello, expected, literal) {
                    Ok(()) => return Some(bytes),
                    Err(r) => r,
                }
            }
            Err(r) => r,
        };
        alert(client).await;
        exchange.fail(refused.0, refused.1);
        None
    }

    /// Copy bytes both ways until either side closes or the tunnel goes idle.
    pub(super) async fn relay(
        &self,
        mut client: TokioIo<hyper::upgrade::Upgraded>,
        first: Vec<u8>,
        upstream: TcpStream,
        exchange: &Exchange,
        activity: &Arc<Activity>,
    ) {
        let mut upstream = Watched::new(upstream, activity.clone());
        if upstream.write_all(&first).await.is_err() {
            exchange.fail(
                Refusal::Unreachable,
                "the upstream server closed the connection".to_owned(),
            );
            return;
        }
        exchange.add(Direction::Up, first.len() as u64);
        let copy = tokio::io::copy_bidirectional(&mut client, &mut upstream);
        tokio::pin!(copy);
        let idle = activity.idle(self.limits.idle_timeout);
        tokio::pin!(idle);
        tokio::select! {
            result = &mut copy => {
                if let Ok((up, down)) = result {
                    exchange.add(Direction::Up, up);
                    exchange.add(Direction::Down, down);
                }
            }
            () = &mut idle => {
                exchange.update(|e| e.detail = Some(format!("closed after {:?} without traffic", self.limits.idle_timeout)));
            }
        }
    }

    /// End the client's TLS with a minted leaf and serve the requests inside, each decided and
    /// recorded on its own.
    pub(super) async fn inspect(
        self: Arc<Self>,
        client: TokioIo<hyper::upgrade::Upgraded>,
        hello: Vec<u8>,
        inner: Inner,
        exchange: &Exchange,
    ) {
        let Some(inspection) = &self.inspection else {
            exchange.fail(
                Refusal::InspectionUnavailable,
                "no CA to inspect with".to_owned(),
            );
            return;
        };
        let host = inner.origin.host_str().unwrap_or_default().to_owned();
        let config = match inspection.server_config(&host) {
            Ok(c) => c,
            Err(e) => {
                exchange.fail(Refusal::InspectionUnavailable, e.to_string());
                return;
            }
        };
        let accept = tokio_rustls::TlsAcceptor::from(config).accept(Rewind::new(hello, client));
        let tls = match tokio::time::timeout(self.limits.hello_timeout, accept).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                exchange.fail(
                    Refusal::CertificateRejected,
                    format!("the client did not accept cordon's certificate for `{host}` (does it trust the inspection CA?): {e}"),
                );
                return;
            }
            Err(_) => {
                exchange.fail(
                    Refusal::HelloTimeout,
                    "the TLS handshake did not finish in time".to_owned(),
                );
                return;
            }
        };
        let activity = inner.activity.clone();
        let proxy = self.clone();
        let service = hyper::service::service_fn(move |req| {
            let proxy = proxy.clone();
            let inner = inner.clone();
            async move { Ok::<_, Infallible>(proxy.inner(req, inner).await) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .max_buf_size(self.limits.max_header_bytes.max(8192));
        let conn = builder.serve_connection(TokioIo::new(tls), service);
        tokio::select! {
            _ = conn => {}
            () = activity.idle(self.limits.idle_timeout) => {}
        }
    }

    /// One request inside an inspected tunnel.
    pub(super) async fn inner(
        self: Arc<Self>,
        req: Request<Incoming>,
        inner: Inner,
    ) -> Response<ProxyBody> {
        let _waiting = Waiting::new(&inner.activity);
        let started = Instant::now();
        let method = req.method().clone();
        let mut event = self.event(&inner.peer, Some(&method));
        event.request_headers = redacted(req.headers());
        event.inspected = true;
        let mut url = match inner_url(&inner.origin, req.uri()) {
            Ok(u) => u,
            Err(detail) => return self.refuse(event, started, Refusal::BadRequest, detail),
        };
        describe_destination(&mut event, &Target::Forward { url: url.clone() });
        let verdict = self.gate.decide(method.as_str(), &mut url);
        event.rule.clone_from(&verdict.rule);
        if let Err((refusal, detail)) = admit(&verdict, method.as_str(), &url) {
            return self.refuse(event, started, refusal, detail);
        }
        self.forward(req, url, verdict, event, started, true).await
    }
}

/// What a request inside an inspected tunnel knows of it.
#[derive(Clone)]
pub(super) struct Inner {
    /// `https://host[:port]/`, as the tunnel was granted.
    origin: Url,
    peer: Peer,
    activity: Arc<Activity>,
}

/// The full URL of a request inside a tunnel to `origin`: origin-form paths are joined to it; an
/// absolute-form target must name the same origin.
pub(super) fn inner_url(origin: &Url, uri: &http::Uri) -> Result<Url, String> {
    let url = match uri.authority() {
        Some(_) => {
            cordon_policy::scope::parse_request_url(&uri.to_string()).map_err(|e| e.to_string())?
        }
        None => {
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            if !path.starts_with('/') {
                return Err(format!("request target `{path}` is not a path"));
            }
            let mut text = origin[..url::Position::AfterPort].to_owned();
            text.push_str(path);
            cordon_policy::scope::parse_request_url(&text).map_err(|e| e.to_string())?
        }
    };
    if url.scheme() != "https"
        || url.host_str() != origin.host_str()
        || url.port_or_known_default() != origin.port_or_known_default()
    {
        return Err(format!("request for `{url}` inside a tunnel to `{origin}`"));
    }
    Ok(url)
}

/// Read until the ClientHello is whole (or refused), within `limit`.
pub(super) async fn read_hello<S: AsyncRead + Unpin>(
    client: &mut S,
    limit: Duration,
) -> Result<(Vec<u8>, Hello), (Refusal, String)> {
    let read = async {
        let mut buf: Vec<u8> = Vec::with_capacity(2048);
        let mut chunk = [0u8; 4096];
        loop {
            match hello::parse(&buf) {
                Ok(Parsed::Complete(h)) => return Ok((buf, h)),
                Ok(Parsed::NeedMore) => {}
                Err(e) => return Err(hello_refusal(&e)),
            }
            if buf.len() > hello::MAX_HELLO + 64 {
                return Err((Refusal::NotTls, "the ClientHello is too large".to_owned()));
            }
            let n = client.read(&mut chunk).await.map_err(|e| {
                (
                    Refusal::NotTls,
                    format!("reading the ClientHello failed: {e}"),
                )
            })?;
            if n == 0 {
                return Err((
                    Refusal::NotTls,
                    "the client closed the tunnel before its ClientHello".to_owned(),
                ));
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    };
    tokio::time::timeout(limit, read).await.map_err(|_| {
        (
            Refusal::HelloTimeout,
            format!("no ClientHello within {limit:?}"),
        )
    })?
}

pub(super) fn hello_refusal(e: &HelloError) -> (Refusal, String) {
    (Refusal::NotTls, e.to_string())
}

/// The server name must be the CONNECT host. Clients send no name for an IP address (RFC 6066
/// forbids it), so a tunnel to a granted IP literal may have none; a tunnel to a name must.
pub(super) fn check_hello(
    hello: &Hello,
    expected: &str,
    literal: bool,
) -> Result<(), (Refusal, String)> {
    if hello.ech {
        return Err((
            Refusal::EncryptedClientHello,
            "the ClientHello asks for Encrypted Client Hello, which hides the real server name"
                .to_owned(),
        ));
    }
    match &hello.server_name {
        Some(name) if name == expected => Ok(()),
        Some(name) => Err((
            Refusal::ServerNameMismatch,
            format!("the ClientHello names `{name}`, the tunnel was granted for `{expected}`"),
        )),
        None if literal => Ok(()),
        None => Err((
            Refusal::NoServerName,
            format!("the ClientHello names no server; the tunnel was granted for `{expected}`"),
        )),
    }
}

/// A fatal TLS `access_denied` alert (RFC 8446 §6.2), so the client reports a refusal rather than
/// a dropped connection.
pub(super) async fn alert<S: AsyncWrite + Unpin>(client: &mut S) {
    const ACCESS_DENIED: [u8; 7] = [21, 3, 3, 0, 2, 2, 49];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = client.write_all(&ACCESS_DENIED).await;
        let _ = client.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn requests_inside_a_tunnel_stay_at_its_origin() {
        let origin = Url::parse("https://api.example.com:8443/").unwrap();
        let url = |t: &str| inner_url(&origin, &t.parse::<http::Uri>().unwrap());
        assert_eq!(
            url("/v1/items?q=1").unwrap().as_str(),
            "https://api.example.com:8443/v1/items?q=1"
        );
        assert_eq!(url("/a/../b").unwrap().path(), "/b");
        assert_eq!(url("https://api.example.com:8443/x").unwrap().path(), "/x");
        for other in [
            "https://evil.example.com:8443/x",
            "https://api.example.com/x",
            "http://api.example.com:8443/x",
        ] {
            assert!(url(other).is_err(), "{other}");
        }
    }

    proptest! {
        /// Whatever the path, the URL decided on names the tunnel's origin.
        #[test]
        fn no_path_leaves_the_origin(path in "/[ -~]{0,60}") {
            let origin = Url::parse("https://api.example.com/").unwrap();
            if let Ok(uri) = path.parse::<http::Uri>()
                && let Ok(u) = inner_url(&origin, &uri)
            {
                prop_assert_eq!(u.host_str(), Some("api.example.com"));
                prop_assert_eq!(u.port_or_known_default(), Some(443));
                prop_assert_eq!(u.scheme(), "https");
            }
        }
    }
}
