//! Candidates for rules without a keyword (card, IBAN, phone and social security numbers):
//! runs of digits, found by counting the digits of 64 bytes at a time and looking eight bytes at
//! a time only where enough of them are close together.

/// Runs of digits, allowing single separators (space, `-`, `.`, `/`, parentheses) between
/// groups, that hold at least `min` digits: `(start, end, digits)`. Scans eight bytes at a time
/// and skips words without a digit.
pub(crate) struct DigitRuns<'a> {
    hay: &'a [u8],
    pos: usize,
    min: usize,
}

impl<'a> DigitRuns<'a> {
    pub(crate) fn new(hay: &'a [u8], min: usize) -> Self {
        Self { hay, pos: 0, min }
    }

    /// The next offset at or after `pos` holding a digit that may start a run of `min` digits.
    /// A run's first `min` digits lie within `2 * min - 1` bytes of its start, as separators
    /// are single; so a stretch of text is passed over when it, with the bytes a run starting
    /// in it could reach, holds fewer than `min` digits. First a chunk of [`CHUNK`] bytes at a
    /// time (most chunks of text hold too few digits, and counting them is a loop the compiler
    /// vectorises), then eight bytes at a time inside a chunk that may hold a start.
    fn next_digit(&self, mut pos: usize) -> Option<usize> {
        let reach = 2 * self.min.max(1) - 2;
        let reach_words = (reach + 8).div_ceil(8);
        let starts = |at: usize, count: usize| {
            count > 0 && (self.min <= count || self.window_digits(at, reach_words) >= self.min)
        };
        // The digits of the chunk at `pos`, and of the chunks after it that a run starting in
        // it could reach, carried from one step to the next.
        let reach_chunks = reach.div_ceil(CHUNK);
        let mut ahead: Option<usize> = None;
        while let Some(chunk) = chunk_at(self.hay, pos) {
            let here = ahead.take().unwrap_or_else(|| chunk_digits(chunk));
            if here > 0 {
                let mut total = here;
                let mut next = None;
                for k in 1..=reach_chunks {
                    if total >= self.min {
                        break;
                    }
                    let at = pos + k * CHUNK;
                    let n =
                        chunk_at(self.hay, at).map_or_else(|| self.tail_digits(at), chunk_digits);
                    if k == 1 {
                        next = Some(n);
                    }
                    total += n;
                }
                if total >= self.min {
                    // A start may lie here: look word by word.
                    let found = (0..CHUNK / 8)
                        .map(|i| pos + 8 * i)
                        .find(|&at| self.digits_at(at).is_some_and(|count| starts(at, count)));
                    if let Some(at) = found {
                        pos = at;
                        return self.first_digit(pos);
                    }
                }
                ahead = next;
            }
            pos += CHUNK;
        }
        // The last bytes, eight at a time.
        while let Some(count) = self.digits_at(pos) {
            if starts(pos, count) {
                break;
            }
            pos += 8;
        }
        self.first_digit(pos)
    }

    /// The first digit at or after `pos`.
    fn first_digit(&self, pos: usize) -> Option<usize> {
        self.hay
            .get(pos..)?
            .iter()
            .position(u8::is_ascii_digit)
            .map(|i| pos + i)
    }

    /// Digits from `at` to the end of the input.
    fn tail_digits(&self, at: usize) -> usize {
        self.hay
            .get(at.min(self.hay.len())..)
            .map_or(0, |t| t.iter().filter(|b| b.is_ascii_digit()).count())
    }

    /// Digits among the eight bytes at `pos`, or `None` when fewer than eight remain.
    fn digits_at(&self, pos: usize) -> Option<usize> {
        let word = self.hay.get(pos..pos + 8)?;
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        Some(digit_count(digit_mask(u64::from_le_bytes(bytes))))
    }

    /// Digits in the `words` eight-byte words from `pos` (fewer at the end of the input).
    fn window_digits(&self, pos: usize, words: usize) -> usize {
        (0..words)
            .map(|w| pos + 8 * w)
            .map(|at| self.digits_at(at).unwrap_or_else(|| self.tail_digits(at)))
            .sum()
    }
}

/// Bytes whose digits are counted together before any word of them is looked at.
const CHUNK: usize = 64;

/// The `CHUNK` bytes at `at`, when there are that many.
fn chunk_at(hay: &[u8], at: usize) -> Option<&[u8; CHUNK]> {
    hay.get(at..at + CHUNK)
        .and_then(|c| <&[u8; CHUNK]>::try_from(c).ok())
}

