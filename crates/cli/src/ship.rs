//! `cordon audit ship`: deliver the audit trail to the sinks the configuration names (SPEC A-3).
//!
//! Each sink has its own thread, its own durable cursor (`<log>/cursors/<name>.json`: the
//! segment and offset after the last record it has delivered) and its own backoff, so one sink
//! that is down never holds up another. Delivery is at least once: a batch is read from the
//! cursor, sent, and the cursor moves only once the sink has it — an HTTP sink when it answers
//! 2xx; syslog, which has no acknowledgement, once the connection is still open after the batch
//! (checked before the next batch, or after a quiet moment), so that a receiver that went away
//! gets the batch again on the next connection. Duplicates are bounded by one batch. The backlog
//! is the log itself, on disk and bounded by its retention: a cursor whose segment retention has
//! removed continues at the oldest one left and says how much it missed.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_audit::ecs;
use cordon_audit::store;
use cordon_audit::wire::{self, Item};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{Value, json};

use crate::config::{Secret, Sink, Tls};
use crate::fail::Fail;
use crate::trail;

/// Events per delivery unless the sink says otherwise.
const DEFAULT_BATCH: usize = 500;
/// Bytes of events per delivery at most.
const MAX_BATCH_BYTES: usize = 4 << 20;
/// How often an idle sink looks for new records.
const POLL: Duration = Duration::from_millis(200);
/// The first wait after a failure, and the longest.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a connection or an answer may take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) use cordon_audit::store::Position;

/// A sink's cursor file.
pub(crate) fn cursor_path(log: &Path, name: &str) -> PathBuf {
    log.join("cursors").join(format!("{name}.json"))
}

pub(crate) fn load_cursor(path: &Path) -> Result<Position, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Position::default()),
        Err(e) => return Err(format!("`{}`: {e}", path.display())),
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("`{}`: {e}", path.display()))?;
    let segment = v.get("segment").and_then(Value::as_u64);
    let offset = v.get("offset").and_then(Value::as_u64);
    match (segment.and_then(|s| u32::try_from(s).ok()), offset) {
        (Some(segment), Some(offset)) => Ok(Position { segment, offset }),
        _ => Err(format!("`{}`: not a cursor", path.display())),
    }
}

/// Write the cursor whole and durably (a crash leaves the old one or the new one).
pub(crate) fn save_cursor(path: &Path, at: Position, seq: Option<u64>) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("`{}`: {e}", dir.display()))?;
    let tmp = path.with_extension("json.tmp");
    let text = json!({"segment": at.segment, "offset": at.offset, "seq": seq}).to_string();
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| format!("`{}`: {e}", path.display()))
}

/// Records read from a position on.
pub(crate) struct Batch {
    /// (sequence number, event) of each event.
    pub events: Vec<(u64, Value)>,
    /// The position after the last record read (events or not).
    pub end: Position,
    /// Records a removed segment held that this sink never delivered (0 normally).
    pub missed_segments: u32,
}

/// Read up to `max` events from `from`; records that are not events (checkpoints, retention)
/// are passed over.
pub(crate) fn read_batch(log: &Path, from: Position, max: usize) -> Result<Batch, String> {
    let mut events = Vec::new();
    let mut bytes = 0usize;
    let reading = store::read_records(log, from, |line| -> Result<bool, store::StoreError> {
        bytes += line.len() + 1;
        if let Ok(record) = serde_json::from_str::<Value>(line) {
            let seq = record
                .get("seq")
                .and_then(Value::as_u64)
                .unwrap_or_default();
            if let Some(event) = record.get("event")
                && event.get("class_uid").is_some()
            {
                events.push((seq, event.clone()));
            }
        }
        Ok(events.len() < max && bytes < MAX_BATCH_BYTES)
    })
    .map_err(|e| e.to_string())?;
    Ok(Batch {
        events,
        end: reading.end,
        missed_segments: reading.missed_segments,
    })
}

/// Why a delivery failed, and how long the sink asked to be left alone.
#[derive(Debug)]
struct Failed {
    why: String,
    retry_after: Option<Duration>,
}

impl Failed {
    fn new(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            retry_after: None,
        }
    }
}

