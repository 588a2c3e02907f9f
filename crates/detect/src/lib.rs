//! cordon's detections (SPEC A-4): Sigma rules (specification v2) over cordon's OCSF audit
//! events — single-event rules and correlations (`event_count`, `value_count`, `temporal`,
//! `temporal_ordered`) over sliding windows of event time — and the enrichment they need that
//! one event cannot give: business hours in the organisation's time zone, and a baseline that
//! marks first or rare access to paths tagged sensitive. Findings become OCSF Detection Finding
//! events. No I/O: the CLI reads rule files and logs and keeps the baseline.
//!
//! ```
//! use cordon_detect::{engine::Engine, rule::RuleSet};
//!
//! let mut rules = RuleSet::default();
//! rules.load("deny.yml", "title: Denied\nid: d1\ndetection:\n  sel: {unmapped.cordon.decision: deny}\n  condition: sel\n").unwrap();
//! rules.check().unwrap();
//! let mut engine = Engine::new(rules);
//! let event = serde_json::json!({"time": 0, "unmapped": {"cordon": {"decision": "deny"}}});
//! assert_eq!(engine.process(7, &event)[0].evidence, [7]);
//! ```

#![forbid(unsafe_code)]

pub mod condition;
pub mod engine;
pub mod enrich;
pub mod finding;
pub mod matcher;
pub mod rule;
