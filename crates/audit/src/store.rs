//! The log on disk — the one part of this crate that does I/O.
//!
//! Records are lines in numbered segment files under the log directory (`00000001.jsonl`,
//! `00000002.jsonl` …); the chain runs on from one segment to the next (a segment's first record
//! points back to the last hash of the one before). A batch of events is sealed, written with
//! one `write` and made durable with one `fsync` before [`Log::append`] returns: what it
//! acknowledges survives a crash of the writer or the machine. Several processes may append to
//! one log (every hook call is a process): each append holds an exclusive lock on the current
//! segment and first catches up with what others appended since. A line cut short by a crash
//! mid-`write` was never acknowledged; opening the log removes it.
//!
//! A segment is full once it reaches [`Policy::segment_bytes`]: every writer then moves on to
//! the next (all agree, as a segment only grows). When a new segment starts, [`Policy`]'s
//! retention removes the oldest segments past an age or a total size, after recording in the
//! chain what it removed (a `{"retention":…}` record), so that verification can tell retention
//! from deletion.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::chain::Chain;
use crate::checkpoint::{Checkpoint, LATEST, Signer};

/// The first segment.
pub const SEGMENT: &str = "00000001.jsonl";

/// When segments rotate and how long they are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A segment this large is full: the next record starts a new one.
    pub segment_bytes: u64,
    /// Remove the oldest segments while all of them together are larger than this.
    pub retain_bytes: Option<u64>,
    /// Remove segments whose last write is older than this.
    pub retain_age: Option<std::time::Duration>,
}

impl Default for Policy {
    /// 64 MiB segments, kept until an administrator says otherwise.
    fn default() -> Self {
        Self {
            segment_bytes: 64 << 20,
            retain_bytes: None,
            retain_age: None,
        }
    }
}

/// The name of segment `n` (from 1).
fn segment_name(n: u32) -> String {
    format!("{n:08}.jsonl")
}

