//! Cheap necessary conditions a keyword's surroundings, or a digit run's groups, must meet
//! before a rule's pattern runs.
//!
//! A rule keyed on ordinary words (`token`, `secret`, `password`) or bytes (`@`, `://`) meets
//! them everywhere in prose and code, and nearly every mention is not part of a match. Running
//! the pattern there costs hundreds to thousands of instructions a mention (the regex engine's
//! dispatch, its lazy DFA, and for rules with `before` a search of the whole window); a
//! precheck says "no" to most mentions by looking at a few bytes around the keyword. A precheck
//! may let through text the pattern then rejects, never the reverse: each is a consequence of
//! the patterns that declare it, which the tests check on generated text.
//!
//! Digit runs are the same story for the personal-data rules: a run of eight digits or more
//! (a card number, a date and time, a table row) was searched by every digit rule's pattern,
//! and the prechecks on digit runs (`ssn-groups`, `nanp-groups`, `trunk-groups`, `plus-lead`,
//! `iban-lead`) say which of them can match there from how the run is grouped.

use std::ops::Range;

use serde::Deserialize;

use crate::masks::{ALNUM, class_table};

/// A precheck named in a rule's `precheck` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precheck {
    /// After the keyword: the rest of a name (at most 64 of `A-Z a-z 0-9 _ . -`), an optional
    /// closing quote, a separator (spaces, tabs, `=`, `:`, `>`), an optional opening quote, and
    /// a value of at least [`ASSIGNED_VALUE_MIN`] bytes of `A-Z a-z 0-9 + / = _ - . ~ ! @ # $ %
    /// ^ & *` that ends the text or is followed by a quote, whitespace, `,`, `;`, `)`, `}` or `]`.
    Assignment,
    /// [`Precheck::Assignment`], and more: the value it finds is the secret of every match at
    /// that keyword, so the rule's checks (entropy, validator, placeholders) can judge it before
    /// the pattern runs. Only for rules without `before`.
    AssignedValue,
    /// The keyword is the `@` of an e-mail address: a local-part byte (`A-Z a-z 0-9 . _ % + -`)
    /// before it and a letter or digit after it. The rule promises that every match is made of
    /// local-part bytes, an `@` and then a domain of local-part bytes: so the search for the
    /// matches covering this `@` begins at the run of local-part bytes before it (see
    /// [`Precheck::first_match_start`]).
    EmailAt,
    /// The keyword is the `://` of a URL with credentials: after it, a user name and password
    /// (bytes of `A-Z a-z 0-9 . _ ~ % ! $ & ' ( ) * + , ; = - :`, at least five, one of them `:`)
    /// followed by `@`.
    UrlUserinfo,
    /// For a digit-run rule: the run begins with the `+` of an international number (a run
    /// takes in the `+` before its first digit).
    PlusLead,
    /// For a digit-run rule: three consecutive groups of the run (digits between separators)
    /// have 3, 2 and 4 digits, as a US social security number is written.
    SsnGroups,
    /// For a digit-run rule: three consecutive groups have 3, 3 and 4 digits (area code,
    /// exchange, line: the North American numbering plan).
    NanpGroups,
    /// For a digit-run rule: a group that starts with the trunk prefix `0` and has 2 to 5
    /// digits, followed by two groups of 2 to 4 (a national number with its trunk prefix).
    TrunkGroups,
    /// For a digit-run rule: two capital letters and two digits (an IBAN's country and check
    /// digits) start in the 12 bytes before the run; a run holds no letters, so an IBAN that
    /// covers it starts there. The rule promises that every match starts so: the search for
    /// one begins at the first of them (see [`Precheck::first_match_start`]).
    IbanLead,
}

/// How far before a digit run [`Precheck::IbanLead`] looks for an IBAN's start: the rule's
/// `before`.
const IBAN_LEAD_REACH: usize = 12;

/// The shortest value [`Precheck::Assignment`] lets through.
pub const ASSIGNED_VALUE_MIN: usize = 8;

/// Longest name tail after the keyword that [`Precheck::Assignment`] walks.
const NAME_TAIL_MAX: usize = 64;
/// Longest run of separator bytes it walks (patterns allow about a dozen).
const SEPARATOR_MAX: usize = 16;
/// Longest user name and password [`Precheck::UrlUserinfo`] walks: the pattern allows 64 and
/// 128, and the `:` between them.
const USERINFO_MAX: usize = 193;

