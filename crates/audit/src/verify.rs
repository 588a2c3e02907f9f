//! Walking a chain and naming the first record that does not follow.

use std::fmt;

use std::borrow::Cow;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::chain::{GENESIS, digest, hex_pair};

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
    /// The log ends before a signed checkpoint says it reached: records were cut off its end.
    Truncated {
        /// Records the log has.
        records: u64,
        /// Records a signed checkpoint shows it had at least.
        signed: u64,
    },
    /// A checkpoint whose signature does not verify, or that does not match the chain or the
    /// latest checkpoint kept beside the log (the chain was rewritten).
    ForgedCheckpoint(String),
}

impl Tampering {
    /// The kind's name, for JSON output.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Edited => "edited",
            Self::Deleted { .. } => "deleted",
            Self::Inserted { .. } => "inserted",
            Self::Reordered => "reordered",
            Self::Unlinked => "unlinked",
            Self::Truncated { .. } => "truncated",
            Self::ForgedCheckpoint(_) => "forged-checkpoint",
        }
    }
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
            Self::Truncated { records, signed } => write!(
                f,
                "truncated after a checkpoint: the log ends after {records} record(s), a \
                 signed checkpoint shows it had at least {signed}"
            ),
            Self::ForgedCheckpoint(why) => write!(f, "forged checkpoint: {why}"),
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

struct Parsed<'a> {
    seq: u64,
    prev: Cow<'a, str>,
    hash: Cow<'a, str>,
    hash_ok: bool,
}

fn parse(line: &str) -> Result<Parsed<'_>, String> {
    match parse_canonical(line) {
        Some(p) => Ok(p),
        None => parse_general(line),
    }
}

/// A line laid out exactly as the writer lays it out — `{"event":E,"hash":"H","prev":"P",
/// "seq":N,"time":"T"}` — read without parsing `E`: the hash input is the line without its
/// `,"hash":"H"` member, hashed in place. Read from the end, where no member can be confused
/// with text inside `E` (a string cannot hold an unescaped quote). `None` for any other layout,
/// which the general reader then explains.
fn parse_canonical(line: &str) -> Option<Parsed<'_>> {
    let f = fields(line)?;
    let mut sum = Sha256::new();
    sum.update(line.get(..f.hash_from)?.as_bytes());
    sum.update(line.get(f.hash_to..)?.as_bytes());
    let hash_ok = hex_eq(&sum.finalize(), f.hash);
    Some(Parsed {
        seq: f.seq,
        prev: Cow::Borrowed(f.prev),
        hash: Cow::Borrowed(f.hash),
        hash_ok,
    })
}

/// The members of a record laid out as the writer lays it out, read from the end.
struct Fields<'a> {
    seq: u64,
    prev: &'a str,
    hash: &'a str,
    /// Where the `,"hash":"…"` member starts and ends in the line.
    hash_from: usize,
    hash_to: usize,
}

fn fields(line: &str) -> Option<Fields<'_>> {
    const HASH: &str = ",\"hash\":\"";
    const PREV: &str = ",\"prev\":\"";
    const SEQ: &str = ",\"seq\":";
    const TIME: &str = ",\"time\":\"";
    let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let body = line.strip_prefix("{\"event\":")?.strip_suffix("\"}")?;
    let t = body.rfind(TIME)?;
    let time = body.get(t + TIME.len()..)?;
    if time.contains(['"', '\\']) {
        return None;
    }
    let s = body.get(..t)?.rfind(SEQ)?;
    let seq_text = body.get(s + SEQ.len()..t)?;
    if seq_text.is_empty()
        || !seq_text.bytes().all(|b| b.is_ascii_digit())
        || (seq_text.len() > 1 && seq_text.starts_with('0'))
    {
        return None;
    }
    let seq: u64 = seq_text.parse().ok()?;
    let p = s.checked_sub(PREV.len() + 64 + 1)?;
    let prev = body.get(p..s)?.strip_prefix(PREV)?.strip_suffix('"')?;
    let h = p.checked_sub(HASH.len() + 64 + 1)?;
    let hash = body.get(h..p)?.strip_prefix(HASH)?.strip_suffix('"')?;
    if !hex(prev) || !hex(hash) || h == 0 {
        return None;
    }
    // The line's offsets of the `hash` member: after `{"event":` (9 bytes).
    Some(Fields {
        seq,
        prev,
        hash,
        hash_from: h + 9,
        hash_to: p + 9,
    })
}