/// How a sink receives events.
trait Transport: Send {
    /// Deliver `items`. `Ok` means the sink has them — or, for a transport without
    /// acknowledgements, that they were written (see [`Transport::acknowledges`]).
    fn send(&mut self, items: &[Item<'_>]) -> Result<(), Failed>;
    /// Whether `send` returning `Ok` means the sink has the events.
    fn acknowledges(&self) -> bool {
        true
    }
    /// For a transport without acknowledgements: whether what was written is still on its
    /// way (the connection is open). Dropping a dead connection is part of the answer.
    fn check(&mut self) -> Result<(), Failed> {
        Ok(())
    }
}

/// A byte stream to a sink: TCP, or TLS over TCP.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn connect(address: &str, tls: Option<&TlsClient>) -> Result<Self, Failed> {
        let addrs: Vec<_> = address
            .to_socket_addrs()
            .map_err(|e| Failed::new(format!("`{address}`: {e}")))?
            .collect();
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, IO_TIMEOUT) {
                Ok(sock) => {
                    let _ = sock.set_read_timeout(Some(IO_TIMEOUT));
                    let _ = sock.set_write_timeout(Some(IO_TIMEOUT));
                    let _ = sock.set_nodelay(true);
                    return match tls {
                        None => Ok(Self::Plain(sock)),
                        Some(t) => {
                            let conn = rustls::ClientConnection::new(
                                Arc::clone(&t.config),
                                t.server_name.clone(),
                            )
                            .map_err(|e| Failed::new(format!("TLS: {e}")))?;
                            let mut s = rustls::StreamOwned::new(conn, sock);
                            // Complete the handshake now, so a certificate problem is named.
                            while s.conn.is_handshaking() {
                                s.conn.complete_io(&mut s.sock).map_err(|e| {
                                    Failed::new(format!("TLS handshake with `{address}`: {e}"))
                                })?;
                            }
                            Ok(Self::Tls(Box::new(s)))
                        }
                    };
                }
                Err(e) => last = Some(e),
            }
        }
        Err(Failed::new(match last {
            Some(e) => format!("cannot connect to `{address}`: {e}"),
            None => format!("`{address}` resolves to no address"),
        }))
    }

    fn socket(&self) -> &TcpStream {
        match self {
            Self::Plain(s) => s,
            Self::Tls(s) => &s.sock,
        }
    }

    /// Whether the peer has closed or reset the connection, looking without waiting.
    fn closed(&mut self) -> bool {
        if self.socket().set_nonblocking(true).is_err() {
            return true;
        }
        let closed = match self {
            Self::Plain(s) => {
                let mut b = [0u8; 1];
                match s.peek(&mut b) {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                }
            }
            Self::Tls(s) => {
                // Whatever the server sent (session tickets, an alert, a close) goes through
                // TLS; bounded, as a peer could keep sending.
                let mut closed = false;
                for _ in 0..16 {
                    match s.conn.read_tls(&mut s.sock) {
                        Ok(0) => {
                            closed = true;
                            break;
                        }
                        Ok(_) => {
                            if s.conn.process_new_packets().is_err() {
                                closed = true;
                                break;
                            }
                            let mut sink = [0u8; 512];
                            match s.conn.reader().read(&mut sink) {
                                Ok(0) => {
                                    closed = true;
                                    break;
                                }
                                Ok(_) => {}
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                                Err(_) => {
                                    closed = true;
                                    break;
                                }
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            closed = true;
                            break;
                        }
                    }
                }
                closed
            }
        };
        closed || self.socket().set_nonblocking(false).is_err()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            // A server that closes without `close_notify` has still closed.
            Self::Tls(s) => match s.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

/// A TLS client configuration and the name to verify the server for.
#[derive(Clone)]
struct TlsClient {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
}

fn tls_client(tls: &Tls, host: &str, alpn: &[&[u8]]) -> Result<TlsClient, String> {
    let pem = |path: &str| std::fs::read(path).map_err(|e| format!("`{path}`: {e}"));
    let mut roots = Vec::new();
    if let Some(ca) = &tls.ca {
        roots = CertificateDer::pem_slice_iter(&pem(ca)?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("`{ca}`: not PEM certificates: {e}"))?;
    }
    let identity = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => Some((
            CertificateDer::pem_slice_iter(&pem(cert)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("`{cert}`: not PEM certificates: {e}"))?,
            PrivateKeyDer::from_pem_slice(&pem(key)?)
                .map_err(|e| format!("`{key}`: not a PEM private key: {e}"))?,
        )),
        (None, None) => None,
        _ => return Err("`tls.cert` and `tls.key` go together".into()),
    };
    let config =
        cordon_proxy::inspect::tls_client(roots, identity, alpn).map_err(|e| e.to_string())?;
    let name = tls.server_name.as_deref().unwrap_or(host).to_owned();
    let server_name =
        ServerName::try_from(name.clone()).map_err(|_| format!("`{name}` is not a server name"))?;
    Ok(TlsClient {
        config,
        server_name,
    })
}

/// Syslog over TCP or TLS.
struct SyslogSink {
    address: String,
    tls: Option<TlsClient>,
    format: wire::Syslog,
    stream: Option<Stream>,
}

impl Transport for SyslogSink {
    fn send(&mut self, items: &[Item<'_>]) -> Result<(), Failed> {
        let mut bytes = Vec::new();
        for item in items {
            bytes.extend(self.format.frame(*item));
        }
        if self.stream.is_none() {
            self.stream = Some(Stream::connect(&self.address, self.tls.as_ref())?);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failed::new("no connection"));
        };
        let written = stream.write_all(&bytes).and_then(|()| stream.flush());
        if let Err(e) = written {
            self.stream = None;
            return Err(Failed::new(format!("`{}`: {e}", self.address)));
        }
        Ok(())
    }

    fn acknowledges(&self) -> bool {
        false
    }

    fn check(&mut self) -> Result<(), Failed> {
        let open = self.stream.as_mut().is_some_and(|s| !s.closed());
        if open {
            return Ok(());
        }
        self.stream = None;
        Err(Failed::new(format!(
            "`{}` closed the connection",
            self.address
        )))
    }
}

/// An HTTP sink: HEC, OTLP or a webhook.
struct HttpSink {
    url: url::Url,
    address: String,
    tls: Option<TlsClient>,
    kind: HttpKind,
    headers: Vec<(String, String)>,
    stream: Option<Stream>,
}

enum HttpKind {
    Hec(wire::Hec),
    Otlp,
    Webhook(Vec<u8>),
}

impl HttpSink {
    fn new(
        url: &str,
        tls: Option<&Tls>,
        kind: HttpKind,
        headers: Vec<(String, String)>,
    ) -> Result<Self, String> {
        let url = url::Url::parse(url).map_err(|e| format!("`url` `{url}`: {e}"))?;
        let host = url
            .host_str()
            .ok_or_else(|| format!("`url` `{url}` has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let tls = match url.scheme() {
            "https" => Some(tls_client(
                tls.unwrap_or(&Tls::default()),
                &host,
                &[b"http/1.1"],
            )?),
            "http" if tls.is_none() => None,
            "http" => return Err("`tls` is set but the `url` is `http`".into()),
            other => return Err(format!("`url`: `{other}` is not http or https")),
        };
        let address = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Self {
            url,
            address,
            tls,
            kind,
            headers,
            stream: None,
        })
    }

    fn post(&mut self, body: &[u8], extra: &[(String, String)]) -> Result<(), Failed> {
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: cordon/{}\r\n",
            &self.url[url::Position::BeforePath..url::Position::AfterQuery],
            &self.url[url::Position::BeforeHost..url::Position::AfterPort],
            body.len(),
            trail::VERSION,
        );
        for (k, v) in self.headers.iter().chain(extra) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if self.stream.is_none() {
            self.stream = Some(Stream::connect(&self.address, self.tls.as_ref())?);
        }
        let result = self.exchange(head.as_bytes(), body);
        if result.is_err() {
            self.stream = None;
        }
        let (status, retry_after, text, close) = result?;
        if close {
            self.stream = None;
        }
        if (200..300).contains(&status) {
            return Ok(());
        }
        let text: String = text.chars().take(300).collect();
        Err(Failed {
            why: format!("{} answered {status}: {text}", self.url),
            retry_after,
        })
    }

    /// Write a request, read the answer: status, `Retry-After`, body text, whether the server
    /// closes the connection.
    fn exchange(
        &mut self,
        head: &[u8],
        body: &[u8],
    ) -> Result<(u16, Option<Duration>, String, bool), Failed> {
        let url = self.url.to_string();
        let io = |e: std::io::Error| Failed::new(format!("{url}: {e}"));
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failed::new("no connection"));
        };
        stream.write_all(head).map_err(io)?;
        stream.write_all(body).map_err(io)?;
        stream.flush().map_err(io)?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let (status, retry_after, body_at, length, chunked, close) = loop {
            let n = stream.read(&mut chunk).map_err(io)?;
            if n == 0 {
                return Err(Failed::new(format!(
                    "{url}: the connection closed before an answer"
                )));
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&buf) {
                Ok(httparse::Status::Complete(at)) => {
                    let header = |name: &str| {
                        resp.headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case(name))
                            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
                    };
                    let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
                    let chunked =
                        header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
                    let close = header("connection").is_some_and(|v| v == "close");
                    let retry = header("retry-after")
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    break (resp.code.unwrap_or(0), retry, at, length, chunked, close);
                }
                Ok(httparse::Status::Partial) if buf.len() < 64 << 10 => {}
                Ok(httparse::Status::Partial) => {
                    return Err(Failed::new(format!("{url}: an answer head over 64 KiB")));
                }
                Err(e) => return Err(Failed::new(format!("{url}: not an HTTP answer: {e}"))),
            }
        };
        let mut rest = buf.split_off(body_at);
        const MAX_BODY: usize = 1 << 20;
        let text = if chunked {
            // Read until the last chunk; the body is for messages only.
            while !rest.windows(5).any(|w| w == b"0\r\n\r\n") && rest.len() < MAX_BODY {
                let n = stream.read(&mut chunk).map_err(io)?;
                if n == 0 {
                    break;
                }
                rest.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
            String::from_utf8_lossy(&rest).into_owned()
        } else if let Some(len) = length {
            let len = len.min(MAX_BODY);
            while rest.len() < len {
                let n = stream.read(&mut chunk).map_err(io)?;
                if n == 0 {
                    break;
                }
                rest.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
            String::from_utf8_lossy(&rest).into_owned()
        } else {
            // No length: the body ends with the connection.
            while rest.len() < MAX_BODY {
                let n = stream.read(&mut chunk).map_err(io)?;
                if n == 0 {
                    break;
                }
                rest.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
            return Ok((
                status,
                retry_after,
                String::from_utf8_lossy(&rest).into_owned(),
                true,
            ));
        };
        Ok((status, retry_after, text, close))
    }
}

impl Transport for HttpSink {
    fn send(&mut self, items: &[Item<'_>]) -> Result<(), Failed> {
        match &self.kind {
            HttpKind::Hec(hec) => {
                let body = hec.body(items);
                self.post(&body, &[])
            }
            HttpKind::Otlp => {
                let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
                let host = trail::host_name();
                let body = wire::otlp_body(
                    items,
                    &host,
                    trail::VERSION,
                    u128::try_from(now).unwrap_or(0),
                );
                self.post(&body, &[])
            }
            HttpKind::Webhook(secret) => {
                let body = wire::webhook_body(items);
                let first = items.first().map(|i| i.seq).unwrap_or_default();
                let last = items.last().map(|i| i.seq).unwrap_or_default();
                // The same records always get the same id: a receiver drops a redelivery.
                let id = format!("cordon_{first}_{last}");
                let ts = time::OffsetDateTime::now_utc().unix_timestamp();
                let sig = wire::webhook_signature(secret, &id, ts, &body);
                let extra = [
                    ("webhook-id".to_owned(), id),
                    ("webhook-timestamp".to_owned(), ts.to_string()),
                    ("webhook-signature".to_owned(), sig),
                ];
                self.post(&body, &extra)
            }
        }
    }
}

/// JSON lines appended to a file.
struct FileSink {
    path: String,
    ecs: bool,
}

impl Transport for FileSink {
    fn send(&mut self, items: &[Item<'_>]) -> Result<(), Failed> {
        let mut text = String::new();
        for item in items {
            let doc = if self.ecs {
                ecs::to_ecs(item.event)
            } else {
                item.event.clone()
            };
            text.push_str(&doc.to_string());
            text.push('\n');
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| Failed::new(format!("`{}`: {e}", self.path)))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| Failed::new(format!("`{}`: {e}", self.path)))
    }
}

/// A secret a sink cannot run without: from the environment or a file, never inline.
fn required_secret(sink: &Sink, field: &str, value: Option<&Secret>) -> Result<String, String> {
    match value {
        None => Err(format!("`{field}` is required for a `{}` sink", sink.kind)),
        Some(Secret::Plain(_)) => Err(format!(
            "`{field}` must not be written in the configuration: use {{\"env\": \"NAME\"}} or {{\"file\": \"/path\"}}"
        )),
        Some(s) => s.read().map_err(|e| format!("`{field}`: {e}")),
    }
}

/// The transport of a configured sink, or what is wrong with its configuration.
fn transport(sink: &Sink) -> Result<Box<dyn Transport>, String> {
    let need = |field: &str, v: &Option<String>| {
        v.clone()
            .ok_or_else(|| format!("`{field}` is required for a `{}` sink", sink.kind))
    };
    let headers = || -> Result<Vec<(String, String)>, String> {
        sink.headers
            .iter()
            .map(|(k, v)| {
                let value = v.read().map_err(|e| format!("`headers.{k}`: {e}"))?;
                if k.contains(['\r', '\n', ':']) || value.contains(['\r', '\n']) {
                    return Err(format!(
                        "`headers.{k}`: a header name or value with a line break or colon"
                    ));
                }
                Ok((k.clone(), value))
            })
            .collect()
    };
    match sink.kind.as_str() {
        "file" => {
            let ecs = match sink.format.as_deref() {
                None | Some("ocsf") => false,
                Some("ecs") => true,
                Some(other) => return Err(format!("`format` `{other}`: use ocsf or ecs")),
            };
            Ok(Box::new(FileSink {
                path: need("path", &sink.path)?,
                ecs,
            }))
        }
        "syslog" => {
            let address = need("address", &sink.address)?;
            let host = address
                .rsplit_once(':')
                .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']').to_owned())
                .ok_or_else(|| format!("`address` `{address}`: write `host:port`"))?;
            let facility = sink.facility.unwrap_or(10);
            if facility > 23 {
                return Err(format!("`facility` {facility}: syslog facilities are 0–23"));
            }
            let tls = sink
                .tls
                .as_ref()
                .map(|t| tls_client(t, &host, &[]))
                .transpose()?;
            Ok(Box::new(SyslogSink {
                address,
                tls,
                format: wire::Syslog {
                    facility,
                    app: sink.app_name.clone().unwrap_or_else(|| "cordon".into()),
                    host: trail::host_name(),
                    pen: sink.enterprise_number.unwrap_or(wire::DEFAULT_PEN),
                },
                stream: None,
            }))
        }
        "hec" => {
            let token = required_secret(sink, "token", sink.token.as_ref())?;
            let mut h = headers()?;
            h.push(("Authorization".into(), format!("Splunk {token}")));
            let hec = wire::Hec {
                sourcetype: sink.sourcetype.clone(),
                index: sink.index.clone(),
            };
            Ok(Box::new(HttpSink::new(
                &need("url", &sink.url)?,
                sink.tls.as_ref(),
                HttpKind::Hec(hec),
                h,
            )?))
        }
        "otlp" => Ok(Box::new(HttpSink::new(
            &need("url", &sink.url)?,
            sink.tls.as_ref(),
            HttpKind::Otlp,
            headers()?,
        )?)),
        "webhook" => {
            let secret = required_secret(sink, "secret", sink.secret.as_ref())?;
            Ok(Box::new(HttpSink::new(
                &need("url", &sink.url)?,
                sink.tls.as_ref(),
                HttpKind::Webhook(secret.into_bytes()),
                headers()?,
            )?))
        }
        other => Err(format!(
            "`type` `{other}`: use file, syslog, hec, otlp or webhook"
        )),
    }
}

