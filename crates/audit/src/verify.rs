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

#[derive(Debug)]
struct Parsed<'a> {
    seq: u64,
    prev: Cow<'a, str>,
    hash: Cow<'a, str>,
    hash_ok: bool,
    /// Whether `prev` is the hash of the line before, when that line was read in the same
    /// thread and is a record (the walk then need not compare them again).
    linked: Option<bool>,
}

/// Note on `p` whether it points back to `before`, the line read before it.
fn link(before: Option<&Checked<'_>>, p: &mut Checked<'_>) {
    if let (Some(Ok(q)), Ok(p)) = (before, p) {
        p.linked = Some(p.prev == q.hash);
    }
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
        linked: None,
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
    const HASH: &[u8] = b",\"hash\":\"";
    const PREV: &[u8] = b",\"prev\":\"";
    const SEQ: &[u8] = b",\"seq\":";
    const TIME: &[u8] = b",\"time\":\"";
    const HEX: usize = 64;
    // Without an early exit, so it is checked in vector steps.
    let hex = |s: &[u8]| {
        s.len() == HEX
            && s.iter().fold(true, |ok, &b| {
                ok & (b.is_ascii_digit() | (b'a'..=b'f').contains(&b))
            })
    };
    // Byte by byte from the end: the trailer has a fixed shape, so no substring search is
    // needed (this runs once per record, beside hashing it).
    let body = line
        .as_bytes()
        .strip_prefix(b"{\"event\":")?
        .strip_suffix(b"\"}")?;
    // `time` is the last string: everything after the body's last quote.
    let q = body.iter().rposition(|&b| b == b'"')?;
    if body.get(q + 1..)?.contains(&b'\\') {
        return None;
    }
    let before_time = body.get(..=q)?.strip_suffix(TIME)?;
    let digits = before_time
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let seq_at = before_time.len() - digits;
    let seq_text = before_time.get(seq_at..)?;
    if digits == 0 || (digits > 1 && seq_text.first() == Some(&b'0')) {
        return None;
    }
    let seq = seq_text.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?
            .checked_add(u64::from(d.wrapping_sub(b'0')))
    })?;
    let before_seq = before_time.get(..seq_at)?.strip_suffix(SEQ)?;
    let prev = before_seq.strip_suffix(b"\"")?;
    let p = prev.len().checked_sub(HEX)?;
    let (before_prev, prev) = (prev.get(..p)?.strip_suffix(PREV)?, prev.get(p..)?);
    let hash = before_prev.strip_suffix(b"\"")?;
    let h = hash.len().checked_sub(HEX)?;
    let (event, hash) = (hash.get(..h)?.strip_suffix(HASH)?, hash.get(h..)?);
    if !hex(prev) || !hex(hash) || event.is_empty() {
        return None;
    }
    // The line's offsets of the `hash` member: after `{"event":` (9 bytes), from the end of the
    // event to the start of `prev`. Both values are ASCII, so slicing the line at them is exact.
    let hash_from = event.len() + 9;
    let hash_to = before_prev.len() + 9;
    let at = |from: usize| line.get(from..from + HEX);
    Some(Fields {
        seq,
        prev: at(hash_to + PREV.len())?,
        hash: at(hash_from + HASH.len())?,
        hash_from,
        hash_to,
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
        linked: None,
    })
}

/// Bytes of log below which one thread splits, parses and hashes it all.
const PARALLEL_FROM: usize = 1 << 20;

type Checked<'a> = Result<Parsed<'a>, String>;

/// A log's lines, each parsed and checked against its own hash — the part of verification
/// that does not depend on the other records, done on every core for long logs. What
/// [`verify_log`] walks.
#[derive(Debug, Default)]
pub struct Lines<'a> {
    lines: Vec<&'a str>,
    checked: Vec<Checked<'a>>,
}

