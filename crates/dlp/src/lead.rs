//! What every match of a pattern starts with, read off its syntax tree: the bytes of its
//! literal lead (`ghp_`, `secret_`, `AKIA` — case-sensitive where the pattern is) and the
//! shortest run its first counted repetition allows (`[A-Za-z0-9]{43}`). A rule tried anchored at
//! its keyword checks these in a few instructions before its pattern runs: `secret_name` or
//! `akia` in ordinary text never reaches the regex engine. Nothing is declared: a lead is a
//! consequence of the pattern, so it can only turn away text the pattern would reject too.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// A set of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bytes([u64; 4]);

impl Bytes {
    fn one(b: u8) -> Self {
        let mut set = Self([0; 4]);
        set.insert(b);
        set
    }

    fn insert(&mut self, b: u8) {
        if let Some(word) = self.0.get_mut(usize::from(b >> 6)) {
            *word |= 1 << (b & 63);
        }
    }

    fn contains(&self, b: u8) -> bool {
        self.0
            .get(usize::from(b >> 6))
            .is_some_and(|word| word >> (b & 63) & 1 == 1)
    }

    /// The bytes a one-byte expression matches, if it is one.
    fn of(hir: &Hir) -> Option<Self> {
        match hir.kind() {
            HirKind::Literal(lit) => match *lit.0 {
                [b] => Some(Self::one(b)),
                _ => None,
            },
            HirKind::Class(Class::Bytes(class)) => {
                let mut set = Self([0; 4]);
                for range in class.ranges() {
                    for b in range.start()..=range.end() {
                        set.insert(b);
                    }
                }
                Some(set)
            }
            HirKind::Class(Class::Unicode(class)) => {
                let mut set = Self([0; 4]);
                for range in class.ranges() {
                    let (Ok(start), Ok(end)) =
                        (u8::try_from(range.start()), u8::try_from(range.end()))
                    else {
                        // Beyond one byte: not a one-byte expression.
                        return None;
                    };
                    for b in start..=end {
                        set.insert(b);
                    }
                }
                Some(set)
            }
            _ => None,
        }
    }
}

/// The longest lead kept, in bytes: enough to tell a token prefix from a word.
const LEAD_MAX: usize = 16;

/// What every match starts with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Lead {
    /// The pattern begins with an ASCII word boundary (`\b`): a match starts only where a word
    /// byte meets a byte that is not one.
    boundary: bool,
    /// The byte sets of the first positions, in order.
    fixed: Vec<Bytes>,
    /// Then at least this many bytes of this set.
    run: Option<(Bytes, usize)>,
}

