//! cordon's OCSF events as Elastic Common Schema documents (`cordon audit export --format ecs`).
//!
//! The ECS fields SIEMs key on come from the OCSF ones (`@timestamp` from `time`; `event.kind`,
//! `event.category`, `event.type` from the class and activity, each `event.type` one the ECS
//! reference expects for the category; `event.outcome` from `status_id`; `file.*`, `process.*`,
//! `url.*`, `http.*`, `source.*`, `destination.*`, `user.name`, `host.*`, `rule.*`), and cordon's
//! own fields are kept as the custom field set `cordon.*`.

use serde_json::{Map, Value, json};

/// The ECS version the documents follow.
pub const ECS_VERSION: &str = "9.4.0";

fn get<'a>(e: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(e, |v, k| v.get(k))
}

/// `@timestamp` for milliseconds since the epoch: RFC 3339, UTC, milliseconds (the number
/// itself for a time out of range).
pub fn timestamp(ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        Err(_) => ms.to_string(),
    }
}

/// `event.category`, `event.type` and `event.action` of an OCSF class and activity, with the
/// decision where ECS expects one (network, API, intrusion detection).
fn categorize(
    class: u64,
    activity: u64,
    decision: &str,
) -> (Vec<&'static str>, Vec<&'static str>, String) {
    let verdict = match decision {
        "deny" | "ask" => Some("denied"),
        "allow" | "redact" | "alert" => Some("allowed"),
        _ => None,
    };
    let (category, mut types, action): (Vec<&str>, Vec<&str>, &str) = match (class, activity) {
        (1001, 1) => (vec!["file"], vec!["creation"], "file-create"),
        (1001, 2) => (vec!["file"], vec!["access"], "file-read"),
        (1001, 3) => (vec!["file"], vec!["change"], "file-update"),
        (1001, 4) => (vec!["file"], vec!["deletion"], "file-delete"),
        (1001, _) => (vec!["file"], vec!["info"], "file-other"),
        (1007, 1) => (vec!["process"], vec!["start"], "process-launch"),
        (1007, 2) => (vec!["process"], vec!["end"], "process-terminate"),
        (1007, _) => (vec!["process"], vec!["info"], "process-other"),
        (2004, _) => (vec!["intrusion_detection"], vec!["info"], "detection"),
        (3003, _) => (vec!["iam"], vec!["change", "user"], "privileges-assigned"),
        (4001, 2) => (vec!["network"], vec!["connection", "end"], "tunnel-closed"),
        (4001, 5) => (vec!["network"], vec!["connection"], "tunnel-refused"),
        (4001, _) => (vec!["network"], vec!["connection"], "network-other"),
        (4002, _) => (vec!["network", "web"], vec!["access"], "http-request"),
        (6002, 3) => (vec!["process"], vec!["start"], "application-start"),
        (6002, 4) => (vec!["process"], vec!["end"], "application-stop"),
        (6002, _) => (vec!["configuration"], vec!["access"], "manifest-verify"),
        (6003, 1) => (vec!["api"], vec!["creation"], "api-create"),
        (6003, 2) => (vec!["api"], vec!["access"], "api-read"),
        (6003, 3) => (vec!["api"], vec!["change"], "api-update"),
        (6003, 4) => (vec!["api"], vec!["deletion"], "api-delete"),
        (6003, _) => (vec!["api"], vec!["info"], "api-call"),
        _ => (vec![], vec!["info"], "other"),
    };
    let decides = category
        .iter()
        .any(|c| matches!(*c, "network" | "api" | "intrusion_detection"));
    if let (true, Some(v)) = (decides, verdict) {
        types.push(v);
    }
    (category, types, action.to_owned())
}

