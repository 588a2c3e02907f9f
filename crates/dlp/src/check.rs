//! Rules test themselves: every example must produce a finding of its rule and no
//! counterexample may, when scanned with all loaded rules together (so that overlaps between
//! rules are part of what is tested).

use crate::scan::Scanner;

/// An example that did not behave.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExampleFailure {
    /// The rule's id.
    pub rule: String,
    /// `example` (should have matched) or `counterexample` (should not have).
    pub kind: &'static str,
    /// The text.
    pub text: String,
}

/// Run every rule's examples; the failures, in rule order.
pub fn check_examples(scanner: &Scanner) -> Vec<ExampleFailure> {
    let mut failures = Vec::new();
    for (i, rule) in scanner.rules().iter().enumerate() {
        let hits = |text: &str| scanner.scan(text.as_bytes()).iter().any(|f| f.rule == i);
        for text in &rule.spec.examples {
            if !hits(text) {
                failures.push(ExampleFailure {
                    rule: rule.id().to_owned(),
                    kind: "example",
                    text: text.clone(),
                });
            }
        }
        for text in &rule.spec.counterexamples {
            if hits(text) {
                failures.push(ExampleFailure {
                    rule: rule.id().to_owned(),
                    kind: "counterexample",
                    text: text.clone(),
                });
            }
        }
    }
    failures
}
