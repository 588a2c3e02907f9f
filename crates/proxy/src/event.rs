//! The audit event the proxy records for every request and tunnel, and why it refuses one.
//!
//! An event says where (scheme, host, port, and the path where the proxy can see it — never the
//! query, which often carries tokens), what was decided and by which rule, the bytes each way and
//! the headers with every credential-bearing value replaced by `[redacted]`.

use std::borrow::Cow;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};

use aho_corasick::AhoCorasick;
use http::HeaderMap;

use cordon_audit::canonical::{Canonical, Object};
use cordon_audit::ocsf::{self, Activity, HttpMethod, Severity, Source, Verdict};
use cordon_dlp::action::Action;
use cordon_policy::pdp::Reason;
use serde_json::json;

use crate::addr::Class;

/// Why the proxy refused a request or tunnel. A closed set: each has a wire name, an HTTP status
/// and, for the client, a sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The policy decision point denied it (the reason says why).
    Policy(Reason),
    /// The request target is not one a forward proxy takes.
    BadRequest,
    /// The destination resolves to an address that is not public and the grant does not name it.
    Address(Class),
    /// The destination's name did not resolve.
    Unresolved,
    /// The ClientHello names no server (and the CONNECT host is a name).
    NoServerName,
    /// The ClientHello names a server other than the CONNECT host.
    ServerNameMismatch,
    /// The ClientHello asks for Encrypted Client Hello, which would hide the real server.
    EncryptedClientHello,
    /// The tunnel's first bytes are not a TLS ClientHello, or a malformed one.
    NotTls,
    /// The client did not accept the certificate the proxy presented to inspect its TLS (it
    /// does not trust the inspection CA).
    CertificateRejected,
    /// The client did not send its ClientHello in time.
    HelloTimeout,
    /// The manifest asks for content inspection, which this connection cannot give.
    InspectionUnavailable,
    /// The upstream server could not be reached.
    Unreachable,
    /// The upstream server did not answer in time.
    UpstreamTimeout,
    /// The upstream server broke the exchange.
    UpstreamError,
    /// The proxy has as many connections as it may.
    Overloaded,
    /// DLP found content the manifest blocks in the request body.
    DlpBlocked,
    /// The request needs a credential the proxy cannot read now.
    CredentialUnavailable,
    /// The request body is larger than the proxy inspects, and such bodies are refused.
    BodyTooLarge,
    /// The audit log cannot be written: nothing leaves without its event.
    AuditUnavailable,
}

impl Refusal {
    /// The wire name, as audit events and `X-Cordon-Reason` carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Policy(r) => r.as_str(),
            Self::BadRequest => "bad_request",
            Self::Address(_) => "address_not_allowed",
            Self::Unresolved => "unresolved",
            Self::NoServerName => "no_server_name",
            Self::ServerNameMismatch => "server_name_mismatch",
            Self::EncryptedClientHello => "encrypted_client_hello",
            Self::NotTls => "not_tls",
            Self::CertificateRejected => "certificate_rejected",
            Self::HelloTimeout => "hello_timeout",
            Self::InspectionUnavailable => "inspection_unavailable",
            Self::Unreachable => "upstream_unreachable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamError => "upstream_error",
            Self::Overloaded => "overloaded",
            Self::DlpBlocked => "dlp_blocked",
            Self::CredentialUnavailable => "credential_unavailable",
            Self::BodyTooLarge => "body_too_large",
            Self::AuditUnavailable => "audit_unavailable",
        }
    }

    /// The status a client gets when the refusal can still be an HTTP response.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unresolved | Self::Unreachable | Self::UpstreamError => 502,
            Self::CredentialUnavailable => 503,
            Self::UpstreamTimeout => 504,
            Self::Overloaded | Self::AuditUnavailable => 503,
            Self::BodyTooLarge => 413,
            Self::Policy(_)
            | Self::Address(_)
            | Self::NoServerName
            | Self::ServerNameMismatch
            | Self::EncryptedClientHello
            | Self::NotTls
            | Self::CertificateRejected
            | Self::HelloTimeout
            | Self::InspectionUnavailable
            | Self::DlpBlocked => 403,
        }
    }
}

