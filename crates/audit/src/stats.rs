//! Counts over the audit trail (SPEC C-4): what `cordon audit stats` reports and exposes as
//! Prometheus metrics — events by class, component and decision, denials by what was denied,
//! blocked egress attempts, DLP blocks, manifest verification failures (revoked manifests
//! among them), detection findings.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::ocsf::Class;

fn text<'a>(e: &'a Value, pointer: &str) -> &'a str {
    e.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The short name of an OCSF class, as metric labels carry it.
fn class_name(uid: u64) -> &'static str {
    Class::of_uid(uid).map_or("other", Class::short_name)
}

/// The counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events by (class, component, decision).
    pub events: BTreeMap<(String, String, String), u64>,
    /// Denials by what was denied (class and activity, e.g. `file_read`, `http_post`).
    pub denials: BTreeMap<String, u64>,
    /// Requests and tunnels the proxy (or a hook's `WebFetch`) refused, by reason.
    pub egress_blocked: BTreeMap<String, u64>,
    /// Content DLP stopped, by component.
    pub dlp_blocks: BTreeMap<String, u64>,
    /// Manifest verification failures, by reason (`revoked-manifest` …).
    pub verification_failures: BTreeMap<String, u64>,
    /// Detection findings, by (rule title, level).
    pub findings: BTreeMap<(String, String), u64>,
    /// Events counted.
    pub total: u64,
    /// The newest event's time (ms since the epoch).
    pub newest_ms: Option<i64>,
}

impl Stats {
    /// Count one event (records that are not events are passed over).
    pub fn observe(&mut self, e: &Value) {
        let Some(uid) = e.get("class_uid").and_then(Value::as_u64) else {
            return;
        };
        let class = class_name(uid);
        let component = text(e, "/unmapped/cordon/component");
        let decision = text(e, "/unmapped/cordon/decision");
        let reason = text(e, "/unmapped/cordon/reason");
        self.total += 1;
        if let Some(t) = e.get("time").and_then(Value::as_i64) {
            self.newest_ms = Some(self.newest_ms.map_or(t, |n| n.max(t)));
        }
        *self
            .events
            .entry((class.into(), component.into(), decision.into()))
            .or_default() += 1;
        if decision == "deny" {
            let activity = text(e, "/activity_name")
                .to_ascii_lowercase()
                .replace(' ', "_");
            *self
                .denials
                .entry(format!("{class}_{activity}"))
                .or_default() += 1;
            if uid == 4001 || uid == 4002 {
                *self.egress_blocked.entry(reason.into()).or_default() += 1;
            }
            if reason == "dlp_blocked" {
                *self.dlp_blocks.entry(component.into()).or_default() += 1;
            }
        }
        if uid == 6002
            && text(e, "/activity_name") == "Verify"
            && e.get("status_id").and_then(Value::as_u64) == Some(2)
        {
            *self.verification_failures.entry(reason.into()).or_default() += 1;
        }
        if uid == 2004 {
            let title = text(e, "/finding_info/title");
            let level = text(e, "/unmapped/cordon/level");
            *self
                .findings
                .entry((title.into(), level.into()))
                .or_default() += 1;
        }
    }

    /// Manifests refused because they were revoked.
    pub fn revoked_refusals(&self) -> u64 {
        self.verification_failures
            .get("revoked-manifest")
            .copied()
            .unwrap_or(0)
    }

    /// The counts as JSON.
    pub fn to_json(&self) -> Value {
        let flat = |m: &BTreeMap<String, u64>| -> Value { json!(m) };
        json!({
            "events": self.total,
            "newestTime": self.newest_ms,
            "byClassComponentDecision": self.events.iter().map(|((c, p, d), n)| json!({"class": c, "component": p, "decision": d, "count": n})).collect::<Vec<_>>(),
            "denialsByAction": flat(&self.denials),
            "blockedEgressByReason": flat(&self.egress_blocked),
            "dlpBlocksByComponent": flat(&self.dlp_blocks),
            "manifestVerificationFailuresByReason": flat(&self.verification_failures),
            "revokedManifestRefusals": self.revoked_refusals(),
            "findings": self.findings.iter().map(|((t, l), n)| json!({"rule": t, "level": l, "count": n})).collect::<Vec<_>>(),
        })
    }