impl<'a> Lines<'a> {
    /// The lines of a log from the text of its segments (each whole lines, as
    /// [`store::read_segments`](crate::store::read_segments) returns them), split as
    /// `str::lines` splits them. A thread splits its share and checks each line while it is
    /// still in its cache.
    pub fn of_segments(segments: &[&'a str]) -> Self {
        Self::split(segments, true)
    }

    /// Split on every core for long logs; check each line too when `check`.
    fn split(segments: &[&'a str], check: bool) -> Self {
        let threads = threads();
        let total: usize = segments.iter().map(|t| t.len()).sum();
        if total < PARALLEL_FROM || threads < 2 {
            return Self::of_share(segments, check);
        }
        let shares = shares(segments, total.div_ceil(threads));
        let parts: Vec<Self> = std::thread::scope(|scope| {
            let handles: Vec<_> = shares
                .iter()
                .map(|share| scope.spawn(move || Self::of_share(share, check)))
                .collect();
            handles
                .into_iter()
                .zip(&shares)
                // A thread that failed checked nothing: its share is done here.
                .map(|(h, share)| h.join().unwrap_or_else(|_| Self::of_share(share, check)))
                .collect()
        });
        let mut out = Self::default();
        let n = parts.iter().map(|p| p.lines.len()).sum();
        out.lines.reserve_exact(n);
        out.checked.reserve_exact(if check { n } else { 0 });
        for part in parts {
            out.lines.extend(part.lines);
            out.checked.extend(part.checked);
        }
        out
    }

    /// Lines already split.
    pub fn from_lines(lines: Vec<&'a str>) -> Self {
        let checked = check_all(&lines);
        Self { lines, checked }
    }

    /// The lines, in order.
    pub fn as_slice(&self) -> &[&'a str] {
        &self.lines
    }

    /// The pieces of text split as `str::lines` splits them (with a vectorised search for
    /// newlines), each line checked when `check`.
    fn of_share(pieces: &[&'a str], check: bool) -> Self {
        let mut out = Self::default();
        let mut push = |line: &'a str| {
            out.lines.push(line);
            if check {
                let mut p = parse(line);
                link(out.checked.last(), &mut p);
                out.checked.push(p);
            }
        };
        for text in pieces {
            let mut from = 0;
            for end in memchr::memchr_iter(b'\n', text.as_bytes()) {
                let line = text.get(from..end).unwrap_or_default();
                push(line.strip_suffix('\r').unwrap_or(line));
                from = end + 1;
            }
            // A last line without a newline keeps a `\r` it ends with, as `str::lines` does.
            if let Some(last) = text.get(from..).filter(|l| !l.is_empty()) {
                push(last);
            }
        }
        out
    }
}

/// The lines of a log from the text of its segments, as [`Lines::of_segments`] splits them.
pub fn lines<'a>(segments: &[&'a str]) -> Vec<&'a str> {
    Lines::split(segments, false).lines
}

/// How many threads verification uses.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(16))
}

/// The segments' text cut into consecutive shares of about `per` bytes, each piece of a share
/// ending after a newline or at the end of its segment.
fn shares<'a>(segments: &[&'a str], per: usize) -> Vec<Vec<&'a str>> {
    let mut shares: Vec<Vec<&str>> = vec![Vec::new()];
    let mut size = 0;
    for &text in segments {
        let mut rest = text;
        while !rest.is_empty() {
            let room = per.saturating_sub(size);
            let cut = if rest.len() <= room {
                rest.len()
            } else {
                rest.as_bytes()
                    .get(room..)
                    .and_then(|tail| memchr::memchr(b'\n', tail))
                    .map_or(rest.len(), |i| room + i + 1)
            };
            let (head, tail) = rest.split_at_checked(cut).unwrap_or((rest, ""));
            if let Some(share) = shares.last_mut() {
                share.push(head);
            }
            size += head.len();
            rest = tail;
            if size >= per {
                shares.push(Vec::new());
                size = 0;
            }
        }
    }
    shares
}

/// Lines below which one thread checks lines already split.
const CHECK_PARALLEL_FROM: usize = 4096;

/// Every line parsed and its hash checked, in order; on all cores for long logs.
fn check_all<'a>(lines: &[&'a str]) -> Vec<Checked<'a>> {
    let threads = threads();
    if lines.len() < CHECK_PARALLEL_FROM || threads < 2 {
        return check_run(lines);
    }
    let chunk = lines.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = lines
            .chunks(chunk)
            .map(|part| {
                let handle = scope.spawn(move || check_run(part));
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

/// Consecutive lines parsed, each hash checked and each link to the line before.
fn check_run<'a>(lines: &[&'a str]) -> Vec<Checked<'a>> {
    let mut out: Vec<Checked<'a>> = Vec::with_capacity(lines.len());
    for line in lines {
        let mut p = parse(line);
        link(out.last(), &mut p);
        out.push(p);
    }
    out
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
pub fn verify_log(log: &Lines<'_>) -> (Report, u64) {
    let mut v = Verifier::new();
    v.feed(log, |_, _| {});
    v.finish()
}

