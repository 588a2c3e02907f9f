//! The proxy itself: accept, read the head, ask the gate, check the address, forward or tunnel,
//! and record an event — in that order, each step able to refuse.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use cordon_dlp::action::Action;
use cordon_policy::pdp::{Obligation, Reason};

use crate::body::{BodyInspector, Oversized};
use crate::credential::Credentials;
use crate::event::{Event, Refusal, Sink, redacted};
use crate::gate::{Gate, Verdict};
use crate::head::{self, Target};
use crate::hello::{self, Hello, HelloError, Parsed};
use crate::inspect::{Inspection, Rewind};
use crate::pool::Pool;
use crate::resolve::Resolver;

/// Limits that keep one client, slow or hostile, from pinning the proxy.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; one more gets `503` at once.
    pub max_connections: usize,
    /// Bytes of a request head (hyper's read buffer; at least 8 KiB).
    pub max_header_bytes: usize,
    /// Time to send a whole request head.
    pub header_timeout: Duration,
    /// Time without a byte in either direction before a connection is closed.
    pub idle_timeout: Duration,
    /// Time a connection (or tunnel) may last in all.
    pub total_timeout: Duration,
    /// Time to resolve a name, and again to connect to an upstream server.
    pub connect_timeout: Duration,
    /// Time a tunnel's client has to send its ClientHello.
    pub hello_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            max_header_bytes: 16 << 10,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            total_timeout: Duration::from_secs(3600),
            connect_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
        }
    }
}

/// Everything a connection needs, shared.
pub struct Proxy {
    gate: Gate,
    resolver: Resolver,
    limits: Limits,
    sink: Arc<dyn Sink>,
    slots: Arc<Semaphore>,
    pool: Pool<PoolKey, UpBody>,
    inspection: Option<Inspection>,
    bodies: Option<BodyInspector>,
    credentials: Option<Credentials>,
    epoch: Instant,
}

/// What a proxy can do beyond deciding, checking and forwarding.
#[derive(Debug, Default)]
pub struct Extras {
    /// See inside the TLS of tunnels whose grants need it (content inspection, path or method
    /// rules, credentials to add).
    pub inspection: Option<Inspection>,
    /// Apply the manifest's DLP actions to request bodies the proxy can see.
    pub bodies: Option<BodyInspector>,
    /// Add the credentials of `apis` entries to their requests.
    pub credentials: Option<Credentials>,
}

/// Pooled connections are told apart by the checked address and, for TLS, the server name.
type PoolKey = (SocketAddr, Option<String>);

/// How a granted tunnel is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carry {
    /// Bytes copied both ways after the ClientHello check.
    Blind,
    /// TLS ended at the proxy, each request inside decided and forwarded.
    Inspected,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("agent", &self.gate.agent())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Where the proxy listens.
#[derive(Debug)]
pub enum Listener {
    /// A TCP socket (`127.0.0.1:3128`).
    Tcp(TcpListener),
    /// A unix socket (what `cordon run`'s sandbox bridge connects to).
    Unix(UnixListener),
}

impl Proxy {
    /// A proxy enforcing `gate`, doing what `extras` allow.
    pub fn new(
        gate: Gate,
        resolver: Resolver,
        limits: Limits,
        sink: Arc<dyn Sink>,
        extras: Extras,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        Self {
            gate,
            resolver,
            limits,
            sink,
            slots,
            pool: Pool::new(32, Duration::from_secs(30)),
            inspection: extras.inspection,
            bodies: extras.bodies,
            credentials: extras.credentials,
            epoch: Instant::now(),
        }
    }

