//! Candidates for rules without a keyword (card, IBAN, phone and social security numbers):
//! runs of digits found eight bytes at a time.

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

    /// The next offset at or after `pos` holding a digit.
    fn next_digit(&self, mut pos: usize) -> Option<usize> {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        while let Some(chunk) = self.hay.get(pos..pos + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            // Digits become 0..=9 after the XOR; find a byte below 10 (and not from a byte
            // with the high bit set) with the classic has-less-than trick.
            let x = u64::from_le_bytes(word) ^ (0x30 * ONES);
            if x.wrapping_sub(10 * ONES) & !x & HIGHS != 0 {
                break;
            }
            pos += 8;
        }
        self.hay
            .get(pos..)?
            .iter()
            .position(u8::is_ascii_digit)
            .map(|i| pos + i)
    }
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