/// The number of a segment file name, if it is one.
fn segment_number(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".jsonl")?;
    (digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The segments of the log in `dir`, oldest first: (number, path).
pub fn segments(dir: &Path) -> Result<Vec<(u32, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(StoreError::Io {
                what: "cannot list",
                path: dir.to_owned(),
                source,
            });
        }
    };
    for entry in entries {
        let entry = entry.map_err(io("cannot list", dir))?;
        if let Some(n) = entry.file_name().to_str().and_then(segment_number) {
            out.push((n, entry.path()));
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Bytes first read back from the end of a segment to find its last record (more when the
/// record is longer).
const TAIL: u64 = 8 << 10;
/// Room a batch of records starts with (about thirty proxy events); it grows as needed.
const BATCH_BYTES: usize = 64 << 10;
/// The largest batch buffer kept from one append to the next. A buffer allocated afresh for each
/// batch of a busy proxy (hundreds of kilobytes every few milliseconds) cost it page faults and
/// cold caches; one that an unusually large batch grew beyond this is let go.
const KEEP_BATCH_BYTES: usize = 8 << 20;

/// Why the log cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{what} `{path}`: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A record or the latest checkpoint cannot be read back.
    #[error("`{path}`: not readable ({why}); run `cordon audit verify`")]
    Tail {
        /// The segment.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// The error of a file system operation `what` on `path`.
fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_owned();
    move |source| StoreError::Io { what, path, source }
}

/// An open log.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    policy: Policy,
    /// The current segment's number, path and file.
    number: u32,
    path: PathBuf,
    file: File,
    chain: Chain,
    /// The segment's length after our last append or catch-up.
    len: u64,
    /// Whether the last record is a checkpoint (a second one would cover nothing new).
    last_is_checkpoint: bool,
    /// The last batch's buffer, kept for the next (see [`KEEP_BATCH_BYTES`]).
    batch: Vec<u8>,
}

impl Log {
    /// Open (or create) the log in `dir`, with the default [`Policy`].
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, Policy::default())
    }

    /// Open (or create) the log in `dir`, rotating and keeping segments as `policy` says.
    pub fn open_with(dir: &Path, policy: Policy) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
        let number = segments(dir)?.last().map_or(1, |(n, _)| *n);
        let path = dir.join(segment_name(number));
        let file = open_segment(&path)?;
        let mut log = Self {
            dir: dir.to_owned(),
            policy,
            number,
            path,
            file,
            chain: Chain::new(),
            len: 0,
            last_is_checkpoint: false,
            batch: Vec::new(),
        };
        log.file.lock().map_err(io("cannot lock", &log.path))?;
        let caught_up = log.settle(None);
        let _ = log.file.unlock();
        caught_up?;
        Ok(log)
    }

    /// Under the lock: catch up with what others wrote, and move on from full segments; when
    /// `writing` at a time, start a new segment when the current one is full (and apply
    /// retention, recorded at that time).
    fn settle(&mut self, writing: Option<&str>) -> Result<(), StoreError> {
        if self.file_len()? != self.len || self.len == 0 {
            self.catch_up()?;
        }
        // Bounded: each step moves to a segment that exists already, or creates the last one.
        for _ in 0..u32::MAX {
            if self.len < self.policy.segment_bytes.max(1) {
                return Ok(());
            }
            let next = self.number.saturating_add(1);
            let path = self.dir.join(segment_name(next));
            let exists = path.exists();
            let time = match (exists, writing) {
                (false, None) => return Ok(()),
                (_, time) => time.unwrap_or_default(),
            };
            let file = open_segment(&path)?;
            file.lock().map_err(io("cannot lock", &path))?;
            let _ = self.file.unlock();
            self.file = file;
            self.path = path;
            self.number = next;
            self.len = 0;
            if exists {
                self.catch_up()?;
            } else {
                // A new segment: the chain runs on from the last record of the one before.
                self.retain(time)?;
                return Ok(());
            }
        }
        Ok(())
    }
    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seal `events` at `time` and make them durable. Returns the last record's sequence
    /// number (none for no events): everything up to it is acknowledged.
    pub fn append<E: crate::canonical::Sealable>(
        &mut self,
        time: &str,
        events: impl IntoIterator<Item = E>,
    ) -> Result<Option<u64>, StoreError> {
        self.file.lock().map_err(io("cannot lock", &self.path))?;
        let result = self.append_locked(time, events);
        let _ = self.file.unlock();
        result
    }

    fn append_locked<E: crate::canonical::Sealable>(
        &mut self,
        time: &str,
        events: impl IntoIterator<Item = E>,
    ) -> Result<Option<u64>, StoreError> {
        self.settle(Some(time))?;
        // Each record is sealed straight into the batch, one `write` for all of them.
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        batch.reserve(BATCH_BYTES);
        let mut last = None;
        for event in events {
            last = Some(self.chain.seal_into(time, event, &mut batch));
            batch.push(b'\n');
        }
        let written = if batch.is_empty() {
            Ok(())
        } else {
            self.write_durably(&batch)
        };
        if batch.capacity() <= KEEP_BATCH_BYTES {
            self.batch = batch;
        }
        written?;
        if last.is_some() {
            self.last_is_checkpoint = false;
        }
        Ok(last)
    }

    fn write_durably(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.file
            .write_all(bytes)
            .map_err(io("cannot append to", &self.path))?;
        self.file
            .sync_data()
            .map_err(io("cannot flush", &self.path))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Sign a checkpoint of the chain's last record at `time`, append it and keep it as the
    /// latest (`checkpoint.json`, replaced atomically). `None` when there is nothing new to
    /// cover: no records, or a checkpoint is already the last one.
    pub fn checkpoint(
        &mut self,
        time: &str,
        signer: &dyn Signer,
    ) -> Result<Option<Checkpoint>, StoreError> {
        self.file.lock().map_err(io("cannot lock", &self.path))?;
        let result = self.checkpoint_locked(time, signer);
        let _ = self.file.unlock();
        result
    }

    fn checkpoint_locked(
        &mut self,
        time: &str,
        signer: &dyn Signer,
    ) -> Result<Option<Checkpoint>, StoreError> {
        self.settle(Some(time))?;
        let Some(last) = self.chain.next_seq().checked_sub(1) else {
            return Ok(None);
        };
        if self.last_is_checkpoint {
            return Ok(None);
        }
        let cp = Checkpoint::sign(last, self.chain.prev(), time, signer);
        let mut line = self.chain.seal(time, cp.to_event()).line.into_bytes();
        line.push(b'\n');
        self.write_durably(&line)?;
        self.last_is_checkpoint = true;
        // The latest checkpoint beside the segments: written whole, then renamed over the old
        // one, so a crash leaves the old or the new, never half of one.
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let latest = dir.join(LATEST);
        let tmp = dir.join(format!("{LATEST}.tmp"));
        let mut text = cp.to_value().to_string();
        text.push('\n');
        let mut f = File::create(&tmp).map_err(io("cannot create", &tmp))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io("cannot write", &tmp))?;
        std::fs::rename(&tmp, &latest).map_err(io("cannot replace", &latest))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("cannot flush", dir))?;
        Ok(Some(cp))
    }

    fn file_len(&self) -> Result<u64, StoreError> {
        Ok(self
            .file
            .metadata()
            .map_err(io("cannot stat", &self.path))?
            .len())
    }

    /// Read the segment's end: drop a line a crash cut short, and continue the chain from the
    /// last record (of an earlier segment when this one has none yet).
    fn catch_up(&mut self) -> Result<(), StoreError> {
        let (len, mut line) = last_line(&self.file, &self.path, true)?;
        self.len = len;
        if line.is_none() {
            for (n, path) in segments(&self.dir)?.into_iter().rev() {
                if n >= self.number {
                    continue;
                }
                let file = File::open(&path).map_err(io("cannot open", &path))?;
                line = last_line(&file, &path, false)?.1;
                if line.is_some() {
                    break;
                }
            }
        }
        let Some(line) = line else {
            self.chain = Chain::new();
            self.last_is_checkpoint = false;
            return Ok(());
        };
        // The writer's own layout is read from the end, without parsing the event.
        if let Some((seq, hash)) = std::str::from_utf8(&line)
            .ok()
            .and_then(crate::verify::seq_and_hash)
        {
            self.chain = Chain::after(seq, hash);
            self.last_is_checkpoint = line.starts_with(b"{\"event\":{\"checkpoint\":");
            return Ok(());
        }
        let tail_error = |why: String| StoreError::Tail {
            path: self.path.clone(),
            why,
        };
        let record: Value = serde_json::from_slice(&line).map_err(|e| tail_error(e.to_string()))?;
        let seq = record
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| tail_error("no `seq`".into()))?;
        let hash = record
            .get("hash")
            .and_then(Value::as_str)
            .ok_or_else(|| tail_error("no `hash`".into()))?;
        self.chain = Chain::after(seq, hash);
        self.last_is_checkpoint = record
            .get("event")
            .and_then(Checkpoint::from_event)
            .is_some();
        Ok(())
    }

    /// Apply retention, at the start of a new segment (which is empty, so never removed):
    /// record what goes, then remove it.
    fn retain(&mut self, time: &str) -> Result<(), StoreError> {
        if self.policy.retain_bytes.is_none() && self.policy.retain_age.is_none() {
            return Ok(());
        }
        let all = segments(&self.dir)?;
        let mut sizes = Vec::new();
        for (n, path) in &all {
            let meta = std::fs::metadata(path).map_err(io("cannot stat", path))?;
            let age = meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .unwrap_or_default();
            sizes.push((*n, path.clone(), meta.len(), age));
        }
        let mut total: u64 = sizes.iter().map(|s| s.2).sum();
        let mut remove = Vec::new();
        for (n, path, len, age) in &sizes {
            if *n >= self.number {
                break;
            }
            let too_old = self.policy.retain_age.is_some_and(|max| *age > max);
            let too_big = self.policy.retain_bytes.is_some_and(|max| total > max);
            if !(too_old || too_big) {
                break;
            }
            total = total.saturating_sub(*len);
            remove.push((*n, path.clone()));
        }
        let Some(&(last_removed, _)) = remove.last() else {
            return Ok(());
        };
        // The first record kept is the first of the segment after the last one removed.
        let kept = self.dir.join(segment_name(last_removed.saturating_add(1)));
        let first = first_record(&kept)?;
        let (first_seq, prev) = match &first {
            Some(r) => (
                r.get("seq").and_then(Value::as_u64),
                r.get("prev").and_then(Value::as_str).map(str::to_owned),
            ),
            // The kept segment is the new, empty one: the chain runs on from here.
            None => (
                Some(self.chain.next_seq()),
                Some(self.chain.prev().to_owned()),
            ),
        };
        let (Some(first_seq), Some(prev)) = (first_seq, prev) else {
            return Err(StoreError::Tail {
                path: kept,
                why: "its first record has no `seq` or `prev`".into(),
            });
        };
        let names: Vec<String> = remove.iter().map(|(n, _)| segment_name(*n)).collect();
        let event = serde_json::json!({"retention": {
            "removed": names, "first_kept_seq": first_seq, "prev": prev,
        }});
        // Recorded (and made durable) before anything is removed.
        let mut line = self.chain.seal(time, event).line.into_bytes();
        line.push(b'\n');
        self.write_durably(&line)?;
        self.last_is_checkpoint = false;
        for (_, path) in remove {
            std::fs::remove_file(&path).map_err(io("cannot remove", &path))?;
        }
        Ok(())
    }
}

