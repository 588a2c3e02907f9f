//! Writing the proxy's events fast: once per layout, through the OCSF writer, then from a
//! template.
//!
//! Events of one layout — the same method, decision and flags, the same members present — are
//! the same bytes but for the event's own values (its host, path, times, counts, headers …): the
//! envelope, the names, the braces and every constant between them do not change. The first
//! event of a layout is written through [`Event::to_ocsf`] with a marker in place of each value;
//! where each marker lands is a hole, and what lies between is kept. Every later event of the
//! layout is its constant bytes with its own values written into the holes.
//!
//! A template is kept only once it is proven: filled with the values of a second, different set
//! of markers, and with the first real event's, it must give exactly the bytes the OCSF writer
//! gives for them. A layout whose template fails that (a marker the envelope's own text happens
//! to contain), an event with DLP findings, a method of its own and layouts past [`MAX_LAYOUTS`]
//! are written through the OCSF writer every time: slower, never different.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use cordon_audit::canonical::{self, Canonical};
use cordon_audit::ocsf::Source;
use serde_json::Value;

use crate::event::{Event, Peer, ip_text, socket_text, write_ip, write_socket};

/// Layouts remembered at most (a proxy meets a handful: one per method and outcome).
const MAX_LAYOUTS: usize = 64;

/// Writes a source's proxy events as canonical OCSF, from templates where it can.
pub struct EventWriter {
    source: Source,
    /// Each layout met, with its template, or none when its events are written in full.
    layouts: Mutex<Vec<(Layout, Option<Template>)>>,
}

impl std::fmt::Debug for EventWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventWriter").finish_non_exhaustive()
    }
}

impl EventWriter {
    /// A writer for `source`'s events.
    pub fn new(source: Source) -> Self {
        Self {
            source,
            layouts: Mutex::new(Vec::new()),
        }
    }

    /// Who the events are from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// `event` in canonical form after what `out` holds: the bytes of [`Event::write_ocsf`].
    pub fn write(&self, event: &Event, out: &mut Vec<u8>) {
        let Some(layout) = Layout::of(event) else {
            event.write_ocsf(&self.source, out);
            return;
        };
        // Poisoned, the list is still whole (a panic cannot leave half an entry).
        let mut layouts = self
            .layouts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = match layouts.iter().position(|(known, _)| *known == layout) {
            Some(i) => i,
            None if layouts.len() < MAX_LAYOUTS => {
                layouts.push((layout, Template::proven(event, &self.source)));
                layouts.len() - 1
            }
            None => usize::MAX,
        };
        match layouts.get(found) {
            Some((_, Some(template))) => template.fill(event, out),
            _ => event.write_ocsf(&self.source, out),
        }
    }
}

/// What fixes an event's bytes but for its values: the method, the decision, and which members
/// it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// Where the method is in [`METHODS`].
    method: usize,
    /// One bit per member that may be missing, and one for the decision ([`Layout::of`]).
    flags: u32,
}

/// The methods a layout is kept for (others are written in full).
const METHODS: [http::Method; 9] = [
    http::Method::GET,
    http::Method::POST,
    http::Method::PUT,
    http::Method::DELETE,
    http::Method::HEAD,
    http::Method::OPTIONS,
    http::Method::PATCH,
    http::Method::CONNECT,
    http::Method::TRACE,
];

impl Layout {
    /// The layout of `event`; none for an event written in full every time (it has findings,
    /// which are a list of any length, or a method of its own, or none).
    fn of(event: &Event) -> Option<Self> {
        if !event.dlp.is_empty() {
            return None;
        }
        let method = event.method.as_ref()?;
        let method = METHODS.iter().position(|m| m == method)?;
        let flags = [
            event.decision == "allow",
            event.inspected,
            event.scheme.is_some(),
            event.host.is_some(),
            event.port.is_some(),
            event.path.is_some(),
            event.address.is_some(),
            event.credential.is_some(),
            event.server_name.is_some(),
            event.rule.is_some(),
            event.detail.is_some(),
            event.status.is_some(),
            event.request_headers.is_some(),
            event.response_headers.is_some(),
        ]
        .into_iter()
        .enumerate()
        .fold(0u32, |flags, (bit, set)| flags | (u32::from(set) << bit));
        Some(Self { method, flags })
    }
}