    /// The counts in the Prometheus text exposition format (version 0.0.4).
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut family =
            |name: &str, kind: &str, help: &str, samples: Vec<(Vec<(&str, &str)>, String)>| {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} {kind}");
                for (labels, value) in samples {
                    let labels: Vec<String> = labels
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                        .collect();
                    if labels.is_empty() {
                        let _ = writeln!(out, "{name} {value}");
                    } else {
                        let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
                    }
                }
            };
        family(
            "cordon_audit_events_total",
            "counter",
            "Audit events, by OCSF class, component and decision.",
            self.events
                .iter()
                .map(|((c, p, d), n)| {
                    (
                        vec![
                            ("class", c.as_str()),
                            ("component", p.as_str()),
                            ("decision", d.as_str()),
                        ],
                        n.to_string(),
                    )
                })
                .collect(),
        );
        family(
            "cordon_denials_total",
            "counter",
            "Actions denied, by what was denied (class and activity).",
            self.denials
                .iter()
                .map(|(a, n)| (vec![("action", a.as_str())], n.to_string()))
                .collect(),
        );
        family(
            "cordon_egress_blocked_total",
            "counter",
            "Requests and tunnels refused on their way out, by reason.",
            self.egress_blocked
                .iter()
                .map(|(r, n)| (vec![("reason", r.as_str())], n.to_string()))
                .collect(),
        );
        family(
            "cordon_dlp_blocks_total",
            "counter",
            "Content DLP stopped, by component.",
            self.dlp_blocks
                .iter()
                .map(|(c, n)| (vec![("component", c.as_str())], n.to_string()))
                .collect(),
        );
        family(
            "cordon_manifest_verification_failures_total",
            "counter",
            "Manifests an enforcement point refused, by reason.",
            self.verification_failures
                .iter()
                .map(|(r, n)| (vec![("reason", r.as_str())], n.to_string()))
                .collect(),
        );
        family(
            "cordon_revoked_manifest_refusals_total",
            "counter",
            "Manifests refused because they were revoked.",
            vec![(Vec::new(), self.revoked_refusals().to_string())],
        );
        family(
            "cordon_detection_findings_total",
            "counter",
            "Detection findings, by rule and level.",
            self.findings
                .iter()
                .map(|((t, l), n)| {
                    (
                        vec![("rule", t.as_str()), ("level", l.as_str())],
                        n.to_string(),
                    )
                })
                .collect(),
        );
        if let Some(ms) = self.newest_ms {
            family(
                "cordon_audit_newest_event_timestamp_seconds",
                "gauge",
                "Time of the newest audit event.",
                vec![(
                    Vec::new(),
                    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000)),
                )],
            );
        }
        out
    }
}

/// A label value with `\`, `"` and line feeds escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_exposes() {
        let mut s = Stats::default();
        let ev = |class: u64, activity: &str, decision: &str, reason: &str, status: u64| {
            json!({"class_uid": class, "activity_name": activity, "status_id": status, "time": 1_750_000_000_123i64,
                   "unmapped": {"cordon": {"component": "proxy", "decision": decision, "reason": reason}}})
        };
        s.observe(&ev(4002, "Post", "deny", "dlp_blocked", 2));
        s.observe(&ev(4002, "Get", "allow", "granted", 1));
        s.observe(&ev(4001, "Refuse", "deny", "no_grant", 2));
        s.observe(&ev(6002, "Verify", "deny", "revoked-manifest", 2));
        s.observe(&json!({"checkpoint": {}}));
        assert_eq!(s.total, 4);
        assert_eq!(s.denials.get("http_post"), Some(&1));
        assert_eq!(s.egress_blocked.values().sum::<u64>(), 2);
        assert_eq!(s.dlp_blocks.get("proxy"), Some(&1));
        assert_eq!(s.revoked_refusals(), 1);
        let text = s.to_prometheus();
        assert!(
            text.contains("cordon_egress_blocked_total{reason=\"dlp_blocked\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("cordon_revoked_manifest_refusals_total 1\n"));
        assert!(text.contains("cordon_audit_newest_event_timestamp_seconds 1750000000.123\n"));
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