/// The ECS document of an OCSF event.
pub fn to_ecs(e: &Value) -> Value {
    let n = |p: &str| get(e, p).and_then(Value::as_u64).unwrap_or_default();
    let s = |p: &str| get(e, p).and_then(Value::as_str);
    let class = n("class_uid");
    let decision = s("unmapped.cordon.decision").unwrap_or("none");
    let (category, types, action) = categorize(class, n("activity_id"), decision);
    let mut event = json!({
        "kind": if class == 2004 { "alert" } else { "event" },
        "category": category,
        "type": types,
        "action": action,
        "outcome": match n("status_id") { 1 => "success", 2 => "failure", _ => "unknown" },
        "severity": n("severity_id"),
        "provider": "cordon",
        "module": "cordon",
        "dataset": format!("cordon.{}", s("unmapped.cordon.component").unwrap_or("audit")),
    });
    let mut doc = Map::new();
    let time = get(e, "time").and_then(Value::as_i64).unwrap_or_default();
    doc.insert("@timestamp".into(), timestamp(time).into());
    doc.insert("ecs".into(), json!({ "version": ECS_VERSION }));
    if let Some(m) = event.as_object_mut() {
        if let Some(r) = s("unmapped.cordon.reason") {
            m.insert("reason".into(), r.into());
        }
        if let Some(d) = get(e, "duration").and_then(Value::as_u64) {
            m.insert("duration".into(), d.saturating_mul(1_000_000).into());
        }
    }
    doc.insert("event".into(), event);
    let mut put = |path: &str, value: Option<Value>| {
        let Some(value) = value else { return };
        let mut keys = path.split('.').peekable();
        let mut at = &mut doc;
        while let Some(k) = keys.next() {
            if keys.peek().is_none() {
                at.insert(k.to_owned(), value);
                return;
            }
            let next = at.entry(k.to_owned()).or_insert_with(|| json!({}));
            let Some(obj) = next.as_object_mut() else {
                return;
            };
            at = obj;
        }
    };
    let v = |p: &str| get(e, p).cloned();
    put("message", v("message").or_else(|| v("status_detail")));
    put("user.name", v("actor.user.name"));
    put("host.hostname", v("device.hostname"));
    put("host.name", v("device.name"));
    put("file.path", v("file.path"));
    put("file.name", v("file.name"));
    put("process.command_line", v("process.cmd_line"));
    put("process.name", v("process.name"));
    put("process.executable", v("process.path"));
    put("process.pid", v("process.pid"));
    put("process.entity_id", v("process.uid"));
    put("process.exit_code", v("exit_code"));
    put("url.full", v("http_request.url.url_string"));
    put("url.scheme", v("http_request.url.scheme"));
    put("url.domain", v("http_request.url.hostname"));
    put("url.port", v("http_request.url.port"));
    put("url.path", v("http_request.url.path"));
    put("http.request.method", v("http_request.http_method"));
    put("http.response.status_code", v("http_response.code"));
    put("source.ip", v("src_endpoint.ip"));
    put("source.port", v("src_endpoint.port"));
    put("destination.domain", v("dst_endpoint.hostname"));
    put("destination.ip", v("dst_endpoint.ip"));
    put("destination.port", v("dst_endpoint.port"));
    put("network.bytes", {
        let b = n("traffic.bytes_in").saturating_add(n("traffic.bytes_out"));
        get(e, "traffic").map(|_| b.into())
    });
    put(
        "rule.name",
        v("unmapped.cordon.rule").or_else(|| v("finding_info.analytic.name")),
    );
    put("rule.id", v("finding_info.analytic.uid"));
    put("rule.ruleset", v("policy.uid"));
    put("observer.product", Some("cordon".into()));
    put("observer.vendor", Some("cordon".into()));
    put("observer.version", v("metadata.product.version"));
    put("labels.correlation_id", v("metadata.correlation_uid"));
    put("cordon", v("unmapped.cordon"));
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ECS reference's allowed `event.category` values and the `event.type` values each
    /// expects (ECS 9.4.0, `schemas/event.yml`).
    const EXPECTED: &[(&str, &[&str])] = &[
        (
            "api",
            &[
                "access", "admin", "allowed", "change", "creation", "deletion", "denied", "end",
                "info", "start", "user",
            ],
        ),
        (
            "configuration",
            &["access", "change", "creation", "deletion", "info"],
        ),
        (
            "file",
            &["access", "change", "creation", "deletion", "info"],
        ),
        (
            "iam",
            &[
                "admin", "change", "creation", "deletion", "group", "info", "user",
            ],
        ),
        ("intrusion_detection", &["allowed", "denied", "info"]),
        (
            "network",
            &[
                "access",
                "allowed",
                "connection",
                "denied",
                "end",
                "info",
                "protocol",
                "start",
            ],
        ),
        ("process", &["access", "change", "end", "info", "start"]),
        ("web", &["access", "error", "info"]),
    ];

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_795_670_137_448), "2026-11-26T05:15:37.448Z");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(timestamp(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn every_class_and_decision_gets_types_its_categories_expect() {
        for class in [1001, 1007, 2004, 3003, 4001, 4002, 6002, 6003] {
            for activity in [0, 1, 2, 3, 4, 5, 6, 99] {
                for decision in ["allow", "deny", "ask", "redact", "alert", "none"] {
                    let (cats, types, _) = categorize(class, activity, decision);
                    assert!(!cats.is_empty(), "{class}/{activity}");
                    for t in &types {
                        let expected = cats.iter().any(|c| {
                            EXPECTED
                                .iter()
                                .any(|(name, ts)| name == c && ts.contains(t))
                        });
                        assert!(
                            expected,
                            "{class}/{activity}/{decision}: {t} not expected for {cats:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn an_http_event_maps_to_the_fields_siems_key_on() {
        let e = json!({"class_uid": 4002, "activity_id": 3, "status_id": 2, "severity_id": 3,
            "time": 1_795_670_137_448i64, "duration": 2,
            "actor": {"user": {"name": "alice"}}, "device": {"hostname": "ws-17", "name": "ws-17"},
            "http_request": {"http_method": "GET", "url": {"scheme": "http", "hostname": "h.test", "port": 80, "path": "/x"}},
            "http_response": {"code": 403}, "dst_endpoint": {"hostname": "h.test", "port": 80},
            "traffic": {"bytes_in": 10, "bytes_out": 5}, "policy": {"uid": "sha256:ab"},
            "unmapped": {"cordon": {"decision": "deny", "reason": "no_grant", "component": "proxy"}}});
        let d = to_ecs(&e);
        assert_eq!(d["@timestamp"], "2026-11-26T05:15:37.448Z");
        assert_eq!(d["ecs"]["version"], ECS_VERSION);
        assert_eq!(d["event"]["category"], json!(["network", "web"]));
        assert_eq!(d["event"]["type"], json!(["access", "denied"]));
        assert_eq!(d["event"]["outcome"], "failure");
        assert_eq!(d["event"]["reason"], "no_grant");
        assert_eq!(d["event"]["duration"], 2_000_000);
        assert_eq!(d["event"]["dataset"], "cordon.proxy");
        assert_eq!(d["http"]["request"]["method"], "GET");
        assert_eq!(d["http"]["response"]["status_code"], 403);
        assert_eq!(d["url"]["domain"], "h.test");
        assert_eq!(d["destination"]["port"], 80);
        assert_eq!(d["network"]["bytes"], 15);
        assert_eq!(d["user"]["name"], "alice");
        assert_eq!(d["host"]["hostname"], "ws-17");
        assert_eq!(d["rule"]["ruleset"], "sha256:ab");
        assert_eq!(d["cordon"]["decision"], "deny");
    }
}