/// What a precheck says about a keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// No match contains it.
    Refused,
    /// A match may contain it.
    Admitted,
    /// A match may contain it, and its secret would be exactly these bytes
    /// ([`Precheck::AssignedValue`]).
    Value(Range<usize>),
}

impl Precheck {
    /// Whether the precheck looks at a digit run (for rules with `digits`) rather than at a
    /// keyword (for rules with `keywords`).
    pub fn on_digit_runs(self) -> bool {
        matches!(
            self,
            Self::PlusLead
                | Self::SsnGroups
                | Self::NanpGroups
                | Self::TrunkGroups
                | Self::IbanLead
        )
    }

    /// Where the search of the rule's window, which starts at `from`, may begin instead and find
    /// the same matches covering the candidate (digit run or keyword) at `start`, when the
    /// precheck knows; a match most likely starts there. [`IbanLead`]: the first country and
    /// check digits (every match of an IBAN rule starts with them, so none starts before).
    /// [`EmailAt`]: the run of local-part bytes before the `@`, unless another `@` ends just
    /// before it. A match starting earlier has its own `@` earlier (its local part cannot cross
    /// the byte before the run), and its domain, made of local-part bytes too, cannot cross
    /// that byte either unless it is that `@`: so such a match ends before the run, and the
    /// window search, which passes over matches that end before the candidate, finds the same
    /// matches from the run on. `None` when it does not know.
    ///
    /// [`IbanLead`]: Precheck::IbanLead
    /// [`EmailAt`]: Precheck::EmailAt
    pub(crate) fn first_match_start(self, hay: &[u8], from: usize, start: usize) -> Option<usize> {
        match self {
            Self::IbanLead => first_iban_lead(hay, from, start),
            Self::EmailAt => {
                let before = hay.get(from..start).unwrap_or_default();
                let local = before
                    .iter()
                    .rev()
                    .take_while(|&&b| local_part_byte(b))
                    .count();
                let run = start - local;
                let glued = run
                    .checked_sub(1)
                    .and_then(|i| hay.get(i))
                    .is_some_and(|&b| b == b'@');
                (run > from && !glued).then_some(run)
            }
            _ => None,
        }
    }

    /// Whether a match may contain the keyword found at `start..end` in `hay`.
    pub fn admits(self, hay: &[u8], start: usize, end: usize) -> bool {
        self.screen(hay, start, end) != Screen::Refused
    }

    /// What the precheck says about the keyword found at `start..end` in `hay`.
    pub fn screen(self, hay: &[u8], start: usize, end: usize) -> Screen {
        let admitted = |yes: bool| {
            if yes {
                Screen::Admitted
            } else {
                Screen::Refused
            }
        };
        match self {
            Self::Assignment => match assignment(hay, end) {
                Screen::Value(_) => Screen::Admitted,
                other => other,
            },
            Self::AssignedValue => assignment(hay, end),
            Self::EmailAt => {
                let local = start
                    .checked_sub(1)
                    .and_then(|i| hay.get(i))
                    .is_some_and(|&b| local_part_byte(b));
                admitted(local && hay.get(end).is_some_and(u8::is_ascii_alphanumeric))
            }
            Self::UrlUserinfo => {
                let userinfo = run(hay, end, USERINFO_MAX + 1, USERINFO);
                let colon = hay
                    .get(end..end + userinfo)
                    .is_some_and(|u| u.contains(&b':'));
                admitted(userinfo >= 5 && colon && hay.get(end + userinfo) == Some(&b'@'))
            }
            Self::PlusLead
            | Self::SsnGroups
            | Self::NanpGroups
            | Self::TrunkGroups
            | Self::IbanLead => admitted(self.admits_run_at(hay, start, end)),
        }
    }

    /// [`Precheck::admits_run`] for the run at `start..end`. Kept out of [`Precheck::screen`],
    /// which the keyword gates call tens of thousands of times a megabyte: the run's groups
    /// need a large stack frame that every call would otherwise set up.
    #[inline(never)]
    fn admits_run_at(self, hay: &[u8], start: usize, end: usize) -> bool {
        self.admits_run(hay, start, &RunGroups::of(hay, start, end))
    }