/// Open a segment for reading and appending, creating it if needed.
fn open_segment(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(io("cannot open", path))
}

/// The first record of a segment, if it has one.
fn first_record(path: &Path) -> Result<Option<Value>, StoreError> {
    use std::io::BufRead as _;
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::Io {
                what: "cannot open",
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut line = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut line)
        .map_err(io("cannot read", path))?;
    if !line.ends_with('\n') {
        return Ok(None);
    }
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| StoreError::Tail {
            path: path.to_owned(),
            why: e.to_string(),
        })
}

/// A segment's length once a line a crash cut short is dropped (with `truncate`, dropped from
/// the file too), and its last complete line. Reads back from the end, more each time, until the
/// last complete record is in view: records are a few kilobytes, but nothing bounds one (a hook
/// event may quote a long command line), and a log must never get stuck behind a large one.
fn last_line(
    file: &File,
    path: &Path,
    truncate: bool,
) -> Result<(u64, Option<Vec<u8>>), StoreError> {
    let len = file.metadata().map_err(io("cannot stat", path))?.len();
    let mut window = TAIL;
    let (from, mut tail, complete, start) = loop {
        let from = len.saturating_sub(window);
        let mut reader = file;
        reader
            .seek(SeekFrom::Start(from))
            .map_err(io("cannot read", path))?;
        let mut tail = Vec::new();
        reader
            .take(len - from)
            .read_to_end(&mut tail)
            .map_err(io("cannot read", path))?;
        // Everything after the last newline was never acknowledged.
        let complete = tail.iter().rposition(|&b| b == b'\n').map(|i| i + 1);
        let start = complete.and_then(|c| {
            let body = tail.get(..c.saturating_sub(1)).unwrap_or_default();
            body.iter().rposition(|&b| b == b'\n').map(|i| i + 1)
        });
        match (complete, start) {
            (Some(c), Some(s)) => break (from, tail, c, s),
            _ if from == 0 => break (from, tail, complete.unwrap_or(0), 0),
            _ => window = window.saturating_mul(4),
        }
    };
    if complete < tail.len() {
        if truncate {
            file.set_len(from + complete as u64)
                .map_err(io("cannot cut a torn line from", path))?;
        }
        tail.truncate(complete);
    }
    let line = tail
        .get(start..complete.saturating_sub(1))
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec);
    Ok((from + tail.len() as u64, line))
}