/// The sequence number and hash of a record laid out as the writer lays it out, read without
/// parsing its event (a writer continuing the chain needs no more); `None` for another layout.
pub(crate) fn seq_and_hash(line: &str) -> Option<(u64, &str)> {
    fields(line).map(|f| (f.seq, f.hash))
}

/// Whether `hex` is `bytes` in lowercase hex.
fn hex_eq(bytes: &[u8], hex: &str) -> bool {
    hex.len() == bytes.len() * 2
        && bytes
            .iter()
            .zip(hex.as_bytes().chunks_exact(2))
            .all(|(&b, pair)| hex_pair(b) == pair)
}

fn parse_general(line: &str) -> Result<Parsed<'static>, String> {
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
        prev: Cow::Owned(prev),
        hash: Cow::Owned(hash),
        hash_ok,
    })
}

/// Records below which one thread parses and hashes them all.
const PARALLEL_FROM: usize = 4096;

/// Every line parsed and its hash checked, in order; on all cores for long logs.
fn parse_all<'a>(lines: &[&'a str]) -> Vec<Result<Parsed<'a>, String>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(16));
    if lines.len() < PARALLEL_FROM || threads < 2 {
        return lines.iter().map(|l| parse(l)).collect();
    }
    let chunk = lines.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = lines
            .chunks(chunk)
            .map(|part| {
                let handle = scope.spawn(move || part.iter().map(|l| parse(l)).collect::<Vec<_>>());
                (part.len(), handle)
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|(n, h)| {
                // A thread that failed verified nothing: every one of its records is bad.
                h.join().unwrap_or_else(|_| {
                    (0..n)
                        .map(|_| Err("the verifying thread failed".into()))
                        .collect()
                })
            })
            .collect()
    })
}

/// Verify a chain from its first record. Blank lines are not allowed (a writer never writes
/// one); the walk stops at the first problem.
pub fn verify<'a>(lines: impl IntoIterator<Item = &'a str>) -> Report {
    verify_from(lines, 0, GENESIS)
}

/// Verify a whole log: from record 0, or — when retention removed its oldest segments — from
/// the first record kept, provided a retention record later in the chain accounts for exactly
/// that start (its `first_kept_seq` and `prev`). Returns the report and where the log starts.
/// Without such a record, a log that does not start at 0 was cut at the front: deleted.
pub fn verify_log(lines: &[&str]) -> (Report, u64) {
    let start = lines.first().and_then(|l| parse(l).ok()).and_then(|first| {
        if first.seq == 0 {
            return None;
        }
        let accounted = lines
            .iter()
            .filter(|l| l.starts_with("{\"event\":{\"retention\":"))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|r| {
                let kept = r.get("event").and_then(|e| e.get("retention"));
                let field = |k: &str| kept.and_then(|v| v.get(k));
                field("first_kept_seq").and_then(Value::as_u64) == Some(first.seq)
                    && field("prev").and_then(Value::as_str) == Some(&*first.prev)
            });
        accounted.then(|| (first.seq, first.prev.into_owned()))
    });
    match start {
        Some((seq, prev)) => (verify_from(lines.iter().copied(), seq, &prev), seq),
        None => (verify(lines.iter().copied()), 0),
    }
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
    // Records verify in sequence from `seq`, so the numbers seen so far are `seq..expected`.
    let start = seq;
    // Each record's own hash does not depend on the others: they are checked on every core,
    // and the links between them in order.
    let parsed = parse_all(&lines);
    for (i, p) in parsed.into_iter().enumerate() {
        let at = i + 1;
        let fail = |seq, kind| {
            Some(Problem {
                line: at,
                seq,
                kind,
            })
        };
        let p = match p {
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
            let seen = (start..expected).contains(&p.seq);
            let kind = if seen || p.seq < expected {
                if seen {
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
        report.records += 1;
        report.last_hash.clear();
        report.last_hash.push_str(&p.hash);
        expected = expected.saturating_add(1);
    }
    report
}

#[cfg(test)]
mod tests;
