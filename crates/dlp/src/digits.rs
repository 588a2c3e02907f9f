//! Candidates for rules without a keyword (card, IBAN, phone and social security numbers):
//! runs of digits, found 64 bytes at a time from bit masks of the bytes that make them up.

use regex_syntax::hir::{Hir, HirKind};

#[cfg(any(test, not(target_arch = "x86_64")))]
use crate::masks::bits;
use crate::masks::{CHUNK, digits as digits_of};

/// Runs of digits, allowing single separators (space, `-`, `.`, `/`, parentheses) between
/// groups, that hold at least `min` digits: `(start, end, digits)`, in order. A run takes in a
/// `+` or `(` just before its first digit.
///
/// Each chunk of the text becomes two masks: its digits, and the bytes a run goes through
/// (digits and the separators that join them). A chunk without a digit is passed over on its
/// digit mask alone; in the others, runs are read off the masks by counting bits, not by looking
/// at bytes one at a time.
pub(crate) struct DigitRuns<'a> {
    hay: &'a [u8],
    min: usize,
    /// Offset of the chunk the masks describe (`None` before the first).
    base: Option<usize>,
    /// The chunk's digits, and the bytes of its runs; bits below `at` are read.
    digit: u64,
    run: u64,
    at: usize,
    /// A run that reached the end of the previous chunk: (start, digits, end so far).
    open: Option<(usize, usize, usize)>,
}

impl<'a> DigitRuns<'a> {
    pub(crate) fn new(hay: &'a [u8], min: usize) -> Self {
        Self {
            hay,
            min,
            base: None,
            digit: 0,
            run: 0,
            at: CHUNK,
            open: None,
        }
    }

    /// Move to the next chunk that holds a digit, or any next chunk while a run is open;
    /// `false` at the end of the text.
    fn advance(&mut self) -> bool {
        let mut base = self.base.map_or(0, |b| b + CHUNK);
        while base < self.hay.len() {
            let padded;
            let chunk = match self
                .hay
                .get(base..base + CHUNK)
                .and_then(|c| <&[u8; CHUNK]>::try_from(c).ok())
            {
                Some(chunk) => chunk,
                None => {
                    padded = chunk_at(self.hay, base);
                    &padded
                }
            };
            let digit = digits_of(chunk);
            // Runs end within three bytes after their last digit (`5) (6` is the longest
            // stretch between two digits): with no digit in its last four bytes and no run
            // coming in, every run of the chunk ends in it, and too few digits in all of it
            // means none has enough.
            let ends_here = digit >> (CHUNK - 4) == 0;
            let enough = digit.count_ones() as usize >= self.min;
            // One branch, on all three, which is rarely taken in text with few numbers: a
            // branch on whether the chunk holds a digit at all was taken for a third of the
            // chunks of prose, at no place a predictor could learn.
            if self.open.is_some() | !ends_here | enough {
                let next = self.hay.get(base + CHUNK).copied().unwrap_or(0);
                self.base = Some(base);
                self.digit = digit;
                self.run = digit | joiners(chunk, digit, next);
                self.at = 0;
                return true;
            }
            base += CHUNK;
        }
        self.base = Some(base);
        false
    }

    /// A finished run, with a `+` or `(` before it taken in, if it has enough digits.
    fn finish(&self, (start, digits, end): (usize, usize, usize)) -> Option<(usize, usize, usize)> {
        if digits < self.min {
            return None;
        }
        let lead = start
            .checked_sub(1)
            .and_then(|i| self.hay.get(i))
            .is_some_and(|b| matches!(b, b'+' | b'('));
        Some((start - usize::from(lead), end, digits))
    }

    /// Take the run bytes of the chunk from bit `from` into `run` (start, digits, end so far):
    /// the run goes on into the next chunk if they reach the chunk's end, and is finished
    /// otherwise.
    fn take(
        &mut self,
        from: usize,
        (start, digits, end): (usize, usize, usize),
    ) -> Option<(usize, usize, usize)> {
        let base = self.base.unwrap_or(0);
        let n = (self.run >> from).trailing_ones() as usize;
        self.at = from + n;
        // A run that ends here in fewer bytes than the digits it would need has too few: most
        // runs are a digit or two inside a word or a token, not worth counting.
        if self.at < CHUNK && (base + self.at).saturating_sub(start) < self.min {
            return None;
        }
        let here = self.digit & below(from + n) & !below(from);
        let digits = digits + here.count_ones() as usize;
        let end = last_bit(here).map_or(end, |i| base + i + 1);
        if self.at == CHUNK {
            self.open = Some((start, digits, end));
            return None;
        }
        self.finish((start, digits, end))
    }
}