/// How a shipping run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver what the log holds now, then stop (an error if a sink cannot take it within
    /// the deadline).
    Once(Duration),
    /// Keep delivering until the process is stopped (the cursors are durable: a stop at any
    /// point loses nothing, and redelivers at most one batch per sink).
    Follow,
}

/// Deliver the log in `log` to every sink in `sinks` until `mode` says to stop. Each sink's
/// failures are printed as they change, with the sink's name; never a secret.
pub fn ship(log: &Path, sinks: &[Sink], mode: Mode) -> Result<(), Fail> {
    if sinks.is_empty() {
        return Err(Fail::input_msg(
            "no sinks: add `audit.sinks` to the configuration (see docs/audit.md)",
        ));
    }
    let mut names = std::collections::BTreeSet::new();
    let mut prepared = Vec::new();
    for sink in sinks {
        let bad =
            |why: String| Fail::input_msg(format!("configuration: sink `{}`: {why}", sink.name));
        if sink.name.is_empty()
            || !sink
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("a name is letters, digits, `-` and `_`".into()));
        }
        if !names.insert(sink.name.clone()) {
            return Err(bad("the name is used twice".into()));
        }
        prepared.push((sink.clone(), transport(sink).map_err(bad)?));
    }
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = prepared
            .into_iter()
            .map(|(sink, transport)| scope.spawn(move || run_sink(log, &sink, transport, mode)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("the sink's thread panicked".into()))
            })
            .collect()
    });
    let failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Fail::check_msg(failed.join("\n")))
    }
}

