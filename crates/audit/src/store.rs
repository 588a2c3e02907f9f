//! The log on disk — the one part of this crate that does I/O.
//!
//! Records are lines in a segment file under the log directory (`00000001.jsonl`; rotation
//! across segments is a later step). A batch of events is sealed, written with one `write` and
//! made durable with one `fsync` before [`Log::append`] returns: what it acknowledges survives
//! a crash of the writer or the machine. Several processes may append to one log (every hook
//! call is a process): each append holds an exclusive lock on the segment and first catches up
//! with what others appended since. A line cut short by a crash mid-`write` was never
//! acknowledged; opening the log removes it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::chain::Chain;
use crate::checkpoint::{Checkpoint, LATEST, Signer};

/// The first (and, until rotation lands, only) segment.
pub const SEGMENT: &str = "00000001.jsonl";

/// Bytes first read back from the end of a segment to find its last record (more when the
/// record is longer).
const TAIL: u64 = 8 << 10;

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
    path: PathBuf,
    file: File,
    chain: Chain,
    /// The segment's length after our last append or catch-up.
    len: u64,
    /// Whether the last record is a checkpoint (a second one would cover nothing new).
    last_is_checkpoint: bool,
}

impl Log {
    /// Open (or create) the log in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
        let path = dir.join(SEGMENT);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io("cannot open", &path))?;
        let mut log = Self {
            path,
            file,
            chain: Chain::new(),
            len: 0,
            last_is_checkpoint: false,
        };
        log.file.lock().map_err(io("cannot lock", &log.path))?;
        let caught_up = log.catch_up();
        let _ = log.file.unlock();
        caught_up?;
        Ok(log)
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seal `events` at `time` and make them durable. Returns the last record's sequence
    /// number (none for no events): everything up to it is acknowledged.
    pub fn append(
        &mut self,
        time: &str,
        events: impl IntoIterator<Item = Value>,
    ) -> Result<Option<u64>, StoreError> {
        self.file.lock().map_err(io("cannot lock", &self.path))?;
        let result = self.append_locked(time, events);
        let _ = self.file.unlock();
        result
    }

    fn append_locked(
        &mut self,
        time: &str,
        events: impl IntoIterator<Item = Value>,
    ) -> Result<Option<u64>, StoreError> {
        if self.file_len()? != self.len {
            self.catch_up()?;
        }
        let mut batch = Vec::new();
        let mut last = None;
        for event in events {
            let record = self.chain.seal(time, event);
            batch.extend_from_slice(record.line.as_bytes());
            batch.push(b'\n');
            last = Some(record.seq);
        }
        if batch.is_empty() {
            return Ok(None);
        }
        self.write_durably(&batch)?;
        self.last_is_checkpoint = false;
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
        if self.file_len()? != self.len {
            self.catch_up()?;
        }
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
    /// last record.
    fn catch_up(&mut self) -> Result<(), StoreError> {
        let len = self.file_len()?;
        // Read back from the end, more each time, until the last complete record is in view:
        // records are a few kilobytes, but nothing bounds one (a hook event may quote a long
        // command line), and a log must never get stuck behind a large one.
        let mut window = TAIL;
        let (from, mut tail, complete, start) = loop {
            let from = len.saturating_sub(window);
            let mut reader = &self.file;
            reader
                .seek(SeekFrom::Start(from))
                .map_err(io("cannot read", &self.path))?;
            let mut tail = Vec::new();
            reader
                .take(len - from)
                .read_to_end(&mut tail)
                .map_err(io("cannot read", &self.path))?;
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
            let keep = from + complete as u64;
            self.file
                .set_len(keep)
                .map_err(io("cannot cut a torn line from", &self.path))?;
            tail.truncate(complete);
        }
        self.len = from + tail.len() as u64;
        let last_line = tail
            .get(start..complete.saturating_sub(1))
            .unwrap_or_default();
        if last_line.is_empty() {
            self.chain = Chain::new();
            return Ok(());
        }
        let tail_error = |why: String| StoreError::Tail {
            path: self.path.clone(),
            why,
        };
        let record: Value =
            serde_json::from_slice(last_line).map_err(|e| tail_error(e.to_string()))?;
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

/// Every record line of the log in `dir`, in order (a line cut short at the end is left out,
/// as the writer would remove it).
pub fn read_lines(dir: &Path) -> Result<Vec<String>, StoreError> {
    let path = dir.join(SEGMENT);
    let text = std::fs::read_to_string(&path).map_err(|source| StoreError::Io {
        what: "cannot read",
        path: path.clone(),
        source,
    })?;
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    Ok(text
        .get(..complete)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect())
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
        assert_eq!(a.append("t", Vec::new()).unwrap(), None);
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