/// Where a reader stands in the log: the segment and the offset after the last complete record
/// it has read. The default is the log's start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// The segment's number (0: before the first).
    pub segment: u32,
    /// The offset in it.
    pub offset: u64,
}

/// Where a reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// The position after the last record handed out.
    pub end: Position,
    /// Segments retention removed between the starting position and the oldest one left.
    pub missed_segments: u32,
}

/// Hand the complete records of the log in `dir` from `from` on to `each`, one line at a time,
/// across segments, until `each` returns `false` or the log ends (a line still being written is
/// left for the next reading). A starting segment retention has removed is passed over to the
/// oldest one left, and counted.
pub fn read_records<E: From<StoreError>>(
    dir: &Path,
    from: Position,
    mut each: impl FnMut(&str) -> Result<bool, E>,
) -> Result<Reading, E> {
    use std::io::BufRead as _;
    let segments = segments(dir)?;
    let mut at = from;
    let mut missed = 0;
    if let Some((first, _)) = segments.first()
        && at.segment != 0
        && at.segment < *first
    {
        missed = first - at.segment;
        at = Position {
            segment: *first,
            offset: 0,
        };
    }
    for (n, path) in segments {
        if n < at.segment {
            continue;
        }
        if n > at.segment {
            at = Position {
                segment: n,
                offset: 0,
            };
        }
        let mut file = File::open(&path).map_err(io("cannot read", &path))?;
        file.seek(SeekFrom::Start(at.offset))
            .map_err(io("cannot read", &path))?;
        let mut reader = std::io::BufReader::with_capacity(256 << 10, file);
        let mut line = String::new();
        loop {
            line.clear();
            let got = reader
                .read_line(&mut line)
                .map_err(io("cannot read", &path))?;
            if got == 0 || !line.ends_with('\n') {
                break;
            }
            at.offset += got as u64;
            if !each(line.trim_end())? {
                return Ok(Reading {
                    end: at,
                    missed_segments: missed,
                });
            }
        }
    }
    Ok(Reading {
        end: at,
        missed_segments: missed,
    })
}

