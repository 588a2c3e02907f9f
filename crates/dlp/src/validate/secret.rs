//! Credentials: the placeholder filter, JWT structure, GitHub's checksum, HTTP basic
//! credentials, and the generic check that tells a credential from a name in code.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use base64::Engine as _;

use super::{contains_caseless, entropy, eq_caseless};
use crate::masks::{self, CHUNK, class_table};

/// Documentation placeholders, template and variable references, masked values.
const PLACEHOLDER_MARKERS: &[&str] = &[
    "xxxx",
    "****",
    "....",
    "<",
    ">",
    "${",
    "{{",
    "}}",
    "%s",
    "example",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "your_",
    "your-",
    "yourtoken",
    "yourkey",
    "dummy",
    "redacted",
    "sample",
    "insert",
    "replace_",
    "replace-",
    "fake",
    "notreal",
    "not_real",
    "secret_here",
    "token_here",
    "key_here",
    "0000000000",
    "1234567890",
    "abcdefgh",
];

static MARKERS: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(PLACEHOLDER_MARKERS)
        .ok()
});

/// Values that stand for a credential rather than being one: documentation placeholders,
/// template and variable references, masked values, bare words.
pub fn is_placeholder(secret: &[u8]) -> bool {
    // Without the automaton (it cannot fail to build from these literals) nothing is a
    // placeholder: report rather than drop.
    if MARKERS.as_ref().is_some_and(|m| m.is_match(secret)) {
        return true;
    }
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "secret",
        "token",
        "null",
        "none",
        "nil",
        "undefined",
        "true",
        "false",
        "test",
        "testing",
        "string",
        "value",
        "default",
        "admin",
        "root",
        "pass",
        // Default passwords of development databases and brokers (`postgres://postgres:postgres@`).
        "postgres",
        "mysql",
        "redis",
        "guest",
        "user",
        "username",
    ];
    if WORDS.iter().any(|w| eq_caseless(secret, w.as_bytes())) {
        return true;
    }
    // One character repeated.
    secret
        .first()
        .is_some_and(|f| secret.iter().all(|b| b.eq_ignore_ascii_case(f)))
}

pub(super) fn jwt(token: &[u8]) -> bool {
    let Some(header) = token.split(|&b| b == b'.').next() else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.strip_suffix(b"=").unwrap_or(header))
    else {
        return false;
    };
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&decoded)
        .is_ok_and(|h| h.get("alg").is_some_and(serde_json::Value::is_string))
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

pub(super) fn github_checksum(token: &[u8]) -> bool {
    const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let Some(body) = token.get(4..) else {
        return false;
    };
    if body.len() != 36 {
        return false;
    }
    let (random, check) = body.split_at(30);
    let mut n = crc32(random);
    let mut expected = [b'0'; 6];
    for slot in expected.iter_mut().rev() {
        if let Some(&c) = BASE62.get((n % 62) as usize) {
            *slot = c;
        }
        n /= 62;
    }
    check == expected
}

/// What one pass over a value says of it, for [`credential`]'s questions.
#[derive(Default)]
struct Profile {
    lower: bool,
    upper: bool,
    digit: bool,
    /// Anything but an ASCII letter or digit.
    other: bool,
    slashes: usize,
    /// `::` somewhere.
    double_colon: bool,
    /// Every byte a hex digit.
    hex: bool,
    /// A byte that joins the words of an identifier path: `_`, `.`, `-` or `:`.
    joiner: bool,
}

/// Byte classes of [`Profile`], one bit each.
const LOWER: u8 = 1;
const UPPER: u8 = 2;
const DIGIT: u8 = 4;
const OTHER: u8 = 8;
const SLASH: u8 = 16;
const COLON: u8 = 32;
const JOINER: u8 = 64;
const HEX: u8 = 128;

static PROFILE_CLASSES: [u8; 256] = class_table(&[
    (LOWER, &[(b'a', b'z')], b""),
    (UPPER, &[(b'A', b'Z')], b""),
    (DIGIT, &[(b'0', b'9')], b""),
    (
        OTHER,
        &[(0, b'/'), (b':', b'@'), (b'[', b'`'), (b'{', 0xFF)],
        b"",
    ),
    (SLASH, &[], b"/"),
    (COLON, &[], b":"),
    (JOINER, &[], b"_.-:"),
    (HEX, &[(b'0', b'9'), (b'A', b'F'), (b'a', b'f')], b""),
]);