/// A value of an event that a template leaves a hole for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Time,
    Duration,
    BytesUp,
    BytesDown,
    Status,
    Port,
    /// The port of the address connected to, where it stands for the destination's port.
    AddressPort,
    /// The address connected to, `ip:port`.
    Address,
    /// Its IP address alone.
    AddressIp,
    Scheme,
    Host,
    Path,
    Reason,
    Rule,
    Detail,
    ServerName,
    Credential,
    RequestHeaders,
    ResponseHeaders,
    Client,
}

/// Marker values: an event like another in every member it has, each value a marker that says
/// which it is; two sets, so that a template can be proven on values it was not made from.
struct Markers {
    /// Numbers (`u16` values fit a port and a status).
    time: i64,
    duration: u64,
    bytes_up: u64,
    bytes_down: u64,
    status: u16,
    port: u16,
    address: SocketAddr,
    /// Text: strings with control characters in them, so that no name, no constant and no
    /// escaped value of the envelope is written the same way.
    scheme: &'static str,
    host: &'static str,
    path: &'static str,
    reason: &'static str,
    rule: &'static str,
    detail: &'static str,
    server_name: &'static str,
    credential: &'static str,
    /// Members copied as they are (headers, the client's endpoint): JSON texts.
    request_headers: &'static str,
    response_headers: &'static str,
    client: &'static str,
}

const MARKERS: [Markers; 2] = [
    Markers {
        time: 8_070_450_532_247_928_801,
        duration: 9_223_372_036_854_775_801,
        bytes_up: 9_223_372_036_854_775_802,
        bytes_down: 9_223_372_036_854_775_803,
        status: 65_001,
        port: 65_002,
        address: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 251)), 65_003),
        scheme: "\u{1}scheme\u{1}",
        host: "\u{1}host\u{1}",
        path: "\u{1}path\u{1}",
        reason: "\u{1}reason\u{1}",
        rule: "\u{1}rule\u{1}",
        detail: "\u{1}detail\u{1}",
        server_name: "\u{1}server\u{1}",
        credential: "\u{1}credential\u{1}",
        request_headers: "\"\\u0001request headers\\u0001\"",
        response_headers: "\"\\u0001response headers\\u0001\"",
        client: "\"\\u0001client\\u0001\"",
    },
    Markers {
        time: -8_070_450_532_247_928_802,
        duration: 7,
        bytes_up: 0,
        bytes_down: 1_048_576,
        status: 404,
        port: 8080,
        address: SocketAddr::new(
            IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x17)),
            443,
        ),
        scheme: "https",
        host: "api.example.com",
        path: "/a \"quoted\" \\ path",
        reason: "granted",
        rule: "networkScopes[3] `https://api.example.com`",
        detail: "a\nmultiline\tdetail",
        server_name: "api.example.com",
        credential: "authorization",
        request_headers: "[{\"name\":\"a\",\"value\":\"1\"}]",
        response_headers: "[]",
        client: "{\"ip\":\"192.0.2.1\",\"port\":1}",
    },
];

impl Markers {
    /// `event` with these values in place of its own. Every field is named here (no `..`): a
    /// field added to [`Event`] does not compile until it is a value here or part of the layout.
    fn apply(&self, event: &Event) -> Event {
        let text = |present: bool, marker: &str| present.then(|| marker.to_owned());
        let raw =
            |json: &str| Canonical::of(&serde_json::from_str::<Value>(json).unwrap_or(Value::Null));
        Event {
            time_ms: self.time,
            client: Peer::written(raw(self.client)),
            method: event.method.clone(),
            scheme: event.scheme.as_ref().map(|_| Cow::Borrowed(self.scheme)),
            host: text(event.host.is_some(), self.host),
            port: event.port.map(|_| self.port),
            path: text(event.path.is_some(), self.path),
            address: event.address.map(|_| self.address),
            inspected: event.inspected,
            credential: text(event.credential.is_some(), self.credential),
            server_name: text(event.server_name.is_some(), self.server_name),
            decision: event.decision,
            reason: self.reason,
            rule: event.rule.as_ref().map(|_| Arc::from(self.rule)),
            detail: text(event.detail.is_some(), self.detail),
            status: event.status.map(|_| self.status),
            bytes_up: self.bytes_up,
            bytes_down: self.bytes_down,
            duration_ms: self.duration,
            request_headers: event
                .request_headers
                .as_ref()
                .map(|_| raw(self.request_headers)),
            response_headers: event
                .response_headers
                .as_ref()
                .map(|_| raw(self.response_headers)),
            dlp: Vec::new(),
        }
    }