impl Iterator for DigitRuns<'_> {
    type Item = (usize, usize, usize);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.at >= CHUNK && !self.advance() {
                // The text ends: so does a run still open.
                return self.open.take().and_then(|run| self.finish(run));
            }
            if let Some(run) = self.open.take() {
                // The open run goes on through this chunk's first run bytes.
                match self.take(0, run) {
                    Some(found) => return Some(found),
                    None => continue,
                }
            }
            // The next run starts at the next digit.
            let ahead = self.digit & !below(self.at);
            if ahead == 0 {
                self.at = CHUNK;
                continue;
            }
            let s = ahead.trailing_zeros() as usize;
            let start = self.base.unwrap_or(0) + s;
            if let Some(found) = self.take(s, (start, 0, start + 1)) {
                return Some(found);
            }
        }
    }
}

/// A digit rule's pattern that the scanner decides at a run without a search: where a run is
/// such a number whole, from the place the search would begin, it is the match. Recognised by
/// comparing the pattern's syntax tree with the one [`Number::grammar`] generates
/// ([`crate::rule::Rule::number`]); a pattern that differs in any way keeps the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Number {
    /// A word boundary, `lo` to `hi` digits each joined to the next by at most one space or
    /// dash, a word boundary: a payment card number's shape.
    Grouped(u32, u32),
    /// A word boundary, groups of fixed lengths joined by one separator, the same all through,
    /// a word boundary: a US social security number's `\d{3}-\d{2}-\d{4}`, or with spaces.
    Fixed(FixedGroups),
}

/// The groups and separators of a [`Number::Fixed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FixedGroups {
    /// The digits of each group, the first `groups` of them.
    lens: [u8; FIXED_MAX],
    groups: usize,
    /// The separators a number may be written with (one alternative each), the first
    /// `separators` of them.
    seps: [u8; FIXED_MAX],
    separators: usize,
}

/// The most groups, and the most separators, a [`Number::Fixed`] may have.
const FIXED_MAX: usize = 4;

impl Number {
    /// The number a pattern would be, read from where the grammar's syntax tree has the
    /// counts and separators; the caller compares the whole with [`Number::grammar`].
    pub(crate) fn read(hir: &Hir) -> Option<Self> {
        let HirKind::Concat(parts) = hir.kind() else {
            return None;
        };
        let HirKind::Capture(secret) = parts.get(1)?.kind() else {
            return None;
        };
        let branches = match secret.sub.kind() {
            HirKind::Concat(inner) => {
                if let [_, rest] = inner.as_slice()
                    && let HirKind::Repetition(groups) = rest.kind()
                {
                    let (lo, hi) = (groups.min.checked_add(1)?, groups.max?.checked_add(1)?);
                    return Some(Self::Grouped(lo, hi));
                }
                std::slice::from_ref(&*secret.sub)
            }
            HirKind::Alternation(branches) => branches.as_slice(),
            _ => return None,
        };
        let mut fixed = FixedGroups {
            lens: [0; FIXED_MAX],
            groups: 0,
            seps: [0; FIXED_MAX],
            separators: 0,
        };
        for branch in branches {
            // Groups and separators alternate: `\d{3}`, `-`, `\d{2}`, `-`, `\d{4}`.
            let HirKind::Concat(items) = branch.kind() else {
                return None;
            };
            let Some(HirKind::Literal(sep)) = items.get(1).map(Hir::kind) else {
                return None;
            };
            let (&[sep], Some(slot)) = (&*sep.0, fixed.seps.get_mut(fixed.separators)) else {
                return None;
            };
            *slot = sep;
            fixed.separators += 1;
        }
        let first = branches.first()?;
        let HirKind::Concat(items) = first.kind() else {
            return None;
        };
        for item in items.iter().step_by(2) {
            let HirKind::Repetition(group) = item.kind() else {
                return None;
            };
            let len = u8::try_from(group.min).ok().filter(|&n| n > 0)?;
            *fixed.lens.get_mut(fixed.groups)? = len;
            fixed.groups += 1;
        }
        Some(Self::Fixed(fixed))
    }

