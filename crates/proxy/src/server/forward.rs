//! Forwarding a request upstream: connect (or reuse a pooled connection), hold the body for DLP
//! when the manifest asks, add credentials, send, and stream the answer back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use url::Url;

use cordon_dlp::action::Action;
use cordon_policy::pdp::Obligation;

use super::exchange::{Direction, Exchange, Metered, Prefixed};
use super::{PoolKey, Proxy, ProxyBody, UpBody};
use crate::body::{BodyInspector, Oversized};
use crate::event::{Event, Refusal, redacted};
use crate::gate::Verdict;
use crate::head::{self};
use crate::inspect::Inspection;

impl Proxy {
    /// Resolve, check and connect, trying each checked address in turn.
    pub(super) async fn connect(
        &self,
        url: &Url,
        verdict: &Verdict,
        event: &mut Event,
    ) -> Result<TcpStream, (Refusal, String)> {
        let addrs = self.resolver.addresses(url, verdict.names_address).await?;
        let (stream, addr) = self.connect_to(&addrs).await?;
        event.address = Some(addr);
        Ok(stream)
    }

    pub(super) async fn connect_to(
        &self,
        addrs: &[SocketAddr],
    ) -> Result<(TcpStream, SocketAddr), (Refusal, String)> {
        let mut last = None;
        for &addr in addrs {
            match tokio::time::timeout(self.limits.connect_timeout, TcpStream::connect(addr)).await
            {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok((stream, addr));
                }
                Ok(Err(e)) => {
                    last = Some((
                        Refusal::Unreachable,
                        format!("cannot connect to {addr}: {e}"),
                    ));
                }
                Err(_) => {
                    last = Some((
                        Refusal::UpstreamTimeout,
                        format!(
                            "connecting to {addr} took longer than {:?}",
                            self.limits.connect_timeout
                        ),
                    ));
                }
            }
        }
        Err(last.unwrap_or((Refusal::Unresolved, "no address to connect to".to_owned())))
    }

    /// The DLP inspector a manifest with a `dlp` section needs; without one, nothing passes.
    fn body_inspector(&self) -> Result<&BodyInspector, (Refusal, String)> {
        self.bodies.as_ref().ok_or_else(|| {
            (
                Refusal::InspectionUnavailable,
                "the manifest's `dlp` section asks for content inspection, and this proxy has no inspector".to_owned(),
            )
        })
    }

    /// DLP on the request's path and query (raw, and with the query's pairs decoded): a URL
    /// cannot be partly sent, so content the manifest blocks or redacts refuses the request;
    /// what it only reports is recorded.
    fn inspect_url(&self, url: &Url, exchange: &Exchange) -> Result<(), (Refusal, String)> {
        let bodies = self.body_inspector()?;
        let mut text = url[url::Position::BeforePath..url::Position::AfterQuery].to_owned();
        for (k, v) in url.query_pairs() {
            text.push('\n');
            text.push_str(&k);
            text.push('=');
            text.push_str(&v);
        }
        let inspected = bodies.classify(text.as_bytes());
        if inspected.found.is_empty() {
            return Ok(());
        }
        exchange.update(|e| e.dlp.extend(inspected.found.iter().cloned()));
        match inspected.action {
            Some(Action::Block | Action::Redact) => Err((
                Refusal::DlpBlocked,
                format!(
                    "the URL holds content the manifest does not let leave: {}",
                    inspected.summary(Action::Redact)
                ),
            )),
            Some(Action::Alert) | None => Ok(()),
        }
    }

    /// Hold a request body back, scan it and apply the manifest's DLP actions: the body to
    /// forward and, when it was rewritten or fully read, its length.
    pub(super) async fn hold(
        &self,
        mut body: Incoming,
        exchange: &Arc<Exchange>,
    ) -> Result<(UpBody, Option<usize>), (Refusal, String)> {
        let bodies = self.body_inspector()?;
        let mut held: Vec<u8> = Vec::new();
        let mut rest = None;
        loop {
            let frame = tokio::time::timeout(self.limits.idle_timeout, body.frame()).await;
            let frame = match frame {
                Err(_) => {
                    return Err((
                        Refusal::BadRequest,
                        format!(
                            "the request body stalled for {:?}",
                            self.limits.idle_timeout
                        ),
                    ));
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err((
                        Refusal::BadRequest,
                        format!("the request body is broken: {e}"),
                    ));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                // Trailers are not forwarded (they are hop-by-hop here).
                continue;
            };
            held.extend_from_slice(&data);
            if held.len() > bodies.limit {
                if bodies.oversized == Oversized::Block {
                    return Err((
                        Refusal::BodyTooLarge,
                        format!(
                            "the request body is larger than the {} bytes the proxy inspects",
                            bodies.limit
                        ),
                    ));
                }
                rest = Some(body);
                break;
            }
        }
        let Some(inspected) = rest.is_none().then(|| bodies.inspect(&held)) else {
            // Oversized and let through: say so, and send what was held, then the rest.
            exchange.update(|e| {
                e.detail = Some(format!(
                    "the request body is larger than {} bytes and was forwarded uninspected",
                    bodies.limit
                ));
            });
            exchange.add(Direction::Up, held.len() as u64);
            let rest = rest.map(|b| Metered::new(b, exchange.clone(), Direction::Up));
            return Ok((Prefixed::new(held, rest).boxed_unsync(), None));
        };
        exchange.update(|e| e.dlp.extend(inspected.found.iter().cloned()));
        let forwarded = match inspected.action {
            Some(Action::Block) => {
                return Err((
                    Refusal::DlpBlocked,
                    format!(
                        "the request body holds content the manifest blocks: {}",
                        inspected.summary(Action::Block)
                    ),
                ));
            }
            Some(Action::Redact) => inspected.redacted.unwrap_or_default(),
            Some(Action::Alert) | None => held,
        };
        exchange.add(Direction::Up, forwarded.len() as u64);
        let length = forwarded.len();
        Ok((
            Prefixed::<Metered<Incoming>>::new(forwarded, None).boxed_unsync(),
            Some(length),
        ))
    }

    /// A ready connection to the destination: a pooled one to a checked address, or a new one
    /// (over TLS verified for the URL's host when `tls`).
    pub(super) async fn sender(
        &self,
        url: &Url,
        verdict: &Verdict,
        tls: bool,
    ) -> Result<(SendRequest<UpBody>, PoolKey, bool), (Refusal, String)> {
        let addrs = self.resolver.addresses(url, verdict.names_address).await?;
        let name = tls.then(|| url.host_str().unwrap_or_default().to_owned());
        for &addr in &addrs {
            let key = (addr, name.clone());
            if let Some(sender) = self.pool.take(&key) {
                return Ok((sender, key, true));
            }
        }
        // Connecting (and TLS) takes a future many times the size of the rest of a request's:
        // boxed, it is paid for by the requests that open a connection, not moved with every one.
        let (sender, key) = Box::pin(self.open(&addrs, name)).await?;
        Ok((sender, key, false))
    }

    /// A new connection to the first of `addrs` that answers, over TLS verified for `name`
    /// when given.
    async fn open(
        &self,
        addrs: &[SocketAddr],
        name: Option<String>,
    ) -> Result<(SendRequest<UpBody>, PoolKey), (Refusal, String)> {
        let (stream, addr) = self.connect_to(addrs).await?;
        let key = (addr, name);
        let sender = match (&key.1, &self.inspection) {
            (Some(host), Some(inspection)) => {
                let stream = self.upstream_tls(inspection, host, stream).await?;
                handshake(stream).await?
            }
            (Some(_), None) => {
                return Err((
                    Refusal::InspectionUnavailable,
                    "no CA to inspect with".to_owned(),
                ));
            }
            (None, _) => handshake(stream).await?,
        };
        Ok((sender, key))
    }

    /// TLS to the upstream server, verified for `host` against the inspection's roots.
    pub(super) async fn upstream_tls(
        &self,
        inspection: &Inspection,
        host: &str,
        stream: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, (Refusal, String)> {
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let server = rustls::pki_types::ServerName::try_from(bare).map_err(|e| {
            (
                Refusal::BadRequest,
                format!("`{host}` is not a TLS server name: {e}"),
            )
        })?;
        let connector = tokio_rustls::TlsConnector::from(inspection.client_config());
        tokio::time::timeout(
            self.limits.connect_timeout,
            connector.connect(server, stream),
        )
        .await
        .map_err(|_| {
            (
                Refusal::UpstreamTimeout,
                format!(
                    "the TLS handshake with `{host}` took longer than {:?}",
                    self.limits.connect_timeout
                ),
            )
        })?
        .map_err(|e| {
            (
                Refusal::UpstreamError,
                format!("TLS with `{host}` failed: {e}"),
            )
        })
    }

    pub(super) async fn forward(
        self: Arc<Self>,
        req: Request<Incoming>,
        url: Url,
        verdict: Verdict,
        mut event: Event,
        started: Instant,
        tls: bool,
    ) -> Response<ProxyBody> {
        let (mut sender, mut key, mut pooled) = match self.sender(&url, &verdict, tls).await {
            Ok(s) => s,
            Err((refusal, detail)) => return self.refuse(event, started, refusal, detail),
        };
        event.address = Some(key.0);
        let exchange = Exchange::new(self.sink.clone(), event, started);
        // The request goes upstream as it came, but for its target (origin form), its version,
        // its hop-by-hop headers and its `Host`: its parts are changed where they are.
        let (mut parts, body) = req.into_parts();
        let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
        // The path and query as the client wrote them when the URL decided on is the same text
        // (most requests): taken as hyper parsed them, without a copy or a second parse.
        let origin = match parts.uri.path_and_query() {
            Some(as_sent) if as_sent.as_str() == target => {
                let mut origin = http::uri::Parts::default();
                origin.path_and_query = Some(as_sent.clone());
                http::Uri::from_parts(origin).map_err(http::Error::from)
            }
            _ => http::Uri::try_from(target).map_err(http::Error::from),
        };
        parts.uri = match origin {
            Ok(uri) => uri,
            Err(e) => {
                return exchange.refuse(
                    Refusal::BadRequest,
                    format!("the request cannot be forwarded: {e}"),
                );
            }
        };
        parts.version = http::Version::HTTP_11;
        // What hyper noted for the client's connection is not the upstream request's.
        parts.extensions.clear();
        head::strip_hop_by_hop(&mut parts.headers);
        let authority = &url[url::Position::BeforeHost..url::Position::AfterPort];
        if !is_only_host(&parts.headers, authority)
            && let Ok(host) = HeaderValue::from_str(authority)
        {
            parts.headers.insert(header::HOST, host);
        }
        if verdict.wants_inspection()
            && let Err((refusal, detail)) = self.inspect_url(&url, &exchange)
        {
            return exchange.refuse(refusal, detail);
        }
        for obligation in &verdict.decision.obligations {
            if let Obligation::InjectCredential { api } = *obligation {
                let Some(credentials) = &self.credentials else {
                    return exchange.refuse(
                        Refusal::CredentialUnavailable,
                        format!("apis entry {api} has a credential and this proxy holds none"),
                    );
                };
                match Box::pin(credentials.header(api)).await {
                    Ok((name, value)) => {
                        // Whatever the agent sent in that header is replaced.
                        parts.headers.remove(&name);
                        parts.headers.insert(name.clone(), value);
                        exchange.update(|e| e.credential = Some(name.as_str().to_owned()));
                    }
                    Err(e) => {
                        return exchange.refuse(Refusal::CredentialUnavailable, e.to_string());
                    }
                }
            }
        }
        let body = if verdict.wants_inspection() {
            match Box::pin(self.hold(body, &exchange)).await {
                Ok((body, length)) => {
                    if let Some(n) = length {
                        parts
                            .headers
                            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
                    }
                    body
                }
                Err((refusal, detail)) => return exchange.refuse(refusal, detail),
            }
        } else {
            Metered::new(body, exchange.clone(), Direction::Up).boxed_unsync()
        };
        let mut out = Request::from_parts(parts, body);
        let response = loop {
            let sent = tokio::time::timeout(self.limits.idle_timeout, sender.try_send_request(out));
            match sent.await {
                Ok(Ok(r)) => break r,
                Ok(Err(mut e)) => {
                    // A pooled connection the server closed meanwhile: the request was not sent,
                    // so it can go on a new connection, once.
                    let unsent = e.take_message();
                    match (pooled, unsent) {
                        (true, Some(request)) => {
                            out = request;
                            match self.sender(&url, &verdict, tls).await {
                                Ok((s, k, _)) => {
                                    exchange.update(|e| e.address = Some(k.0));
                                    (sender, key, pooled) = (s, k, false);
                                }
                                Err((refusal, detail)) => return exchange.refuse(refusal, detail),
                            }
                        }
                        _ => {
                            return exchange.refuse(
                                Refusal::UpstreamError,
                                format!("the upstream server broke the exchange: {}", e.error()),
                            );
                        }
                    }
                }
                Err(_) => {
                    return exchange.refuse(
                        Refusal::UpstreamTimeout,
                        format!("no response within {:?}", self.limits.idle_timeout),
                    );
                }
            }
        };
        let (mut parts, body) = response.into_parts();
        head::strip_hop_by_hop(&mut parts.headers);
        exchange.update(|e| {
            e.status = Some(parts.status.as_u16());
            e.response_headers = redacted(&parts.headers);
        });
        // The connection goes back to the pool once this body has been read to its end.
        let pool = self.clone();
        let body = Metered::new(body, exchange, Direction::Down)
            .on_end(move || pool.pool.give(key, sender))
            .boxed_unsync();
        Response::from_parts(parts, body)
    }
}

/// Whether `headers` hold one `Host` header, and it is `authority` already (as most clients
/// send it): kept, rather than replaced by a copy of itself.
fn is_only_host(headers: &http::HeaderMap, authority: &str) -> bool {
    let mut hosts = headers.get_all(header::HOST).iter();
    matches!((hosts.next(), hosts.next()), (Some(host), None) if host.as_bytes() == authority.as_bytes())
}

/// An HTTP/1.1 client connection over `stream`, driven by its own task.
pub(super) async fn handshake<S>(stream: S) -> Result<SendRequest<UpBody>, (Refusal, String)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| {
            (
                Refusal::UpstreamError,
                format!("HTTP handshake with the upstream server failed: {e}"),
            )
        })?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}
