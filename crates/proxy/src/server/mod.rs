//! The proxy itself: accept, read the head, ask the gate, check the address, forward or tunnel,
//! and record an event — in that order, each step able to refuse.

mod conn;
mod exchange;
mod forward;
mod tunnel;

use conn::{Activity, Stream, Waiting, Watched, accept, is_transient};

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use cordon_policy::pdp::Reason;

use crate::body::BodyInspector;
use crate::credential::Credentials;
use crate::event::{Event, Peer, Refusal, Sink, redacted};
use crate::gate::{Gate, Verdict};
use crate::head::{self, Target};
use crate::inspect::Inspection;
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
pub(super) type PoolKey = (SocketAddr, Option<String>);

/// How a granted tunnel is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Carry {
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

    fn admit(self: Arc<Self>, io: Stream, peer: Peer) {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            const FULL: &str = "the proxy is at its connection limit";
            tokio::spawn(async move {
                let mut io = io;
                let body = refusal_body(Refusal::Overloaded, FULL);
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
            self.record_refused(
                self.event(&peer, None),
                Instant::now(),
                Refusal::Overloaded,
                FULL,
            );
            return;
        };
        tokio::spawn(self.connection(io, peer, Arc::new(slot)));
    }

    async fn connection(self: Arc<Self>, io: Stream, peer: Peer, slot: Arc<OwnedSemaphorePermit>) {
        let activity = Activity::new();
        let io = Watched::new(io, activity.clone());
        let last = Arc::new(Mutex::new(head::LastAuthority::new()));
        let service = {
            let proxy = self.clone();
            let activity = activity.clone();
            hyper::service::service_fn(move |req| {
                let call = Call {
                    peer: peer.clone(),
                    activity: activity.clone(),
                    slot: slot.clone(),
                    last: last.clone(),
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
        // it goes idle, or at its time limit. hyper serves it in a task of its own, so that the
        // wake-ups of its every read and write do not poll the two timers here too; this task
        // wakes only when one of them fires or the connection ends, and then stops it.
        let served = tokio::spawn(conn);
        // However this task ends, the connection ends with it.
        let _stop = StopOnDrop(served.abort_handle());
        tokio::select! {
            _ = served => {}
            () = activity.idle(self.limits.idle_timeout) => {}
            () = tokio::time::sleep(self.limits.total_timeout) => {}
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>, call: Call) -> Response<ProxyBody> {
        let _waiting = Waiting::new(&call.activity);
        let started = Instant::now();
        let method = req.method().clone();
        let raw = head::uri_text(req.uri());
        let mut event = self.event(&call.peer, Some(&method));
        event.request_headers = redacted(req.headers());
        // The connection's previous authority, when its lock is sound (it is held only here).
        let target = match call.last.lock() {
            Ok(mut last) => head::target_on(method.as_str(), &raw, &mut last),
            Err(_) => head::target(method.as_str(), &raw),
        };
        let mut target = match target {
            Ok(t) => t,
            Err(e) => {
                let detail = e.to_string();
                return self.refuse(event, started, Refusal::BadRequest, detail);
            }
        };
        describe_destination(&mut event, &target);
        if !self.sink.healthy() {
            let detail = "the audit log cannot be written; the proxy refuses requests until it can";
            return self.refuse(event, started, Refusal::AuditUnavailable, detail.to_owned());
        }
        let verdict = self.gate.decide(method.as_str(), target.url_mut());
        event.rule.clone_from(&verdict.rule);
        match target {
            Target::Forward { url } => {
                if let Err((refusal, detail)) = admit(&verdict, method.as_str(), &url) {
                    return self.refuse(event, started, refusal, detail);
                }
                self.forward(req, url, verdict, event, started, false).await
            }
            Target::Tunnel { url } => {
                let carry = match self.carry(&verdict, &url) {
                    Ok(c) => c,
                    Err((refusal, detail)) => return self.refuse(event, started, refusal, detail),
                };
                Box::pin(self.tunnel(req, url, verdict, event, started, call, carry)).await
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

    fn event(&self, peer: &Peer, method: Option<&Method>) -> Event {
        Event {
            time_ms: now_ms(),
            client: peer.clone(),
            method: method.cloned(),
            decision: "deny",
            ..Event::default()
        }
    }

    fn refuse(
        &self,
        event: Event,
        started: Instant,
        refusal: Refusal,
        detail: String,
    ) -> Response<ProxyBody> {
        self.record_refused(event, started, refusal, &detail);
        refusal_response(refusal, &detail)
    }

    /// Record a refusal's event.
    fn record_refused(&self, mut event: Event, started: Instant, refusal: Refusal, detail: &str) {
        event.decision = "deny";
        event.reason = refusal.as_str();
        event.status = Some(refusal.status());
        event.detail = Some(detail.to_owned());
        event.duration_ms = millis(started.elapsed());
        self.sink.record(event);
    }
}

/// Stops a task when dropped.
struct StopOnDrop(tokio::task::AbortHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a request's handler knows of its connection.
#[derive(Clone)]
pub(super) struct Call {
    peer: Peer,
    activity: Arc<Activity>,
    slot: Arc<OwnedSemaphorePermit>,
    /// The authority of the connection's previous absolute-form request, parsed.
    last: Arc<Mutex<head::LastAuthority>>,
}

/// The body type of every response the proxy gives.
pub type ProxyBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// The body of a request sent upstream.
pub(super) type UpBody = UnsyncBoxBody<Bytes, hyper::Error>;

pub(super) fn empty() -> ProxyBody {
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

pub(super) fn refusal_response(refusal: Refusal, detail: &str) -> Response<ProxyBody> {
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
pub(super) fn admit(verdict: &Verdict, method: &str, url: &Url) -> Result<(), (Refusal, String)> {
    if verdict.decision.is_allow() {
        return Ok(());
    }
    let detail = match &verdict.rule {
        Some(rule) => format!("{method} `{url}` is denied by {rule}"),
        None => format!("no grant of the manifest covers {method} `{url}`"),
    };
    Err((Refusal::Policy(verdict.decision.reason), detail))
}

pub(super) fn describe_destination(event: &mut Event, target: &Target) {
    let url = target.url();
    // The schemes a target can have, without a copy.
    event.scheme = Some(match url.scheme() {
        "http" => Cow::Borrowed("http"),
        "https" => Cow::Borrowed("https"),
        other => Cow::Owned(other.to_owned()),
    });
    event.host = url.host_str().map(str::to_owned);
    event.port = url.port_or_known_default();
    if let Target::Forward { url } = target {
        event.path = Some(url.path().to_owned());
    }
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds since the epoch, now.
fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}