    /// For a precheck that looks at digit runs: whether a match may overlap the run that
    /// starts at `start` and has `groups`. Other prechecks admit every run.
    pub(crate) fn admits_run(self, hay: &[u8], start: usize, groups: &RunGroups) -> bool {
        match self {
            Self::PlusLead => hay.get(start) == Some(&b'+'),
            Self::SsnGroups => groups.any(|[a, b, c]| (a.len, b.len, c.len) == (3, 2, 4)),
            Self::NanpGroups => groups.any(|[a, b, c]| (a.len, b.len, c.len) == (3, 3, 4)),
            Self::TrunkGroups => groups.any(|[a, b, c]| {
                a.trunk
                    && (2..=5).contains(&a.len)
                    && (2..=4).contains(&b.len)
                    && (2..=4).contains(&c.len)
            }),
            Self::IbanLead => {
                // Country and check digits before the run, or the check digits its first two.
                first_iban_lead(hay, start.saturating_sub(IBAN_LEAD_REACH), start).is_some()
            }
            Self::Assignment | Self::AssignedValue | Self::EmailAt | Self::UrlUserinfo => true,
        }
    }
}

/// Where the first two capitals and two digits (an IBAN's country and check digits) start from
/// `from` on, up to the first two bytes of the run at `start`.
fn first_iban_lead(hay: &[u8], from: usize, start: usize) -> Option<usize> {
    let lead = |w: &[u8]| {
        matches!(w, [a, b, c, d] if a.is_ascii_uppercase()
            && b.is_ascii_uppercase()
            && c.is_ascii_digit()
            && d.is_ascii_digit())
    };
    hay.get(from..hay.len().min(start + 2))
        .unwrap_or_default()
        .windows(4)
        .position(lead)
        .map(|i| from + i)
}

/// A group of a digit run: its digit count (at most 255 counted) and whether its first digit
/// is the trunk prefix `0`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Group {
    len: u8,
    trunk: bool,
}

/// The groups of a digit run (its digits between separators), worked out once for all the
/// prechecks that look at them.
#[derive(Debug, Clone)]
pub(crate) struct RunGroups {
    groups: [Group; RUN_GROUPS],
    count: usize,
    /// The run has more groups than are kept: every precheck admits it.
    more: bool,
}

/// Groups of a digit run the prechecks look at; a run with more is admitted unlooked.
const RUN_GROUPS: usize = 24;

impl RunGroups {
    /// The groups of the digit run `start..end` of `hay`.
    pub(crate) fn of(hay: &[u8], start: usize, end: usize) -> Self {
        let mut out = Self {
            groups: [Group::default(); RUN_GROUPS],
            count: 0,
            more: false,
        };
        let mut current = Group::default();
        let close = |g: &mut Group, out: &mut Self| {
            if g.len > 0 {
                match out.groups.get_mut(out.count) {
                    Some(slot) => *slot = *g,
                    None => out.more = true,
                }
                out.count += 1;
                *g = Group::default();
            }
        };
        for &b in hay.get(start..end).unwrap_or_default() {
            if b.is_ascii_digit() {
                if current.len == 0 {
                    current.trunk = b == b'0';
                }
                current.len = current.len.saturating_add(1);
            } else {
                close(&mut current, &mut out);
            }
        }
        close(&mut current, &mut out);
        out
    }

    /// Whether some three consecutive groups satisfy `test` (or there are too many to say).
    fn any(&self, test: impl Fn([Group; 3]) -> bool) -> bool {
        self.more
            || self
                .groups
                .get(..self.count)
                .unwrap_or_default()
                .windows(3)
                .any(|w| matches!(*w, [a, b, c] if test([a, b, c])))
    }
}

/// Byte classes of the assignment grammar, one bit each, looked up in one table.
const NAME: u8 = 1;
const SEPARATOR: u8 = 2;
const VALUE: u8 = 4;
const ENDS_VALUE: u8 = 8;
const QUOTE: u8 = 16;
const USERINFO: u8 = 32;

/// The classes of each byte. Value ends include every byte `\s` matches in the patterns,
/// vertical tab too.
static CLASSES: [u8; 256] = class_table(&[
    (NAME, ALNUM, b"_.-"),
    (SEPARATOR, &[], b" \t=:>"),
    (VALUE, ALNUM, b"+/=_-.~!@#$%^&*"),
    (ENDS_VALUE, &[], b" \t\n\x0b\x0c\r\"'`,;)}]"),
    (QUOTE, &[], b"\"'`"),
    (USERINFO, ALNUM, b"._~%!$&'()*+,;=-:"),
]);

