//! Running rules over a stream of events: single-event rules raise findings as they match;
//! correlations keep, per group, the matches of the rules they refer to within a sliding window
//! of event time, and raise a finding when their condition is met — then start the group
//! afresh (a burst raises one finding per threshold reached, not one per event).
//!
//! Choices the Sigma specification leaves open, stated: windows slide over the events' `time`;
//! an event without a value for every `group-by` field does not count for that correlation;
//! rules a correlation refers to raise no findings of their own unless it says `generate: true`
//! (or another correlation or no correlation leaves them free).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde_json::Value;

use crate::matcher::lookup;
use crate::rule::{CorrelationKind, Level, RuleSet};

/// Matches one group keeps at most (older ones go first): a flood cannot exhaust memory.
const MAX_WINDOW: usize = 100_000;
/// How often (in events) groups whose window has passed are forgotten.
const SWEEP_EVERY: u64 = 4096;

/// A finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The rule's id.
    pub rule_id: String,
    /// The rule's title.
    pub title: String,
    /// The rule's description.
    pub description: Option<String>,
    /// Its level.
    pub level: Level,
    /// `rule`, `event_count`, `value_count`, `temporal` or `temporal_ordered`.
    pub kind: &'static str,
    /// The time of the event that raised it (ms since the epoch).
    pub time_ms: i64,
    /// The group (field, value) of a correlation.
    pub group: Vec<(String, String)>,
    /// The sequence numbers of the events it rests on.
    pub evidence: Vec<u64>,
    /// The count that met the condition (events, or distinct values).
    pub count: u64,
    /// The rule's tags.
    pub tags: Vec<String>,
}

#[derive(Debug, Clone)]
struct Hit {
    time: i64,
    seq: u64,
    rule: usize,
    value: Option<String>,
}

/// The engine's state.
#[derive(Debug)]
pub struct Engine {
    set: RuleSet,
    /// Per detection rule, whether it raises its own findings.
    own: Vec<bool>,
    /// Per correlation, the detection rules it refers to, in its order.
    refs: Vec<Vec<usize>>,
    windows: HashMap<(usize, Vec<String>), VecDeque<Hit>>,
    seen: u64,
    newest: i64,
}

/// The first value at `field`, as text.
fn value_text(event: &Value, field: &str) -> Option<String> {
    lookup(event, field).into_iter().find_map(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    })
}

impl Engine {
    /// An engine for checked rules (see [`RuleSet::check`]).
    pub fn new(set: RuleSet) -> Self {
        let refs: Vec<Vec<usize>> = set
            .correlations
            .iter()
            .map(|c| c.rules.iter().filter_map(|r| set.find(r)).collect())
            .collect();
        let own = (0..set.rules.len())
            .map(|i| {
                let mut referring = set
                    .correlations
                    .iter()
                    .zip(&refs)
                    .filter(|(_, r)| r.contains(&i));
                referring.all(|(c, _)| c.generate)
            })
            .collect();
        Self {
            set,
            own,
            refs,
            windows: HashMap::new(),
            seen: 0,
            newest: i64::MIN,
        }
    }

    /// The rules.
    pub fn rules(&self) -> &RuleSet {
        &self.set
    }

