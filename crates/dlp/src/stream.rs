//! Scanning data that arrives in chunks (a proxied body): a finding that spans a chunk boundary
//! is still found, and memory stays bounded by the scanner's horizon, not by the body size.

use crate::scan::{Finding, Scanner};

/// A scan over a stream of chunks. Offsets in its findings count from the stream's first byte.
#[derive(Debug)]
pub struct Stream<'s> {
    scanner: &'s Scanner,
    /// Bytes kept: from `base` to the end of what was pushed.
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    base: usize,
    /// Every finding starting before this offset has been reported.
    decided: usize,
}

impl<'s> Stream<'s> {
    /// Start a stream scan.
    pub fn new(scanner: &'s Scanner) -> Self {
        Self {
            scanner,
            buf: Vec::new(),
            base: 0,
            decided: 0,
        }
    }

    /// Every finding that starts before this stream offset has been returned: a caller holding
    /// data back (to block or redact) may act on what precedes it.
    pub fn decided(&self) -> usize {
        self.decided
    }

    /// Add a chunk; returns the findings now known to be complete.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Finding> {
        self.buf.extend_from_slice(chunk);
        let horizon = self.scanner.horizon();
        let end = self.base + self.buf.len();
        let safe = end.saturating_sub(horizon);
        // Scan once enough has arrived to decide something new.
        if safe <= self.decided || safe - self.decided < horizon.min(64 * 1024) {
            return Vec::new();
        }
        let found = self.take(safe);
        // Keep one horizon before the decided point, so matches overlapping it are seen
        // again and deduplicated the same way.
        let keep_from = self.decided.saturating_sub(horizon).max(self.base);
        self.buf.drain(..keep_from - self.base);
        self.base = keep_from;
        found
    }

    /// The stream has ended: the remaining findings.
    pub fn finish(mut self) -> Vec<Finding> {
        let end = self.base + self.buf.len();
        self.take(end + 1)
    }

    /// Scan what is kept and report findings starting in `[decided, until)`.
    fn take(&mut self, until: usize) -> Vec<Finding> {
        let base = self.base;
        let decided = self.decided;
        let found = self
            .scanner
            .scan(&self.buf)
            .into_iter()
            .map(|f| Finding {
                start: f.start + base,
                end: f.end + base,
                rule: f.rule,
            })
            .filter(|f| f.start >= decided && f.start < until)
            .collect();
        self.decided = until.min(base + self.buf.len());
        found
    }
}