    /// Where each marker of `event` (made by [`apply`](Self::apply)) is in `bytes`, in order;
    /// none when a marker is not where a value can be, or two overlap.
    fn holes(&self, event: &Event, bytes: &[u8]) -> Option<Vec<(Range<usize>, Slot)>> {
        let quoted = |s: &str| {
            let mut out = Vec::new();
            canonical::write_str(s, &mut out);
            out
        };
        let mut wanted: Vec<(Vec<u8>, Slot, bool)> = vec![
            (self.time.to_string().into_bytes(), Slot::Time, true),
            (self.duration.to_string().into_bytes(), Slot::Duration, true),
            (self.bytes_up.to_string().into_bytes(), Slot::BytesUp, true),
            (
                self.bytes_down.to_string().into_bytes(),
                Slot::BytesDown,
                true,
            ),
            (quoted(self.reason), Slot::Reason, false),
            (
                event.client.endpoint().as_bytes().to_vec(),
                Slot::Client,
                false,
            ),
        ];
        let mut want = |present: bool, marker: Vec<u8>, slot: Slot, number: bool| {
            if present {
                wanted.push((marker, slot, number));
            }
        };
        let number = |n: u16| n.to_string().into_bytes();
        want(
            event.status.is_some(),
            number(self.status),
            Slot::Status,
            true,
        );
        want(event.port.is_some(), number(self.port), Slot::Port, true);
        let address = event.address.is_some();
        want(
            address,
            number(self.address.port()),
            Slot::AddressPort,
            true,
        );
        want(
            address,
            quoted(&socket_text(self.address)),
            Slot::Address,
            false,
        );
        want(
            address,
            quoted(&ip_text(self.address.ip())),
            Slot::AddressIp,
            false,
        );
        for (present, marker, slot) in [
            (event.scheme.is_some(), self.scheme, Slot::Scheme),
            (event.host.is_some(), self.host, Slot::Host),
            (event.path.is_some(), self.path, Slot::Path),
            (event.rule.is_some(), self.rule, Slot::Rule),
            (event.detail.is_some(), self.detail, Slot::Detail),
            (
                event.server_name.is_some(),
                self.server_name,
                Slot::ServerName,
            ),
            (
                event.credential.is_some(),
                self.credential,
                Slot::Credential,
            ),
        ] {
            want(present, quoted(marker), slot, false);
        }
        for (headers, slot) in [
            (&event.request_headers, Slot::RequestHeaders),
            (&event.response_headers, Slot::ResponseHeaders),
        ] {
            if let Some(h) = headers {
                want(true, h.as_bytes().to_vec(), slot, false);
            }
        }
        let mut holes = Vec::new();
        for (marker, slot, is_number) in wanted {
            let mut from = 0;
            while let Some(at) = find(bytes.get(from..)?, &marker) {
                let start = from + at;
                let end = start + marker.len();
                // A number is a whole token after a name; text is a whole string or value.
                let token = !is_number
                    || (bytes.get(start.wrapping_sub(1)) == Some(&b':')
                        && matches!(bytes.get(end), Some(b',' | b'}')));
                if token {
                    holes.push((start..end, slot));
                }
                from = end;
            }
        }
        holes.sort_by_key(|(range, _)| range.start);
        let overlapping = holes
            .windows(2)
            .any(|pair| matches!(pair, [(a, _), (b, _)] if a.end > b.start));
        (!overlapping).then_some(holes)
    }
}

/// Where `needle` first is in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// An event's bytes but for its values, and where each value goes.
#[derive(Debug)]
struct Template {
    text: Vec<u8>,
    holes: Vec<(Range<usize>, Slot)>,
}

impl Template {
    /// The template of `event`'s layout, once it gives the OCSF writer's bytes for two other
    /// sets of values and for `event` itself; none when it does not.
    fn proven(event: &Event, source: &Source) -> Option<Self> {
        let [made, check] = &MARKERS;
        let marked = made.apply(event);
        let text = marked.to_ocsf(source).as_bytes().to_vec();
        let holes = made.holes(&marked, &text)?;
        let template = Self { text, holes };
        let agrees = |e: &Event| {
            let mut filled = Vec::new();
            template.fill(e, &mut filled);
            filled == e.to_ocsf(source).as_bytes()
        };
        (agrees(&check.apply(event)) && agrees(event)).then_some(template)
    }

    /// The event written after what `out` holds.
    fn fill(&self, event: &Event, out: &mut Vec<u8>) {
        let mut at = 0;
        for (range, slot) in &self.holes {
            out.extend_from_slice(self.text.get(at..range.start).unwrap_or_default());
            write(event, *slot, out);
            at = range.end;
        }
        out.extend_from_slice(self.text.get(at..).unwrap_or_default());
    }
}

