//! Events as SIEM sinks receive them: syslog (RFC 5424, framed by octet counting as RFC 6587
//! and RFC 5425 require), Splunk HTTP Event Collector, OTLP/HTTP JSON logs, and a webhook body
//! with its HMAC signature. Pure: the shipper in the CLI does the sending.

use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::ecs::timestamp;
use crate::ocsf::Class;

/// The IANA private enterprise number in cordon's structured-data ID. 32473 is the number
/// RFC 5612 reserves for documentation: an operator who needs a registered one sets it per sink.
pub const DEFAULT_PEN: u32 = 32473;

/// A record read from the log, as the wire formats need it.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    /// Its sequence number in the chain.
    pub seq: u64,
    /// The OCSF event.
    pub event: &'a Value,
}

fn get<'a>(e: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(e, |v, k| v.get(k))
}

fn text<'a>(e: &'a Value, path: &str) -> &'a str {
    get(e, path).and_then(Value::as_str).unwrap_or_default()
}

/// The syslog severity (RFC 5424) of an OCSF `severity_id`: informational events are 6
/// (informational), low 5 (notice), medium 4 (warning: denials), high 3 (error), critical and
/// fatal 2 (critical).
pub fn syslog_severity(severity_id: u64) -> u8 {
    match severity_id {
        0 | 1 => 6,
        2 => 5,
        3 => 4,
        4 => 3,
        _ => 2,
    }
}

/// A header field of RFC 5424: printable US-ASCII only (others become `_`), at most `max`
/// characters, `-` when empty.
fn header(value: &str, max: usize) -> String {
    let clean: String = value
        .chars()
        .map(|c| if ('!'..='~').contains(&c) { c } else { '_' })
        .take(max)
        .collect();
    if clean.is_empty() { "-".into() } else { clean }
}

/// A structured-data parameter value, with `"`, `\` and `]` escaped.
fn param(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The syslog MSGID of an OCSF class: its short name.
fn msgid(class: u64) -> &'static str {
    Class::of_uid(class).map_or("event", Class::short_name)
}

/// Syslog settings of a sink.
#[derive(Debug, Clone)]
pub struct Syslog {
    /// The facility (0–23); 10 (authpriv) by default: security messages, kept out of the
    /// general log by stock configurations.
    pub facility: u8,
    /// APP-NAME.
    pub app: String,
    /// HOSTNAME when the event names none.
    pub host: String,
    /// The private enterprise number of the structured-data ID.
    pub pen: u32,
}

impl Syslog {
    /// One RFC 5424 message, framed with its length (`MSG-LEN SP SYSLOG-MSG`): header fields
    /// from the event, cordon's fields as structured data, the OCSF JSON as a UTF-8 message
    /// (with the BOM RFC 5424 asks for).
    pub fn frame(&self, item: Item<'_>) -> Vec<u8> {
        let e = item.event;
        let severity = syslog_severity(get(e, "severity_id").and_then(Value::as_u64).unwrap_or(1));
        let pri = u16::from(self.facility.min(23)) * 8 + u16::from(severity);
        let time = get(e, "time").and_then(Value::as_i64).unwrap_or_default();
        let host = match text(e, "device.hostname") {
            "" => self.host.as_str(),
            h => h,
        };
        let procid = text(e, "metadata.correlation_uid");
        let c = |k: &str| param(text(e, &format!("unmapped.cordon.{k}")));
        let sd = format!(
            "[cordon@{} seq=\"{}\" class_uid=\"{}\" decision=\"{}\" reason=\"{}\" agent=\"{}\" component=\"{}\"]",
            self.pen,
            item.seq,
            get(e, "class_uid")
                .and_then(Value::as_u64)
                .unwrap_or_default(),
            c("decision"),
            c("reason"),
            c("agent"),
            c("component"),
        );
        let mut msg = format!(
            "<{pri}>1 {} {} {} {} {} {sd} ",
            timestamp(time),
            header(host, 255),
            header(&self.app, 48),
            header(procid, 128),
            msgid(
                get(e, "class_uid")
                    .and_then(Value::as_u64)
                    .unwrap_or_default()
            ),
        )
        .into_bytes();
        msg.extend_from_slice(b"\xEF\xBB\xBF");
        msg.extend_from_slice(e.to_string().as_bytes());
        let mut frame = format!("{} ", msg.len()).into_bytes();
        frame.extend_from_slice(&msg);
        frame
    }
}

/// Splunk HTTP Event Collector settings of a sink.
#[derive(Debug, Clone, Default)]
pub struct Hec {
    /// `sourcetype` (default `ocsf:cordon`).
    pub sourcetype: Option<String>,
    /// `index`, when the token's default is not wanted.
    pub index: Option<String>,
}

