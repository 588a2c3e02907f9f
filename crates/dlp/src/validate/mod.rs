//! Checks a match must pass beyond its pattern: checksums (Luhn, IBAN mod-97, GitHub's CRC32),
//! issuer and numbering rules, structure (JWT), and the filter that keeps placeholders and
//! ordinary code from being reported as credentials.

mod pii;
mod secret;

use std::sync::LazyLock;

use serde::Deserialize;

use pii::{card, email, iban, phone, us_ssn};
use secret::{basic_auth, credential, github_checksum, jwt};
pub use secret::{crc32, is_placeholder};

/// A validator named in a rule's `validator` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Validator {
    /// A JSON Web Token whose header decodes to a JSON object naming its `alg`.
    Jwt,
    /// GitHub's `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` tokens: the last six characters are the
    /// base62 CRC32 of the thirty random ones.
    GithubChecksum,
    /// A payment card number: Luhn checksum, a known issuer range and its lengths.
    Card,
    /// An IBAN: a known country, its length, and the mod-97 check.
    Iban,
    /// A US social security number that could have been issued.
    UsSsn,
    /// An e-mail address at a real-looking domain (not a documentation domain or a file name).
    Email,
    /// A phone number: E.164 length, or the North American numbering plan; not a run of
    /// counting digits (`+44 1234567`, `01 02 03 04 05`) or one digit repeated, and not inside
    /// binary data.
    Phone,
    /// A value assigned to a credential-like name that looks like a credential, not like code,
    /// a placeholder, a hash or a UUID.
    Credential,
    /// HTTP basic credentials: base64 of `user:password`.
    BasicAuth,
}

impl Validator {
    /// Whether the validator turns placeholders away itself (what [`is_placeholder`] says of
    /// the value), so a caller need not ask again.
    pub fn rejects_placeholders(self) -> bool {
        matches!(self, Self::Credential)
    }

    /// Whether `secret` passes; `before` holds the bytes that precede it (the start of the
    /// match and a little more), e.g. the key name a value is assigned to.
    pub fn check(self, secret: &[u8], before: &[u8]) -> bool {
        match self {
            Self::Jwt => jwt(secret),
            Self::GithubChecksum => github_checksum(secret),
            Self::Card => card(secret, before),
            Self::Iban => iban(secret),
            Self::UsSsn => us_ssn(secret),
            Self::Email => email(secret, before),
            Self::Phone => phone(secret, before),
            Self::Credential => credential(secret, before),
            Self::BasicAuth => basic_auth(secret),
        }
    }
}

/// What counting one more of a byte seen `n` times adds to `Σ c·log2(c)`: 0 and 2 for the
/// first two, `(n+1)·log2(n+1) - n·log2(n)` after.
fn entropy_step(n: u32) -> f64 {
    let c_log_c = |c: u32| {
        let c = f64::from(c);
        c * c.log2()
    };
    match n {
        0 => 0.0,
        1 => 2.0,
        n => c_log_c(n + 1) - c_log_c(n),
    }
}

/// [`entropy_step`] for the counts a value shorter than 256 bytes can reach, and the base-2
/// logarithms of those lengths, worked out once.
static ENTROPY_STEPS: LazyLock<([f64; 256], [f64; 256])> = LazyLock::new(|| {
    (
        std::array::from_fn(|n| entropy_step(n as u32)),
        std::array::from_fn(|n| f64::from(n as u32).log2()),
    )
});

/// Shannon entropy of `bytes`, in bits per byte: `log2(n) - Σ c·log2(c) / n` over the byte
/// counts `c`, the sum kept as each byte is counted (values are short; a pass over all 256
/// counts would cost more than the value). Values shorter than 256 bytes, nearly all, count
/// in bytes and look each step and `log2(n)` up: no logarithm at all, and a quarter of the
/// counts to clear.
pub fn entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut sum = 0.0;
    #[expect(clippy::cast_precision_loss, reason = "lengths far below 2^52")]
    let n = bytes.len() as f64;
    let log2_n = if bytes.len() < 256 {
        let (steps, logs) = &*ENTROPY_STEPS;
        let mut counts = [0u8; 256];
        for &b in bytes {
            if let Some(c) = counts.get_mut(usize::from(b)) {
                sum += steps.get(usize::from(*c)).copied().unwrap_or(0.0);
                *c += 1;
            }
        }
        logs.get(bytes.len()).copied().unwrap_or_else(|| n.log2())
    } else {
        let mut counts = [0u32; 256];
        for &b in bytes {
            if let Some(c) = counts.get_mut(usize::from(b)) {
                sum += entropy_step(*c);
                *c += 1;
            }
        }
        n.log2()
    };
    (log2_n - sum / n).max(0.0)
}

/// Whether `hay` holds `needle`. Texts and needles are short: each window is compared whole only
/// where its first byte matches (comparing slices costs a call).
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some(first) = needle.first() else {
        return true;
    };
    hay.windows(needle.len())
        .any(|w| w.first() == Some(first) && w == needle)
}

/// Whether `hay` holds `needle` (lowercase), ASCII case-insensitively.
pub(crate) fn contains_caseless(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| eq_caseless(w, needle))
}

/// Whether `a` and `b` are equal but for ASCII case, compared a byte at a time in line: what
/// the scanner compares is short (keywords, words, domain names), and the library's slice
/// comparison costs a call.
#[inline]
pub(crate) fn eq_caseless(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The textbook formula over all 256 counts.
    fn reference(bytes: &[u8]) -> f64 {
        let mut counts = [0u32; 256];
        for &b in bytes {
            counts[usize::from(b)] += 1;
        }
        let n = bytes.len() as f64;
        counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = f64::from(c) / n;
                -p * p.log2()
            })
            .sum()
    }

    proptest! {
        #[test]
        fn entropy_equals_the_textbook_formula(
            bytes in prop::collection::vec(prop::sample::select(b"aab0123456789xyzZ_-".to_vec()), 1..300)
        ) {
            prop_assert!((entropy(&bytes) - reference(&bytes)).abs() < 1e-9);
        }
    }

    #[test]
    fn entropy_of_simple_cases() {
        assert_eq!(entropy(b""), 0.0);
        assert_eq!(entropy(b"aaaaaaa"), 0.0);
        assert_eq!(entropy(b"abcdefgh"), 3.0);
        assert!((entropy(b"aabb") - 1.0).abs() < 1e-12);
    }
}