impl Profile {
    /// One pass without a branch on the bytes. A random token's bytes fall into its classes in
    /// no order a branch predictor could learn; with a `match` on each byte, the whole scan of
    /// text dense with findings took 7 % longer.
    fn of(value: &[u8]) -> Self {
        let (mut any, mut all, mut prev, mut slashes, mut double_colon) = (0u8, HEX, 0u8, 0, 0u8);
        for &b in value {
            let c = PROFILE_CLASSES
                .get(usize::from(b))
                .copied()
                .unwrap_or(OTHER);
            any |= c;
            all &= c;
            slashes += usize::from(c & SLASH != 0);
            double_colon |= prev & c;
            prev = c;
        }
        Self {
            lower: any & LOWER != 0,
            upper: any & UPPER != 0,
            digit: any & DIGIT != 0,
            other: any & OTHER != 0,
            slashes,
            double_colon: double_colon & COLON != 0,
            hex: all & HEX != 0,
            joiner: any & JOINER != 0,
        }
    }
}

/// The generic credential check: the assigned value must look random, not like a word,
/// identifier, path, URL, hash of something public, version or UUID.
pub(super) fn credential(value: &[u8], before: &[u8]) -> bool {
    if value.len() < 8 {
        return false;
    }
    let p = Profile::of(value);
    let classes =
        usize::from(p.lower) + usize::from(p.upper) + usize::from(p.digit) + usize::from(p.other);
    // Identifiers and words (`get_password`, `TokenProvider`, `self.secret`) have no digits.
    if !p.digit && value.len() < 24 {
        return false;
    }
    // References and pointers (`&Utf8Key`, `*token`, `$SECRET`, `%KEY%`).
    if value
        .first()
        .is_some_and(|b| matches!(b, b'&' | b'*' | b'$' | b'%' | b'@'))
    {
        return false;
    }
    // Names of things rather than values: `WIN32_ERROR`, `node.colon2_token`,
    // `io.kubernetes.cri.sandbox_name` — identifier-shaped words joined by `_` or `.` (a value
    // without a joiner is one word).
    if p.joiner && is_identifier_path(value) {
        return false;
    }
    // Unquoted, word-like values are names in code (`KEY: X509CertificateFlag`,
    // `token: _bindgen_ty_28`); quoted ones may be human-chosen passwords and stay.
    let quoted = before
        .last()
        .is_some_and(|b| matches!(b, b'"' | b'\'' | b'`'));
    if !quoted && (value.first() == Some(&b'_') || wordiness(value) >= 0.6) {
        return false;
    }
    if classes < 2 {
        return false;
    }
    // Dotted or slashed names: `config.auth.token`, `os.environ`, file paths, URLs.
    if p.slashes > 2 || value.starts_with(b"http") || p.double_colon {
        return false;
    }
    // UUIDs and hex digests are identifiers and checksums far more often than secrets when
    // the key name says so.
    if p.hex && HEX_NAMES.iter().any(|k| contains_caseless(before, k)) {
        return false;
    }
    if is_uuid(value) {
        return false;
    }
    if is_version(value) {
        return false;
    }
    entropy(value) >= 3.0 && !is_placeholder(value)
}

/// Key names under which a hex value is a digest or an identifier, not a secret.
const HEX_NAMES: &[&[u8]] = &[
    b"hash",
    b"sha",
    b"md5",
    b"checksum",
    b"digest",
    b"integrity",
    b"etag",
    b"commit",
    b"revision",
    b"nonce",
    b"salt",
];

/// The share of a value's letters that belong to words: runs of three or more lower-case
/// letters (with a capital before them) or of three or more capitals. Names in code score
/// high (`CertificateTemplateFlag`: 1.0); random tokens low (`Zx8qL2mNp4Rt7vWy`: 0.0).
fn wordiness(v: &[u8]) -> f64 {
    let (letters, in_words) = match word_masks(v) {
        Some(masks) => words_of_masks(masks),
        None => words_by_runs(v),
    };
    if letters == 0 {
        return 0.0;
    }
    #[expect(clippy::cast_precision_loss, reason = "short values")]
    let share = in_words as f64 / letters as f64;
    share
}

