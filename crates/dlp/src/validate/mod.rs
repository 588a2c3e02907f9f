//! Checks a match must pass beyond its pattern: checksums (Luhn, IBAN mod-97, GitHub's CRC32),
//! issuer and numbering rules, structure (JWT), and the filter that keeps placeholders and
//! ordinary code from being reported as credentials.

mod pii;
mod secret;

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
    /// A phone number: E.164 length, or the North American numbering plan.
    Phone,
    /// A value assigned to a credential-like name that looks like a credential, not like code,
    /// a placeholder, a hash or a UUID.
    Credential,
    /// HTTP basic credentials: base64 of `user:password`.
    BasicAuth,
}

impl Validator {
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
            Self::Phone => phone(secret),
            Self::Credential => credential(secret, before),
            Self::BasicAuth => basic_auth(secret),
        }
    }
}

/// Shannon entropy of `bytes`, in bits per byte.
pub fn entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
    }
    #[expect(clippy::cast_precision_loss, reason = "lengths far below 2^52")]
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

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
