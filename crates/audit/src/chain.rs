//! Sealing events into hash-chained records.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::canonical;

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One sealed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its position in the chain, from 0.
    pub seq: u64,
    /// Its hash, lowercase hex.
    pub hash: String,
    /// The line to append (canonical JSON, no newline).
    pub line: String,
}

/// Where the chain stands: the next sequence number and the last hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    next_seq: u64,
    prev: String,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    /// An empty chain.
    pub fn new() -> Self {
        Self {
            next_seq: 0,
            prev: GENESIS.to_owned(),
        }
    }

    /// The chain continuing after a record (when a writer reopens a log).
    pub fn after(seq: u64, hash: &str) -> Self {
        Self {
            next_seq: seq.saturating_add(1),
            prev: hash.to_owned(),
        }
    }

    /// The sequence number the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The hash the next record points back to.
    pub fn prev(&self) -> &str {
        &self.prev
    }

    /// Seal `event`, recorded at `time` (RFC 3339, from the caller's clock), as the next
    /// record.
    pub fn seal(&mut self, time: &str, event: Value) -> Record {
        let seq = self.next_seq;
        let mut fields = Map::new();
        fields.insert("event".into(), event);
        fields.insert("prev".into(), Value::String(std::mem::take(&mut self.prev)));
        fields.insert("seq".into(), Value::from(seq));
        fields.insert("time".into(), Value::String(time.to_owned()));
        let mut record = Value::Object(fields);
        let hash = digest(&record);
        if let Value::Object(fields) = &mut record {
            fields.insert("hash".into(), Value::String(hash.clone()));
        }
        self.prev = hash.clone();
        self.next_seq = seq.saturating_add(1);
        Record {
            seq,
            line: String::from_utf8(canonical::to_vec(&record)).unwrap_or_default(),
            hash,
        }
    }
}

/// The hash of a record: SHA-256 of its canonical JSON without `hash`, lowercase hex.
pub fn digest(record_without_hash: &Value) -> String {
    let bytes = canonical::to_vec(record_without_hash);
    let sum = Sha256::digest(&bytes);
    let mut hex = String::with_capacity(64);
    for b in sum {
        use std::fmt::Write as _;
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_link_and_their_hash_covers_everything_but_itself() {
        let mut c = Chain::new();
        let a = c.seal("2026-11-26T00:00:00Z", json!({"kind": "a"}));
        let b = c.seal("2026-11-26T00:00:01Z", json!({"kind": "b"}));
        assert_eq!((a.seq, b.seq), (0, 1));
        let a_v: Value = serde_json::from_str(&a.line).unwrap();
        let b_v: Value = serde_json::from_str(&b.line).unwrap();
        assert_eq!(a_v["prev"], GENESIS);
        assert_eq!(b_v["prev"], a.hash.as_str());
        let mut without = a_v.clone();
        without.as_object_mut().unwrap().remove("hash");
        assert_eq!(digest(&without), a.hash);
        assert_eq!(a.line, String::from_utf8(canonical::to_vec(&a_v)).unwrap());
        assert_eq!(Chain::after(b.seq, &b.hash), c);
    }
}