    /// Serve connections until `shutdown` completes.
    pub async fn serve(
        self: Arc<Self>,
        listener: Listener,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = accept(&listener) => {
                    match accepted {
                        Ok((io, peer)) => self.clone().admit(io, peer),
                        // A full file table or a connection reset before accept: keep serving.
                        Err(e) if is_transient(&e) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    fn admit(self: Arc<Self>, io: Stream, peer: String) {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let mut io = io;
                let body =
                    refusal_body(Refusal::Overloaded, "the proxy is at its connection limit");
                let head = format!(
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nx-cordon-reason: overloaded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let write = async {
                    io.write_all(head.as_bytes()).await?;
                    io.write_all(&body).await?;
                    io.shutdown().await
                };
                let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
            });
            self.record_refusal(&peer, "", None, Refusal::Overloaded, None);
            return;
        };
        tokio::spawn(self.connection(io, peer, Arc::new(slot)));
    }

    async fn connection(
        self: Arc<Self>,
        io: Stream,
        peer: String,
        slot: Arc<OwnedSemaphorePermit>,
    ) {
        let activity = Activity::new(self.epoch);
        let io = Watched::new(io, activity.clone());
        let service = {
            let proxy = self.clone();
            let activity = activity.clone();
            hyper::service::service_fn(move |req| {
                let call = Call {
                    peer: peer.clone(),
                    activity: activity.clone(),
                    slot: slot.clone(),
                };
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(proxy.handle(req, call).await) }
            })
        };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .max_buf_size(self.limits.max_header_bytes.max(8192))
            .keep_alive(true);
        let conn = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        // A connection ends when hyper is done with it (a tunnel carries on in its own task), when
        // it goes idle, or at its time limit.
        tokio::select! {
            _ = tokio::time::timeout(self.limits.total_timeout, conn) => {}
            () = activity.idle(self.limits.idle_timeout) => {}
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>, call: Call) -> Response<ProxyBody> {
        let _waiting = Waiting::new(&call.activity);
        let started = Instant::now();
        let method = req.method().as_str().to_owned();
        let raw = req.uri().to_string();
        let mut event = self.event(&call.peer, &method);
        event.request_headers = redacted(req.headers());
        let target = match head::target(&method, &raw) {
            Ok(t) => t,
            Err(e) => {
                let detail = e.to_string();
                return self.refuse(event, started, Refusal::BadRequest, detail);
            }
        };
        describe_destination(&mut event, &target);
        let verdict = self.gate.decide(&method, target.url());
        event.rule.clone_from(&verdict.rule);
        match target {
            Target::Forward { url } => {
                if let Err((refusal, detail)) = admit(&verdict, &method, &url) {
                    return self.refuse(event, started, refusal, detail);
                }
                self.forward(req, url, verdict, event, started, false).await
            }
            Target::Tunnel { url } => {
                let carry = match self.carry(&verdict, &url) {
                    Ok(c) => c,
                    Err((refusal, detail)) => return self.refuse(event, started, refusal, detail),
                };
                self.tunnel(req, url, verdict, event, started, call, carry)
                    .await
            }
        }
    }

    /// Whether and how a tunnel is opened. A tunnel hides its requests, so it is carried blind
    /// only when the decision on the whole host allows it without inspection; when the manifest
    /// asks for inspection, or grants the host only at some paths or with some methods, it is
    /// opened only if the proxy can inspect TLS, and each request inside is decided on its own.
    fn carry(&self, verdict: &Verdict, url: &Url) -> Result<Carry, (Refusal, String)> {
        let allowed = verdict.decision.is_allow();
        if allowed && !verdict.wants_inspection() {
            // Requests that need a credential added are seen when the proxy can see them;
            // without a CA they go blind, and without the credential.
            if self.inspection.is_some() && self.gate.injects_on_host(url) {
                return Ok(Carry::Inspected);
            }
            return Ok(Carry::Blind);
        }
        let partial =
            !allowed && verdict.decision.reason == Reason::NoGrant && self.gate.grants_host(url);
        if !allowed && !partial {
            return Err(admit(verdict, "CONNECT", url).err().unwrap_or((
                Refusal::Policy(verdict.decision.reason),
                format!("CONNECT `{url}` is denied"),
            )));
        }
        if self.inspection.is_some() {
            return Ok(Carry::Inspected);
        }
        Err(if allowed {
            (
                Refusal::InspectionUnavailable,
                "the manifest's `dlp` section asks for content inspection; start the proxy with `--ca` to inspect TLS".to_owned(),
            )
        } else {
            (
                Refusal::Policy(Reason::NoGrant),
                format!(
                    "grants reach `{}` only at some paths or with some methods, which a tunnel hides; start the proxy with `--ca` to inspect TLS",
                    url.host_str().unwrap_or_default()
                ),
            )
        })
    }

    /// Resolve, check and connect, trying each checked address in turn.
    async fn connect(
        &self,
        url: &Url,
        verdict: &Verdict,
        event: &mut Event,
    ) -> Result<TcpStream, (Refusal, String)> {
        let addrs = self.resolver.addresses(url, verdict.names_address).await?;
        let (stream, addr) = self.connect_to(&addrs).await?;
        event.address = Some(addr.to_string());
        Ok(stream)
    }

    async fn connect_to(
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

    /// Hold a request body back, scan it and apply the manifest's DLP actions: the body to
    /// forward and, when it was rewritten or fully read, its length.
    async fn hold(
        &self,
        mut body: Incoming,
        exchange: &Arc<Exchange>,
    ) -> Result<(UpBody, Option<usize>), (Refusal, String)> {
        let Some(bodies) = &self.bodies else {
            return Err((
                Refusal::InspectionUnavailable,
                "the manifest's `dlp` section asks for content inspection, and this proxy has no inspector".to_owned(),
            ));
        };
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
        exchange.update(|e| e.dlp.clone_from(&inspected.found));
        let forwarded = match inspected.action {
            Some(Action::Block) => {
                let what: Vec<String> = inspected
                    .found
                    .iter()
                    .filter(|f| f.action == Action::Block)
                    .map(|f| format!("{} ({}) ×{}", f.rule, f.classification, f.count))
                    .collect();
                return Err((
                    Refusal::DlpBlocked,
                    format!(
                        "the request body holds content the manifest blocks: {}",
                        what.join(", ")
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
    async fn sender(
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
        let (stream, addr) = self.connect_to(&addrs).await?;
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
        Ok((sender, key, false))
    }

    /// TLS to the upstream server, verified for `host` against the inspection's roots.
    async fn upstream_tls(
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

    async fn forward(
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
        event.address = Some(key.0.to_string());
        let exchange = Exchange::new(self.sink.clone(), event, started);
        let (parts, body) = req.into_parts();
        let mut out = Request::builder()
            .method(parts.method)
            .uri(&url[url::Position::BeforePath..url::Position::AfterQuery])
            .version(http::Version::HTTP_11);
        if let Some(h) = out.headers_mut() {
            *h = parts.headers;
            head::strip_hop_by_hop(h);
            if let Ok(host) =
                HeaderValue::from_str(&url[url::Position::BeforeHost..url::Position::AfterPort])
            {
                h.insert(header::HOST, host);
            }
        }
        for obligation in &verdict.decision.obligations {
            if let Obligation::InjectCredential { api } = *obligation {
                let Some(credentials) = &self.credentials else {
                    return exchange.refuse(
                        Refusal::CredentialUnavailable,
                        format!("apis entry {api} has a credential and this proxy holds none"),
                    );
                };
                match credentials.header(api).await {
                    Ok((name, value)) => {
                        if let Some(h) = out.headers_mut() {
                            // Whatever the agent sent in that header is replaced.
                            h.remove(&name);
                            h.insert(name.clone(), value);
                        }
                        exchange.update(|e| e.credential = Some(name.as_str().to_owned()));
                    }
                    Err(e) => {
                        return exchange.refuse(Refusal::CredentialUnavailable, e.to_string());
                    }
                }
            }
        }
        let body = if verdict.wants_inspection() {
            match self.hold(body, &exchange).await {
                Ok((body, length)) => {
                    if let (Some(h), Some(n)) = (out.headers_mut(), length) {
                        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
                    }
                    body
                }
                Err((refusal, detail)) => return exchange.refuse(refusal, detail),
            }
        } else {
            Metered::new(body, exchange.clone(), Direction::Up).boxed_unsync()
        };
        let mut out = match out.body(body) {
            Ok(r) => r,
            Err(e) => {
                return exchange.refuse(
                    Refusal::BadRequest,
                    format!("the request cannot be forwarded: {e}"),
                );
            }
        };
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
                                    exchange.update(|e| e.address = Some(k.0.to_string()));
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

    #[expect(
        clippy::too_many_arguments,
        reason = "one request's state, passed on once"
    )]
    async fn tunnel(
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
                if let Err((refusal, detail)) =
                    self.resolver.addresses(&url, verdict.names_address).await
                {
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
    async fn checked_hello(
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
    async fn relay(
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
    async fn inspect(
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
    async fn inner(self: Arc<Self>, req: Request<Incoming>, inner: Inner) -> Response<ProxyBody> {
        let _waiting = Waiting::new(&inner.activity);
        let started = Instant::now();
        let method = req.method().as_str().to_owned();
        let mut event = self.event(&inner.peer, &method);
        event.request_headers = redacted(req.headers());
        event.inspected = true;
        let url = match inner_url(&inner.origin, req.uri()) {
            Ok(u) => u,
            Err(detail) => return self.refuse(event, started, Refusal::BadRequest, detail),
        };
        describe_destination(&mut event, &Target::Forward { url: url.clone() });
        let verdict = self.gate.decide(&method, &url);
        event.rule.clone_from(&verdict.rule);
        if let Err((refusal, detail)) = admit(&verdict, &method, &url) {
            return self.refuse(event, started, refusal, detail);
        }
        self.forward(req, url, verdict, event, started, true).await
    }

    fn event(&self, peer: &str, method: &str) -> Event {
        Event {
            time: cordon_policy::trust::format_time(time::OffsetDateTime::now_utc()),
            kind: "egress",
            agent: self.gate.agent().to_owned(),
            client: peer.to_owned(),
            method: method.to_owned(),
            scheme: None,
            host: None,
            port: None,
            path: None,
            address: None,
            inspected: false,
            credential: None,
            server_name: None,
            decision: "deny",
            reason: "",
            rule: None,
            detail: None,
            status: None,
            bytes_up: 0,
            bytes_down: 0,
            duration_ms: 0,
            request_headers: Vec::new(),
            dlp: Vec::new(),
            response_headers: Vec::new(),
        }
    }

    fn record_refusal(
        &self,
        peer: &str,
        method: &str,
        url: Option<&Url>,
        refusal: Refusal,
        detail: Option<String>,
    ) {
        let mut event = self.event(peer, method);
        if let Some(url) = url {
            event.host = url.host_str().map(str::to_owned);
        }
        event.reason = refusal.as_str();
        event.detail = detail;
        event.status = Some(refusal.status());
        self.sink.record(&event);
    }

    fn refuse(
        &self,
        mut event: Event,
        started: Instant,
        refusal: Refusal,
        detail: String,
    ) -> Response<ProxyBody> {
        event.decision = "deny";
        event.reason = refusal.as_str();
        event.status = Some(refusal.status());
        event.detail = Some(detail.clone());
        event.duration_ms = millis(started.elapsed());
        self.sink.record(&event);
        refusal_response(refusal, &detail)
    }
}

/// What a request inside an inspected tunnel knows of it.
#[derive(Clone)]
struct Inner {
    /// `https://host[:port]/`, as the tunnel was granted.
    origin: Url,
    peer: String,
    activity: Arc<Activity>,
}

/// The full URL of a request inside a tunnel to `origin`: origin-form paths are joined to it; an
/// absolute-form target must name the same origin.
fn inner_url(origin: &Url, uri: &http::Uri) -> Result<Url, String> {
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

/// What a request's handler knows of its connection.
#[derive(Clone)]
struct Call {
    peer: String,
    activity: Arc<Activity>,
    slot: Arc<OwnedSemaphorePermit>,
}

/// The body type of every response the proxy gives.
pub type ProxyBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// The body of a request sent upstream.
type UpBody = UnsyncBoxBody<Bytes, hyper::Error>;

fn empty() -> ProxyBody {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn refusal_body(refusal: Refusal, detail: &str) -> Vec<u8> {
    let error = if refusal.status() == 403 {
        "denied"
    } else {
        "failed"
    };
    let mut body = serde_json::json!({
        "error": error,
        "reason": refusal.as_str(),
        "detail": detail,
    })
    .to_string()
    .into_bytes();
    body.push(b'\n');
    body
}

fn refusal_response(refusal: Refusal, detail: &str) -> Response<ProxyBody> {
    let body = refusal_body(refusal, detail);
    let mut r = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        "x-cordon-reason",
        HeaderValue::from_static(refusal.as_str()),
    );
    r
}

/// The refusal for a decision that does not allow.
fn admit(verdict: &Verdict, method: &str, url: &Url) -> Result<(), (Refusal, String)> {
    if verdict.decision.is_allow() {
        return Ok(());
    }
    let detail = match &verdict.rule {
        Some(rule) => format!("{method} `{url}` is denied by {rule}"),
        None => format!("no grant of the manifest covers {method} `{url}`"),
    };
    Err((Refusal::Policy(verdict.decision.reason), detail))
}

fn describe_destination(event: &mut Event, target: &Target) {
    let url = target.url();
    event.scheme = Some(url.scheme().to_owned());
    event.host = url.host_str().map(str::to_owned);
    event.port = url.port_or_known_default();
    if let Target::Forward { url } = target {
        event.path = Some(url.path().to_owned());
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Read until the ClientHello is whole (or refused), within `limit`.
async fn read_hello<S: AsyncRead + Unpin>(
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

fn hello_refusal(e: &HelloError) -> (Refusal, String) {
    (Refusal::NotTls, e.to_string())
}

/// The server name must be the CONNECT host. Clients send no name for an IP address (RFC 6066
/// forbids it), so a tunnel to a granted IP literal may have none; a tunnel to a name must.
fn check_hello(hello: &Hello, expected: &str, literal: bool) -> Result<(), (Refusal, String)> {
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
async fn alert<S: AsyncWrite + Unpin>(client: &mut S) {
    const ACCESS_DENIED: [u8; 7] = [21, 3, 3, 0, 2, 2, 49];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = client.write_all(&ACCESS_DENIED).await;
        let _ = client.shutdown().await;
    })
    .await;
}

/// A request's event while the exchange is under way: recorded once, when the last part of the
/// exchange (request body, response body, tunnel) lets go of it.
struct Exchange {
    sink: Arc<dyn Sink>,
    event: Mutex<Event>,
    up: AtomicU64,
    down: AtomicU64,
    started: Instant,
}

#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

impl Exchange {
    fn new(sink: Arc<dyn Sink>, mut event: Event, started: Instant) -> Arc<Self> {
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

    fn update(&self, f: impl FnOnce(&mut Event)) {
        if let Ok(mut e) = self.event.lock() {
            f(&mut e);
        }
    }

    fn add(&self, direction: Direction, n: u64) {
        let counter = match direction {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The exchange ended in a refusal after it was allowed (a bad ClientHello, a broken
    /// upstream server).
    fn fail(&self, refusal: Refusal, detail: String) {
        self.update(|e| {
            e.decision = "deny";
            e.reason = refusal.as_str();
            e.detail = Some(detail);
        });
    }

    /// Fail and answer the client.
    fn refuse(&self, refusal: Refusal, detail: String) -> Response<ProxyBody> {
        let response = refusal_response(refusal, &detail);
        self.update(|e| e.status = Some(refusal.status()));
        self.fail(refusal, detail);
        response
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let mut event = match self.event.lock() {
            Ok(e) => e.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        event.bytes_up = self.up.load(Ordering::Relaxed);
        event.bytes_down = self.down.load(Ordering::Relaxed);
        event.duration_ms = millis(self.started.elapsed());
        self.sink.record(&event);
    }
}

/// A body that counts the bytes passing through it into its exchange, and can run something
/// once it has been read to its end.
struct Metered<B> {
    inner: B,
    exchange: Arc<Exchange>,
    direction: Direction,
    on_end: Option<Box<dyn FnOnce() + Send>>,
}

impl<B> Metered<B> {
    fn new(inner: B, exchange: Arc<Exchange>, direction: Direction) -> Self {
        Self {
            inner,
            exchange,
            direction,
            on_end: None,
        }
    }

    fn on_end(mut self, f: impl FnOnce() + Send + 'static) -> Self {
        self.on_end = Some(Box::new(f));
        self
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Metered<B> {
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
struct Prefixed<B> {
    held: Option<Bytes>,
    rest: Option<B>,
}

impl<B> Prefixed<B> {
    fn new(held: Vec<u8>, rest: Option<B>) -> Self {
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

/// When a connection last moved a byte, in milliseconds since the proxy started, and how many of
/// its requests wait for an upstream answer (their own timeout bounds that wait).
struct Activity {
    epoch: Instant,
    last: AtomicU64,
    waiting: AtomicU64,
}

/// Marks a request as waiting for its answer while it lives.
struct Waiting(Arc<Activity>);

impl Waiting {
    fn new(activity: &Arc<Activity>) -> Self {
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
    fn new(epoch: Instant) -> Arc<Self> {
        let a = Arc::new(Self {
            epoch,
            last: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
        });
        a.touch();
        a
    }

    fn touch(&self) {
        self.last
            .store(millis(self.epoch.elapsed()), Ordering::Relaxed);
    }

    /// Completes once nothing has moved for `limit` and no request waits for an answer.
    async fn idle(&self, limit: Duration) {
        loop {
            if self.waiting.load(Ordering::Relaxed) > 0 {
                self.touch();
            }
            let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
            let quiet = self.epoch.elapsed().saturating_sub(last);
            if quiet >= limit {
                return;
            }
            tokio::time::sleep(limit - quiet).await;
        }
    }
}

/// A stream that notes every byte it moves in an [`Activity`].
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    fn new(inner: S, activity: Arc<Activity>) -> Self {
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

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &polled
            && *n > 0
        {
            this.activity.touch();
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// An accepted connection, TCP or unix.
enum Stream {
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

async fn accept(listener: &Listener) -> io::Result<(Stream, String)> {
    match listener {
        Listener::Tcp(l) => {
            let (s, peer): (TcpStream, SocketAddr) = l.accept().await?;
            let _ = s.set_nodelay(true);
            Ok((Stream::Tcp(s), peer.to_string()))
        }
        Listener::Unix(l) => {
            let (s, _) = l.accept().await?;
            Ok((Stream::Unix(s), "unix".to_owned()))
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || e
        .raw_os_error()
        .is_some_and(|code| code == 24 || code == 23)
}

/// An HTTP/1.1 client connection over `stream`, driven by its own task.
async fn handshake<S>(stream: S) -> Result<SendRequest<UpBody>, (Refusal, String)>
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