/// The latest checkpoint kept beside the log in `dir`, if any.
pub fn latest_checkpoint(dir: &Path) -> Result<Option<Checkpoint>, StoreError> {
    let path = dir.join(LATEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::Io {
                what: "cannot read",
                path,
                source,
            });
        }
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| StoreError::Tail {
        path: path.clone(),
        why: e.to_string(),
    })?;
    Checkpoint::from_value(&value)
        .map(Some)
        .map_err(|why| StoreError::Tail { path, why })
}

/// Every record line of the log in `dir`, across its segments in order (a line cut short at
/// the end of the last one is left out, as the writer would remove it).
pub fn read_lines(dir: &Path) -> Result<Vec<String>, StoreError> {
    let segments = read_segments(dir)?;
    let texts: Vec<&str> = segments.iter().map(String::as_str).collect();
    Ok(crate::verify::lines(&texts)
        .into_iter()
        .map(str::to_owned)
        .collect())
}

/// The text of every segment of the log in `dir`, oldest first, each cut after its last
/// newline (a record still being written is not read); split them with
/// [`verify::lines`](crate::verify::lines).
pub fn read_segments(dir: &Path) -> Result<Vec<String>, StoreError> {
    let all = segments(dir)?;
    if all.is_empty() {
        return Err(never_written(dir));
    }
    let mut out = Vec::with_capacity(all.len());
    for (_, path) in all {
        let mut text = std::fs::read_to_string(&path).map_err(io("cannot read", &path))?;
        text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
        out.push(text);
    }
    Ok(out)
}

/// Reading a log never written is reading nothing, but the error says where it was looked for.
fn never_written(dir: &Path) -> StoreError {
    StoreError::Io {
        what: "cannot read",
        path: dir.join(SEGMENT),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    }
}

/// Bytes of a log that verification reads at a time.
const VERIFY_PART: usize = 2 << 20;

/// The longest record verification reads: a longer line is malformed.
pub const MAX_RECORD: usize = 64 << 20;

/// Verify the log in `dir` as [`verify_log`](crate::verify::verify_log) does, reading it a part
/// at a time: memory stays bounded by the part, not the log, and each part is checked on every
/// core. `verified` is called with the line number (from 1, across segments) and text of each
/// record that verifies, in order. Reading stops once more lines cannot change the report.
pub fn verify_dir(
    dir: &Path,
    verified: impl FnMut(usize, &str),
) -> Result<(crate::verify::Report, u64), StoreError> {
    verify_in_parts(dir, VERIFY_PART, MAX_RECORD, verified)
}

