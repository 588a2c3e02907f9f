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
    /// Bytes kept either side of what is being decided: the scanner's horizon, or more.
    reach: usize,
}

impl<'s> Stream<'s> {
    /// Start a stream scan.
    pub fn new(scanner: &'s Scanner) -> Self {
        Self {
            scanner,
            buf: Vec::new(),
            base: 0,
            decided: 0,
            reach: scanner.horizon(),
        }
    }

    /// Keep at least `bytes` of the stream either side of each finding's start when it is
    /// reported (context a caller shows with it), where the scanner's horizon is shorter.
    pub fn keeping(mut self, bytes: usize) -> Self {
        self.reach = self.reach.max(bytes);
        self
    }

    /// Every finding that starts before this stream offset has been returned: a caller holding
    /// data back (to block or redact) may act on what precedes it.
    pub fn decided(&self) -> usize {
        self.decided
    }

    /// Add a chunk; returns the findings now known to be complete.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Finding> {
        self.push_with(chunk, |found, _, _| found)
    }

    /// Add a chunk, and hand `report` the findings now known to be complete together with the
    /// bytes the stream holds and the stream offset of the first of them. The held bytes cover
    /// every finding and the stream's reach before its start (or all of the stream before it),
    /// so a caller needs no copy of its own to show where a finding was made.
    pub fn push_with<R>(
        &mut self,
        chunk: &[u8],
        report: impl FnOnce(Vec<Finding>, &[u8], usize) -> R,
    ) -> R {
        self.buf.extend_from_slice(chunk);
        let end = self.base + self.buf.len();
        let safe = end.saturating_sub(self.reach);
        // Scan once enough has arrived to decide something new.
        if safe <= self.decided || safe - self.decided < self.reach.min(64 * 1024) {
            return report(Vec::new(), &self.buf, self.base);
        }
        let found = self.take(safe);
        let reported = report(found, &self.buf, self.base);
        // Keep one reach before the decided point, so matches overlapping it are seen again
        // and deduplicated the same way.
        let keep_from = self.decided.saturating_sub(self.reach).max(self.base);
        self.buf.drain(..keep_from - self.base);
        self.base = keep_from;
        reported
    }

    /// The stream has ended: the remaining findings.
    pub fn finish(self) -> Vec<Finding> {
        self.finish_with(|found, _, _| found)
    }

    /// The stream has ended: [`Stream::push_with`] for the remaining findings.
    pub fn finish_with<R>(mut self, report: impl FnOnce(Vec<Finding>, &[u8], usize) -> R) -> R {
        let end = self.base + self.buf.len();
        let found = self.take(end + 1);
        report(found, &self.buf, self.base)
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