/// Verify records that continue a chain whose last good record was `seq - 1` with `prev`.
pub fn verify_from<'a>(lines: impl IntoIterator<Item = &'a str>, seq: u64, prev: &str) -> Report {
    verify_lines(&Lines::from_lines(lines.into_iter().collect()), seq, prev)
}

/// Verify checked lines that continue a chain whose last good record was `seq - 1` with
/// `prev`.
pub fn verify_lines(log: &Lines<'_>, seq: u64, prev: &str) -> Report {
    let mut v = Verifier::after(seq, prev);
    v.feed(log, |_, _| {});
    v.finish().0
}

/// How a record that is a retention record starts, as the writer lays it out.
const RETENTION_PREFIX: &str = "{\"event\":{\"retention\":";

/// Verification of a log fed a part at a time ([`Lines`] of consecutive text), so that a log
/// of any size is verified in bounded memory ([`store::verify_dir`](crate::store::verify_dir)
/// reads it so). The report is the one [`verify_log`] gives for the whole log at once.
#[derive(Debug)]
pub struct Verifier {
    /// Lines fed so far.
    line: usize,
    records: u64,
    /// Where the walk started, and the sequence number the next record must have.
    start: u64,
    expected: u64,
    last_hash: String,
    problem: Option<Problem>,
    /// After a problem of records missing (`seq` in `lo..hi`): they may still turn up later,
    /// which makes it reordering.
    gap: Option<(u64, u64)>,
    /// Whether the log starts where the chain does (record 0), or may start after records
    /// retention removed.
    from_log_start: bool,
    /// The first record did not have sequence number 0: its number and `prev`, until a retention
    /// record accounts for them (the walk goes on as if one will).
    unaccounted: Option<(u64, String)>,
    /// With `unaccounted`: a record after the first has a lower sequence number.
    lower_later: bool,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    /// A whole log, from its first record (see [`verify_log`]).
    pub fn new() -> Self {
        Self {
            from_log_start: true,
            ..Self::after(0, GENESIS)
        }
    }

    /// Records that continue a chain whose last good record was `seq - 1` with `prev`.
    pub fn after(seq: u64, prev: &str) -> Self {
        Self {
            line: 0,
            records: 0,
            start: seq,
            expected: seq,
            last_hash: prev.to_owned(),
            problem: None,
            gap: None,
            from_log_start: false,
            unaccounted: None,
            lower_later: false,
        }
    }

    /// Whether lines still to come can change the report: no problem yet, or one whose kind
    /// depends on what follows.
    pub fn wants_more(&self) -> bool {
        self.problem.is_none() || self.gap.is_some() || self.unaccounted.is_some()
    }

    /// Count a line that could not be read as text (`why`): malformed.
    pub fn unreadable(&mut self, why: &str) {
        self.line += 1;
        if self.problem.is_none() {
            self.problem = Some(Problem {
                line: self.line,
                seq: None,
                kind: Tampering::Malformed(why.to_owned()),
            });
        }
    }

