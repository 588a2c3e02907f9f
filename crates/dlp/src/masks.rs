//! Byte classes: tables to look a byte's classes up in, built at compile time; and bit masks of
//! classes over 64-byte chunks, one bit per byte (bit `i` for byte `i`), taken sixteen bytes at
//! a time with SSE2 on x86-64 (part of every x86-64 CPU, used through `safe_arch`, so without
//! `unsafe` here) and one byte at a time elsewhere.

/// Bytes a mask covers.
pub(crate) const CHUNK: usize = 64;

/// A byte class: its bit, the ranges of bytes in it (inclusive) and its other bytes.
pub(crate) type ByteClass = (u8, &'static [(u8, u8)], &'static [u8]);

/// ASCII letters and digits, as ranges.
pub(crate) const ALNUM: &[(u8, u8)] = &[(b'0', b'9'), (b'A', b'Z'), (b'a', b'z')];

/// The classes of every byte, one bit per class: a table to look bytes up in, built at compile
/// time.
#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: an index out of range would fail the build, not a scan"
)]
pub(crate) const fn class_table(classes: &[ByteClass]) -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < classes.len() {
        let (bit, ranges, bytes) = classes[i];
        let mut r = 0;
        while r < ranges.len() {
            let (low, high) = ranges[r];
            let mut b = low as usize;
            while b <= high as usize {
                table[b] |= bit;
                b += 1;
            }
            r += 1;
        }
        let mut j = 0;
        while j < bytes.len() {
            table[bytes[j] as usize] |= bit;
            j += 1;
        }
        i += 1;
    }
    table
}

/// The ASCII digits of a chunk.
pub(crate) fn digits(chunk: &[u8; CHUNK]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        wide::masks(chunk, wide::digits)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        bits(chunk, |b| b.is_ascii_digit())
    }
}

/// The ASCII lower-case letters and the capitals of a chunk.
pub(crate) fn letters(chunk: &[u8; CHUNK]) -> (u64, u64) {
    #[cfg(target_arch = "x86_64")]
    {
        (
            wide::masks(chunk, |x| wide::in_range(x, b'a', b'z')),
            wide::masks(chunk, |x| wide::in_range(x, b'A', b'Z')),
        )
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        (
            bits(chunk, |b| b.is_ascii_lowercase()),
            bits(chunk, |b| b.is_ascii_uppercase()),
        )
    }
}

/// Bit i set when byte i passes `test`, one byte at a time: what other architectures run, and
/// what the SSE2 masks are tested against.
#[cfg_attr(target_arch = "x86_64", cfg(test))]
pub(crate) fn bits(chunk: &[u8; CHUNK], test: impl Fn(u8) -> bool) -> u64 {
    chunk
        .iter()
        .enumerate()
        .fold(0, |m, (i, &b)| m | u64::from(test(b)) << i)
}

/// SSE2 lanes: a byte lane is 0xFF where it passes a test, 0 where not.
#[cfg(target_arch = "x86_64")]
pub(crate) mod wide {
    use safe_arch::{
        cmp_eq_mask_i8_m128i as eq, load_unaligned_m128i, m128i, move_mask_i8_m128i,
        set_splat_i8_m128i, sub_i8_m128i, sub_saturating_u8_m128i, zeroed_m128i,
    };

    use super::CHUNK;

    /// The 64-bit mask of a chunk: `test` gives 0xFF in each byte lane that passes.
    #[inline(always)]
    pub(crate) fn masks(chunk: &[u8; CHUNK], test: impl Fn(m128i) -> m128i) -> u64 {
        let mut mask = 0u64;
        for (i, part) in chunk.chunks_exact(16).enumerate() {
            if let Ok(part) = <&[u8; 16]>::try_from(part) {
                mask |= lanes(test(load_unaligned_m128i(part))) << (16 * i);
            }
        }
        mask
    }

    /// The sixteen lanes of `x` as the low bits of a mask.
    #[inline(always)]
    pub(crate) fn lanes(x: m128i) -> u64 {
        // The move mask has sixteen bits: the casts keep them.
        u64::from(move_mask_i8_m128i(x) as u16)
    }

    /// The intrinsics take bytes as i8: `as` keeps the bits.
    fn splat(b: u8) -> m128i {
        set_splat_i8_m128i(b as i8)
    }

    /// Lanes holding `b`.
    #[inline(always)]
    pub(crate) fn byte(x: m128i, b: u8) -> m128i {
        eq(x, splat(b))
    }

    /// Lanes holding a byte from `low` to `high`: those whose distance above `low`, taken
    /// modulo 256 and reduced by `high - low` without going below zero, is zero.
    #[inline(always)]
    pub(crate) fn in_range(x: m128i, low: u8, high: u8) -> m128i {
        let above = sub_i8_m128i(x, splat(low));
        eq(
            sub_saturating_u8_m128i(above, splat(high.wrapping_sub(low))),
            zeroed_m128i(),
        )
    }

    /// Lanes holding an ASCII digit.
    #[inline(always)]
    pub(crate) fn digits(x: m128i) -> m128i {
        in_range(x, b'0', b'9')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn sse2_masks_are_the_bytewise_masks(chunk in proptest::prelude::any::<[u8; CHUNK]>()) {
            proptest::prop_assert_eq!(digits(&chunk), bits(&chunk, |b| b.is_ascii_digit()));
            proptest::prop_assert_eq!(
                letters(&chunk),
                (
                    bits(&chunk, |b| b.is_ascii_lowercase()),
                    bits(&chunk, |b| b.is_ascii_uppercase()),
                )
            );
        }
    }
}