    /// The pattern of this number: what a rule's pattern is compared with.
    pub(crate) fn grammar(&self) -> String {
        match self {
            Self::Grouped(lo, hi) => format!(
                r"\b(?P<secret>\d(?:[ \-]?\d){{{},{}}})\b",
                lo.saturating_sub(1),
                hi.saturating_sub(1)
            ),
            Self::Fixed(fixed) => {
                let branches: Vec<String> = fixed
                    .separators()
                    .iter()
                    .map(|&sep| {
                        let sep = regex_syntax::escape(char::from(sep).encode_utf8(&mut [0; 4]));
                        let groups: Vec<String> =
                            fixed.lens().iter().map(|n| format!(r"\d{{{n}}}")).collect();
                        groups.join(&sep)
                    })
                    .collect();
                format!(r"\b(?P<secret>{})\b", branches.join("|"))
            }
        }
    }

    /// Whether the match that a search of this number's pattern from `from` finds is `from..end`
    /// (a digit run's end). For [`Number::Grouped`]: the bytes between are digits joined by
    /// single spaces or dashes, `lo` to `hi` of them; the repetition is greedy, so it takes every
    /// digit and stops at `end`. For [`Number::Fixed`]: they are the groups, joined by one of the
    /// separators all through; only that separator's alternative can match, and it has one
    /// length. Either way a word boundary holds at both ends.
    pub(crate) fn is_whole(&self, hay: &[u8], from: usize, end: usize) -> bool {
        let is_word_at = |at: Option<usize>| {
            at.and_then(|i| hay.get(i))
                .is_some_and(|&b| crate::lead::is_word(b))
        };
        let Some(span) = hay.get(from..end) else {
            return false;
        };
        let bounded = !is_word_at(from.checked_sub(1)) && !is_word_at(Some(end));
        bounded
            && match self {
                Self::Grouped(lo, hi) => grouped_whole(span, (*lo, *hi)),
                Self::Fixed(fixed) => fixed.is_whole(span),
            }
    }
}

/// Whether `span` is `lo` to `hi` digits, each joined to the next by at most one space or dash.
fn grouped_whole(span: &[u8], (lo, hi): (u32, u32)) -> bool {
    let mut digits = 0u32;
    // Whether the byte before is a separator (or there is none yet).
    let mut after_separator = true;
    for &b in span {
        if b.is_ascii_digit() {
            digits += 1;
            after_separator = false;
        } else if matches!(b, b' ' | b'-') && !after_separator {
            after_separator = true;
        } else {
            return false;
        }
    }
    !after_separator && (lo..=hi).contains(&digits)
}

impl FixedGroups {
    fn lens(&self) -> &[u8] {
        self.lens.get(..self.groups).unwrap_or_default()
    }

    fn separators(&self) -> &[u8] {
        self.seps.get(..self.separators).unwrap_or_default()
    }

    /// Whether `span` is the groups, joined by one of the separators, the same all through.
    fn is_whole(&self, span: &[u8]) -> bool {
        let lens = self.lens();
        let Some(&first) = lens.first() else {
            return false;
        };
        let sep = span.get(usize::from(first)).copied();
        let mut at = 0;
        let joined = lens.iter().enumerate().all(|(i, &len)| {
            let joint = i == 0 || {
                at += 1;
                span.get(at - 1).copied() == sep
            };
            let group = span.get(at..at + usize::from(len));
            at += usize::from(len);
            joint && group.is_some_and(|g| g.iter().all(u8::is_ascii_digit))
        });
        joined && at == span.len() && sep.is_some_and(|s| self.separators().contains(&s))
    }
}

/// The bits below bit `n` (all of them from 64).
fn below(n: usize) -> u64 {
    1u64.checked_shl(n as u32).map_or(u64::MAX, |b| b - 1)
}

/// The highest set bit, if any.
fn last_bit(mask: u64) -> Option<usize> {
    (mask != 0).then(|| 63 - mask.leading_zeros() as usize)
}

/// The bytes from `at` to the end of the text, padded with zeros (neither digit nor
/// separator) to a chunk.
fn chunk_at(hay: &[u8], at: usize) -> [u8; CHUNK] {
    let mut chunk = [0u8; CHUNK];
    let bytes = hay.get(at..).unwrap_or_default();
    let bytes = bytes.get(..CHUNK).unwrap_or(bytes);
    if let Some(head) = chunk.get_mut(..bytes.len()) {
        head.copy_from_slice(bytes);
    }
    chunk
}