/// [`verify_dir`], reading `part` bytes at a time and refusing lines longer than `longest`.
fn verify_in_parts(
    dir: &Path,
    part: usize,
    longest: usize,
    mut verified: impl FnMut(usize, &str),
) -> Result<(crate::verify::Report, u64), StoreError> {
    use crate::verify::Verifier;
    let all = segments(dir)?;
    if all.is_empty() {
        return Err(never_written(dir));
    }
    let mut v = Verifier::new();
    let mut buf: Vec<u8> = Vec::with_capacity(part);
    for (_, path) in all {
        if !v.wants_more() {
            break;
        }
        let mut file = File::open(&path).map_err(io("cannot open", &path))?;
        buf.clear();
        loop {
            let room = buf.capacity() - buf.len();
            let read = (&mut file)
                .take(room as u64)
                .read_to_end(&mut buf)
                .map_err(io("cannot read", &path))?;
            let end = memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1);
            verify_part(&mut v, buf.get(..end).unwrap_or_default(), &mut verified);
            buf.drain(..end);
            // At the end of the segment, a last line without a newline is a record still
            // being written (or cut short by a crash), which the writer removes: not read.
            if read < room || !v.wants_more() {
                break;
            }
            if end == 0 {
                // A line longer than the buffer: grow it, up to the longest record.
                if buf.len() >= longest {
                    v.unreadable(&format!("a line longer than {longest} bytes"));
                    return Ok(v.finish());
                }
                buf.reserve(buf.capacity());
            }
        }
    }
    Ok(v.finish())
}

