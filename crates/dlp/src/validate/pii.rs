//! Personal data: payment cards (Luhn, issuer ranges and groupings), IBANs (country length,
//! mod-97), US social security numbers, e-mail addresses and phone numbers.

use super::{contains, eq_caseless};

/// At most `N` small values, kept on the stack: validators run once per candidate, and what
/// they look at is short (a longer input is no card, IBAN, phone or social security number).
#[derive(Clone, Copy)]
struct Few<T, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<T: Copy + Default, const N: usize> Few<T, N> {
    /// The items, or `None` if there are more than `N`.
    fn of(iter: impl IntoIterator<Item = T>) -> Option<Self> {
        let mut few = Self {
            items: [T::default(); N],
            len: 0,
        };
        for item in iter {
            *few.items.get_mut(few.len)? = item;
            few.len += 1;
        }
        Some(few)
    }

    fn as_slice(&self) -> &[T] {
        self.items.get(..self.len).unwrap_or_default()
    }
}

/// The digit values of `s`, or `None` if it has more than 40.
fn digits_of(s: &[u8]) -> Option<Few<u8, 40>> {
    Few::of(s.iter().filter(|b| b.is_ascii_digit()).map(|b| b - b'0'))
}

/// The Luhn check: counting from the right, every second digit doubled (less 9 past 9), and the
/// sum a multiple of ten. Counted from the left, the doubled digits are those whose index has
/// the parity of the length.
fn luhn(digits: &[u8]) -> bool {
    let parity = digits.len() % 2;
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == parity {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The number the first `n` digits make (all of them when there are fewer).
fn prefix_num(digits: &[u8], n: usize) -> u32 {
    digits
        .iter()
        .take(n)
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
}

/// Issuer ranges (IIN prefixes) and the lengths each issues, for a number of at least six
/// digits (a card number has twelve or more).
fn card_issuer_ok(d: &[u8]) -> bool {
    // The shorter prefixes are read off the first six digits.
    let p6 = prefix_num(d, 6);
    issuer_ok(
        d.len(),
        [p6 / 100_000, p6 / 10_000, p6 / 1_000, p6 / 100, p6],
    )
}

/// The issuer table: whether a number of `len` digits whose first 1, 2, 3, 4 and 6 digits make
/// `prefixes` is in an issuer's range and of a length that issuer uses.
fn issuer_ok(len: usize, prefixes: [u32; 5]) -> bool {
    let [p1, p2, p3, p4, p6] = prefixes;
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

/// Whether the byte before a number rules out its being a card number: it continues a decimal,
/// a signed or joined number, a path or a word.
fn card_continues(before: &[u8]) -> bool {
    before
        .last()
        .is_some_and(|b| matches!(b, b'.' | b'+' | b'-' | b'/' | b'_') || b.is_ascii_alphanumeric())
}

/// Card numbers are written whole or in the issuers' groupings (4-4-4-4[-1..3], Amex 4-6-5,
/// Diners 4-6-4), given the digits of each group between separators.
fn card_groups_ok(groups: &[u8]) -> bool {
    match groups {
        [4, 6, 5] | [4, 6, 4] => true,
        [init @ .., last] => {
            init.len() >= 3 && init.iter().all(|&g| g == 4) && (1..=4).contains(last)
        }
        [] => false,
    }
}

/// The words that make a number next to them a card number (card, visa, mastercard, amex, pan,
/// credit, debit, pay, paid, cc, acct, account, billing, purchase, charge), those that begin
/// with `b` in either case.
fn card_words_from(b: u8) -> &'static [&'static str] {
    match b.to_ascii_lowercase() {
        b'a' => &["amex", "acct", "account"],
        b'b' => &["billing"],
        b'c' => &["card", "credit", "cc", "charge"],
        b'd' => &["debit"],
        b'm' => &["mastercard"],
        b'p' => &["pan", "pay", "paid", "purchase"],
        b'v' => &["visa"],
        _ => &[],
    }
}

/// An unformatted 12-19 digit number is a card number in data (a field after `:`, `=`, a
/// quote or a delimiter, or the first column of a line) or next to a card word; in code it is
/// far more often a constant (`    2282158712612572,`, `f(6290184345309700)`).
fn unformatted_card_context_ok(before: &[u8]) -> bool {
    // The words are looked for in the last 64 bytes, in any case, nearest first: a card word
    // most often stands right before the number.
    let tail = before
        .get(before.len().saturating_sub(64)..)
        .unwrap_or(before);
    let word_at = |i: usize| {
        let text = tail.get(i..).unwrap_or_default();
        text.first().is_some_and(|&b| {
            card_words_from(b).iter().any(|w| {
                text.get(..w.len())
                    .is_some_and(|t| eq_caseless(t, w.as_bytes()))
            })
        })
    };
    if (0..tail.len()).rev().any(word_at) {
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

/// A payment card number: 12 to 19 digits, not all one digit, written whole (where the context
/// says so, see [`unformatted_card_context_ok`]) or in an issuer's groups with one kind of
/// separator (other digit runs — coordinates, tables, decimals — are not cards), in an issuer's
/// range and length, with a valid Luhn check digit. One pass over the number.
pub(super) fn card(s: &[u8], before: &[u8]) -> bool {
    if card_continues(before) {
        return false;
    }
    let mut digits = [0u8; 19];
    let mut count = 0;
    // Digits per group between separators, the last one still open.
    let mut groups = [0u8; 8];
    let mut group = 0;
    let mut sep = None;
    for &b in s {
        if b.is_ascii_digit() {
            let Some(d) = digits.get_mut(count) else {
                return false;
            };
            *d = b - b'0';
            count += 1;
            if let Some(g) = groups.get_mut(group) {
                *g += 1;
            }
        } else {
            if *sep.get_or_insert(b) != b {
                return false;
            }
            group += 1;
            if group == groups.len() {
                return false;
            }
        }
    }
    let grouped = match sep {
        None => unformatted_card_context_ok(before),
        Some(_) => card_groups_ok(groups.get(..=group).unwrap_or_default()),
    };
    let d = digits.get(..count).unwrap_or_default();
    grouped
        && count >= 12
        && d.iter().any(|&x| Some(&x) != d.first())
        && card_issuer_ok(d)
        && luhn(d)
}

/// IBAN length per country (ISO 13616 registry).
fn iban_length(country: &[u8]) -> Option<usize> {
    let [a, b] = *country else {
        return None;
    };
    let (a, b) = (a.wrapping_sub(b'A'), b.wrapping_sub(b'A'));
    if a >= 26 || b >= 26 {
        return None;
    }
    match IBAN_LENGTH_BY_CODE.get(usize::from(a) * 26 + usize::from(b)) {
        Some(&n) if n > 0 => Some(usize::from(n)),
        _ => None,
    }
}

/// [`IBAN_LENGTHS`] indexed by country code (`(first - 'A') * 26 + second - 'A'`); 0 where a
/// code has no IBAN. Worked out at compile time.
#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: an index out of range would fail the build, not a scan"
)]
static IBAN_LENGTH_BY_CODE: [u8; 26 * 26] = {
    let mut table = [0u8; 26 * 26];
    let mut i = 0;
    while i < IBAN_LENGTHS.len() {
        let (code, n) = IBAN_LENGTHS[i];
        table[(code[0] - b'A') as usize * 26 + (code[1] - b'A') as usize] = n as u8;
        i += 1;
    }
    table
};

/// IBAN length per country, sorted by country code (a test keeps it so).
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
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

pub(super) fn iban(s: &[u8]) -> bool {
    // The characters without separators, upper case: the longest IBAN has 34.
    let mut buf = [0u8; 34];
    let mut len = 0;
    for &b in s {
        if matches!(b, b' ' | b'-') {
            continue;
        }
        let Some(slot) = buf.get_mut(len) else {
            return false;
        };
        *slot = b.to_ascii_uppercase();
        len += 1;
    }
    let compact = buf.get(..len).unwrap_or_default();
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
    // The remainder is taken only when the next step could overflow: below 2^56, two more
    // digits fit.
    let (head, tail) = compact.split_at(4);
    let mut rem: u64 = 0;
    for &c in tail.iter().chain(head) {
        if rem >= 1 << 56 {
            rem %= 97;
        }
        rem = if c.is_ascii_digit() {
            rem * 10 + u64::from(c - b'0')
        } else {
            rem * 100 + u64::from(c - b'A') + 10
        };
    }
    rem % 97 == 1
}

pub(super) fn us_ssn(s: &[u8]) -> bool {
    let Some(d) = digits_of(s) else {
        return false;
    };
    let d = d.as_slice();
    if d.len() != 9 {
        return false;
    }
    let area = prefix_num(d, 3);
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

/// Documentation and reserved domains.
const RESERVED: &[&str] = &["example.com", "example.org", "example.net", "localhost"];
/// Last labels that are no top-level domain: names of files such as `icon@2x.png`, and
/// reserved names.
const NOT_TLDS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "js", "ts", "css", "map", "json", "test",
    "invalid", "example", "local", "lan", "internal",
];
/// Local parts that name a role or a placeholder, not a person.
const ROLE: &[&str] = &[
    "git",
    "noreply",
    "no-reply",
    "donotreply",
    "user",
    "username",
];

pub(super) fn email(s: &[u8], before: &[u8]) -> bool {
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
    // Compared without regard to case, without a lowercased copy.
    let Some(tld) = domain.rsplit(|&b| b == b'.').next() else {
        return false;
    };
    let reserved = RESERVED.iter().any(|r| {
        let r = r.as_bytes();
        domain.len() >= r.len()
            && domain
                .get(domain.len() - r.len()..)
                .is_some_and(|tail| eq_caseless(tail, r))
            && (domain.len() == r.len() || domain.get(domain.len() - r.len() - 1) == Some(&b'.'))
    });
    tld.len() >= 2
        && tld.iter().all(u8::is_ascii_alphabetic)
        && domain.contains(&b'.')
        && !reserved
        && !NOT_TLDS.iter().any(|t| eq_caseless(tld, t.as_bytes()))
        && !ROLE.iter().any(|r| eq_caseless(local, r.as_bytes()))
}

/// Whether the digits count up or down by one (wrapping 9 to 0), six of them at least:
/// `1234567`, `234567890`, `987654`.
fn counting(d: &[u8]) -> bool {
    let step = |a: u8, b: u8| (b + 10 - a) % 10;
    let mut steps = d.windows(2).map(|w| match *w {
        [a, b] => step(a, b),
        _ => 0,
    });
    d.len() >= 6
        && steps
            .next()
            .is_some_and(|first| (first == 1 || first == 9) && steps.all(|s| s == first))
}

/// Whether the digit groups of `s` are consecutive numbers (`01 02 03 04 05`, `08 07 06 05`):
/// a list of bytes or an enumeration, not a number.
fn counting_groups(s: &[u8]) -> bool {
    let Some(groups) = Few::<u32, 8>::of(
        s.split(|b| !b.is_ascii_digit())
            .filter(|g| !g.is_empty())
            .map(|g| {
                g.iter().fold(0u32, |n, &b| {
                    n.saturating_mul(10).saturating_add(u32::from(b - b'0'))
                })
            }),
    ) else {
        return false;
    };
    let g = groups.as_slice();
    g.len() >= 4
        && (g
            .windows(2)
            .all(|w| matches!(*w, [a, b] if a.checked_add(1) == Some(b)))
            || g.windows(2)
                .all(|w| matches!(*w, [a, b] if b.checked_add(1) == Some(a))))
}

/// Whether one digit makes up all but at most two of them (`0100000000`, `555 555 5555`).
fn one_digit(d: &[u8]) -> bool {
    let mut counts = [0usize; 10];
    for &x in d {
        if let Some(c) = counts.get_mut(usize::from(x)) {
            *c += 1;
        }
    }
    counts.iter().max().is_some_and(|&m| m + 2 >= d.len())
}

/// Control bytes other than tabs and line ends: the text around is binary data.
fn binary(context: &[u8]) -> bool {
    context
        .iter()
        .any(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f)
}

pub(super) fn phone(s: &[u8], before: &[u8]) -> bool {
    let Some(d) = digits_of(s) else {
        return false;
    };
    let d = d.as_slice();
    // The shape of a number first (cheap, and most candidates fail it), then what makes a
    // well-shaped digit string not a number: a count, one digit repeated, binary data.
    numbering_plan(s, d) && !(one_digit(d) || counting_groups(s) || binary(before))
}

/// Whether `s` (digits `d`) is shaped like a phone number of one of the plans the rules find.
fn numbering_plan(s: &[u8], d: &[u8]) -> bool {
    // `+2026-12-31`, `(+999999-12-31)`: dates with a sign, not numbers.
    let mut groups = s
        .split(|b| !b.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .map(<[u8]>::len);
    let (_, second, third) = (groups.next(), groups.next(), groups.next());
    if s.contains(&b'-') && second == Some(2) && third == Some(2) {
        return false;
    }
    if s.first() == Some(&b'+') {
        // E.164: a country code (one to three digits) and at most 15 digits in all; what
        // follows the country code is not a count (`+44 1234567`, `+1234567890`).
        let subscriber_counts = (1..=3).any(|k| d.get(k..).is_some_and(counting));
        return (8..=15).contains(&d.len()) && d.first() != Some(&0) && !subscriber_counts;
    }
    // National formats with a trunk prefix 0 (most of Europe, Asia, Africa): 0 then an area
    // code that does not start with 0, ten or eleven digits in all.
    if d.first() == Some(&0) {
        return (10..=11).contains(&d.len())
            && d.get(1).is_some_and(|&x| x != 0)
            && !d.get(1..).is_some_and(counting);
    }
    // North American numbering plan: NXX-NXX-XXXX (optionally with a leading 1).
    let d = match d.len() {
        11 if d.first() == Some(&1) => d.get(1..).unwrap_or_default(),
        10 => d,
        _ => return false,
    };
    let area_ok = d.first().is_some_and(|&x| x >= 2) && d.get(1..3) != Some(&[1, 1]);
    let exchange_ok = d.get(3).is_some_and(|&x| x >= 2) && d.get(4..6) != Some(&[1, 1]);
    // 555-01XX numbers are reserved for fiction.
    let fictional = d.get(3..7) == Some(&[5, 5, 5, 0]) && d.get(7) == Some(&1);
    area_ok && exchange_ok && !fictional
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The e-mail check as first written, on a lowercased copy of the domain (same lists): the
    /// reference for the one that compares without regard to case.
    fn email_reference(s: &[u8], before: &[u8]) -> bool {
        if before.ends_with(b":") && contains(before, b"//") {
            return false;
        }
        let Some(at) = s.iter().rposition(|&b| b == b'@') else {
            return false;
        };
        let (local, domain) = (&s[..at], s[at + 1..].to_ascii_lowercase());
        let tld = domain.rsplit(|&b| b == b'.').next().unwrap();
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

    proptest::proptest! {
        #[test]
        fn email_check_equals_its_reference(
            local in proptest::sample::select(vec!["ann", "User", "no-reply", "x.y", ""]),
            domain in proptest::collection::vec(
                proptest::sample::select(vec!["Example", "com", "ORG", "localhost", "acme-corp", "png", "Local", "io", "x", "2x", ""]),
                1..4,
            ),
            before in proptest::sample::select(vec!["", "mail ", "https://", "u:"]),
        ) {
            let s = format!("{local}@{}", domain.join("."));
            proptest::prop_assert_eq!(
                email(s.as_bytes(), before.as_bytes()),
                email_reference(s.as_bytes(), before.as_bytes()),
                "{:?} after {:?}", s, before
            );
        }
    }

    #[test]
    fn email_refuses_reserved_domains_in_any_case() {
        assert!(email(b"ann.lee@acme-corp.com", b"mail "));
        assert!(!email(b"ann@EXAMPLE.com", b""));
        assert!(!email(b"ann@mail.Example.ORG", b""));
        assert!(email(b"ann@notexample.com", b""));
        assert!(!email(b"icon@2x.PNG", b""));
        assert!(!email(b"NoReply@acme-corp.com", b""));
    }

    #[test]
    fn iban_lengths_are_sorted_by_country() {
        assert!(IBAN_LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        // The table by code says what the list says, for every pair of bytes.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let listed = IBAN_LENGTHS
                    .iter()
                    .find(|(c, _)| **c == [a, b])
                    .map(|&(_, n)| n);
                assert_eq!(iban_length(&[a, b]), listed, "{a} {b}");
            }
        }
        assert_eq!(iban_length(b"DE"), Some(22));
        assert_eq!(iban_length(b"AD"), Some(24));
        assert_eq!(iban_length(b"YE"), Some(30));
        assert_eq!(iban_length(b"US"), None);
    }

    /// The context check as first written, each word looked for in a lowercased copy: the
    /// reference for the one that looks a byte at a time, nearest first.
    fn card_context_reference(before: &[u8]) -> bool {
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
        let tail = &before[before.len().saturating_sub(64)..];
        let lower = tail.to_ascii_lowercase();
        if WORDS.iter().any(|w| contains(&lower, w.as_bytes())) {
            return true;
        }
        let trimmed = before.iter().rev().skip_while(|&&b| b == b' ');
        match trimmed.clone().next() {
            None => !before.contains(&b'\n'),
            Some(b'\n') => before.last() == Some(&b'\n'),
            Some(b) => matches!(b, b':' | b'=' | b'"' | b'\'' | b',' | b';' | b'|' | b'\t'),
        }
    }

    proptest::proptest! {
        /// Contexts made of card words in any case, their pieces, other words and the bytes
        /// the check looks at last, cut anywhere: both checks agree.
        #[test]
        fn card_context_equals_its_reference(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "card", "VISA", "Mastercard", "amex", "pan", "Credit", "debit", "pay", "paid",
                "cc", "acct", "account", "billing", "purchase", "charge", "car", "vis", "c",
                "p", "a", "number", " ", "  ", "\n", ":", "=", "\"", "'", ",", ";", "|", "\t",
                "x", "0", "long text without them ",
            ]), 0..12),
            cut in 0usize..200,
        ) {
            let before = parts.concat();
            let before = &before.as_bytes()[cut.min(before.len())..];
            proptest::prop_assert_eq!(
                unformatted_card_context_ok(before),
                card_context_reference(before),
                "{:?}", String::from_utf8_lossy(before)
            );
        }
    }

    /// Luhn as the standard states it: from the rightmost digit leftwards, every second one
    /// doubled, the digits of each product summed.
    fn luhn_reference(digits: &[u8]) -> bool {
        let sum: u32 = digits
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &d)| {
                let d = u32::from(d) * if i % 2 == 1 { 2 } else { 1 };
                d / 10 + d % 10
            })
            .sum();
        sum.is_multiple_of(10)
    }

    /// The issuer check with each prefix read from the digits on its own.
    fn issuer_reference(d: &[u8]) -> bool {
        let p = |n: usize| {
            d.iter()
                .take(n)
                .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
        };
        issuer_ok(d.len(), [p(1), p(2), p(3), p(4), p(6)])
    }

    proptest::proptest! {
        /// Any card-length number, led by an issuer's prefix or not: Luhn and the issuer check
        /// say what the textbook forms say.
        #[test]
        fn luhn_and_issuer_equal_their_references(
            lead in proptest::sample::select(vec![
                vec![4], vec![5, 1], vec![2, 2, 2, 1], vec![2, 7, 2, 0], vec![2, 7, 2, 1], vec![3, 4],
                vec![3, 7], vec![6, 0, 1, 1], vec![6, 4, 4], vec![6, 5], vec![6, 2, 2, 1, 2, 6],
                vec![6, 2, 2, 9, 2, 5], vec![6, 2, 2, 9, 2, 6], vec![3, 0, 5], vec![3, 0, 6], vec![3, 6],
                vec![3, 0, 9, 5], vec![3, 5, 2, 8], vec![3, 5, 8, 9], vec![3, 5, 9, 0], vec![8, 1],
                vec![5, 0], vec![5, 6], vec![6, 9], vec![2, 2, 0, 4], vec![2, 2, 0, 5], vec![],
            ]),
            rest in proptest::collection::vec(0u8..10, 19),
            len in 12usize..=19,
        ) {
            let mut d = lead.clone();
            d.extend_from_slice(&rest);
            d.truncate(len);
            proptest::prop_assert_eq!(luhn(&d), luhn_reference(&d), "{:?}", d);
            proptest::prop_assert_eq!(card_issuer_ok(&d), issuer_reference(&d), "{:?}", d);
        }
    }

    /// The card check as first written, a pass per question: the reference for the one that
    /// answers them all in one pass.
    fn card_reference(s: &[u8], before: &[u8]) -> bool {
        if card_continues(before) {
            return false;
        }
        let mut seps = s.iter().filter(|b| !b.is_ascii_digit());
        let grouped = match seps.next() {
            None => unformatted_card_context_ok(before),
            Some(sep) => {
                let groups: Vec<u8> = s
                    .split(|b| !b.is_ascii_digit())
                    .map(|g| g.len() as u8)
                    .collect();
                !seps.any(|b| b != sep) && groups.len() <= 8 && card_groups_ok(&groups)
            }
        };
        let d: Vec<u8> = s
            .iter()
            .filter(|b| b.is_ascii_digit())
            .map(|b| b - b'0')
            .collect();
        grouped
            && (12..=19).contains(&d.len())
            && d.iter().any(|&x| Some(&x) != d.first())
            && card_issuer_ok(&d)
            && luhn(&d)
    }

    proptest::proptest! {
        // Cheap cases, and the ones that tell the checks apart (valid groups, issuer and check
        // digit, and then one thing wrong) are a small share of them.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// Numbers in groups of any size, joined by one or more kinds of separator, with a
        /// valid check digit or not, after any context: the one-pass check says what the
        /// reference says.
        #[test]
        fn card_check_equals_its_reference(
            groups in proptest::prop_oneof![
                // The issuers' groupings and lengths, and near misses.
                proptest::sample::select(vec![
                    vec![4, 4, 4, 4], vec![4, 6, 5], vec![4, 6, 4], vec![4, 4, 4, 4, 3],
                    vec![4, 4, 4, 1], vec![4, 4, 4], vec![4, 4, 4, 5], vec![4, 0, 4, 4, 4],
                    vec![4, 4, 4, 4, 4, 4, 4, 4], vec![1, 1, 1, 1, 1, 1, 1, 1, 1], vec![16],
                    vec![15], vec![12], vec![11], vec![13], vec![19], vec![20],
                ]),
                proptest::collection::vec(0usize..8, 1..10),
            ],
            one_sep in proptest::bool::ANY,
            seps in proptest::collection::vec(proptest::sample::select(b" -./x".to_vec()), 9),
            lead in proptest::sample::select(vec!["4", "5", "34", "37", "6011", "62", "35", "2221", "50", "67", "9", "1", "0"]),
            digits in proptest::collection::vec(0u8..10, 40),
            fix_luhn in proptest::bool::ANY,
            before in proptest::sample::select(vec!["", " ", "card ", "\n", "0.", "x", "id,", "\n    "]),
        ) {
            let mut number: Vec<u8> = lead.bytes().chain(digits.iter().map(|d| b'0' + d)).collect();
            let wanted: usize = groups.iter().sum::<usize>().max(lead.len());
            number.truncate(wanted);
            if fix_luhn && !number.is_empty() {
                // Make the last digit the one that passes Luhn.
                let body = &number[..number.len() - 1];
                let check = (0..10u8).find(|&c| {
                    let mut d: Vec<u8> = body.iter().map(|b| b - b'0').collect();
                    d.push(c);
                    luhn(&d)
                });
                let last = number.len() - 1;
                number[last] = b'0' + check.unwrap();
            }
            // Cut the digits into the groups, separators between them.
            let mut s = Vec::new();
            let mut rest = number.as_slice();
            for (i, &g) in groups.iter().enumerate() {
                let (head, tail) = rest.split_at(g.min(rest.len()));
                if i > 0 {
                    s.push(if one_sep { seps[0] } else { seps[i - 1] });
                }
                s.extend_from_slice(head);
                rest = tail;
            }
            s.extend_from_slice(rest);
            proptest::prop_assert_eq!(
                card(&s, before.as_bytes()),
                card_reference(&s, before.as_bytes()),
                "{:?} after {:?}", String::from_utf8_lossy(&s), before
            );
        }
    }

    #[test]
    fn card_words_are_found_in_any_case_within_64_bytes() {
        assert!(unformatted_card_context_ok(b"Your VISA number "));
        assert!(unformatted_card_context_ok(b"billing "));
        let far = [b"card".as_slice(), &[b' '; 61]].concat();
        assert!(!unformatted_card_context_ok(&far));
        let near = [b"card".as_slice(), &[b' '; 60]].concat();
        assert!(unformatted_card_context_ok(&near));
    }

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
    fn phones_that_count_repeat_or_sit_in_binary_data_are_not_numbers() {
        assert!(phone(b"+44 20 7946 0958", b"call "));
        assert!(phone(b"+4915123456789", b"whatsapp "));
        assert!(phone(b"06 12 34 56 78", b"mobile "));
        assert!(!phone(b"+44 1234567", b"\""), "counting subscriber number");
        assert!(!phone(b"+1234567890", b"\""), "counting, 9 wraps to 0");
        assert!(!phone(b"01 02 03 04 05", b"    "), "counting groups");
        assert!(!phone(b"08 07 06 05 04", b"    "), "counting down");
        assert!(!phone(b"01 00 00 00 00", b"("), "one digit");
        assert!(!phone(b"+1 415 555 2671", b"\x00\x01\x02 "), "binary data");
        // Groups too long for a `u32` saturate, and saturated groups are not counting (found by
        // the `dlp_scan` fuzz target: `u32::MAX + 1` overflowed).
        assert!(!counting_groups(
            b"4294967295 99999999999 99999999999 99999999999"
        ));
        assert!(!counting_groups(
            b"99999999999 99999999999 99999999999 4294967295"
        ));
        assert!(counting_groups(
            b"4294967292 4294967293 4294967294 4294967295"
        ));
        assert!(counting(b"\x01\x02\x03\x04\x05\x06"));
        assert!(counting(&[9, 8, 7, 6, 5, 4]));
        assert!(!counting(&[1, 2, 3, 4, 5]), "too short");
        assert!(!counting(&[1, 2, 3, 5, 6, 7]));
    }

    /// The mod-97 remainder one character at a time, as ISO 13616 describes it.
    fn mod97_reference(chars: &[u8]) -> u32 {
        chars.iter().fold(0u32, |rem, &c| {
            if c.is_ascii_digit() {
                (rem * 10 + u32::from(c - b'0')) % 97
            } else {
                (rem * 100 + u32::from(c - b'A') + 10) % 97
            }
        })
    }

    proptest::proptest! {
        /// Any country's IBAN with its check digits computed as the standard says passes, and
        /// with any other check digits fails: the remainder taken only now and then is the
        /// remainder.
        #[test]
        fn iban_check_digits_are_those_the_standard_computes(
            country in proptest::sample::select(IBAN_LENGTHS.to_vec()),
            body in proptest::collection::vec(proptest::sample::select(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".to_vec()), 34),
            wrong in 0u32..97,
        ) {
            let (code, len) = country;
            let body = body.get(..len - 4).unwrap_or_default();
            let mut moved = body.to_vec();
            moved.extend_from_slice(code);
            moved.extend_from_slice(b"00");
            let check = 98 - mod97_reference(&moved);
            let with = |digits: u32| {
                let mut v = code.to_vec();
                v.extend_from_slice(format!("{digits:02}").as_bytes());
                v.extend_from_slice(body);
                v
            };
            proptest::prop_assert!(iban(&with(check)), "{}", String::from_utf8_lossy(&with(check)));
            let other = (check + 1 + wrong % 96) % 97;
            if other >= 2 && other != check {
                proptest::prop_assert!(!iban(&with(other)));
            }
        }
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
}