/// One audit event.
#[derive(Debug, Clone, Default)]
pub struct Event {
    /// When the request arrived, in milliseconds since the epoch.
    pub time_ms: i64,
    /// The client, as the proxy saw it.
    pub client: Peer,
    /// The HTTP method (`CONNECT` for a tunnel); none when no request was read (a connection
    /// refused as it arrived).
    pub method: Option<http::Method>,
    /// `http` or `https`.
    pub scheme: Option<Cow<'static, str>>,
    /// The destination host.
    pub host: Option<String>,
    /// The destination port.
    pub port: Option<u16>,
    /// The path, where visible (plain HTTP); no query.
    pub path: Option<String>,
    /// The address connected to.
    pub address: Option<SocketAddr>,
    /// Whether the proxy saw inside the TLS (a tunnel it inspected, or a request inside one).
    pub inspected: bool,
    /// The header a credential was added in (never its value).
    pub credential: Option<String>,
    /// The server name of the tunnel's ClientHello.
    pub server_name: Option<String>,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// Why: the PDP's reason, or the proxy's refusal.
    pub reason: &'static str,
    /// The deciding grant or entry.
    pub rule: Option<std::sync::Arc<str>>,
    /// More about a refusal, for people.
    pub detail: Option<String>,
    /// The response status (of the upstream server, or the proxy's own).
    pub status: Option<u16>,
    /// Bytes from the client to the upstream server (bodies, or the tunnel's bytes).
    pub bytes_up: u64,
    /// Bytes from the upstream server to the client.
    pub bytes_down: u64,
    /// Milliseconds from the request to the end of the exchange.
    pub duration_ms: u64,
    /// Request headers as OCSF `http_headers`, credentials redacted ([`redacted`]).
    pub request_headers: Option<Canonical>,
    /// What DLP found in the request body, by rule (never the values).
    pub dlp: Vec<crate::body::Found>,
    /// Response headers as OCSF `http_headers`, credentials redacted ([`redacted`]).
    pub response_headers: Option<Canonical>,
}

impl Event {
    /// The event in cordon's audit model, in canonical form as `source` emits it: a tunnel
    /// (`CONNECT`) is OCSF Network Activity (its traffic when it ran, a refusal when it did
    /// not), a request the proxy sees is HTTP Activity. Written member by member where each
    /// stays, without an intermediate value: one event per request.
    pub fn to_ocsf(&self, source: &Source) -> Canonical {
        self.ocsf(source, None).finish()
    }

    /// [`Event::to_ocsf`] written after what `out` holds (the batch of records the audit writer
    /// is sealing), without a buffer of its own.
    pub fn write_ocsf(&self, source: &Source, out: &mut Vec<u8>) {
        let buf = std::mem::take(out);
        *out = self.ocsf(source, Some(buf)).finish_appended();
    }