/// For a value of at most 64 bytes: its lower-case letters and its capitals, bit `i` for byte
/// `i`.
fn word_masks(v: &[u8]) -> Option<(u64, u64)> {
    let mut chunk = [0u8; CHUNK];
    chunk.get_mut(..v.len())?.copy_from_slice(v);
    Some(masks::letters(&chunk))
}

/// [`wordiness`]'s counts (letters, letters in words) from the masks of a short value, without
/// a branch on its bytes: a random token's runs of letters are too short and too irregular for
/// a branch predictor.
fn words_of_masks((lower, upper): (u64, u64)) -> (usize, usize) {
    // The bits of `m` in runs of three or more.
    let in_runs = |m: u64| {
        let starts = m & (m >> 1) & (m >> 2);
        starts | (starts << 1) | (starts << 2)
    };
    let (words, capitals) = (in_runs(lower), in_runs(upper));
    // One or two capitals right before a lower-case word belong to it (`Token`, `OAuth`);
    // three or more are a word of their own (`IOError` is `IOE` and `rror`).
    let word_starts = words & !(words << 1);
    let last_capital = upper & !capitals & (word_starts >> 1);
    let first_capital = upper & !capitals & (last_capital >> 1);
    // Words are lower case, the rest capitals: the four masks share no bit.
    let in_words = words | capitals | last_capital | first_capital;
    (
        (lower | upper).count_ones() as usize,
        in_words.count_ones() as usize,
    )
}

/// [`wordiness`]'s counts (letters, letters in words) of a value of any length, run by run.
fn words_by_runs(v: &[u8]) -> (usize, usize) {
    // How many bytes from `at` on pass `class`.
    let run = |at: usize, class: fn(&u8) -> bool| {
        v.get(at..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| class(b))
            .count()
    };
    // One pass over the runs of lower-case letters, of capitals, and of other bytes.
    let (mut letters, mut in_words, mut i) = (0usize, 0usize, 0);
    while let Some(b) = v.get(i) {
        if b.is_ascii_lowercase() {
            let lower = run(i, u8::is_ascii_lowercase);
            letters += lower;
            if lower >= 3 {
                in_words += lower;
            }
            i += lower;
        } else if b.is_ascii_uppercase() {
            let upper = run(i, u8::is_ascii_uppercase);
            letters += upper;
            if upper >= 3 {
                // `CONSTANT` or `HTTPServer`: the last capital may start a capitalised word.
                in_words += upper;
                i += upper;
            } else {
                let after = run(i + upper, u8::is_ascii_lowercase);
                letters += after;
                if after >= 3 {
                    in_words += upper + after;
                }
                i += upper + after;
            }
        } else {
            i += 1;
        }
    }
    (letters, in_words)
}

/// Identifier-shaped words joined by `_`, `.`, `-` or `::`, each a word with at most a short
/// numeric tail (`colon2`, `utf8`, `v1`): how names look, and random tokens do not.
fn is_identifier_path(v: &[u8]) -> bool {
    let segments = || {
        v.split(|&b| matches!(b, b'_' | b'.' | b'-' | b':'))
            .filter(|s| !s.is_empty())
    };
    segments().nth(1).is_some()
        && segments().all(|seg| {
            let letters = seg.iter().take_while(|b| b.is_ascii_alphabetic()).count();
            let tail = seg.get(letters..).unwrap_or_default();
            letters >= 2 && tail.len() <= 2 && tail.iter().all(u8::is_ascii_digit) && {
                // A word: one case, or capitalised.
                let word = seg.get(..letters).unwrap_or_default();
                let rest_lower = word
                    .get(1..)
                    .unwrap_or_default()
                    .iter()
                    .all(u8::is_ascii_lowercase);
                let all_upper = word.iter().all(u8::is_ascii_uppercase);
                rest_lower || all_upper
            }
        })
}