/// The bytes of a chunk that continue a run past a non-digit: a separator followed by a digit,
/// a `)` followed by a space, or a space followed by `(` (as in `(555) 234-5678`). `next` is
/// the byte after the chunk.
fn joiners(chunk: &[u8; CHUNK], digit: u64, next: u8) -> u64 {
    let [separator, space, open, close] = separators(chunk);
    // Bit i of these: what byte i + 1 is.
    let then = |mask: u64, last: bool| (mask >> 1) | (u64::from(last) << 63);
    let then_digit = then(digit, next.is_ascii_digit());
    let then_space = then(space, next == b' ');
    let then_open = then(open, next == b'(');
    separator & (then_digit | (close & then_space) | (space & then_open))
}

/// The separators of a chunk, its spaces, its `(` and its `)`, as bit masks.
fn separators(chunk: &[u8; CHUNK]) -> [u64; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        wide::separators(chunk)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        [
            bits(chunk, is_separator),
            bits(chunk, |b| b == b' '),
            bits(chunk, |b| b == b'('),
            bits(chunk, |b| b == b')'),
        ]
    }
}

#[cfg_attr(target_arch = "x86_64", cfg(test))]
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'/' | b'(' | b')')
}

/// The separators of a chunk with SSE2.
#[cfg(target_arch = "x86_64")]
mod wide {
    use safe_arch::{bitor_m128i as or, load_unaligned_m128i};

    use crate::masks::CHUNK;
    use crate::masks::wide::{byte, in_range, lanes};