/// A byte of an e-mail address's local part, as the shipped pattern allows them.
fn local_part_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn class(b: u8) -> u8 {
    CLASSES.get(usize::from(b)).copied().unwrap_or(0)
}

/// Length of the run of bytes from `at` in class `k`, looking at no more than `max`.
fn run(hay: &[u8], at: usize, max: usize, k: u8) -> usize {
    let bytes = hay.get(at..).unwrap_or_default();
    let bytes = bytes.get(..max).unwrap_or(bytes);
    bytes
        .iter()
        .position(|&b| class(b) & k == 0)
        .unwrap_or(bytes.len())
}

/// See [`Precheck::Assignment`]: the value found, or `Admitted` for one longer than the walk
/// looks (the pattern decides).
pub(crate) fn assignment(hay: &[u8], end: usize) -> Screen {
    const VALUE_MAX: usize = 256;
    let is = |at: usize, k: u8| hay.get(at).is_some_and(|&b| class(b) & k != 0);
    let mut at = end + run(hay, end, NAME_TAIL_MAX + 1, NAME);
    if at - end > NAME_TAIL_MAX {
        return Screen::Refused;
    }
    at += usize::from(is(at, QUOTE));
    let separator = run(hay, at, SEPARATOR_MAX, SEPARATOR);
    if separator == 0 {
        return Screen::Refused;
    }
    at += separator;
    at += usize::from(is(at, QUOTE));
    // Most mentions are followed by a word shorter than a value can be: the bytes a value
    // needs at least are classed together, not one at a time up to the first that is not one
    // (whose place no branch predictor can guess; clean text scans 3 % faster).
    let shortest = hay
        .get(at..at + ASSIGNED_VALUE_MIN)
        .map_or(0, |b| b.iter().fold(VALUE, |k, &b| k & class(b)));
    if shortest == 0 {
        return Screen::Refused;
    }
    let value = ASSIGNED_VALUE_MIN
        + run(
            hay,
            at + ASSIGNED_VALUE_MIN,
            VALUE_MAX - ASSIGNED_VALUE_MIN,
            VALUE,
        );
    if value == VALUE_MAX {
        Screen::Admitted
    } else if at + value == hay.len() || is(at + value, ENDS_VALUE) {
        Screen::Value(at..at + value)
    } else {
        Screen::Refused
    }
}

/// What follows a keyword in [`ASSIGNMENT_GRAMMAR`]: a name's tail, a closing quote, a
/// separator, an opening quote and the secret (a value that ends where a value can end).
pub(crate) const ASSIGNMENT_TAIL: &str = r#"[\w.\-]{0,32}["']?(?:[ \t]{1,5}(?:(?:=>?|:=?)[ \t]{0,4})?|(?:=>?|:=?)[ \t]{0,4})["'`]?(?P<secret>[A-Za-z0-9+/_\-.~!@#$%^&*][A-Za-z0-9+/=_\-.~!@#$%^&*]{7,199})(?:["'`\s,;)}\]]|$)"#;

/// The pattern of a credential assigned to a name that holds one of `keywords`: any of them
/// (in any case), then [`ASSIGNMENT_TAIL`]. The keywords are written as a tree, their shared
/// beginnings once (`p(?:ass(?:phrase|w(?:d|ord))|wd)`), so that at each byte one branch at
/// most goes on and the pattern's capture group can be found in one pass. Where a rule's
/// pattern is this for its keywords (and no keyword begins another), [`assignment_match`] is
/// the pattern: the regex engine need not run to confirm a value the precheck found.
pub(crate) fn assignment_grammar<K: AsRef<str>>(keywords: &[K]) -> String {
    let mut words: Vec<&str> = keywords.iter().map(AsRef::as_ref).collect();
    words.sort_unstable();
    words.dedup();
    format!("(?i){}{ASSIGNMENT_TAIL}", alternation(&words))
}

/// `words` (sorted, none beginning another) as one expression, what they begin with in common
/// written once.
fn alternation(words: &[&str]) -> String {
    let first = |w: &&str| w.chars().next();
    let branches: Vec<String> = words
        .chunk_by(|a, b| first(a) == first(b))
        .map(|group| {
            let Some(c) = group.first().and_then(first) else {
                return String::new();
            };
            let rest: Vec<&str> = group
                .iter()
                .map(|w| w.get(c.len_utf8()..).unwrap_or_default())
                .collect();
            let head = regex_syntax::escape(c.encode_utf8(&mut [0; 4]));
            match rest.as_slice() {
                [only] => format!("{head}{}", regex_syntax::escape(only)),
                _ => format!("{head}{}", alternation(&rest)),
            }
        })
        .collect();
    match branches.as_slice() {
        [only] => only.clone(),
        _ => format!("(?:{})", branches.join("|")),
    }
}

