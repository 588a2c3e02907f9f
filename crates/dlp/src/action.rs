//! What to do with a finding, per classification, from a manifest's `dlp` section.
//!
//! Entries name classifications or their parents (`pii` covers `pii:card`). The most specific
//! entry wins; between equally specific entries the strictest. A classification no entry names
//! is let through and reported (`alert`). Without a `dlp` section, [`Actions::default`] blocks
//! secrets and reports the rest.

/// The action for a finding, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let through and report.
    Alert,
    /// Replace the value by a placeholder.
    Redact,
    /// Stop the content.
    Block,
}

/// Actions per classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actions {
    entries: Vec<(String, Action)>,
}

impl Default for Actions {
    fn default() -> Self {
        Self {
            entries: vec![("secret".into(), Action::Block)],
        }
    }
}

impl Actions {
    /// From the lists of a manifest's `dlp` section.
    pub fn new(block: &[String], redact: &[String], alert: &[String]) -> Self {
        let mut entries = Vec::new();
        for (list, action) in [
            (block, Action::Block),
            (redact, Action::Redact),
            (alert, Action::Alert),
        ] {
            entries.extend(list.iter().map(|c| (c.clone(), action)));
        }
        Self { entries }
    }

    /// The action for a classification.
    pub fn action(&self, classification: &str) -> Action {
        self.entries
            .iter()
            .filter(|(c, _)| covers(c, classification))
            .map(|(c, a)| (c.split(':').count(), *a))
            .max()
            .map_or(Action::Alert, |(_, a)| a)
    }
}

/// Whether entry `entry` names `classification` or one of its parents.
fn covers(entry: &str, classification: &str) -> bool {
    classification == entry
        || classification
            .strip_prefix(entry)
            .is_some_and(|rest| rest.starts_with(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_then_strictest() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let a = Actions::new(&s(&["pii", "secret"]), &s(&["pii:ssn"]), &s(&["pii:email"]));
        assert_eq!(a.action("pii:card"), Action::Block);
        assert_eq!(a.action("pii:ssn"), Action::Redact);
        assert_eq!(a.action("pii:email"), Action::Alert);
        assert_eq!(a.action("piix"), Action::Alert);
        assert_eq!(a.action("label:confidential"), Action::Alert);
        let tie = Actions::new(&s(&["pii:card"]), &s(&["pii:card"]), &[]);
        assert_eq!(tie.action("pii:card"), Action::Block);
        assert_eq!(Actions::default().action("secret"), Action::Block);
    }
}