/// Feed whole lines (`bytes`) to `v`; a line that is not UTF-8 is malformed.
fn verify_part(
    v: &mut crate::verify::Verifier,
    mut bytes: &[u8],
    verified: &mut impl FnMut(usize, &str),
) {
    use crate::verify::Lines;
    while !bytes.is_empty() && v.wants_more() {
        let (good, rest) = match std::str::from_utf8(bytes) {
            Ok(text) => (text, &[][..]),
            Err(e) => {
                // The lines before the bad one, then the bad line itself.
                let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
                let line_start = memchr::memrchr(b'\n', valid).map_or(0, |i| i + 1);
                let line_end = bytes
                    .get(e.valid_up_to()..)
                    .and_then(|b| memchr::memchr(b'\n', b))
                    .map_or(bytes.len(), |i| e.valid_up_to() + i + 1);
                let before = std::str::from_utf8(bytes.get(..line_start).unwrap_or_default());
                let text = before.unwrap_or_default();
                v.feed(&Lines::of_segments(&[text]), &mut *verified);
                v.unreadable("not UTF-8 text");
                bytes = bytes.get(line_end..).unwrap_or_default();
                continue;
            }
        };
        v.feed(&Lines::of_segments(&[good]), &mut *verified);
        bytes = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::verify;
    use serde_json::json;

    fn events(from: u64, n: u64) -> Vec<Value> {
        (from..from + n).map(|i| json!({"n": i})).collect()
    }

    #[test]
    fn appends_continue_the_chain_across_reopens_and_writers() {
        let dir = std::env::temp_dir().join(format!("cordon-audit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut a = Log::open(&dir).unwrap();
        assert_eq!(a.append("t", events(0, 3)).unwrap(), Some(2));
        assert_eq!(a.append("t", Vec::<Value>::new()).unwrap(), None);
        // A second writer on the same log, as concurrent hook calls are.
        let mut b = Log::open(&dir).unwrap();
        assert_eq!(b.append("t", events(3, 2)).unwrap(), Some(4));
        assert_eq!(a.append("t", events(5, 1)).unwrap(), Some(5));
        drop((a, b));
        // A torn line at the end (a crash mid-write) is dropped when the log is opened.
        let path = dir.join(SEGMENT);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"event\":{\"n\":6},\"ha").unwrap();
        let mut c = Log::open(&dir).unwrap();
        assert_eq!(c.append("t", events(6, 1)).unwrap(), Some(6));
        let lines = read_lines(&dir).unwrap();
        let report = verify(lines.iter().map(String::as_str));
        assert_eq!((report.records, report.problem), (7, None));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Segments of 2 000 bytes, kept forever.
    const SMALL_SEGMENTS: Policy = Policy {
        segment_bytes: 2_000,
        retain_bytes: None,
        retain_age: None,
    };

    /// The report on the log in `dir` read whole, and read in parts of several sizes (which
    /// must be the same, with every verified line handed over once, in order).
    fn verify_both_ways(dir: &Path) -> (crate::verify::Report, u64) {
        use crate::verify::{Lines, verify_log};
        let lines = read_lines(dir).unwrap();
        let whole = verify_log(&Lines::from_lines(
            lines.iter().map(String::as_str).collect(),
        ));
        for part in [16, 100, 333, 4096, VERIFY_PART] {
            let mut seen = Vec::new();
            let parts = verify_in_parts(dir, part, 1 << 20, |n, text| {
                assert_eq!(lines.get(n - 1).map(String::as_str), Some(text));
                seen.push(n);
            })
            .unwrap();
            assert_eq!(parts, whole, "read {part} bytes at a time");
            if parts.0.records > 0 {
                let expected: Vec<usize> = (1..=parts.0.records as usize).collect();
                assert_eq!(seen, expected, "read {part} bytes at a time");
            }
        }
        whole
    }

    /// Change the lines of the `n`th segment of the log in `dir`.
    fn tamper(dir: &Path, n: usize, change: impl FnOnce(&mut Vec<String>)) {
        let path = &segments(dir).unwrap()[n].1;
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        change(&mut lines);
        std::fs::write(
            path,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
    }

    #[test]
    fn reading_a_log_in_parts_gives_the_report_of_reading_it_whole() {
        use crate::verify::Tampering;
        let base = std::env::temp_dir().join(format!("cordon-audit-parts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let small = SMALL_SEGMENTS;
        let fresh = |name: &str, policy: Policy| {
            let dir = base.join(name);
            let mut log = Log::open_with(&dir, policy).unwrap();
            for i in 0..40 {
                log.append("t", events(i * 5, 5)).unwrap();
            }
            dir
        };
        let kind = |dir: &Path| verify_both_ways(dir).0.problem.map(|p| (p.line, p.kind));

        let dir = fresh("intact", small);
        assert!(segments(&dir).unwrap().len() >= 5);
        let (report, start) = verify_both_ways(&dir);
        assert_eq!((report.records, report.problem, start), (200, None, 0));
        // A record still being written at the end is not read.
        let last = segments(&dir).unwrap().last().unwrap().1.clone();
        let mut f = OpenOptions::new().append(true).open(&last).unwrap();
        f.write_all(b"{\"event\":{\"n\":").unwrap();
        assert_eq!(verify_both_ways(&dir).0.records, 200);

        let dir = fresh("edited", small);
        tamper(&dir, 2, |l| l[1] = l[1].replace("\"n\":", "\"m\":"));
        assert!(matches!(kind(&dir), Some((_, Tampering::Edited))));

        let dir = fresh("deleted", small);
        tamper(&dir, 3, |l| {
            l.remove(2);
        });
        assert!(matches!(
            kind(&dir),
            Some((_, Tampering::Deleted { count: 1 }))
        ));

        // Reordering across segments: the records skipped turn up parts later.
        let dir = fresh("reordered", small);
        let moved = std::fs::read_to_string(&segments(&dir).unwrap()[1].1).unwrap();
        let moved: Vec<String> = moved.lines().map(str::to_owned).collect();
        tamper(&dir, 1, |l| l.clear());
        tamper(&dir, 4, |l| l.extend(moved));
        assert!(matches!(kind(&dir), Some((_, Tampering::Reordered))));

        let dir = fresh("inserted", small);
        tamper(&dir, 2, |l| {
            let copy = l[0].clone();
            l.insert(3, copy);
        });
        assert!(matches!(kind(&dir), Some((_, Tampering::Inserted { .. }))));

        // Retention removes the oldest segments and says so in the chain.
        let kept = fresh(
            "retained",
            Policy {
                retain_bytes: Some(5_000),
                ..small
            },
        );
        let (report, start) = verify_both_ways(&kept);
        assert_eq!(report.problem, None);
        assert!(start > 0);
        // Without the retention records, the same start is a deletion.
        for n in 0..segments(&kept).unwrap().len() {
            tamper(&kept, n, |l| l.retain(|l| !l.contains("\"retention\"")));
        }
        assert!(matches!(kind(&kept), Some((1, Tampering::Deleted { .. }))));
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn lines_that_are_not_text_or_too_long_are_malformed() {
        use crate::verify::Tampering;
        let dir = std::env::temp_dir().join(format!("cordon-audit-bytes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut log = Log::open(&dir).unwrap();
        log.append("t", events(0, 10)).unwrap();
        log.append("t", [json!({"long": "x".repeat(3_000)})])
            .unwrap();
        log.append("t", events(11, 10)).unwrap();
        let problem = |part, longest| {
            verify_in_parts(&dir, part, longest, |_, _| {})
                .unwrap()
                .0
                .problem
                .map(|p| (p.line, p.kind))
        };
        assert_eq!(problem(64, 1 << 20), None);
        assert_eq!(
            problem(64, 2_000),
            Some((
                11,
                Tampering::Malformed("a line longer than 2000 bytes".into())
            ))
        );
        // A byte that is not UTF-8 in the fifth record.
        let path = &segments(&dir).unwrap()[0].1;
        let mut bytes = std::fs::read(path).unwrap();
        let fifth = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(3)
            .unwrap()
            .0;
        bytes[fifth + 12] = 0xff;
        std::fs::write(path, bytes).unwrap();
        for part in [64, 4096] {
            let (report, _) = verify_in_parts(&dir, part, 1 << 20, |_, _| {}).unwrap();
            assert_eq!(report.records, 4);
            assert_eq!(
                report.problem.map(|p| (p.line, p.kind)),
                Some((5, Tampering::Malformed("not UTF-8 text".into())))
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn segments_rotate_and_retention_is_recorded_so_verification_tells_it_from_deletion() {
        use crate::verify::{Lines, Tampering, verify_log};
        let dir = std::env::temp_dir().join(format!("cordon-audit-rot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let small = SMALL_SEGMENTS;
        let mut a = Log::open_with(&dir, small).unwrap();
        let mut b = Log::open_with(&dir, small).unwrap();
        // Two writers take turns across several segments.
        for i in 0..40 {
            let w = if i % 2 == 0 { &mut a } else { &mut b };
            w.append("t", events(i * 5, 5)).unwrap();
        }
        let segs = segments(&dir).unwrap();
        assert!(segs.len() >= 5, "{segs:?}");
        let lines = read_lines(&dir).unwrap();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (report, start) = verify_log(&Lines::from_lines(refs));
        assert_eq!((report.records, report.problem, start), (200, None, 0));

        // Removing the oldest segments by hand is deletion.
        std::fs::remove_file(&segs[0].1).unwrap();
        let lines = read_lines(&dir).unwrap();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (report, _) = verify_log(&Lines::from_lines(refs));
        assert!(matches!(
            report.problem.map(|p| p.kind),
            Some(Tampering::Deleted { .. })
        ));

        // Retention removes them and says so in the chain: verification starts where it kept.
        let _ = std::fs::remove_dir_all(&dir);
        let keep = Policy {
            retain_bytes: Some(5_000),
            ..small
        };
        let mut c = Log::open_with(&dir, keep).unwrap();
        for i in 0..40 {
            c.append("t", events(i * 5, 5)).unwrap();
        }
        let total: u64 = segments(&dir)
            .unwrap()
            .iter()
            .map(|(_, p)| std::fs::metadata(p).unwrap().len())
            .sum();
        assert!(total <= 5_000 + 2 * 2_000, "{total}");
        assert!(segments(&dir).unwrap()[0].0 > 1);
        let lines = read_lines(&dir).unwrap();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (report, start) = verify_log(&Lines::from_lines(refs));
        assert_eq!(report.problem, None);
        assert!(start > 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_record_far_larger_than_the_tail_read_does_not_stop_the_log() {
        let dir = std::env::temp_dir().join(format!("cordon-audit-big-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let big = "x".repeat(300 << 10);
        let mut a = Log::open(&dir).unwrap();
        a.append("t", vec![json!({"n": 0}), json!({"cmd": big})])
            .unwrap();
        // A new writer finds the end of the chain behind the large record, and after a torn
        // large line too.
        let mut b = Log::open(&dir).unwrap();
        assert_eq!(b.append("t", events(2, 1)).unwrap(), Some(2));
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join(SEGMENT))
            .unwrap();
        f.write_all(big.as_bytes()).unwrap();
        let mut c = Log::open(&dir).unwrap();
        assert_eq!(c.append("t", events(3, 1)).unwrap(), Some(3));
        let lines = read_lines(&dir).unwrap();
        let report = verify(lines.iter().map(String::as_str));
        assert_eq!((report.records, report.problem), (4, None));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