/// One of `event`'s values, as the OCSF writer writes it.
fn write(event: &Event, slot: Slot, out: &mut Vec<u8>) {
    let number = |n: u64, out: &mut Vec<u8>| {
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    };
    let text = |s: Option<&str>, out: &mut Vec<u8>| canonical::write_str(s.unwrap_or(""), out);
    let raw = |c: Option<&Canonical>, out: &mut Vec<u8>| {
        out.extend_from_slice(c.map_or(&b"null"[..], Canonical::as_bytes));
    };
    match slot {
        Slot::Time => {
            if event.time_ms < 0 {
                out.push(b'-');
            }
            number(event.time_ms.unsigned_abs(), out);
        }
        Slot::Duration => number(event.duration_ms, out),
        Slot::BytesUp => number(event.bytes_up, out),
        Slot::BytesDown => number(event.bytes_down, out),
        Slot::Status => number(event.status.unwrap_or_default().into(), out),
        Slot::Port => number(event.port.unwrap_or_default().into(), out),
        Slot::AddressPort => number(event.address.map_or(0, |a| a.port()).into(), out),
        // Addresses are ASCII digits, dots, colons and brackets: quoted, never escaped.
        Slot::Address | Slot::AddressIp => {
            out.push(b'"');
            match (event.address, slot) {
                (Some(a), Slot::Address) => write_socket(a, out),
                (Some(a), _) => write_ip(a.ip(), out),
                (None, _) => {}
            }
            out.push(b'"');
        }
        Slot::Scheme => text(event.scheme.as_deref(), out),
        Slot::Host => text(event.host.as_deref(), out),
        Slot::Path => text(event.path.as_deref(), out),
        Slot::Reason => text(Some(event.reason), out),
        Slot::Rule => text(event.rule.as_deref(), out),
        Slot::Detail => text(event.detail.as_deref(), out),
        Slot::ServerName => text(event.server_name.as_deref(), out),
        Slot::Credential => text(event.credential.as_deref(), out),
        Slot::RequestHeaders => raw(event.request_headers.as_ref(), out),
        Slot::ResponseHeaders => raw(event.response_headers.as_ref(), out),
        Slot::Client => out.extend_from_slice(event.client.endpoint().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::redacted;
    use cordon_audit::ocsf::Subject;
    use proptest::prelude::*;

    fn source() -> Source {
        Source::new(
            Subject {
                component: "proxy",
                agent: "agent".into(),
                user: "user".into(),
                host: "host".into(),
                manifest_digest: Some(format!("sha256:{}", "0".repeat(64))),
                correlation: Some("run-1".into()),
            },
            "0.1.0",
        )
    }

    /// A request's event as the proxy records most of them.
    fn forwarded() -> Event {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "api.example.com".parse().unwrap());
        headers.insert("authorization", "Bearer secret".parse().unwrap());
        headers.insert("etag", "\"quoted\"".parse().unwrap());
        Event {
            time_ms: 1_795_774_396_688,
            client: Peer::tcp(SocketAddr::from(([127, 0, 0, 1], 36_778))),
            method: Some(http::Method::GET),
            scheme: Some(Cow::Borrowed("http")),
            host: Some("api.example.com".into()),
            port: Some(80),
            path: Some("/v1/items".into()),
            address: Some(SocketAddr::from(([192, 0, 2, 7], 80))),
            decision: "allow",
            reason: "granted",
            rule: Some("networkScopes[0] `http://api.example.com`".into()),
            status: Some(200),
            bytes_down: 1024,
            request_headers: redacted(&headers),
            response_headers: redacted(&headers),
            ..Event::default()
        }
    }

    /// How many layouts `w` keeps a template for.
    fn templates(w: &EventWriter) -> usize {
        w.layouts
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, t)| t.is_some())
            .count()
    }

    #[test]
    fn events_from_a_template_are_the_ocsf_writers_bytes() {
        let w = EventWriter::new(source());
        let mut refused = forwarded();
        refused.decision = "deny";
        refused.reason = "no_grant";
        refused.detail = Some("no grant of the manifest covers GET `http://x/`".into());
        refused.status = Some(403);
        refused.response_headers = None;
        let tunnel = Event {
            method: Some(http::Method::CONNECT),
            scheme: Some(Cow::Borrowed("https")),
            path: None,
            server_name: Some("api.example.com".into()),
            status: Some(200),
            bytes_up: 517,
            ..forwarded()
        };
        let inspected = Event {
            inspected: true,
            credential: Some("authorization".into()),
            method: Some(http::Method::POST),
            ..forwarded()
        };
        let events = [forwarded(), refused, tunnel, inspected];
        let mut batch = b"{\"earlier\":1}\n".to_vec();
        let mut expected = batch.clone();
        // Twice: the first of each layout makes its template, the second is filled from it.
        for event in events.iter().chain(&events) {
            w.write(event, &mut batch);
            expected.extend_from_slice(event.to_ocsf(w.source()).as_bytes());
        }
        assert_eq!(
            String::from_utf8(batch).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        assert_eq!(templates(&w), events.len(), "every layout has a template");
    }

    #[test]
    fn findings_and_methods_of_their_own_are_written_in_full() {
        let w = EventWriter::new(source());
        let with_findings = Event {
            dlp: vec![crate::body::Found {
                rule: "aws-key".into(),
                classification: "secret".into(),
                count: 2,
                action: cordon_dlp::action::Action::Alert,
            }],
            ..forwarded()
        };
        let own_method = Event {
            method: Some(http::Method::from_bytes(b"PURGE").unwrap()),
            ..forwarded()
        };
        for event in [&with_findings, &own_method] {
            let mut out = Vec::new();
            w.write(event, &mut out);
            assert_eq!(out, event.to_ocsf(w.source()).as_bytes());
        }
        assert_eq!(templates(&w), 0);
    }

    /// Text as an agent can shape it: escapes, non-ASCII, the markers' own control characters.
    fn text() -> impl Strategy<Value = String> {
        "[a-z\"\\\\\u{1}\n/é🦀 :.-]{0,24}"
    }

    fn event() -> impl Strategy<Value = Event> {
        let text = || proptest::option::of(text());
        (
            (any::<i64>(), any::<u64>(), any::<u64>(), any::<u64>()),
            (0..METHODS.len(), any::<bool>(), any::<bool>()),
            (text(), text(), text(), text(), text(), text()),
            (
                proptest::option::of(any::<u16>()),
                proptest::option::of(any::<u16>()),
                proptest::option::of(any::<(bool, [u8; 4], [u16; 8], u16)>()),
            ),
            (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        )
            .prop_map(|(numbers, flags, texts, ports, presence)| {
                let (time_ms, duration_ms, bytes_up, bytes_down) = numbers;
                let (method, allowed, inspected) = flags;
                let (host, path, detail, credential, server_name, rule) = texts;
                let (port, status, address) = ports;
                let (scheme, reason, request_headers, response_headers) = presence;
                let mut headers = http::HeaderMap::new();
                headers.insert("x-value", "a \"b\" \\ c".parse().unwrap());
                Event {
                    time_ms,
                    client: if reason {
                        Peer::tcp(SocketAddr::from(([10, 0, 0, 1], 4000)))
                    } else {
                        Peer::unix()
                    },
                    method: METHODS.get(method).cloned(),
                    scheme: scheme.then_some(Cow::Borrowed("https")),
                    host,
                    port,
                    path,
                    address: address.map(|(v4, octets, segments, port)| {
                        if v4 {
                            SocketAddr::from((octets, port))
                        } else {
                            SocketAddr::from((segments, port))
                        }
                    }),
                    inspected,
                    credential,
                    server_name,
                    decision: if allowed { "allow" } else { "deny" },
                    reason: if reason { "granted" } else { "dlp_blocked" },
                    rule: rule.map(Arc::from),
                    detail,
                    status,
                    bytes_up,
                    bytes_down,
                    duration_ms,
                    request_headers: request_headers.then(|| redacted(&headers)).flatten(),
                    response_headers: response_headers
                        .then(|| redacted(&http::HeaderMap::new()))
                        .flatten(),
                    dlp: Vec::new(),
                }
            })
    }

    proptest! {
        /// Whatever an event holds, a writer that has met its layout before (or has just made
        /// its template from it) writes the bytes the OCSF writer does.
        #[test]
        fn any_event_is_written_as_the_ocsf_writer_writes_it(
            events in proptest::collection::vec(event(), 1..12),
        ) {
            let w = EventWriter::new(source());
            for event in events.iter().chain(&events) {
                let mut out = b"prefix".to_vec();
                w.write(event, &mut out);
                let mut expected = b"prefix".to_vec();
                expected.extend_from_slice(event.to_ocsf(w.source()).as_bytes());
                prop_assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(expected).unwrap());
            }
            // And every layout met was written from a template.
            let met = w.layouts.lock().unwrap().len();
            prop_assert_eq!(templates(&w), met);
        }
    }
}