    /// The event written, all but finished, in `buf` when given.
    fn ocsf<'s>(&self, source: &'s Source, buf: Option<Vec<u8>>) -> ocsf::Writer<'s> {
        let method = self.method.as_ref().map_or("", http::Method::as_str);
        let tunnel = self.method == Some(http::Method::CONNECT);
        let allowed = self.decision == "allow";
        let activity = match (tunnel, allowed) {
            (true, true) => Activity::NetworkClose,
            (true, false) => Activity::NetworkRefuse,
            (false, _) => Activity::Http(HttpMethod::of(method)),
        };
        let strictest = self.dlp.iter().map(|f| f.action).max();
        let verdict = match (allowed, strictest) {
            (false, _) => Verdict::Deny,
            (true, Some(Action::Redact | Action::Block)) => Verdict::Redact,
            (true, Some(Action::Alert)) => Verdict::Alert,
            (true, None) => Verdict::Allow,
        };
        let mut e = ocsf::Event::new(activity, self.time_ms).decided_by(
            verdict,
            self.reason,
            self.rule.clone(),
        );
        if let (Some(code), true) = (self.status, tunnel) {
            // Network Activity has no HTTP response: the answer to `CONNECT` is cordon's field.
            e = e.cordon("status", code.into());
        }
        if self.decision != "allow" {
            e = e.failed(
                self.detail
                    .clone()
                    .unwrap_or_else(|| self.reason.to_owned()),
            );
        }
        if strictest == Some(Action::Block) {
            e = e.severity(Severity::High);
        }
        if self.inspected {
            e = e.cordon("inspected", true.into());
        }
        for (k, v) in [
            ("server_name", &self.server_name),
            ("credential_header", &self.credential),
        ] {
            if let Some(v) = v {
                e = e.cordon_text(k, v.clone());
            }
        }
        if let Some(address) = self.address {
            e = e.cordon_text("address", socket_text(address));
        }
        if !self.dlp.is_empty() {
            e = e.cordon("dlp", json!(self.dlp));
        }
        // The class's attributes, in canonical order.
        let mut w = match buf {
            Some(buf) => e.writer_appending(source, buf),
            None => e.writer(source),
        };
        if let Some(host) = &self.host {
            let port = self.port.or(self.address.map(|a| a.port()));
            let ip = self.address.map(|a| a.ip());
            w.object("dst_endpoint", |o| endpoint(o, Some(host), ip, None, port));
        }
        w.u64("duration", self.duration_ms);
        if !tunnel {
            w.object("http_request", |request| {
                if let Some(headers) = &self.request_headers {
                    request.canonical("http_headers", headers);
                }
                request.str("http_method", method).object("url", |url| {
                    if let Some(host) = &self.host {
                        url.str("hostname", host);
                    }
                    url.str("path", self.path.as_deref().unwrap_or("/"));
                    if let Some(port) = self.port {
                        url.u64("port", port.into());
                    }
                    if let Some(scheme) = &self.scheme {
                        url.str("scheme", scheme);
                    }
                });
            });
            if let Some(code) = self.status {
                w.object("http_response", |response| {
                    response.u64("code", code.into());
                    if let Some(headers) = &self.response_headers {
                        response.canonical("http_headers", headers);
                    }
                });
            }
        }
        w.canonical("src_endpoint", self.client.endpoint());
        w.object("traffic", |traffic| {
            traffic
                .u64("bytes_in", self.bytes_down)
                .u64("bytes_out", self.bytes_up);
        });
        w
    }

    /// About how many bytes [`Event::to_ocsf`] writes for this event, without writing it: its
    /// share of an audit queue's bound while it waits to be written. The envelope and the fixed
    /// members of a request's event come to about 1.4 KB; the rest is the event's own text.
    pub fn weight(&self) -> u64 {
        const FIXED: usize = 1400;
        let text = [
            &self.host,
            &self.path,
            &self.detail,
            &self.credential,
            &self.server_name,
        ]
        .into_iter()
        .flatten()
        .map(String::len)
        .sum::<usize>();
        let headers = [&self.request_headers, &self.response_headers]
            .into_iter()
            .flatten()
            .map(|h| h.as_bytes().len())
            .sum::<usize>();
        let rule = self.rule.as_deref().map_or(0, str::len);
        // A finding is written as its rule, type, action and count: well under 128 bytes.
        let findings = self.dlp.len().saturating_mul(128);
        let n = FIXED
            + self.method.as_ref().map_or(0, |m| m.as_str().len())
            + text
            + headers
            + rule
            + findings;
        u64::try_from(n).unwrap_or(u64::MAX)
    }
}