/// Version strings and dates: `1.2.3`, `v2.0.1-beta.4`, `2026-11-25`, `12:30:00`.
fn is_version(v: &[u8]) -> bool {
    let v = v.strip_prefix(b"v").unwrap_or(v);
    if !v.first().is_some_and(u8::is_ascii_digit) {
        return false;
    }
    let core_end = v
        .iter()
        .position(|b| matches!(b, b'+') || b.is_ascii_alphabetic())
        .unwrap_or(v.len());
    let core = v.get(..core_end).unwrap_or_default();
    let core = core.strip_suffix(b"-").unwrap_or(core);
    core.iter().any(|b| matches!(b, b'.' | b'-' | b':'))
        && core
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b':' | b'_'))
}

fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

pub(super) fn basic_auth(b64: &[u8]) -> bool {
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(b64) else {
        return false;
    };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return false;
    };
    let password = decoded.get(colon + 1..).unwrap_or_default();
    colon > 0
        && !password.is_empty()
        && decoded.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
        && !is_placeholder(password)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The credential check as first written, a pass per question: the reference for the one
    /// that profiles the value in one pass.
    fn credential_reference(value: &[u8], before: &[u8]) -> bool {
        if value.len() < 8 {
            return false;
        }
        let has = |f: fn(&u8) -> bool| value.iter().any(f);
        let (lower, upper, digit) = (
            has(u8::is_ascii_lowercase),
            has(u8::is_ascii_uppercase),
            has(u8::is_ascii_digit),
        );
        let classes = usize::from(lower)
            + usize::from(upper)
            + usize::from(digit)
            + usize::from(has(|b| !b.is_ascii_alphanumeric()));
        // Identifiers and words (`get_password`, `TokenProvider`, `self.secret`) have no digits.
        if !digit && value.len() < 24 {
            return false;
        }
        // References and pointers (`&Utf8Key`, `*token`, `$SECRET`, `%KEY%`).
        if value
            .first()
            .is_some_and(|b| matches!(b, b'&' | b'*' | b'$' | b'%' | b'@'))
        {
            return false;
        }
        // Names of things rather than values: `WIN32_ERROR`, `node.colon2_token`,
        // `io.kubernetes.cri.sandbox_name` — identifier-shaped words joined by `_` or `.`.
        if is_identifier_path(value) {
            return false;
        }
        // Unquoted, word-like values are names in code (`KEY: X509CertificateFlag`,
        // `token: _bindgen_ty_28`); quoted ones may be human-chosen passwords and stay.
        let quoted = before
            .last()
            .is_some_and(|b| matches!(b, b'"' | b'\'' | b'`'));
        if !quoted && (value.first() == Some(&b'_') || wordiness(value) >= 0.6) {
            return false;
        }
        if classes < 2 {
            return false;
        }
        // Dotted or slashed names: `config.auth.token`, `os.environ`, file paths, URLs.
        if value.contains(&b'/') && value.iter().filter(|&&b| b == b'/').count() > 2
            || value.starts_with(b"http")
            || value.windows(2).any(|w| w == b"::")
        {
            return false;
        }
        // UUIDs and hex digests are identifiers and checksums far more often than secrets when
        // the key name says so.
        let is_hex = value.iter().all(u8::is_ascii_hexdigit);
        if is_hex
            && [
                b"hash".as_slice(),
                b"sha",
                b"md5",
                b"checksum",
                b"digest",
                b"integrity",
                b"etag",
                b"commit",
                b"revision",
                b"nonce",
                b"salt",
            ]
            .iter()
            .any(|k| contains_caseless(before, k))
        {
            return false;
        }
        if is_uuid(value) {
            return false;
        }
        if is_version(value) {
            return false;
        }
        entropy(value) >= 3.0 && !is_placeholder(value)
    }

    /// Wordiness as first written, a run of each case looked for at every step.
    fn wordiness_reference(v: &[u8]) -> f64 {
        let letters = v.iter().filter(|b| b.is_ascii_alphabetic()).count();
        if letters == 0 {
            return 0.0;
        }
        // How many bytes from `at` on pass `class`.
        fn run(v: &[u8], at: usize, class: impl Fn(&u8) -> bool) -> usize {
            v.get(at..)
                .unwrap_or_default()
                .iter()
                .take_while(|b| class(b))
                .count()
        }
        let mut in_words = 0usize;
        let mut i = 0;
        while i < v.len() {
            let lower = run(v, i, u8::is_ascii_lowercase);
            let upper = run(v, i, u8::is_ascii_uppercase);
            if lower >= 3 {
                in_words += lower;
                i += lower;
            } else if upper >= 3 {
                // `CONSTANT` or `HTTPServer`: the last capital may start a capitalised word.
                in_words += upper;
                i += upper;
            } else if upper >= 1 {
                let after = run(v, i + upper, u8::is_ascii_lowercase);
                if after >= 3 {
                    in_words += upper + after;
                }
                i += upper + after;
            } else {
                i += lower.max(1);
            }
        }
        #[expect(clippy::cast_precision_loss, reason = "short values")]
        let share = in_words as f64 / letters as f64;
        share
    }

    /// Values made of the pieces the checks look at: random runs, words, joiners, slashes,
    /// `::`, hex, UUIDs, versions, markers in any case.
    fn value() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[A-Za-z0-9]{1,12}",
            "[a-f0-9]{4,40}",
            "[a-z]{3,8}",
            "[A-Z][a-z]{2,6}",
            // Identifier words with a short numeric tail, joined: `colon2_token`, `utf8-v1`.
            "[a-z]{2,6}[0-9]{0,2}([_.:-][a-z]{2,6}[0-9]{0,2}){1,4}",
            "[a-z]{2,6}[0-9]{1,2}(-[a-z]{2,6}[0-9]{0,2}){1,3}",
            proptest::sample::select(vec![
                "_",
                ".",
                "-",
                ":",
                "::",
                "/",
                "+",
                "&",
                "*",
                "$",
                "%",
                "@",
                "http",
                "https://",
                "v",
                "1.2.3",
                "2026-11-25",
                "0f4c5e3b-8d2a-4b1e-9c7f-6a5d4e3c2b1a",
                "XXXX",
                "Example",
                "<",
                "}}",
                "%s",
                "CHANGE_ME",
                "your-",
                "Token_Here",
                "0000000000",
                "1234567890",
                "AbCdEfGh",
                "redacted",
                "password",
                "null",
                "é",
            ])
            .prop_map(str::to_owned),
        ];
        proptest::collection::vec(piece, 1..4).prop_map(|p| p.concat())
    }

    proptest::proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The one-pass wordiness is the reference's, to the bit.
        #[test]
        fn wordiness_equals_its_reference(value in value()) {
            prop_assert_eq!(
                wordiness(value.as_bytes()).to_bits(),
                wordiness_reference(value.as_bytes()).to_bits(),
                "{:?}", value
            );
        }

        /// The one-pass credential check says what the reference says.
        #[test]
        fn credential_equals_its_reference(
            value in value(),
            before in proptest::sample::select(vec![
                "api_key = ", "api_key = \"", "token: '", "sha_token = ", "ETag: `", "x",
                "commit_key=", "",
            ]),
        ) {
            proptest::prop_assert_eq!(
                credential(value.as_bytes(), before.as_bytes()),
                credential_reference(value.as_bytes(), before.as_bytes()),
                "{:?} after {:?}", value, before
            );
        }
    }

    #[test]
    fn default_passwords_are_placeholders() {
        for v in [
            "postgres",
            "GUEST",
            "changeme",
            "<password>",
            "${DB_PASS}",
            "xxxxxxxx",
            "********",
        ] {
            assert!(is_placeholder(v.as_bytes()), "{v}");
        }
        assert!(!is_placeholder(b"Zq8mW2kL9pXr4Tn7"));
    }

    #[test]
    fn github_crc() {
        // zlib.crc32(b"123456789") == 0xCBF43926, the standard check value.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn generic_credentials_are_not_code() {
        assert!(credential(
            b"Zx8qL2mNp4Rt7vWy",
            b"api_key = \"Zx8qL2mNp4Rt7vWy\""
        ));
        for v in [
            "get_password",
            "TokenProvider",
            "self.secret",
            "changeme123",
            "0f4c5e3b-8d2a-4b1e-9c7f-6a5d4e3c2b1a",
            "1.2.3-beta.4",
        ] {
            assert!(!credential(v.as_bytes(), b"token = x"), "{v}");
        }
        assert!(!credential(
            b"d41d8cd98f00b204e9800998ecf8427e",
            b"sha_token = d41d8cd98f00b204e9800998ecf8427e"
        ));
    }
}
