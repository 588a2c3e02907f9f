//! Replacing what was found with stable placeholders: the same value gets the same placeholder
//! for the life of a [`Redactor`] (so an agent can still tell two cards apart), and nothing of
//! the value is kept but a hash.

use std::collections::HashMap;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::scan::{Finding, Scanner};

/// Hands out placeholders such as `[REDACTED:aws-access-key-id:1]`.
#[derive(Debug, Default)]
pub struct Redactor {
    seen: HashMap<[u8; 32], usize>,
    counts: HashMap<String, usize>,
}

impl Redactor {
    /// A redactor with no values seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The placeholder for `value` found by rule `id`.
    pub fn placeholder(&mut self, id: &str, value: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(id.as_bytes());
        h.update([0]);
        h.update(value);
        let key: [u8; 32] = h.finalize().into();
        let n = match self.seen.get(&key) {
            Some(&n) => n,
            None => {
                let c = self.counts.entry(id.to_owned()).or_insert(0);
                *c += 1;
                self.seen.insert(key, *c);
                *c
            }
        };
        format!("[REDACTED:{id}:{n}]")
    }

    /// `hay` with each finding's span replaced (overlapping spans are merged under the first
    /// finding's placeholder). `findings` must come from `scanner` scanning `hay`.
    pub fn redact(&mut self, scanner: &Scanner, hay: &[u8], findings: &[Finding]) -> Vec<u8> {
        let mut out = Vec::with_capacity(hay.len());
        let mut at = 0;
        let mut sorted: Vec<&Finding> = findings.iter().collect();
        sorted.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        for f in sorted {
            if f.end <= at || f.start >= hay.len() {
                continue;
            }
            let start = f.start.max(at);
            let end = f.end.min(hay.len());
            out.extend_from_slice(hay.get(at..start).unwrap_or_default());
            let id = scanner.rule(f).map_or("unknown", |r| r.id());
            let value = hay.get(f.start..end).unwrap_or_default();
            out.extend_from_slice(self.placeholder(id, value).as_bytes());
            at = end;
        }
        out.extend_from_slice(hay.get(at..).unwrap_or_default());
        out
    }
}

/// A short, safe description of a value for reports: its first characters (never more than
/// four, never more than a quarter of it) and its length.
pub fn preview(value: &[u8]) -> String {
    let shown = (value.len() / 4).min(4);
    let mut preview = String::with_capacity(shown + 24);
    preview.extend(value.iter().take(shown).map(|&b| {
        if b.is_ascii_graphic() {
            char::from(b)
        } else {
            '?'
        }
    }));
    // Writing to a String cannot fail.
    let _ = write!(preview, "… ({} bytes)", value.len());
    preview
}
