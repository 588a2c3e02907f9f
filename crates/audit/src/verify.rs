//! Walking a chain and naming the first record that does not follow.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use crate::chain::{GENESIS, digest};

/// What is wrong with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tampering {
    /// Not a record: not JSON, or a field missing or of the wrong type.
    Malformed(String),
    /// Its content does not match its hash: changed after it was written.
    Edited,
    /// Records before it are missing: its sequence number skips `count` that appear nowhere.
    Deleted {
        /// How many are missing.
        count: u64,
    },
    /// It repeats a sequence number already used (a record was added, or copied, before it).
    Inserted {
        /// The sequence number it repeats.
        seq: u64,
    },
    /// It stands out of order: records it skips over appear later.
    Reordered,
    /// Its hash is right but it does not point back to the record before it.
    Unlinked,
}

impl fmt::Display for Tampering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed: {why}"),
            Self::Edited => f.write_str("edited: its content does not match its hash"),
            Self::Deleted { count } => {
                write!(f, "deleted: {count} record(s) before it are missing")
            }
            Self::Inserted { seq } => {
                write!(f, "inserted: sequence number {seq} is used twice")
            }
            Self::Reordered => f.write_str("reordered: records it skips over come later"),
            Self::Unlinked => {
                f.write_str("unlinked: it does not point back to the record before it")
            }
        }
    }
}

/// The first bad record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Its line, from 1.
    pub line: usize,
    /// Its sequence number, when it has one.
    pub seq: Option<u64>,
    /// What is wrong.
    pub kind: Tampering,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "line {} (record {seq}): {}", self.line, self.kind),
            None => write!(f, "line {}: {}", self.line, self.kind),
        }
    }
}

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Records that verified, before the first problem.
    pub records: u64,
    /// The last good record's hash (the genesis value when there is none).
    pub last_hash: String,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

struct Parsed {
    seq: u64,
    prev: String,
    hash: String,
    hash_ok: bool,
}

fn parse(line: &str) -> Result<Parsed, String> {
    let mut v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let fields = v.as_object_mut().ok_or("not a JSON object")?;
    let hash = match fields.remove("hash") {
        Some(Value::String(h)) => h,
        _ => return Err("no `hash` string".into()),
    };
    let seq = fields
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or("no `seq` number")?;
    let prev = fields
        .get("prev")
        .and_then(Value::as_str)
        .ok_or("no `prev` string")?
        .to_owned();
    if !fields.get("time").is_some_and(Value::is_string) || !fields.contains_key("event") {
        return Err("no `time` string or no `event`".into());
    }
    let hash_ok = digest(&v) == hash;
    Ok(Parsed {
        seq,
        prev,
        hash,
        hash_ok,
    })
}

/// Verify a chain from its first record. Blank lines are not allowed (a writer never writes
/// one); the walk stops at the first problem.
pub fn verify<'a>(lines: impl IntoIterator<Item = &'a str>) -> Report {
    verify_from(lines, 0, GENESIS)
}

/// Verify records that continue a chain whose last good record was `seq - 1` with `prev`.
pub fn verify_from<'a>(lines: impl IntoIterator<Item = &'a str>, seq: u64, prev: &str) -> Report {
    let lines: Vec<&str> = lines.into_iter().collect();
    let mut report = Report {
        records: 0,
        last_hash: prev.to_owned(),
        problem: None,
    };
    let mut expected = seq;
    // Where each sequence number was seen, to tell an insertion from a reordering.
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        let at = i + 1;
        let fail = |seq, kind| {
            Some(Problem {
                line: at,
                seq,
                kind,
            })
        };
        let p = match parse(line) {
            Ok(p) => p,
            Err(why) => {
                report.problem = fail(None, Tampering::Malformed(why));
                return report;
            }
        };
        if !p.hash_ok {
            report.problem = fail(Some(p.seq), Tampering::Edited);
            return report;
        }
        if p.seq != expected {
            let kind = if seen.contains_key(&p.seq) || p.seq < expected {
                if seen.contains_key(&p.seq) {
                    Tampering::Inserted { seq: p.seq }
                } else {
                    Tampering::Reordered
                }
            } else {
                // Skipped records that turn up later mean reordering, not deletion.
                let later = lines
                    .iter()
                    .skip(i + 1)
                    .filter_map(|l| parse(l).ok())
                    .any(|q| q.seq >= expected && q.seq < p.seq);
                if later {
                    Tampering::Reordered
                } else {
                    Tampering::Deleted {
                        count: p.seq - expected,
                    }
                }
            };
            report.problem = fail(Some(p.seq), kind);
            return report;
        }
        if p.prev != report.last_hash {
            report.problem = fail(Some(p.seq), Tampering::Unlinked);
            return report;
        }
        seen.insert(p.seq, at);
        report.records += 1;
        report.last_hash = p.hash;
        expected = expected.saturating_add(1);
    }
    report
}

#[cfg(test)]
mod tests;