/// `addr` as its `Display` writes it (`192.0.2.7:443`, `[2001:db8::1]:443`).
pub(crate) fn socket_text(addr: SocketAddr) -> String {
    let mut out = Vec::with_capacity(21);
    write_socket(addr, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// `ip` as its `Display` writes it. Every event records one or two: an IPv4 address is written
/// digit by digit rather than through the formatting machinery, which cost more than the rest of
/// an endpoint.
pub(crate) fn ip_text(ip: IpAddr) -> String {
    let mut out = Vec::with_capacity(15);
    write_ip(ip, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// [`socket_text`] after what `out` holds (ASCII, never escaped in JSON).
pub(crate) fn write_socket(addr: SocketAddr, out: &mut Vec<u8>) {
    match addr {
        SocketAddr::V4(v4) => {
            write_ip(IpAddr::V4(*v4.ip()), out);
            out.push(b':');
            out.extend_from_slice(itoa::Buffer::new().format(v4.port()).as_bytes());
        }
        SocketAddr::V6(v6) => {
            // Writing into a `Vec` cannot fail.
            let _ = write!(out, "{v6}");
        }
    }
}

/// [`ip_text`] after what `out` holds.
pub(crate) fn write_ip(ip: IpAddr, out: &mut Vec<u8>) {
    match ip {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(digits.format(octet).as_bytes());
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// The members of an OCSF network endpoint, in canonical order.
fn endpoint(
    out: &mut Object,
    hostname: Option<&str>,
    ip: Option<IpAddr>,
    name: Option<&str>,
    port: Option<u16>,
) {
    if let Some(h) = hostname {
        out.str("hostname", h);
    }
    if let Some(ip) = ip {
        out.str("ip", &ip_text(ip));
    }
    if let Some(n) = name {
        out.str("name", n);
    }
    if let Some(port) = port {
        out.u64("port", port.into());
    }
}

/// An OCSF network endpoint on its own.
fn endpoint_object(
    hostname: Option<&str>,
    ip: Option<IpAddr>,
    name: Option<&str>,
    port: Option<u16>,
) -> Canonical {
    let mut out = Object::new();
    endpoint(&mut out, hostname, ip, name, port);
    out.finish()
}

/// The client end of a connection, as every event on it records it (`src_endpoint`): written
/// once, when the connection is accepted.
#[derive(Debug, Clone)]
pub struct Peer(Arc<Canonical>);

impl Peer {
    /// A client connected over TCP from `addr`.
    pub fn tcp(addr: SocketAddr) -> Self {
        Self(Arc::new(endpoint_object(
            None,
            Some(addr.ip()),
            None,
            Some(addr.port()),
        )))
    }

    /// A client connected over the proxy's Unix socket (inside `cordon run`'s sandbox).
    pub fn unix() -> Self {
        Self::named("unix")
    }

    fn named(name: &str) -> Self {
        Self(Arc::new(endpoint_object(None, None, Some(name), None)))
    }

    /// A client whose endpoint is `endpoint` as it stands.
    pub(crate) fn written(endpoint: Canonical) -> Self {
        Self(Arc::new(endpoint))
    }

    /// The OCSF endpoint.
    pub fn endpoint(&self) -> &Canonical {
        &self.0
    }
}

impl Default for Peer {
    /// A client the proxy knows nothing of (written once, shared).
    fn default() -> Self {
        static UNKNOWN: LazyLock<Peer> = LazyLock::new(|| Peer::named("unknown"));
        UNKNOWN.clone()
    }
}

/// Where events go.
pub trait Sink: Send + Sync + 'static {
    /// Record one event. Must not block for long: it runs on the proxy's workers.
    fn record(&self, event: Event);

    /// Whether events can be recorded now. While they cannot, the proxy refuses new requests:
    /// nothing leaves without its audit event.
    fn healthy(&self) -> bool {
        true
    }
}

/// Header values never written to an audit event.
const REDACTED: &str = "[redacted]";
/// Most headers an event keeps, and most characters of a value.
const MAX_HEADERS: usize = 64;
const MAX_VALUE: usize = 256;

/// Whether a header's value may carry a credential: `Authorization`, `Cookie`, `Set-Cookie`,
/// `Proxy-Authorization` and every name that looks like an API key or token header.
pub fn is_sensitive(name: &str) -> bool {
    static WORDS: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(SENSITIVE_WORDS)
            .ok()
    });
    let exact = [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "www-authenticate",
    ]
    .iter()
    .any(|n| n.eq_ignore_ascii_case(name));
    // Should the matcher fail to build, every header counts as sensitive.
    exact || WORDS.as_ref().is_none_or(|w| w.is_match(name))
}

/// Parts of a header name that mark its value as a credential (`key` covers `api-key`,
/// `x-api-key`, `apikey`; `auth` covers `authorization`, `x-auth-token`).
const SENSITIVE_WORDS: [&str; 8] = [
    "key",
    "token",
    "secret",
    "auth",
    "session",
    "password",
    "signature",
    "credential",
];

/// Common headers that never carry a credential, known without searching their names (a test
/// checks that [`is_sensitive`] agrees): `PLAIN`, and `is_plain`, a `match` on them (one
/// branch on the length and a comparison or two, where a search of the list compared each).
macro_rules! plain_headers {
    ($($name:literal),* $(,)?) => {
        #[cfg(test)]
        const PLAIN: &[&str] = &[$($name),*];

        fn is_plain(name: &str) -> bool {
            matches!(name, $($name)|*)
        }
    };
}

plain_headers![
    "accept",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "date",
    "etag",
    "expires",
    "host",
    "last-modified",
    "location",
    "server",
    "user-agent",
    "vary",
];

/// Headers as an event records them: OCSF `http_headers`, at most [`MAX_HEADERS`] of them and
/// [`MAX_VALUE`] characters of a value, credential-bearing values replaced by `[redacted]`;
/// none when there are no headers.
pub fn redacted(headers: &HeaderMap) -> Option<Canonical> {
    if headers.is_empty() {
        return None;
    }
    Some(ocsf::headers(headers.iter().take(MAX_HEADERS).map(
        |(name, value)| {
            // Names compared as text: a length check rejects most at once, where comparing
            // header names one by one cost more than writing the header.
            let shown = if !is_plain(name.as_str()) && is_sensitive(name.as_str()) {
                Cow::Borrowed(REDACTED.as_bytes())
            } else if value.len() <= MAX_VALUE {
                // Most values: short, recorded as they are (read as UTF-8 when written).
                Cow::Borrowed(value.as_bytes())
            } else {
                Cow::Owned(
                    String::from_utf8_lossy(value.as_bytes())
                        .chars()
                        .take(MAX_VALUE)
                        .collect::<String>()
                        .into_bytes(),
                )
            };
            (name.as_str(), shown)
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Written as `Display` writes it, for every IPv4 and IPv6 socket address.
        #[test]
        fn socket_addresses_are_written_as_display_writes_them(
            octets in proptest::prelude::any::<[u8; 4]>(),
            segments in proptest::prelude::any::<[u16; 8]>(),
            port in proptest::prelude::any::<u16>(),
        ) {
            let v4 = SocketAddr::from((octets, port));
            proptest::prop_assert_eq!(socket_text(v4), v4.to_string());
            let v6 = SocketAddr::from((segments, port));
            proptest::prop_assert_eq!(socket_text(v6), v6.to_string());
            proptest::prop_assert_eq!(ip_text(v4.ip()), v4.ip().to_string());
            proptest::prop_assert_eq!(ip_text(v6.ip()), v6.ip().to_string());
        }
    }

    /// A source, and events from the smallest refusal to a request with many headers (one with
    /// a value that needs escaping) and findings.
    fn samples() -> (ocsf::Source, Vec<Event>) {
        let source = ocsf::Source::new(
            ocsf::Subject {
                component: "proxy",
                agent: "agent".into(),
                user: "user".into(),
                host: "host".into(),
                manifest_digest: Some(format!("sha256:{}", "0".repeat(64))),
                correlation: None,
            },
            "0.1.0",
        );
        let mut headers = HeaderMap::new();
        for i in 0..40 {
            let name = http::HeaderName::try_from(format!("x-header-{i}")).unwrap();
            headers.insert(name, "v".repeat(i * 6).parse().unwrap());
        }
        headers.insert("x-quoted", "a \"quoted\" \\ value".parse().unwrap());
        let refused = Event {
            method: Some(http::Method::GET),
            reason: "no_grant",
            ..Event::default()
        };
        let allowed = Event {
            method: Some(http::Method::POST),
            scheme: Some(Cow::Borrowed("https")),
            host: Some("api.example.com".into()),
            port: Some(443),
            path: Some(format!("/v1/{}", "p".repeat(300))),
            address: Some(SocketAddr::from(([192, 0, 2, 7], 443))),
            decision: "allow",
            reason: "granted",
            rule: Some("networkScopes[0] `https://api.example.com`".into()),
            status: Some(200),
            request_headers: redacted(&headers),
            response_headers: redacted(&headers),
            dlp: (0..5)
                .map(|i| crate::body::Found {
                    rule: format!("rule-{i}"),
                    classification: "secret".into(),
                    count: i,
                    action: Action::Alert,
                })
                .collect(),
            ..Event::default()
        };
        (source, vec![refused, allowed])
    }

    /// The estimate an audit queue counts an event by stays close to what the event writes.
    #[test]
    fn an_events_weight_is_close_to_what_it_writes() {
        let (source, events) = samples();
        for event in events {
            let written = event.to_ocsf(&source).as_bytes().len() as u64;
            let weight = event.weight();
            // Between three quarters and 1.35 times.
            assert!(
                4 * weight >= 3 * written && 20 * weight <= 27 * written,
                "weighs {weight}, writes {written}"
            );
        }
    }

    /// Written after a batch's earlier records, an event is the same bytes as on its own.
    #[test]
    fn an_event_written_into_a_batch_is_the_event_on_its_own() {
        let (source, events) = samples();
        let mut batch = b"{\"earlier\":1}\n".to_vec();
        let mut expected = batch.clone();
        for event in &events {
            event.write_ocsf(&source, &mut batch);
            batch.push(b'\n');
            expected.extend_from_slice(event.to_ocsf(&source).as_bytes());
            expected.push(b'\n');
        }
        assert_eq!(
            String::from_utf8(batch).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }

    #[test]
    fn credentials_never_reach_an_event() {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer sk-live-1"),
            ("cookie", "sid=2"),
            ("x-api-key", "k3"),
            ("x-amz-security-token", "t4"),
            ("private-token", "t5"),
            ("accept", "*/*"),
        ] {
            h.insert(http::HeaderName::from_static(name), value.parse().unwrap());
        }
        let shown = redacted(&h).unwrap();
        let text = String::from_utf8(shown.as_bytes().to_vec()).unwrap();
        for secret in ["sk-live-1", "sid=2", "k3", "t4", "t5"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains(r#"{"name":"accept","value":"*/*"}"#),
            "{text}"
        );
    }

    #[test]
    fn endpoints_are_written_as_ocsf_has_them() {
        let text = |c: &Canonical| String::from_utf8(c.as_bytes().to_vec()).unwrap();
        let v4: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            text(Peer::tcp(v4).endpoint()),
            r#"{"ip":"127.0.0.1","port":8080}"#
        );
        let v6: SocketAddr = "[::1]:443".parse().unwrap();
        assert_eq!(text(Peer::tcp(v6).endpoint()), r#"{"ip":"::1","port":443}"#);
        assert_eq!(text(Peer::unix().endpoint()), r#"{"name":"unix"}"#);
        assert_eq!(
            text(&endpoint_object(
                Some("api.example"),
                Some(v6.ip()),
                None,
                Some(8443)
            )),
            r#"{"hostname":"api.example","ip":"::1","port":8443}"#
        );
        assert_eq!(
            text(&endpoint_object(Some("api.example"), None, None, Some(80))),
            r#"{"hostname":"api.example","port":80}"#
        );
    }

    #[test]
    fn headers_known_to_be_plain_are_not_sensitive_by_name_either() {
        for name in PLAIN {
            assert!(is_plain(name) && !is_sensitive(name), "{name}");
        }
        assert!(!is_plain("authorization") && !is_plain("x-api-key") && !is_plain(""));
    }
}
