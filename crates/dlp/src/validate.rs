//! Checks a match must pass beyond its pattern: checksums (Luhn, IBAN mod-97, GitHub's CRC32),
//! issuer and numbering rules, structure (JWT), and the filter that keeps placeholders and
//! ordinary code from being reported as credentials.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use base64::Engine as _;
use serde::Deserialize;

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
    ];
    if WORDS
        .iter()
        .any(|w| secret.eq_ignore_ascii_case(w.as_bytes()))
    {
        return true;
    }
    // One character repeated.
    secret
        .first()
        .is_some_and(|f| secret.iter().all(|b| b.eq_ignore_ascii_case(f)))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn jwt(token: &[u8]) -> bool {
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

fn github_checksum(token: &[u8]) -> bool {
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

fn digits_of(s: &[u8]) -> Vec<u8> {
    s.iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| b - b'0')
        .collect()
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn prefix_num(digits: &[u8], n: usize) -> u32 {
    digits
        .iter()
        .take(n)
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
}

/// Issuer ranges (IIN prefixes) and the lengths each issues.
fn card_issuer_ok(d: &[u8]) -> bool {
    let len = d.len();
    let p1 = prefix_num(d, 1);
    let p2 = prefix_num(d, 2);
    let p3 = prefix_num(d, 3);
    let p4 = prefix_num(d, 4);
    let p6 = prefix_num(d, 6);
    match () {
        // Visa
        () if p1 == 4 => matches!(len, 13 | 16 | 19),
        // Mastercard
        () if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) => len == 16,
        // American Express
        () if p2 == 34 || p2 == 37 => len == 15,
        // Discover
        () if p4 == 6011
            || (644..=649).contains(&p3)
            || p2 == 65
            || (622_126..=622_925).contains(&p6) =>
        {
            (16..=19).contains(&len)
        }
        // Diners Club
        () if (300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39 || p4 == 3095 => {
            (14..=19).contains(&len)
        }
        // JCB
        () if (3528..=3589).contains(&p4) => (16..=19).contains(&len),
        // UnionPay
        () if p2 == 62 || p2 == 81 => (16..=19).contains(&len),
        // Maestro
        () if p2 == 50 || (56..=69).contains(&p2) => (12..=19).contains(&len),
        // Mir
        () if (2200..=2204).contains(&p4) => (16..=19).contains(&len),
        () => false,
    }
}

/// Card numbers are written whole or in the issuers' groupings (4-4-4-4[-1..3], Amex 4-6-5,
/// Diners 4-6-4) with one kind of separator; other digit runs (coordinates, tables,
/// decimals) are not cards.
fn card_grouping_ok(s: &[u8], before: &[u8]) -> bool {
    if before
        .last()
        .is_some_and(|b| matches!(b, b'.' | b'+' | b'-' | b'/' | b'_') || b.is_ascii_alphanumeric())
    {
        return false;
    }
    let seps: Vec<u8> = s.iter().copied().filter(|b| !b.is_ascii_digit()).collect();
    if seps.is_empty() {
        return unformatted_card_context_ok(before);
    }
    if seps.iter().any(|&b| Some(&b) != seps.first()) {
        return false;
    }
    let groups: Vec<usize> = s.split(|b| !b.is_ascii_digit()).map(<[u8]>::len).collect();
    match groups.as_slice() {
        [4, 6, 5] | [4, 6, 4] => true,
        [init @ .., last] => {
            init.len() >= 3 && init.iter().all(|&g| g == 4) && (1..=4).contains(last)
        }
        [] => false,
    }
}

/// An unformatted 12-19 digit number is a card number in data (a field after `:`, `=`, a
/// quote or a delimiter, or the first column of a line) or next to a card word; in code it is
/// far more often a constant (`    2282158712612572,`, `f(6290184345309700)`).
fn unformatted_card_context_ok(before: &[u8]) -> bool {
    let lower = before.to_ascii_lowercase();
    const WORDS: &[&str] = &[
        "card",
        "visa",
        "mastercard",
        "amex",
        "pan",
        "credit",
        "debit",
        "pay",
        "paid",
        "cc",
        "acct",
        "account",
        "billing",
        "purchase",
        "charge",
    ];
    if WORDS.iter().any(|w| contains(&lower, w.as_bytes())) {
        return true;
    }
    let trimmed = before.iter().rev().skip_while(|&&b| b == b' ');
    match trimmed.clone().next() {
        // Only spaces since the start of the input.
        None => !before.contains(&b'\n'),
        Some(b'\n') => before.last() == Some(&b'\n'),
        Some(b) => matches!(b, b':' | b'=' | b'"' | b'\'' | b',' | b';' | b'|' | b'\t'),
    }
}

fn card(s: &[u8], before: &[u8]) -> bool {
    if !card_grouping_ok(s, before) {
        return false;
    }
    let d = digits_of(s);
    (12..=19).contains(&d.len())
        && d.iter().any(|&x| Some(&x) != d.first())
        && card_issuer_ok(&d)
        && luhn(&d)
}

/// IBAN length per country (ISO 13616 registry).
fn iban_length(country: &[u8]) -> Option<usize> {
    const TABLE: &[(&[u8; 2], usize)] = &[
        (b"AD", 24),
        (b"AE", 23),
        (b"AL", 28),
        (b"AT", 20),
        (b"AZ", 28),
        (b"BA", 20),
        (b"BE", 16),
        (b"BG", 22),
        (b"BH", 22),
        (b"BI", 27),
        (b"BR", 29),
        (b"BY", 28),
        (b"CH", 21),
        (b"CR", 22),
        (b"CY", 28),
        (b"CZ", 24),
        (b"DE", 22),
        (b"DJ", 27),
        (b"DK", 18),
        (b"DO", 28),
        (b"EE", 20),
        (b"EG", 29),
        (b"ES", 24),
        (b"FI", 18),
        (b"FK", 18),
        (b"FO", 18),
        (b"FR", 27),
        (b"GB", 22),
        (b"GE", 22),
        (b"GI", 23),
        (b"GL", 18),
        (b"GR", 27),
        (b"GT", 28),
        (b"HN", 28),
        (b"HR", 21),
        (b"HU", 28),
        (b"IE", 22),
        (b"IL", 23),
        (b"IQ", 23),
        (b"IS", 26),
        (b"IT", 27),
        (b"JO", 30),
        (b"KW", 30),
        (b"KZ", 20),
        (b"LB", 28),
        (b"LC", 32),
        (b"LI", 21),
        (b"LT", 20),
        (b"LU", 20),
        (b"LV", 21),
        (b"LY", 25),
        (b"MC", 27),
        (b"MD", 24),
        (b"ME", 22),
        (b"MK", 19),
        (b"MN", 20),
        (b"MR", 27),
        (b"MT", 31),
        (b"MU", 30),
        (b"NI", 28),
        (b"NL", 18),
        (b"NO", 15),
        (b"OM", 23),
        (b"PK", 24),
        (b"PL", 28),
        (b"PS", 29),
        (b"PT", 25),
        (b"QA", 29),
        (b"RO", 24),
        (b"RS", 22),
        (b"RU", 33),
        (b"SA", 24),
        (b"SC", 31),
        (b"SD", 18),
        (b"SE", 24),
        (b"SI", 19),
        (b"SK", 24),
        (b"SM", 27),
        (b"SO", 23),
        (b"ST", 25),
        (b"SV", 28),
        (b"TL", 23),
        (b"TN", 24),
        (b"TR", 26),
        (b"UA", 29),
        (b"VA", 22),
        (b"VG", 24),
        (b"XK", 20),
        (b"YE", 30),
    ];
    TABLE
        .iter()
        .find(|(c, _)| c.as_slice() == country)
        .map(|&(_, n)| n)
}

fn iban(s: &[u8]) -> bool {
    let compact: Vec<u8> = s
        .iter()
        .filter(|b| !matches!(b, b' ' | b'-'))
        .map(u8::to_ascii_uppercase)
        .collect();
    let Some(country) = compact.get(..2) else {
        return false;
    };
    if iban_length(country) != Some(compact.len())
        || !compact.iter().all(u8::is_ascii_alphanumeric)
        || !compact
            .get(2..4)
            .is_some_and(|c| c.iter().all(u8::is_ascii_digit))
    {
        return false;
    }
    // Move the first four characters to the end, letters become 10..35, mod 97 must be 1.
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for &c in tail.iter().chain(head) {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn us_ssn(s: &[u8]) -> bool {
    let d = digits_of(s);
    if d.len() != 9 {
        return false;
    }
    let area = prefix_num(&d, 3);
    let group = prefix_num(d.get(3..).unwrap_or_default(), 2);
    let serial = prefix_num(d.get(5..).unwrap_or_default(), 4);
    // Never issued: area 000, 666 and 900-999, group 00, serial 0000; and the numbers that
    // were printed in advertising and used by many (078-05-1120, 219-09-9999).
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && !(area == 78 && group == 5 && serial == 1120)
        && !(area == 219 && group == 9 && serial == 9999)
        && !d.iter().all(|&x| Some(&x) == d.first())
        && d != [1, 2, 3, 4, 5, 6, 7, 8, 9]
}

fn email(s: &[u8], before: &[u8]) -> bool {
    // `scheme://user:password@host` is a URL's user information, not an address.
    if before.ends_with(b":") && contains(before, b"//") {
        return false;
    }
    let Some(at) = s.iter().rposition(|&b| b == b'@') else {
        return false;
    };
    let (local, domain) = (
        s.get(..at).unwrap_or_default(),
        s.get(at + 1..).unwrap_or_default(),
    );
    let domain = domain.to_ascii_lowercase();
    let Some(tld) = domain.rsplit(|&b| b == b'.').next() else {
        return false;
    };
    // Documentation and reserved domains, and names of files such as `icon@2x.png`.
    const RESERVED: &[&str] = &["example.com", "example.org", "example.net", "localhost"];
    const NOT_TLDS: &[&str] = &[
        "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "js", "ts", "css", "map", "json",
        "test", "invalid", "example", "local", "lan", "internal",
    ];
    const ROLE: &[&str] = &[
        "git",
        "noreply",
        "no-reply",
        "donotreply",
        "user",
        "username",
    ];
    let reserved = RESERVED.iter().any(|r| {
        domain == r.as_bytes()
            || (domain.ends_with(r.as_bytes())
                && domain.get(domain.len() - r.len() - 1) == Some(&b'.'))
    });
    tld.len() >= 2
        && tld.iter().all(u8::is_ascii_alphabetic)
        && domain.contains(&b'.')
        && !reserved
        && !NOT_TLDS.iter().any(|t| tld == t.as_bytes())
        && !ROLE
            .iter()
            .any(|r| local.eq_ignore_ascii_case(r.as_bytes()))
}

fn phone(s: &[u8]) -> bool {
    let d = digits_of(s);
    // `+2026-12-31`, `(+999999-12-31)`: dates with a sign, not numbers.
    let groups: Vec<usize> = s
        .split(|b| !b.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .map(<[u8]>::len)
        .collect();
    if s.contains(&b'-')
        && groups.len() >= 3
        && groups.get(1) == Some(&2)
        && groups.get(2) == Some(&2)
    {
        return false;
    }
    if s.first() == Some(&b'+') {
        // E.164: a country code and at most 15 digits in all.
        return (8..=15).contains(&d.len()) && d.first() != Some(&0);
    }
    // National formats with a trunk prefix 0 (most of Europe, Asia, Africa): 0 then an area
    // code that does not start with 0, ten or eleven digits in all.
    if d.first() == Some(&0) {
        return (10..=11).contains(&d.len()) && d.get(1).is_some_and(|&x| x != 0);
    }
    // North American numbering plan: NXX-NXX-XXXX (optionally with a leading 1).
    let d = match d.len() {
        11 if d.first() == Some(&1) => d.get(1..).unwrap_or_default().to_vec(),
        10 => d,
        _ => return false,
    };
    let area_ok = d.first().is_some_and(|&x| x >= 2) && d.get(1..3) != Some(&[1, 1]);
    let exchange_ok = d.get(3).is_some_and(|&x| x >= 2) && d.get(4..6) != Some(&[1, 1]);
    // 555-01XX numbers are reserved for fiction.
    let fictional = d.get(3..7) == Some(&[5, 5, 5, 0]) && d.get(7) == Some(&1);
    area_ok && exchange_ok && !fictional
}

/// The generic credential check: the assigned value must look random, not like a word,
/// identifier, path, URL, hash of something public, version or UUID.
fn credential(value: &[u8], before: &[u8]) -> bool {
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
    let name = before.to_ascii_lowercase();
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
        .any(|k| contains(&name, k))
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

/// The share of a value's letters that belong to words: runs of three or more lower-case
/// letters (with a capital before them) or of three or more capitals. Names in code score
/// high (`CertificateTemplateFlag`: 1.0); random tokens low (`Zx8qL2mNp4Rt7vWy`: 0.0).
fn wordiness(v: &[u8]) -> f64 {
    let letters = v.iter().filter(|b| b.is_ascii_alphabetic()).count();
    if letters == 0 {
        return 0.0;
    }
    let mut in_words = 0usize;
    let mut i = 0;
    while i < v.len() {
        let lower = v
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_lowercase())
            .count();
        let upper = v
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_uppercase())
            .count();
        if lower >= 3 {
            in_words += lower;
            i += lower;
        } else if upper >= 3 {
            // `CONSTANT` or `HTTPServer`: the last capital may start a capitalised word.
            in_words += upper;
            i += upper;
        } else if upper >= 1 {
            let after = v
                .get(i + upper..)
                .unwrap_or_default()
                .iter()
                .take_while(|b| b.is_ascii_lowercase())
                .count();
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

/// Identifier-shaped words joined by `_`, `.`, `-` or `::`, each a word with at most a short
/// numeric tail (`colon2`, `utf8`, `v1`): how names look, and random tokens do not.
fn is_identifier_path(v: &[u8]) -> bool {
    let segments: Vec<&[u8]> = v
        .split(|&b| matches!(b, b'_' | b'.' | b'-' | b':'))
        .filter(|s| !s.is_empty())
        .collect();
    segments.len() >= 2
        && segments.iter().all(|seg| {
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
    let core_end = v
        .iter()
        .position(|b| matches!(b, b'+') || b.is_ascii_alphabetic())
        .unwrap_or(v.len());
    let core = v.get(..core_end).unwrap_or_default();
    let core = core.strip_suffix(b"-").unwrap_or(core);
    v.first().is_some_and(u8::is_ascii_digit)
        && core.iter().any(|b| matches!(b, b'.' | b'-' | b':'))
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

fn basic_auth(b64: &[u8]) -> bool {
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

    #[test]
    fn luhn_and_issuers() {
        assert!(card(b"4111 1111 1111 1111", b"card "));
        assert!(card(b"5555-5555-5555-4444", b""));
        assert!(card(b"378282246310005", b" "));
        assert!(card(b"3782 822463 10005", b" "));
        assert!(!card(b"4111 1111 1111 1112", b" "), "luhn");
        assert!(!card(b"9111111111111111", b" "), "no issuer");
        assert!(!card(b"37828224631000", b" "), "amex length");
        assert!(!card(b"4111111111111111", b"0."), "decimals");
        assert!(card(b"4111111111111111", b"\n"), "first column");
        assert!(card(b"4111111111111111", b"id,"), "csv field");
        assert!(!card(b"4111111111111111", b"\n        "), "constant table");
        assert!(!card(b"4111111111111111", b"check("), "argument");
        assert!(!card(b"4111 11 1111 1111 11", b" "), "grouping");
        assert!(!card(b"4111 1111-1111 1111", b" "), "mixed separators");
    }

    #[test]
    fn iban_mod97_and_length() {
        assert!(iban(b"DE89 3704 0044 0532 0130 00"));
        assert!(iban(b"GB82WEST12345698765432"));
        assert!(!iban(b"DE89 3704 0044 0532 0130 01"), "checksum");
        assert!(!iban(b"DE89 3704 0044 0532 0130"), "length");
        assert!(!iban(b"ZZ89 3704 0044 0532 0130 00"), "country");
    }

    #[test]
    fn ssn_rules() {
        assert!(us_ssn(b"536-22-8741"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
            "078-05-1120",
        ] {
            assert!(!us_ssn(bad.as_bytes()), "{bad}");
        }
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