/// The secret of [`assignment_grammar`]'s match at a keyword that ends at `end`, if it has one:
/// exactly what the pattern's anchored search at the keyword captures. The bytes classes are
/// the pattern's, and the pieces follow one another with nothing that two of them could both
/// take (a name byte is never a quote or a separator, a separator never starts a value), so
/// where each piece ends is forced; only the separator's spelling, and the lengths, decide.
pub(crate) fn assignment_match(hay: &[u8], end: usize) -> Option<Range<usize>> {
    const NAME_MAX: usize = 32;
    const SEPARATOR_LONGEST: usize = 5 + 2 + 4;
    const VALUE_LONGEST: usize = 200;
    let byte = |at: usize| hay.get(at).copied();
    let name = run(hay, end, NAME_MAX + 1, NAME);
    if name > NAME_MAX {
        return None;
    }
    let mut at = end + name;
    at += usize::from(matches!(byte(at), Some(b'"' | b'\'')));
    let separator = run(hay, at, SEPARATOR_LONGEST + 1, SEPARATOR);
    if !is_assignment_separator(hay.get(at..at + separator)?) {
        return None;
    }
    at += separator;
    at += usize::from(matches!(byte(at), Some(b'"' | b'\'' | b'`')));
    if byte(at)? == b'=' {
        return None;
    }
    let value = run(hay, at, VALUE_LONGEST + 1, VALUE);
    let ends =
        at + value == hay.len() || byte(at + value).is_some_and(|b| class(b) & ENDS_VALUE != 0);
    ((ASSIGNED_VALUE_MIN..=VALUE_LONGEST).contains(&value) && ends).then_some(at..at + value)
}