    /// Feed one event (with its sequence number in the log); the findings it raises.
    pub fn process(&mut self, seq: u64, event: &Value) -> Vec<Finding> {
        let time = event
            .get("time")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        self.newest = self.newest.max(time);
        self.seen += 1;
        if self.seen.is_multiple_of(SWEEP_EVERY) {
            self.sweep();
        }
        let mut out = Vec::new();
        let matched: Vec<usize> = self
            .set
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.condition.eval(&r.searches, event))
            .map(|(i, _)| i)
            .collect();
        for &i in &matched {
            if self.own.get(i).copied().unwrap_or(true)
                && let Some(r) = self.set.rules.get(i)
            {
                out.push(Finding {
                    rule_id: r.meta.id.clone(),
                    title: r.meta.title.clone(),
                    description: r.meta.description.clone(),
                    level: r.meta.level,
                    kind: "rule",
                    time_ms: time,
                    group: Vec::new(),
                    evidence: vec![seq],
                    count: 1,
                    tags: r.meta.tags.clone(),
                });
            }
        }
        for (ci, c) in self.set.correlations.iter().enumerate() {
            let Some(refs) = self.refs.get(ci) else {
                continue;
            };
            for &ri in matched.iter().filter(|i| refs.contains(i)) {
                let group: Option<Vec<String>> =
                    c.group_by.iter().map(|f| value_text(event, f)).collect();
                let Some(group) = group else { continue };
                let value = match &c.kind {
                    CorrelationKind::ValueCount(field) => match value_text(event, field) {
                        Some(v) => Some(v),
                        None => continue,
                    },
                    _ => None,
                };
                let window = self.windows.entry((ci, group.clone())).or_default();
                window.push_back(Hit {
                    time,
                    seq,
                    rule: ri,
                    value,
                });
                while window
                    .front()
                    .is_some_and(|h| h.time < time.saturating_sub(c.timespan_ms))
                {
                    window.pop_front();
                }
                while window.len() > MAX_WINDOW {
                    window.pop_front();
                }
                let (met, count) = match &c.kind {
                    CorrelationKind::EventCount => {
                        let n = window.len() as u64;
                        (c.threshold.met(n), n)
                    }
                    CorrelationKind::ValueCount(_) => {
                        let n = window
                            .iter()
                            .filter_map(|h| h.value.as_ref())
                            .collect::<BTreeSet<_>>()
                            .len() as u64;
                        (c.threshold.met(n), n)
                    }
                    CorrelationKind::Temporal => {
                        let present: BTreeSet<usize> = window.iter().map(|h| h.rule).collect();
                        (
                            refs.iter().all(|r| present.contains(r)),
                            present.len() as u64,
                        )
                    }
                    CorrelationKind::TemporalOrdered => {
                        let mut sorted: Vec<&Hit> = window.iter().collect();
                        sorted.sort_by_key(|h| (h.time, h.seq));
                        let mut next = 0;
                        for h in sorted {
                            if refs.get(next) == Some(&h.rule) {
                                next += 1;
                            }
                        }
                        (next == refs.len(), next as u64)
                    }
                };
                if met {
                    let evidence: Vec<u64> = window.iter().map(|h| h.seq).collect();
                    window.clear();
                    out.push(Finding {
                        rule_id: c.meta.id.clone(),
                        title: c.meta.title.clone(),
                        description: c.meta.description.clone(),
                        level: c.meta.level,
                        kind: match c.kind {
                            CorrelationKind::EventCount => "event_count",
                            CorrelationKind::ValueCount(_) => "value_count",
                            CorrelationKind::Temporal => "temporal",
                            CorrelationKind::TemporalOrdered => "temporal_ordered",
                        },
                        time_ms: time,
                        group: c.group_by.iter().cloned().zip(group).collect(),
                        evidence,
                        count,
                        tags: c.meta.tags.clone(),
                    });
                }
            }
        }
        out
    }

    /// Forget groups whose every match is older than their correlation's window.
    fn sweep(&mut self) {
        let spans: BTreeMap<usize, i64> = self
            .set
            .correlations
            .iter()
            .enumerate()
            .map(|(i, c)| (i, c.timespan_ms))
            .collect();
        let newest = self.newest;
        self.windows.retain(|(ci, _), w| {
            let span = spans.get(ci).copied().unwrap_or(0);
            w.back()
                .is_some_and(|h| h.time >= newest.saturating_sub(span))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn engine(src: &str) -> Engine {
        let mut set = RuleSet::default();
        set.load("t.yml", src).unwrap();
        set.check().unwrap();
        Engine::new(set)
    }

    const DENIALS: &str = "title: Denied\nid: d\nname: denied\ndetection:\n  sel: {unmapped.cordon.decision: deny}\n  condition: sel\n---\ntitle: Probing\nid: p\ncorrelation: {type: event_count, rules: [denied], group-by: [unmapped.cordon.agent], timespan: 10m, condition: {gte: 3}}\n";

    fn denial(agent: &str, t: i64) -> Value {
        json!({"time": t, "unmapped": {"cordon": {"decision": "deny", "agent": agent}}})
    }

    #[test]
    fn event_counts_fire_per_group_within_the_window_and_reset() {
        let mut e = engine(DENIALS);
        let min = 60_000;
        // Two from a, one from b, then a's third within 10 minutes: one finding, for a.
        assert!(e.process(0, &denial("a", 0)).is_empty());
        assert!(e.process(1, &denial("b", min)).is_empty());
        assert!(e.process(2, &denial("a", 2 * min)).is_empty());
        let f = e.process(3, &denial("a", 3 * min));
        assert_eq!(f.len(), 1, "the referenced rule raises nothing of its own");
        assert_eq!(
            (f[0].kind, f[0].count, f[0].evidence.clone()),
            ("event_count", 3, vec![0, 2, 3])
        );
        assert_eq!(
            f[0].group,
            vec![("unmapped.cordon.agent".to_owned(), "a".to_owned())]
        );
        // Spread out over more than the window: never three within 10 minutes.
        let mut e = engine(DENIALS);
        let found: usize = (0..10)
            .map(|i| e.process(i, &denial("a", i as i64 * 6 * min)).len())
            .sum();
        assert_eq!(found, 0);
    }

    #[test]
    fn value_counts_and_temporal_correlations() {
        let mut e = engine(
            "title: Read\nid: r\nname: read\ndetection:\n  s: {class_uid: 1001}\n  condition: s\n---\ntitle: Net\nid: n\nname: net\ndetection:\n  s: {class_uid: 4002}\n  condition: s\n---\ntitle: Many files\nid: v\ncorrelation: {type: value_count, rules: [read], group-by: [agent], timespan: 1h, condition: {field: file.path, gte: 3}}\n---\ntitle: Read then send\nid: t\ncorrelation: {type: temporal_ordered, rules: [read, net], group-by: [agent], timespan: 5m}\n",
        );
        let read = |p: &str, t: i64| json!({"class_uid": 1001, "agent": "x", "time": t, "file": {"path": p}});
        assert!(e.process(0, &read("/a", 0)).is_empty());
        assert!(
            e.process(1, &read("/a", 1)).is_empty(),
            "the same path twice is one value"
        );
        assert!(e.process(2, &read("/b", 2)).is_empty());
        let f = e.process(3, &json!({"class_uid": 4002, "agent": "x", "time": 3}));
        assert_eq!(
            f.iter().map(|f| f.kind).collect::<Vec<_>>(),
            ["temporal_ordered"]
        );
        let f = e.process(4, &read("/c", 4));
        assert_eq!(
            f.iter().map(|f| (f.kind, f.count)).collect::<Vec<_>>(),
            [("value_count", 3)]
        );
        // Order matters for temporal_ordered: a send before any read raises nothing.
        let mut e2 = engine(
            "title: Read\nid: r\nname: read\ndetection:\n  s: {class_uid: 1001}\n  condition: s\n---\ntitle: Net\nid: n\nname: net\ndetection:\n  s: {class_uid: 4002}\n  condition: s\n---\ntitle: Read then send\nid: t\ncorrelation: {type: temporal_ordered, rules: [read, net], group-by: [agent], timespan: 5m}\n",
        );
        assert!(
            e2.process(0, &json!({"class_uid": 4002, "agent": "x", "time": 0}))
                .is_empty()
        );
        assert!(e2.process(1, &read("/a", 1)).is_empty());
    }
}