    /// The separators (space, `-`, `.`, `/`, `(`, `)`), spaces, `(` and `)` of a chunk, in one
    /// pass over it.
    #[inline(always)]
    pub(super) fn separators(chunk: &[u8; CHUNK]) -> [u64; 4] {
        let mut masks = [0u64; 4];
        for (i, part) in chunk.chunks_exact(16).enumerate() {
            let Ok(part) = <&[u8; 16]>::try_from(part) else {
                continue;
            };
            let x = load_unaligned_m128i(part);
            let (space, open, close) = (byte(x, b' '), byte(x, b'('), byte(x, b')'));
            // `-` `.` `/` are 0x2D–0x2F.
            let separator = or(or(space, in_range(x, b'-', b'/')), or(open, close));
            for (mask, x) in masks.iter_mut().zip([separator, space, open, close]) {
                *mask |= lanes(x) << (16 * i);
            }
        }
        masks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runs a byte-at-a-time reading finds, written apart from the masks: the reference.
    fn reference(hay: &[u8], min: usize) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < hay.len() {
            if !hay[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            let (mut end, mut digits) = (i, 0);
            while let Some(&b) = hay.get(i) {
                let next = hay.get(i + 1).copied();
                if b.is_ascii_digit() {
                    digits += 1;
                    i += 1;
                    end = i;
                } else if is_separator(b)
                    && next.is_some_and(|n| {
                        n.is_ascii_digit() || (b == b')' && n == b' ') || (b == b' ' && n == b'(')
                    })
                {
                    i += 1;
                } else {
                    break;
                }
            }
            i = end.max(start + 1);
            if digits >= min {
                let lead = start > 0 && matches!(hay[start - 1], b'+' | b'(');
                out.push((start - usize::from(lead), end, digits));
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn masks_find_the_runs_a_byte_reading_finds(
            hay in proptest::collection::vec(
                proptest::sample::select(b"0123456789 -.()+x/".to_vec()),
                0..300,
            ),
            min in 1usize..20,
        ) {
            let runs: Vec<_> = DigitRuns::new(&hay, min).collect();
            proptest::prop_assert_eq!(runs, reference(&hay, min));
        }

        /// Text where digits are few and far apart, so that whole chunks are passed over and
        /// runs cross chunk boundaries.
        #[test]
        fn runs_in_sparse_text_and_across_chunks(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => proptest::collection::vec(
                        proptest::sample::select(b"abc xyz.".to_vec()),
                        1..90,
                    ),
                    1 => proptest::collection::vec(
                        proptest::sample::select(b"0123456789 -()".to_vec()),
                        1..80,
                    ),
                ],
                0..40,
            ),
            min in 1usize..20,
        ) {
            let hay = pieces.concat();
            let runs: Vec<_> = DigitRuns::new(&hay, min).collect();
            proptest::prop_assert_eq!(runs, reference(&hay, min));
        }

        #[test]
        fn sse2_separators_are_the_bytewise_masks(chunk in proptest::prelude::any::<[u8; CHUNK]>()) {
            proptest::prop_assert_eq!(
                separators(&chunk),
                [
                    bits(&chunk, is_separator),
                    bits(&chunk, |b| b == b' '),
                    bits(&chunk, |b| b == b'('),
                    bits(&chunk, |b| b == b')'),
                ]
            );
        }
    }

    fn number(pattern: &str) -> Option<Number> {
        let hir = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .build()
            .parse(pattern)
            .unwrap();
        Number::read(&hir)
    }

    #[test]
    fn numbers_are_read_from_their_grammar_and_written_back() {
        let card = r"\b(?P<secret>\d(?:[ \-]?\d){11,18})\b";
        assert_eq!(number(card), Some(Number::Grouped(12, 19)));
        let ssn = r"\b(?P<secret>\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4})\b";
        let read = number(ssn).unwrap();
        assert_eq!(read.grammar().replace(r"\-", "-"), ssn);
        let dotted = r"\b(?P<secret>\d{2}\.\d{6})\b";
        assert_eq!(number(dotted).unwrap().grammar(), dotted);
        // Not a number's form: nothing read (or, where something is, the grammar differs).
        for other in [
            r"\b(?P<secret>\d{9})\b",
            r"(?P<secret>\d{3}-\d{2})",
            r"\b\d+\b",
        ] {
            assert!(
                number(other).is_none_or(|n| n.grammar() != other),
                "{other}"
            );
        }
    }

    #[test]
    fn a_fixed_number_is_whole_only_as_its_groups_and_one_separator() {
        let ssn = number(r"\b(?P<secret>\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4})\b").unwrap();
        let whole = |text: &str, from: usize, end: usize| ssn.is_whole(text.as_bytes(), from, end);
        assert!(whole("SSN 536-22-8741.", 4, 15));
        assert!(whole("412 58 3096", 0, 11));
        for (text, from, end) in [
            ("536-22 8741", 0, 11),
            ("536.22.8741", 0, 11),
            ("x536-22-8741", 1, 12),
            ("536-22-8741x", 0, 11),
            ("536-22-874", 0, 10),
            ("536-22-87411", 0, 12),
            ("5364-22-8741", 0, 12),
            ("536--22-8741", 0, 12),
            ("536-22-8741", 0, 40),
        ] {
            assert!(!whole(text, from, end), "{text}");
        }
    }

    #[test]
    fn digit_runs_find_grouped_numbers_and_skip_prose() {
        let text = b"call (555) 234-5678 or card 4111 1111 1111 1111; in 2026 we had 12 cats";
        let runs: Vec<_> = DigitRuns::new(text, 7).collect();
        assert_eq!(runs.len(), 2, "{runs:?}");
        let first = runs.first().copied().unwrap_or_default();
        assert_eq!(&text[first.0..first.1], b"(555) 234-5678");
        assert_eq!(first.2, 10);
        assert_eq!(runs, reference(text, 7));
    }

    /// A chunk whose few digits could make no run alone still starts one that goes on into the
    /// next chunk, for every way the longest stretch between two digits (`) (`) can fall.
    #[test]
    fn a_run_that_starts_with_a_chunks_last_digits() {
        for at in 56..64 {
            let mut text = vec![b'x'; at];
            text.extend_from_slice(b"5) (6789012345 and more");
            assert_eq!(
                DigitRuns::new(&text, 8).collect::<Vec<_>>(),
                reference(&text, 8),
                "first digit at {at}"
            );
            assert_eq!(DigitRuns::new(&text, 8).count(), 1);
        }
    }

    #[test]
    fn a_run_across_chunks_and_to_the_end() {
        let mut text = vec![b'x'; 60];
        text.extend_from_slice(b"4111 1111 1111 1111");
        assert_eq!(
            DigitRuns::new(&text, 12).collect::<Vec<_>>(),
            vec![(60, 79, 16)]
        );
        let long = b"1 ".repeat(100);
        assert_eq!(
            DigitRuns::new(&long, 12).collect::<Vec<_>>(),
            vec![(0, 199, 100)]
        );
    }
}