fn run_sink(
    log: &Path,
    sink: &Sink,
    mut transport: Box<dyn Transport>,
    mode: Mode,
) -> Result<(), String> {
    let name = &sink.name;
    let cursor = cursor_path(log, name);
    let started = Instant::now();
    let mut saved = load_cursor(&cursor)?;
    let mut read_at = saved;
    // A batch written to a transport without acknowledgements, not yet known to have arrived.
    let mut unconfirmed: Option<(Position, Option<u64>)> = None;
    let mut failures: u32 = 0;
    let mut last_error = String::new();
    let batch_max = sink.batch.unwrap_or(DEFAULT_BATCH).clamp(1, 10_000);
    let confirm = |transport: &mut Box<dyn Transport>,
                   unconfirmed: &mut Option<(Position, Option<u64>)>,
                   saved: &mut Position,
                   read_at: &mut Position|
     -> Result<(), Failed> {
        if let Some((at, seq)) = *unconfirmed {
            match transport.check() {
                Ok(()) => {
                    save_cursor(&cursor, at, seq).map_err(Failed::new)?;
                    *saved = at;
                    *unconfirmed = None;
                }
                Err(e) => {
                    // Not known to have arrived: deliver it again.
                    *read_at = *saved;
                    *unconfirmed = None;
                    return Err(e);
                }
            }
        }
        Ok(())
    };
    loop {
        let outcome = (|| -> Result<bool, Failed> {
            let batch = read_batch(log, read_at, batch_max).map_err(Failed::new)?;
            if batch.missed_segments > 0 {
                eprintln!(
                    "cordon audit ship: sink `{name}`: retention removed {} segment(s) it had not delivered; continuing with the oldest left",
                    batch.missed_segments
                );
            }
            if batch.events.is_empty() {
                if unconfirmed.is_some() {
                    // A quiet moment, then: is the connection the last batch went out on
                    // still open?
                    std::thread::sleep(POLL);
                    confirm(&mut transport, &mut unconfirmed, &mut saved, &mut read_at)?;
                }
                if batch.end != read_at && unconfirmed.is_none() {
                    // Only records that are not events: move past them.
                    save_cursor(&cursor, batch.end, None).map_err(Failed::new)?;
                    saved = batch.end;
                    read_at = batch.end;
                }
                return Ok(false);
            }
            // Before more goes out on a connection, the last batch must be known to be there.
            confirm(&mut transport, &mut unconfirmed, &mut saved, &mut read_at)?;
            let items: Vec<Item<'_>> = batch
                .events
                .iter()
                .map(|(seq, event)| Item { seq: *seq, event })
                .collect();
            transport.send(&items)?;
            let last_seq = items.last().map(|i| i.seq);
            read_at = batch.end;
            if transport.acknowledges() {
                save_cursor(&cursor, batch.end, last_seq).map_err(Failed::new)?;
                saved = batch.end;
            } else {
                unconfirmed = Some((batch.end, last_seq));
            }
            Ok(true)
        })();
        match outcome {
            Ok(sent) => {
                if failures > 0 {
                    eprintln!("cordon audit ship: sink `{name}`: delivering again");
                }
                failures = 0;
                last_error.clear();
                if sent {
                    continue;
                }
                // Caught up.
                if matches!(mode, Mode::Once(_)) && unconfirmed.is_none() {
                    return Ok(());
                }
                if unconfirmed.is_none() {
                    std::thread::sleep(POLL);
                }
            }
            Err(f) => {
                read_at = saved;
                unconfirmed = None;
                failures = failures.saturating_add(1);
                if f.why != last_error {
                    eprintln!("cordon audit ship: sink `{name}`: {} (retrying)", f.why);
                    last_error = f.why.clone();
                }
                if let Mode::Once(deadline) = mode
                    && started.elapsed() >= deadline
                {
                    return Err(format!("sink `{name}`: {}", f.why));
                }
                let exp = BACKOFF_MIN.saturating_mul(1u32 << failures.min(8));
                let wait = f.retry_after.unwrap_or(exp).min(BACKOFF_MAX);
                // Up to a quarter more, so that many shippers do not retry in step.
                let jitter = wait.mul_f64(f64::from(jitter_percent()) / 400.0);
                std::thread::sleep(wait + jitter);
            }
        }
    }
}

/// A pseudo-random 0–99 from the clock (jitter needs no more).
fn jitter_percent() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos % 100
}
