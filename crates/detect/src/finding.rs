//! A finding as an OCSF Detection Finding event, which goes into the audit log and on to the
//! sinks like every other event.

use cordon_audit::ocsf::{Activity, Event, Severity};
use serde_json::json;

use crate::engine::Finding;
use crate::rule::Level;

impl Finding {
    /// The finding's OCSF event. Its `uid` is the rule and the first and last evidence, so the
    /// same finding raised twice (a detector run again over the same log) has the same id.
    pub fn to_ocsf(&self) -> Event {
        let severity = match self.level {
            Level::Informational => Severity::Informational,
            Level::Low => Severity::Low,
            Level::Medium => Severity::Medium,
            Level::High => Severity::High,
            Level::Critical => Severity::Critical,
        };
        let first = self.evidence.first().copied().unwrap_or_default();
        let last = self.evidence.last().copied().unwrap_or_default();
        let uid = format!("{}:{first}-{last}", self.rule_id);
        let mut info = json!({
            "uid": uid,
            "title": self.title,
            "analytic": {"type_id": 1, "type": "Rule", "name": self.title, "uid": self.rule_id},
            "types": [self.kind],
            "related_events_count": self.evidence.len(),
        });
        if let (Some(d), Some(m)) = (&self.description, info.as_object_mut()) {
            m.insert("desc".into(), d.as_str().into());
        }
        let group: serde_json::Map<String, serde_json::Value> = self
            .group
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().into()))
            .collect();
        Event::new(Activity::FindingCreate, self.time_ms)
            .with("finding_info", info)
            .severity(severity)
            .message(self.title.clone())
            .cordon("rule", self.rule_id.as_str().into())
            .cordon("level", self.level.as_str().into())
            .cordon("correlation", self.kind.into())
            .cordon("group", group.into())
            .cordon("count", self.count.into())
            .cordon("evidence_seqs", json!(self.evidence))
            .cordon("tags", json!(self.tags))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_audit::ocsf::{Subject, schema};

    #[test]
    fn findings_are_ocsf_detection_findings() {
        let f = Finding {
            rule_id: "cordon-probing".into(),
            title: "Repeated denials".into(),
            description: Some("probing".into()),
            level: Level::High,
            kind: "event_count",
            time_ms: 1_750_000_000_000,
            group: vec![("unmapped.cordon.agent".into(), "coder".into())],
            evidence: vec![3, 5, 9],
            count: 3,
            tags: vec!["attack.discovery".into()],
        };
        let subject = Subject {
            component: "detect",
            user: "root".into(),
            host: "h".into(),
            ..Subject::default()
        };
        let e = f.to_ocsf().finish(&subject, "0.1.0");
        assert_eq!(schema::check(&e), Vec::<String>::new(), "{e:#}");
        assert_eq!(e["class_uid"], 2004);
        assert_eq!(e["severity_id"], 4);
        assert_eq!(e["finding_info"]["uid"], "cordon-probing:3-9");
        assert_eq!(
            e["unmapped"]["cordon"]["evidence_seqs"],
            serde_json::json!([3, 5, 9])
        );
    }
}