/// The digits among `CHUNK` bytes: written so that the compiler vectorises it (a byte
/// compare and subtract per 16 bytes with SSE2, no branch).
fn chunk_digits(chunk: &[u8; CHUNK]) -> usize {
    let mut n = 0u8;
    for &b in chunk {
        n += u8::from(b.wrapping_sub(b'0') < 10);
    }
    usize::from(n)
}

/// The high bit of each byte of `word` that is an ASCII digit, exactly (no carries between
/// bytes).
fn digit_mask(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = ONES * 0x80;
    // Digits become 0..=9; adding 0x76 to the low seven bits sets the high bit from 10 up, and
    // bytes with the high bit already set (0x80 and above after the XOR) are not digits.
    let x = word ^ (ONES * 0x30);
    !(((x & !HIGHS) + ONES * 0x76) | x) & HIGHS
}

/// How many bytes a [`digit_mask`] marks: its high bits moved to the bytes' low bits and summed
/// by one multiplication into the top byte (at most 8, so no byte carries). Cheaper than
/// `count_ones`, which the baseline x86-64 target has no instruction for.
fn digit_count(mask: u64) -> usize {
    ((mask >> 7).wrapping_mul(0x0101_0101_0101_0101) >> 56) as usize
}

fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'/' | b'(' | b')')
}

impl Iterator for DigitRuns<'_> {
    type Item = (usize, usize, usize);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let start = self.next_digit(self.pos)?;
            let mut end = start;
            let mut digits = 0;
            let mut i = start;
            while let Some(&b) = self.hay.get(i) {
                if b.is_ascii_digit() {
                    digits += 1;
                    i += 1;
                    end = i;
                } else if is_separator(b)
                    && self.hay.get(i + 1).is_some_and(|n| {
                        n.is_ascii_digit() || (b == b')' && *n == b' ') || (b == b' ' && *n == b'(')
                    })
                {
                    i += 1;
                } else {
                    break;
                }
            }
            self.pos = end.max(start + 1);
            if digits >= self.min {
                // Include a leading `+` or `(` (E.164, area codes).
                let lead =
                    usize::from(start > 0 && matches!(self.hay.get(start - 1), Some(b'+' | b'(')));
                return Some((start - lead, end, digits));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runs a byte-at-a-time reading finds: the reference for the word-at-a-time skips.
    fn reference(hay: &[u8], min: usize) -> Vec<(usize, usize, usize)> {
        let all = DigitRuns {
            hay,
            pos: 0,
            min: 1,
        };
        all.filter(|r| r.2 >= min).collect()
    }

    proptest::proptest! {
        #[test]
        fn skipping_words_loses_no_run(
            hay in proptest::collection::vec(proptest::sample::select(b"0123456789 -.()+x/".to_vec()), 0..200),
            min in 1usize..20,
        ) {
            proptest::prop_assert_eq!(DigitRuns::new(&hay, min).collect::<Vec<_>>(), reference(&hay, min));
        }

        /// Text where digits are few and far apart, so that whole blocks are passed over on
        /// the count of the digits in and just after them.
        #[test]
        fn skipping_blocks_in_sparse_text_loses_no_run(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => proptest::collection::vec(proptest::sample::select(b"abc xyz.".to_vec()), 1..40),
                    1 => proptest::collection::vec(proptest::sample::select(b"0123456789 -".to_vec()), 1..12),
                ],
                0..40,
            ),
            min in 1usize..20,
        ) {
            let hay = pieces.concat();
            proptest::prop_assert_eq!(DigitRuns::new(&hay, min).collect::<Vec<_>>(), reference(&hay, min));
        }

        #[test]
        fn chunk_digits_counts_exactly_the_digits(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), CHUNK)) {
            let chunk = chunk_at(&bytes, 0);
            proptest::prop_assert!(chunk.is_some());
            proptest::prop_assert_eq!(chunk.map(chunk_digits), Some(bytes.iter().filter(|b| b.is_ascii_digit()).count()));
        }

        #[test]
        fn digit_mask_marks_exactly_the_digits(bytes in proptest::prelude::any::<[u8; 8]>()) {
            let mask = digit_mask(u64::from_le_bytes(bytes));
            proptest::prop_assert_eq!(digit_count(mask), bytes.iter().filter(|b| b.is_ascii_digit()).count());
            for (i, b) in bytes.iter().enumerate() {
                proptest::prop_assert_eq!(mask >> (8 * i + 7) & 1 == 1, b.is_ascii_digit());
            }
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
    }
}
