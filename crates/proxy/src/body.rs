//! DLP on request bodies: the body is held back (up to a limit), scanned, and then blocked,
//! forwarded with its findings replaced by placeholders, or forwarded as it was and reported —
//! per classification, from the manifest's `dlp` section. Events carry which rules matched and
//! how often, never what they matched.

use std::collections::BTreeMap;

use cordon_dlp::action::{Action, Actions};
use cordon_dlp::redact::Redactor;
use cordon_dlp::scan::Scanner;
use serde::Serialize;

/// What to do with a body larger than the inspection limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversized {
    /// Refuse it (the default: what cannot be inspected does not leave).
    Block,
    /// Forward it uninspected, and say so in the event.
    Pass,
}

/// The body inspector: rules, actions and limits.
#[derive(Debug)]
pub struct BodyInspector {
    scanner: Scanner,
    actions: Actions,
    /// Most bytes held back and scanned.
    pub limit: usize,
    /// What happens beyond `limit`.
    pub oversized: Oversized,
}

/// What one rule found in a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// The rule's id.
    pub rule: String,
    /// Its classification.
    pub classification: String,
    /// How many findings.
    pub count: usize,
    /// What was done: `block`, `redact` or `alert`.
    pub action: Action,
}

/// The outcome of inspecting a body.
#[derive(Debug)]
pub struct Inspected {
    /// The strictest action any finding called for; `None` when nothing was found.
    pub action: Option<Action>,
    /// Findings by rule.
    pub found: Vec<Found>,
    /// The body to forward when the action is redact.
    pub redacted: Option<Vec<u8>>,
}

impl Inspected {
    /// The rules whose action is `at_least` or stricter, with counts, for a refusal's detail:
    /// `aws-access-key-id (secret) ×1, …`. Never a value.
    pub fn summary(&self, at_least: Action) -> String {
        self.found
            .iter()
            .filter(|f| f.action >= at_least)
            .map(|f| format!("{} ({}) ×{}", f.rule, f.classification, f.count))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl BodyInspector {
    /// An inspector applying `actions` with `scanner`'s rules.
    pub fn new(scanner: Scanner, actions: Actions, limit: usize, oversized: Oversized) -> Self {
        Self {
            scanner,
            actions,
            limit,
            oversized,
        }
    }

    /// Scan a whole body, and rewrite it when a finding is to be redacted.
    pub fn inspect(&self, body: &[u8]) -> Inspected {
        self.scan(body, true)
    }

    /// Scan text that is sent whole or not at all (a URL): no rewritten copy is made.
    pub fn classify(&self, text: &[u8]) -> Inspected {
        self.scan(text, false)
    }

    fn scan(&self, body: &[u8], rewrite: bool) -> Inspected {
        let findings = self.scanner.scan(body);
        let mut by_rule: BTreeMap<(String, String), (usize, Action)> = BTreeMap::new();
        let mut strictest: Option<Action> = None;
        let mut to_redact = Vec::new();
        for f in &findings {
            let Some(rule) = self.scanner.rule(f) else {
                continue;
            };
            let action = self.actions.action(rule.classification());
            strictest = strictest.max(Some(action));
            if action == Action::Redact {
                to_redact.push(f.clone());
            }
            let entry = by_rule
                .entry((rule.id().to_owned(), rule.classification().to_owned()))
                .or_insert((0, action));
            entry.0 += 1;
        }
        let redacted = (rewrite && strictest == Some(Action::Redact))
            .then(|| Redactor::new().redact(&self.scanner, body, &to_redact));
        Inspected {
            action: strictest,
            found: by_rule
                .into_iter()
                .map(|((rule, classification), (count, action))| Found {
                    rule,
                    classification,
                    count,
                    action,
                })
                .collect(),
            redacted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspector() -> BodyInspector {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        BodyInspector::new(
            Scanner::builtin().unwrap(),
            Actions::new(&s(&["secret"]), &s(&["pii"]), &s(&["pii:email"])),
            1 << 20,
            Oversized::Block,
        )
    }

    #[test]
    fn block_redact_and_alert_per_classification() {
        let i = inspector();
        let clean = i.inspect(b"{\"note\":\"quarterly numbers attached\"}");
        assert_eq!((clean.action, clean.found.len()), (None, 0));

        let body =
            b"{\"card\":\"4111 1111 1111 1111\",\"mail\":\"alice.smith@northwind-traders.com\"}";
        let r = i.inspect(body);
        assert_eq!(r.action, Some(Action::Redact));
        let text = String::from_utf8(r.redacted.unwrap()).unwrap();
        assert!(!text.contains("4111"), "{text}");
        assert!(
            text.contains("[REDACTED:") && text.contains("alice.smith@northwind-traders.com"),
            "{text}"
        );
        let actions: Vec<(&str, Action)> = r
            .found
            .iter()
            .map(|f| (f.classification.as_str(), f.action))
            .collect();
        assert!(
            actions.contains(&("pii:card", Action::Redact))
                && actions.contains(&("pii:email", Action::Alert))
        );

        let secret = i.inspect(b"aws_access_key_id = AKIAQYLPMN5HHHFPZAM2");
        assert_eq!(secret.action, Some(Action::Block));
        assert!(secret.redacted.is_none());
        assert!(format!("{:?}", secret.found).contains("secret"));
        assert!(!format!("{:?}", secret.found).contains("AKIA"));
    }
}