impl Hec {
    /// The body of one request to `/services/collector/event`: one JSON object per event,
    /// back to back (HEC batches are concatenated objects, not an array).
    pub fn body(&self, items: &[Item<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        for item in items {
            let e = item.event;
            let ms = get(e, "time").and_then(Value::as_i64).unwrap_or_default();
            let mut o = json!({
                "time": format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000)).parse::<f64>().unwrap_or_default(),
                "host": text(e, "device.hostname"),
                "source": "cordon",
                "sourcetype": self.sourcetype.as_deref().unwrap_or("ocsf:cordon"),
                "event": e,
                "fields": {"seq": item.seq, "class_uid": get(e, "class_uid").cloned().unwrap_or(Value::Null)},
            });
            if let (Some(index), Some(m)) = (&self.index, o.as_object_mut()) {
                m.insert("index".into(), index.as_str().into());
            }
            out.extend_from_slice(o.to_string().as_bytes());
            out.push(b'\n');
        }
        out
    }
}

/// An OTLP `AnyValue` (JSON encoding) of a JSON value: objects become `kvlistValue`, arrays
/// `arrayValue`, integers `intValue` as decimal strings (64-bit integers are strings in OTLP
/// JSON), other numbers `doubleValue`.
pub fn any_value(v: &Value) -> Value {
    match v {
        Value::Null => json!({}),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => json!({ "intValue": i.to_string() }),
            (None, Some(u)) => json!({ "intValue": u.to_string() }),
            _ => json!({ "doubleValue": n.as_f64().unwrap_or_default() }),
        },
        Value::String(s) => json!({ "stringValue": s }),
        Value::Array(items) => {
            json!({ "arrayValue": { "values": items.iter().map(any_value).collect::<Vec<_>>() } })
        }
        Value::Object(m) => json!({ "kvlistValue": { "values": key_values(m) } }),
    }
}

fn key_values(m: &Map<String, Value>) -> Vec<Value> {
    m.iter()
        .map(|(k, v)| json!({ "key": k, "value": any_value(v) }))
        .collect()
}

/// The OTLP severity number (1–24) of an OCSF `severity_id`: INFO 9, INFO2 10 (low), WARN 13
/// (medium), ERROR 17 (high), FATAL 21 (critical, fatal).
pub fn otlp_severity(severity_id: u64) -> (u8, &'static str) {
    match severity_id {
        0 | 1 => (9, "INFO"),
        2 => (10, "INFO2"),
        3 => (13, "WARN"),
        4 => (17, "ERROR"),
        _ => (21, "FATAL"),
    }
}

/// The body of one OTLP/HTTP JSON request to `/v1/logs`: an `ExportLogsServiceRequest` with one
/// resource (`service.name` cordon, `host.name`), one scope, and a log record per event whose
/// body is the OCSF event as a key-value list.
pub fn otlp_body(items: &[Item<'_>], host: &str, version: &str, observed_ns: u128) -> Vec<u8> {
    let records: Vec<Value> = items
        .iter()
        .map(|item| {
            let e = item.event;
            let ms = get(e, "time").and_then(Value::as_i64).unwrap_or_default();
            let ns = i128::from(ms).saturating_mul(1_000_000).max(0);
            let (number, name) =
                otlp_severity(get(e, "severity_id").and_then(Value::as_u64).unwrap_or(1));
            let attr = |k: &str, v: Value| json!({ "key": k, "value": any_value(&v) });
            let mut attributes = vec![
                attr("cordon.seq", item.seq.into()),
                attr(
                    "ocsf.class_uid",
                    get(e, "class_uid").cloned().unwrap_or(Value::Null),
                ),
                // Not the record's `eventName`: collectors built on protos before 1.5 refuse it.
                attr("ocsf.type_name", text(e, "type_name").into()),
            ];
            for k in ["decision", "reason", "agent", "component"] {
                if let Some(v) = get(e, &format!("unmapped.cordon.{k}")) {
                    attributes.push(attr(&format!("cordon.{k}"), v.clone()));
                }
            }
            json!({
                "timeUnixNano": ns.to_string(),
                "observedTimeUnixNano": observed_ns.to_string(),
                "severityNumber": number,
                "severityText": name,
                "body": any_value(e),
                "attributes": attributes,
            })
        })
        .collect();
    json!({
        "resourceLogs": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "cordon"}},
                {"key": "service.version", "value": {"stringValue": version}},
                {"key": "host.name", "value": {"stringValue": host}},
            ]},
            "scopeLogs": [{
                "scope": {"name": "cordon.audit", "version": version},
                "logRecords": records,
            }],
        }]
    })
    .to_string()
    .into_bytes()
}