/// A byte of a word as ASCII `\b` sees it.
pub(crate) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Lead {
    /// The lead of a pattern's syntax tree (empty when it starts with an alternation or
    /// anything else not read here).
    pub(crate) fn of(hir: &Hir) -> Self {
        let mut lead = Self::default();
        lead.walk(hir);
        lead
    }

    /// Add what `hir` requires at the current end of the lead; `false` once the lead ends.
    fn walk(&mut self, hir: &Hir) -> bool {
        if self.run.is_some() || self.fixed.len() >= LEAD_MAX {
            return false;
        }
        match hir.kind() {
            // A word boundary before any byte: where a match can start.
            HirKind::Look(Look::WordAscii) if self.fixed.is_empty() => {
                self.boundary = true;
                true
            }
            // Zero-width: says nothing about bytes, and the lead goes on after it.
            HirKind::Look(_) | HirKind::Empty => true,
            HirKind::Literal(lit) => {
                for &b in lit.0.iter() {
                    if self.fixed.len() >= LEAD_MAX {
                        return false;
                    }
                    self.fixed.push(Bytes::one(b));
                }
                true
            }
            HirKind::Class(_) => match Bytes::of(hir) {
                Some(set) => {
                    self.fixed.push(set);
                    true
                }
                None => false,
            },
            HirKind::Capture(cap) => self.walk(&cap.sub),
            HirKind::Concat(parts) => parts.iter().all(|p| self.walk(p)),
            HirKind::Repetition(rep) => {
                let Some(set) = Bytes::of(&rep.sub) else {
                    return false;
                };
                let min = usize::try_from(rep.min).unwrap_or(usize::MAX);
                if rep.max == Some(rep.min) && self.fixed.len() + min <= LEAD_MAX {
                    self.fixed.extend(std::iter::repeat_n(set, min));
                    true
                } else {
                    if min > 0 {
                        self.run = Some((set, min));
                    }
                    false
                }
            }
            HirKind::Alternation(_) => false,
        }
    }

    /// How many bytes of a match the lead reads.
    pub(crate) fn len(&self) -> usize {
        self.fixed.len() + self.run.map_or(0, |(_, min)| min)
    }

    /// The first place in `span` of `hay` where a match may start, if any. Places whose byte
    /// cannot begin the lead are passed over before the whole lead is looked at (the `0` of a
    /// national number's lead, in a run of other digits).
    pub(crate) fn first_admitted(&self, hay: &[u8], span: std::ops::Range<usize>) -> Option<usize> {
        let first = self.fixed.first();
        span.into_iter().find(|&at| {
            let may_begin = first.is_none_or(|set| hay.get(at).is_some_and(|&b| set.contains(b)));
            may_begin && self.admits(hay, at)
        })
    }

    /// Whether a match may start at `start` in `hay`.
    pub(crate) fn admits(&self, hay: &[u8], start: usize) -> bool {
        let Some(text) = hay.get(start..) else {
            return false;
        };
        if self.boundary {
            let before = start
                .checked_sub(1)
                .and_then(|i| hay.get(i))
                .is_some_and(|&b| is_word(b));
            if text.first().is_some_and(|&b| is_word(b)) == before {
                return false;
            }
        }
        let fixed = self.fixed.len();
        if text.len() < fixed || !self.fixed.iter().zip(text).all(|(set, &b)| set.contains(b)) {
            return false;
        }
        match self.run {
            None => true,
            Some((set, min)) => text
                .get(fixed..fixed + min)
                .is_some_and(|run| run.iter().all(|&b| set.contains(b))),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use regex_automata::{Anchored, Input};

    /// The built-in rules, their patterns compiled once for all cases.
    static BUILTIN: std::sync::LazyLock<crate::rule::RuleSet> = std::sync::LazyLock::new(|| {
        let set = crate::rule::RuleSet::builtin().unwrap();
        set.compile_all().unwrap();
        set
    });

    /// For every built-in rule tried anchored at its keywords: wherever the pattern matches at
    /// a keyword of `text`, the lead and the opening admit it; for every rule searched over a
    /// window, wherever its pattern matches, the lead does.
    fn leads_admit_matches_in(text: &[u8]) -> Result<(), TestCaseError> {
        for rule in BUILTIN.rules() {
            let (Some(shape), Some(regex)) = (rule.shape(), rule.regex()) else {
                continue;
            };
            // Rules searched over a window (a digit run's, or one reaching before the keyword)
            // begin where the lead first admits: it must admit every place a match starts.
            // The others are tried at their keywords.
            let starts: Vec<usize> = if rule.spec.before > 0 || rule.spec.digits.is_some() {
                (0..text.len()).collect()
            } else {
                rule.spec
                    .keywords
                    .iter()
                    .flat_map(|k| {
                        text.windows(k.len())
                            .enumerate()
                            .filter(|(_, w)| w.eq_ignore_ascii_case(k.as_bytes()))
                            .map(|(at, _)| at)
                    })
                    .collect()
            };
            let at_keywords = rule.spec.before == 0 && rule.spec.digits.is_none();
            for at in starts {
                let input = Input::new(text).range(at..).anchored(Anchored::Yes);
                if regex.search_half(&input).is_some() {
                    prop_assert!(
                        shape.lead.admits(text, at),
                        "{} matches at {at} of {:?}, its lead {:?} refuses it",
                        rule.id(),
                        String::from_utf8_lossy(text),
                        shape.lead
                    );
                    // The span a keyword's try searches.
                    let limit = text.len().min(at + shape.max_len);
                    prop_assert!(
                        !at_keywords || rule.opening().is_none_or(|o| o.admits(text, at, limit)),
                        "{} matches at {at} of {:?}, its opening refuses it",
                        rule.id(),
                        String::from_utf8_lossy(text),
                    );
                }
            }
        }
        Ok(())
    }

    /// Up to six edits for [`altered`].
    pub(crate) fn edits() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, u8)>> {
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 0..6)
    }

    /// `example` with `edits` made: bytes flipped in case, replaced, or the rest cut off.
    pub(crate) fn altered(example: &str, edits: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
        let mut text = example.as_bytes().to_vec();
        for (at, kind, b) in edits {
            if text.is_empty() {
                break;
            }
            let i = at.index(text.len());
            match kind {
                0 => text[i] = text[i].to_ascii_uppercase(),
                1 => text[i] = text[i].to_ascii_lowercase(),
                2 => {
                    let bytes = b"aZ9_-.: =\"'/+";
                    text[i] = bytes[usize::from(*b) % bytes.len()];
                }
                _ => text.truncate(i),
            }
        }
        text
    }

    #[test]
    fn leads_admit_every_example() {
        for rule in BUILTIN.rules() {
            for example in &rule.spec.examples {
                leads_admit_matches_in(example.as_bytes()).unwrap();
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Examples with bytes flipped in case, replaced or cut: near misses and matches of
        /// every kind.
        #[test]
        fn leads_admit_matches_in_altered_examples(
            pick in any::<prop::sample::Index>(),
            edits in edits(),
        ) {
            let examples: Vec<&String> = BUILTIN.rules().iter().flat_map(|r| &r.spec.examples).collect();
            leads_admit_matches_in(&altered(pick.get(&examples).as_str(), &edits))?;
        }
    }

    fn lead(pattern: &str) -> Lead {
        let hir = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(pattern)
            .unwrap();
        Lead::of(&hir)
    }

    #[test]
    fn leads_of_token_patterns() {
        let notion = lead(r"\b(?P<secret>secret_[A-Za-z0-9]{43})\b");
        assert!(notion.admits(format!("secret_{}", "a".repeat(43)).as_bytes(), 0));
        assert!(!notion.admits(b"secret_name = config.secret_ref", 0));
        assert!(!notion.admits(b"SECRET_aaaa", 0));
        let aws = lead(r"\b(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA)[A-Z2-7]{16})\b");
        assert_eq!(
            aws,
            Lead {
                boundary: true,
                ..Lead::default()
            },
            "an alternation ends the lead"
        );
        // The word boundary before the first byte.
        assert!(!notion.admits(format!("xsecret_{}", "a".repeat(43)).as_bytes(), 1));
        assert!(notion.admits(format!("=secret_{}", "a".repeat(43)).as_bytes(), 1));
        let card = lead(r"\b(?P<secret>\d(?:[ \-]?\d){11,18})\b");
        assert_eq!(card.first_admitted(b"IBAN DE89 3704 0044", 0..19), Some(10));
        assert_eq!(card.first_admitted(b"x1234 ab", 0..8), None);
        let dot = lead(r"\b\.x");
        assert!(
            dot.admits(b"a.x", 1),
            "a boundary before a byte that is not a word byte"
        );
        assert!(!dot.admits(b" .x", 1));
        let caseless = lead(r"(?i)bearer\s{1,4}(?P<secret>[A-Za-z0-9]{16,1024})");
        assert!(caseless.admits(b"Bearer abc", 0));
        assert!(caseless.admits(b"BEARER\tabc", 0));
        assert!(!caseless.admits(b"bearers", 0));
        let fixed = lead(r"dapi[a-f0-9]{32}");
        assert!(!fixed.admits(b"dapi", 0));
        assert!(!fixed.admits(b"DAPI0123", 0));
    }
}
