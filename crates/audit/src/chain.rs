//! Sealing events into hash-chained records.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::canonical::{self, Sealable};

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
    pub fn seal(&mut self, time: &str, event: impl Sealable) -> Record {
        let mut line = Vec::with_capacity(2048);
        let seq = self.seal_into(time, event, &mut line);
        Record {
            seq,
            // The record is JSON this crate wrote from `str`s and canonical bytes: UTF-8.
            line: String::from_utf8(line).unwrap_or_default(),
            hash: self.prev.clone(),
        }
    }

    /// Seal `event` as [`seal`](Self::seal) does, appending its line (without a newline) to
    /// `out`, a batch of lines on its way to the log; its sequence number. The line is written
    /// where it stays: nothing is copied after it is hashed.
    pub fn seal_into(&mut self, time: &str, event: impl Sealable, out: &mut Vec<u8>) -> u64 {
        let seq = self.next_seq;
        // The members in canonical order (`event` < `hash` < `prev` < `seq` < `time`), the
        // event made canonical once: the hash covers the line without its `hash` member.
        let start = out.len();
        out.extend_from_slice(b"{\"event\":");
        event.write_canonical(out);
        // What follows `hash` in the record, written after the event and hashed with it; the
        // hash then goes in before it (a move of these few bytes, not a buffer of their own).
        let tail = out.len();
        out.extend_from_slice(b",\"prev\":");
        canonical::write_str(&self.prev, out);
        out.extend_from_slice(b",\"seq\":");
        canonical::write_u64(seq, out);
        out.extend_from_slice(b",\"time\":");
        canonical::write_str(time, out);
        out.push(b'}');
        let digest = Sha256::digest(out.get(start..).unwrap_or_default());
        // `,"hash":"<64 hex digits>"`, written after the tail and turned round to before it.
        let mut member = [0u8; HASH_MEMBER];
        let (name, rest) = member.split_at_mut(HASH_NAME.len());
        name.copy_from_slice(HASH_NAME);
        for (pair, &b) in rest.chunks_exact_mut(2).zip(digest.iter()) {
            pair.copy_from_slice(&hex_pair(b));
        }
        if let Some(quote) = rest.last_mut() {
            *quote = b'"';
        }
        self.prev.clear();
        self.prev
            .push_str(std::str::from_utf8(rest.get(..64).unwrap_or_default()).unwrap_or_default());
        out.extend_from_slice(&member);
        if let Some(moved) = out.get_mut(tail..) {
            moved.rotate_right(HASH_MEMBER);
        }
        self.next_seq = seq.saturating_add(1);
        seq
    }
}

/// How a record's `hash` member starts.
const HASH_NAME: &[u8] = b",\"hash\":\"";
/// The whole member's length: its start, 64 hex digits, a closing quote.
const HASH_MEMBER: usize = HASH_NAME.len() + 64 + 1;

/// `bytes` in lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|&b| hex_pair(b))
        .map(char::from)
        .collect()
}

/// One byte as two lowercase hex digits.
pub(crate) fn hex_pair(b: u8) -> [u8; 2] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digit = |n: u8| DIGITS.get(usize::from(n)).copied().unwrap_or(b'?');
    [digit(b >> 4), digit(b & 15)]
}

/// The hash of a record: SHA-256 of its canonical JSON without `hash`, lowercase hex.
pub fn digest(record_without_hash: &Value) -> String {
    hex(&Sha256::digest(canonical::to_vec(record_without_hash)))
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

    #[test]
    fn sealing_into_a_batch_writes_the_lines_seal_makes() {
        let (mut one, mut batched) = (Chain::new(), Chain::new());
        let mut lines = String::from("earlier\n");
        let mut batch = lines.clone().into_bytes();
        for i in 0..3 {
            let event = json!({"n": i, "s": "é\"x"});
            let record = one.seal("2026-11-26T00:00:00Z", &event);
            lines.push_str(&record.line);
            lines.push('\n');
            let seq = batched.seal_into("2026-11-26T00:00:00Z", &event, &mut batch);
            batch.push(b'\n');
            assert_eq!(seq, record.seq);
        }
        assert_eq!(String::from_utf8(batch).unwrap(), lines);
        assert_eq!(one, batched);
    }
}