/// Whether `s` is spelt as [`ASSIGNMENT_TAIL`]'s separator: 1–5 spaces or tabs, then
/// optionally `=`, `=>`, `:` or `:=` and 0–4 more; or that operator first.
fn is_assignment_separator(s: &[u8]) -> bool {
    let blank = |b: &u8| matches!(b, b' ' | b'\t');
    let lead = s.iter().take_while(|b| blank(b)).count();
    let rest = s.get(lead..).unwrap_or_default();
    let operator = match rest {
        [b'=', b'>', ..] | [b':', b'=', ..] => 2,
        [b'=' | b':', ..] => 1,
        _ => 0,
    };
    let tail = rest.get(operator..).unwrap_or_default();
    lead <= 5
        && match operator {
            0 => lead >= 1 && rest.is_empty(),
            _ => tail.len() <= 4 && tail.iter().all(blank),
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use regex_automata::{Anchored, Input};

    /// Text built from runs of the bytes the prechecked patterns are made of and from their
    /// keywords in random case, so that generated texts often match (and often nearly do).
    fn text(keywords: Vec<String>) -> impl Strategy<Value = Vec<u8>> {
        let classes: [&'static [u8]; 10] = [
            b"aZ9_.-",
            b"\"'`",
            b" \t",
            b"=:>",
            b"xY7+/~!@#$%^&*=",
            b",;)}]\n\r\x0b",
            b"(<{[|?",
            b"@:/",
            b"ab.c-",
            b"a:bc@d",
        ];
        // Pieces at the edges of what the patterns accept.
        let pieces: [&'static [u8]; 8] = [
            b"ab://", b"u:", b"us:", b"pwd@", b"p@", b"@h.io", b" = \"", b"\" ",
        ];
        let run = (0..classes.len(), 1usize..12, any::<u64>()).prop_map(move |(c, n, seed)| {
            let class = classes[c];
            (0..n)
                .map(|i| class[((seed >> (i % 16 * 4)) as usize + i) % class.len()])
                .collect::<Vec<u8>>()
        });
        let piece = (0..pieces.len()).prop_map(move |i| pieces[i].to_vec());
        let keyword = (any::<prop::sample::Index>(), any::<u64>()).prop_map(move |(i, flips)| {
            i.get(&keywords)
                .bytes()
                .enumerate()
                .map(|(j, b)| {
                    if flips >> (j % 64) & 1 == 1 {
                        b.to_ascii_uppercase()
                    } else {
                        b
                    }
                })
                .collect::<Vec<u8>>()
        });
        let segment = prop_oneof![3 => run, 4 => piece, 2 => keyword];
        prop::collection::vec(segment, 0..14).prop_map(|s| s.concat())
    }

    /// Every occurrence of the rule's keywords, ASCII case-insensitively, as (start, end).
    fn occurrences(rule: &crate::rule::Rule, hay: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for k in rule.spec.keywords.iter() {
            let k = k.as_bytes();
            for (i, w) in hay.windows(k.len()).enumerate() {
                if w.eq_ignore_ascii_case(k) {
                    out.push((i, i + k.len()));
                }
            }
        }
        out
    }

    /// A keyword occurrence (start, end), and the secret of the pattern's match there.
    type Captured = ((usize, usize), Option<Range<usize>>);

    /// Each occurrence of the rule's keywords, with the secret its pattern's anchored search
    /// there captures, if it matches.
    fn captured(rule: &crate::rule::Rule, hay: &[u8]) -> Vec<Captured> {
        let regex = rule.regex().unwrap();
        let group = rule.shape().unwrap().secret_group;
        let mut caps = regex.create_captures();
        occurrences(rule, hay)
            .into_iter()
            .map(|(start, end)| {
                let input = Input::new(hay).range(start..).anchored(Anchored::Yes);
                regex.search_captures(&input, &mut caps);
                ((start, end), caps.get_group(group).map(|s| s.range()))
            })
            .collect()
    }

    fn prechecked() -> Vec<crate::rule::Rule> {
        let set = crate::rule::RuleSet::builtin().unwrap();
        set.rules()
            .iter()
            .filter(|r| r.spec.precheck.is_some_and(|p| !p.on_digit_runs()))
            .cloned()
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Every built-in rule that declares a precheck: a rule tried at its keywords never
        /// loses a match there, and for a rule with `before`, every match contains a keyword the
        /// precheck admits.
        #[test]
        fn prechecks_never_refuse_what_their_patterns_match(
            hay in text(prechecked().iter().flat_map(|r| r.spec.keywords.iter().map(|k| k.to_string()).collect::<Vec<_>>()).collect())
        ) {
            let rules = prechecked();
            prop_assert!(rules.len() >= 3);
            let shown = || String::from_utf8_lossy(&hay).into_owned();
            for rule in &rules {
                let check = rule.spec.precheck.unwrap();
                let regex = rule.regex().unwrap();
                let found = occurrences(rule, &hay);
                if rule.spec.before == 0 {
                    for &(start, end) in &found {
                        let input = Input::new(&hay).range(start..).anchored(Anchored::Yes);
                        if regex.search_half(&input).is_some() {
                            prop_assert!(check.admits(&hay, start, end), "{} matches at {start} in {:?} but its precheck refuses it", rule.id(), shown());
                        }
                    }
                } else {
                    for at in 0..hay.len() {
                        let input = Input::new(&hay).range(at..).anchored(Anchored::Yes);
                        if let Some(m) = regex.search(&input) {
                            prop_assert!(
                                found.iter().any(|&(s, e)| m.start() <= s && e <= m.end() && check.admits(&hay, s, e)),
                                "{} matches {:?} in {:?} but its precheck admits no keyword in it", rule.id(), m.range(), shown()
                            );
                        }
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Every built-in rule whose precheck is `assigned-value`: wherever its pattern matches
        /// at a keyword, the secret it captures is exactly the value the precheck found, so
        /// judging that value first loses nothing.
        #[test]
        fn assigned_values_are_the_secrets_their_patterns_capture(
            hay in text(assigned().iter().flat_map(|r| r.spec.keywords.iter().map(|k| k.to_string()).collect::<Vec<_>>()).collect())
        ) {
            let rules = assigned();
            prop_assert!(!rules.is_empty());
            for rule in &rules {
                for ((start, end), secret) in captured(rule, &hay) {
                    if let Some(secret) = secret {
                        prop_assert_eq!(
                            Precheck::AssignedValue.screen(&hay, start, end),
                            Screen::Value(secret),
                            "{} at {} in {:?}", rule.id(), start, String::from_utf8_lossy(&hay)
                        );
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// For every built-in rule whose pattern is the assignment grammar, at every mention of
        /// its keywords: the grammar's match is the pattern's, secret for secret, and where the
        /// pattern has none, neither has the grammar.
        #[test]
        fn the_assignment_grammar_is_its_pattern(
            hay in text(grammar_rules().iter().flat_map(|r| r.spec.keywords.iter().map(|k| k.to_string()).collect::<Vec<_>>()).collect()),
            name in "[a-z0-9_.-]{0,36}",
            closing in prop::sample::select(vec!["", "\"", "'", "`"]),
            separator in "[ \t=:>]{0,13}",
            opening in prop::sample::select(vec!["", "\"", "'", "`"]),
            value in prop_oneof!["[A-Za-z0-9=_.-]{0,12}", "[A-Za-z0-9=]{196,204}"],
            ending in prop::sample::select(vec!["", " ", "\"", "(", ";", "é"]),
        ) {
            let rules = grammar_rules();
            prop_assert!(!rules.is_empty());
            // Generated text, and an assignment of every part's spelling, at lengths near the
            // pattern's limits.
            let spelled =
                format!("password{name}{closing}{separator}{opening}{value}{ending}").into_bytes();
            for hay in [hay, spelled] {
                for rule in &rules {
                    for ((start, end), secret) in captured(rule, &hay) {
                        prop_assert_eq!(
                            assignment_match(&hay, end),
                            secret,
                            "{} at {} in {:?}", rule.id(), start, String::from_utf8_lossy(&hay)
                        );
                    }
                }
            }
        }
    }

    fn grammar_rules() -> Vec<crate::rule::Rule> {
        assigned()
            .into_iter()
            .filter(crate::rule::Rule::is_assignment_grammar)
            .collect()
    }

    /// Which rules the grammar stands in for: the built-in generic one, not a rule with the
    /// same precheck and another pattern, nor one whose keywords begin one another.
    #[test]
    fn the_grammar_stands_in_only_for_its_own_pattern() {
        assert_eq!(
            grammar_rules().iter().map(|r| r.id()).collect::<Vec<_>>(),
            ["generic-credential-assignment"]
        );
        let rule = |keywords: &str, pattern: &str| {
            let toml = format!(
                "[[rules]]\nid = \"t\"\nname = \"t\"\nclassification = \"secret\"\n\
                 keywords = [{keywords}]\npattern = '''{pattern}'''\nprecheck = \"assigned-value\"\n\
                 examples = [\"token = Zx8qL2mNp4Rt7vWy9KcD\"]\ncounterexamples = [\"token\"]\n"
            );
            let mut set = crate::rule::RuleSet::default();
            set.add_toml("t.toml", &toml).unwrap();
            set.rules()[0].is_assignment_grammar()
        };
        assert!(rule(
            "\"token\", \"apikey\"",
            &assignment_grammar(&["token", "apikey"])
        ));
        assert!(!rule(
            "\"token\"",
            &format!(
                "(?i)(?:token){}",
                ASSIGNMENT_TAIL.replace("{7,199}", "{7,99}")
            )
        ));
        assert!(!rule(
            "\"token\", \"tokens\"",
            &assignment_grammar(&["token", "tokens"])
        ));
    }

    #[test]
    fn assignment_separators_are_spelt_as_the_pattern_spells_them() {
        for good in [
            " ", "\t", "     ", " =", " = ", "=", "=>", ":", ":=", ": ", "  :=    ", "=    ",
        ] {
            assert!(is_assignment_separator(good.as_bytes()), "{good:?}");
        }
        for bad in [
            "", "      ", "==", " => >", "=     ", "> ", "::", " = =", "=: ",
        ] {
            assert!(!is_assignment_separator(bad.as_bytes()), "{bad:?}");
        }
    }

    fn assigned() -> Vec<crate::rule::Rule> {
        prechecked()
            .into_iter()
            .filter(|r| r.spec.precheck == Some(Precheck::AssignedValue))
            .collect()
    }

    #[test]
    fn assigned_value_finds_the_value_or_says_it_cannot() {
        let screen = |text: &str| Precheck::AssignedValue.screen(text.as_bytes(), 0, 5);
        assert_eq!(
            screen("token = \"Zx8qL2mNp4Rt7vWy9KcD\""),
            Screen::Value(9..29)
        );
        assert_eq!(screen("token obtained from"), Screen::Value(6..14));
        assert_eq!(screen("token every hour"), Screen::Refused);
        // Longer than the walk looks: the pattern decides.
        assert_eq!(
            screen(&format!("token={}", "a".repeat(300))),
            Screen::Admitted
        );
        // The plain precheck never names a value.
        assert_eq!(
            Precheck::Assignment.screen(b"token = Zx8qL2mNp4Rt7vWy9KcD", 0, 5),
            Screen::Admitted
        );
    }

    #[test]
    fn assignment_admits_values_and_refuses_mentions() {
        let admits = |text: &str, keyword: &str| {
            Precheck::Assignment.admits(text.as_bytes(), 0, keyword.len())
        };
        assert!(admits("token = \"Zx8qL2mNp4Rt7vWy9KcD\"", "token"));
        assert!(admits("password_prod: h7Gk2pQw9xLm4Rt", "password"));
        assert!(admits("secret\": \"a8F3kL9mQ2xW7pR4tY6z\"}", "secret"));
        assert!(admits("token 4f9c2a7e1b8d6f3a", "token"));
        assert!(admits("token=4f9c2a7e1b8d6f3a", "token"));
        assert!(!admits("token every hour", "token"));
        assert!(!admits("tokenizer.next_token();", "token"));
        assert!(!admits(
            "password = get_password_from_keyring(user)",
            "password"
        ));
        assert!(!admits("token;", "token"));
        assert!(!admits("token", "token"));
        assert!(!admits(
            &format!("token{} = 4f9c2a7e1b8d6f3a", "a".repeat(65)),
            "token"
        ));
    }

    #[test]
    fn digit_run_prechecks_read_the_groups() {
        let admits = |check: Precheck, text: &str| check.admits(text.as_bytes(), 0, text.len());
        assert!(admits(Precheck::SsnGroups, "568-94-6025"));
        assert!(admits(Precheck::SsnGroups, "12 568 94 6025"));
        assert!(!admits(Precheck::SsnGroups, "4077 2361 4892 2859"));
        assert!(admits(Precheck::NanpGroups, "(415) 867-5309"));
        assert!(!admits(Precheck::NanpGroups, "415 8675 309"));
        assert!(admits(Precheck::TrunkGroups, "020 7946 0958"));
        assert!(!admits(Precheck::TrunkGroups, "20 7946 0958"));
        assert!(!admits(Precheck::TrunkGroups, "0207946 0958 12"));
        assert!(admits(Precheck::PlusLead, "+44 20 7946 0958"));
        assert!(!admits(Precheck::PlusLead, "44 20 7946 0958"));
        let run_at = |text: &str, run: &str| {
            let start = text.find(run).unwrap();
            Precheck::IbanLead.admits(text.as_bytes(), start, start + run.len())
        };
        assert!(run_at("IBAN DE89 3704 0044 0532 0130 00", "89 3704"));
        assert!(run_at("GB82 WEST 1234 5698 7654 32", "1234 5698"));
        assert!(!run_at("card 4077236148922859", "4077"));
        assert!(!run_at("GB82 WEST ABCD 1234 5698 7654 32", "1234 5698"));
        // More groups than are kept: admitted, the pattern decides.
        let long = format!("{}9 9", "1 ".repeat(RUN_GROUPS));
        assert!(admits(Precheck::SsnGroups, &long));
        assert!(!admits(Precheck::SsnGroups, &"1 ".repeat(RUN_GROUPS - 1)));
    }

    #[test]
    fn email_and_url_prechecks_look_around_their_keyword() {
        let at = |text: &str, check: Precheck, keyword: &str| {
            let start = text.find(keyword).unwrap();
            check.admits(text.as_bytes(), start, start + keyword.len())
        };
        assert!(at("mail ann.lee@acme-corp.com", Precheck::EmailAt, "@"));
        assert!(!at("@property", Precheck::EmailAt, "@"));
        assert!(!at("user @ host", Precheck::EmailAt, "@"));
        assert!(!at("ann@", Precheck::EmailAt, "@"));
        assert!(at(
            "postgres://app:s3cr3t@db:5432/x",
            Precheck::UrlUserinfo,
            "://"
        ));
        assert!(!at("https://docs.rs/regex", Precheck::UrlUserinfo, "://"));
        assert!(!at("https://a@b", Precheck::UrlUserinfo, "://"));
        assert!(!at("https://ab:c@d", Precheck::UrlUserinfo, "://"));
    }
}