/// The body of a webhook delivery: `{"events": [...]}` with each event's sequence number.
pub fn webhook_body(items: &[Item<'_>]) -> Vec<u8> {
    let events: Vec<Value> = items
        .iter()
        .map(|i| json!({"seq": i.seq, "event": i.event}))
        .collect();
    json!({ "events": events }).to_string().into_bytes()
}

/// The Standard Webhooks signature of a delivery: `v1,` and the base64 of HMAC-SHA256 over
/// `{id}.{timestamp}.{body}` with the shared secret. The receiver recomputes it and rejects
/// a timestamp too far from its clock, so a captured delivery cannot be replayed later.
pub fn webhook_signature(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", base64(&mac.finalize().into_bytes()))
}

/// Standard padded base64.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |i: u32| {
        char::from(
            A.get(usize::try_from(i & 63).unwrap_or(0))
                .copied()
                .unwrap_or(b'A'),
        )
    };
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Value {
        json!({"class_uid": 4002, "severity_id": 3, "time": 1_795_670_137_448i64,
               "type_name": "HTTP Activity: Get",
               "device": {"hostname": "ws 17"}, "metadata": {"correlation_uid": "run-1"},
               "unmapped": {"cordon": {"decision": "deny", "reason": "no\"_]grant", "agent": "coder", "component": "proxy"}}})
    }

    #[test]
    fn syslog_frames_are_octet_counted_rfc5424() {
        let e = event();
        let s = Syslog {
            facility: 10,
            app: "cordon".into(),
            host: "fallback".into(),
            pen: DEFAULT_PEN,
        };
        let frame = s.frame(Item { seq: 7, event: &e });
        let text = String::from_utf8(frame.clone()).unwrap();
        let (len, msg) = text.split_once(' ').unwrap();
        assert_eq!(
            len.parse::<usize>().unwrap(),
            msg.len(),
            "MSG-LEN counts octets"
        );
        // authpriv (10) * 8 + warning (4) = 84; the space in the host name is not allowed.
        assert!(msg.starts_with("<84>1 2026-11-26T05:15:37.448Z ws_17 cordon run-1 http [cordon@32473 seq=\"7\" class_uid=\"4002\" decision=\"deny\" reason=\"no\\\"_\\]grant\" agent=\"coder\" component=\"proxy\"] \u{feff}{"), "{msg}");
        let json_part = msg.split_once('\u{feff}').unwrap().1;
        assert_eq!(serde_json::from_str::<Value>(json_part).unwrap(), e);
    }

    #[test]
    fn hec_batches_are_concatenated_objects() {
        let e = event();
        let body = Hec::default().body(&[Item { seq: 1, event: &e }, Item { seq: 2, event: &e }]);
        let objects: Vec<Value> = serde_json::Deserializer::from_slice(&body)
            .into_iter::<Value>()
            .map(Result::unwrap)
            .collect();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0]["time"], 1_795_670_137.448);
        assert_eq!(objects[0]["sourcetype"], "ocsf:cordon");
        assert_eq!(objects[1]["fields"]["seq"], 2);
        assert_eq!(objects[1]["event"], e);
    }

    #[test]
    fn otlp_json_follows_the_protobuf_json_mapping() {
        let e = event();
        let body: Value = serde_json::from_slice(&otlp_body(
            &[Item { seq: 3, event: &e }],
            "ws-17",
            "0.1.0",
            5,
        ))
        .unwrap();
        let r = &body["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
        assert_eq!(r["timeUnixNano"], "1795670137448000000");
        assert_eq!(r["observedTimeUnixNano"], "5");
        assert_eq!(r["severityNumber"], 13);
        let kv = &r["body"]["kvlistValue"]["values"];
        let class = kv
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key"] == "class_uid")
            .unwrap();
        assert_eq!(class["value"]["intValue"], "4002");
    }

    #[test]
    fn webhook_signatures_match_an_independent_hmac() {
        // Computed with Python's `hmac` over `{id}.{timestamp}.{body}`.
        let sig = webhook_signature(
            b"0123456789abcdef0123456789abcdef",
            "msg_01",
            1_700_000_000,
            br#"{"id":"evt_1","type":"audit.login_failed"}"#,
        );
        assert_eq!(sig, "v1,SHI7dO/wodNfFoWcsFe4rMbPBbhU919DKiYLaCdXUvk=");
        assert_eq!(base64(b"any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw==");
        assert_eq!(base64(b"any carnal pleasu"), "YW55IGNhcm5hbCBwbGVhc3U=");
    }
}