    /// Walk the next lines of the log; `verified` is called with the line number (from 1) and
    /// text of each record that verifies, in order. (Should [`finish`](Self::finish) find that
    /// nothing accounts for where the log starts, it reports no record verified after all.)
    pub fn feed<'a>(&mut self, log: &Lines<'a>, mut verified: impl FnMut(usize, &'a str)) {
        // The last good record in this part: its hash is copied out only at the end.
        let mut last: Option<&Parsed<'_>> = None;
        for (checked, &text) in log.checked.iter().zip(&log.lines) {
            self.line += 1;
            let at = self.line;
            if self.from_log_start && at == 1 {
                self.first_record(checked);
            }
            self.retention(checked, text);
            if self.problem.is_some() {
                self.after_problem(checked);
                continue;
            }
            let fail = |seq, kind| {
                Some(Problem {
                    line: at,
                    seq,
                    kind,
                })
            };
            let p = match checked {
                Ok(p) => p,
                Err(why) => {
                    self.problem = fail(None, Tampering::Malformed(why.clone()));
                    continue;
                }
            };
            if !p.hash_ok {
                self.problem = fail(Some(p.seq), Tampering::Edited);
                continue;
            }
            if p.seq != self.expected {
                let seen = (self.start..self.expected).contains(&p.seq);
                let kind = if seen {
                    Tampering::Inserted { seq: p.seq }
                } else if p.seq < self.expected {
                    Tampering::Reordered
                } else {
                    // Records skipped that turn up later mean reordering, not deletion.
                    self.gap = Some((self.expected, p.seq));
                    Tampering::Deleted {
                        count: p.seq - self.expected,
                    }
                };
                self.problem = fail(Some(p.seq), kind);
                continue;
            }
            let linked = p.linked.unwrap_or_else(|| match last {
                Some(q) => p.prev == q.hash,
                None => p.prev == self.last_hash,
            });
            if !linked {
                self.problem = fail(Some(p.seq), Tampering::Unlinked);
                continue;
            }
            self.records += 1;
            self.expected = self.expected.saturating_add(1);
            last = Some(p);
            verified(at, text);
        }
        if let Some(q) = last {
            self.last_hash.clear();
            self.last_hash.push_str(&q.hash);
        }
    }

    /// The first line of a whole log: a first record numbered above 0 starts the walk there,
    /// provided a retention record accounts for it by the end.
    fn first_record(&mut self, checked: &Checked<'_>) {
        if let Ok(first) = checked
            && first.seq != 0
        {
            self.start = first.seq;
            self.expected = first.seq;
            self.last_hash = first.prev.to_string();
            self.unaccounted = Some((first.seq, first.prev.to_string()));
        }
    }

    /// Whether this line is the retention record that accounts for where the log starts.
    fn retention(&mut self, checked: &Checked<'_>, text: &str) {
        let Some((seq, prev)) = &self.unaccounted else {
            return;
        };
        if self.line > 1 && checked.as_ref().is_ok_and(|q| q.seq < *seq) {
            self.lower_later = true;
        }
        if !text.starts_with(RETENTION_PREFIX) {
            return;
        }
        let Ok(r) = serde_json::from_str::<Value>(text) else {
            return;
        };
        let kept = r.get("event").and_then(|e| e.get("retention"));
        let field = |k: &str| kept.and_then(|v| v.get(k));
        if field("first_kept_seq").and_then(Value::as_u64) == Some(*seq)
            && field("prev").and_then(Value::as_str) == Some(prev.as_str())
        {
            self.unaccounted = None;
        }
    }

    /// A line after the first problem: does it turn a deletion into reordering?
    fn after_problem(&mut self, checked: &Checked<'_>) {
        let (Some((lo, hi)), Ok(q)) = (self.gap, checked) else {
            return;
        };
        if (lo..hi).contains(&q.seq) {
            self.gap = None;
            if let Some(p) = &mut self.problem {
                p.kind = Tampering::Reordered;
            }
        }
    }

    /// The report, and the sequence number the log starts at.
    pub fn finish(self) -> (Report, u64) {
        let Some((first_seq, _)) = self.unaccounted else {
            let report = Report {
                records: self.records,
                last_hash: self.last_hash,
                problem: self.problem,
            };
            return (report, self.start);
        };
        // Nothing accounts for where the log starts: walked from record 0, its first line
        // fails — edited, or records before it are missing (deleted, or reordered when some
        // turn up later).
        let kind = match self.problem {
            Some(Problem {
                line: 1,
                kind: Tampering::Edited,
                ..
            }) => Tampering::Edited,
            _ if self.lower_later => Tampering::Reordered,
            _ => Tampering::Deleted { count: first_seq },
        };
        let report = Report {
            records: 0,
            last_hash: GENESIS.to_owned(),
            problem: Some(Problem {
                line: 1,
                seq: Some(first_seq),
                kind,
            }),
        };
        (report, 0)
    }
}

#[cfg(test)]
mod tests;
