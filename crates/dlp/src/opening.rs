//! A pattern's opening: its first bytes, as a small DFA that says in a few instructions a byte
//! whether a match can start at a keyword.
//!
//! A rule tried at its keyword ran its pattern through the regex engine, which costs several
//! hundred instructions even when the text gives up two bytes past the keyword: `bearer token
//! obtained` for a bearer-token rule, `SSN when asked` for a labelled number, `api_key = "j3t…`
//! for a rule whose secret starts `fw_`. The [`crate::lead::Lead`] catches such text when the
//! pattern starts with literals and one class, but not past an alternation or an optional part.
//!
//! The opening is the pattern cut after about [`OPENING_LEN`] bytes: every match of the pattern
//! begins with a match of its opening, so where the opening cannot match, neither can the
//! pattern. It is compiled to a dense DFA, copied into a table (no cache, no dispatch) and walked
//! byte by byte until it matches, dies or runs out of text. Nothing is declared: like the lead,
//! the opening is a consequence of the pattern, and a property test holds it to that.

use std::collections::BTreeMap;

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::{Hir, HirKind, Repetition};

/// How many bytes of a match the opening covers, at least where the pattern has that many
/// before an open-ended part: enough to pass a keyword, its separator and the first bytes of a
/// value (`bearer ` and sixteen token bytes).
const OPENING_LEN: usize = 24;

/// The bytes covered when an opening of [`OPENING_LEN`] is too large: still past a keyword,
/// its separator and a value's literal start (`api_key = "fw_`).
const OPENING_LEN_SHORT: usize = 12;

/// The most syntax-tree nodes an opening may have. An alternation's branches each take a copy
/// of what follows them, so a rule with many alternations in a row could grow it; past this,
/// the rule has no opening and the pattern decides alone.
const NODES_MAX: usize = 1024;

/// A counted repetition whose copies may vary by more than this is cut to its required copies:
/// where a match may go on for one to twenty more bytes, a DFA has to follow every one of those
/// alignments at once, and grows (and takes milliseconds to build) with each.
const SPREAD_MAX: u32 = 4;

/// The most memory the DFA's construction may take.
const DFA_BYTES_MAX: usize = 64 * 1024;

/// The most transitions the opening's table may have (two bytes each): past this it would no
/// longer sit in the cache beside the text.
const TABLE_MAX: usize = 8 * 1024;

/// The dead state: no match from here on. States are numbered premultiplied (a state's number
/// is where its row of transitions starts), the dead one first, then the admitting ones.
const DEAD: u16 = 0;

/// A pattern's opening, compiled to a table: the DFA regex-automata determinizes, copied into
/// a form whose walk is one lookup and one comparison a byte.
#[derive(Debug, Clone)]
pub(crate) struct Opening {
    /// The equivalence class of each byte: bytes no transition tells apart share one.
    classes: [u8; 256],
    /// The next state of state `s` on a byte of class `c`, at `s + c`.
    next: Box<[u16]>,
    /// The state a walk begins in, by the byte before the start (256: there is none).
    starts: Box<[u16]>,
    /// The state the end of the text leads to, by state number divided by the stride.
    ends: Box<[u16]>,
    /// States above [`DEAD`] and up to this one admit: a match of the opening has ended.
    last_admitting: u16,
    /// Classes per row.
    stride: usize,
    /// Which of the distinct start states each `before` (as in `starts`) begins in: an index
    /// into a skip's `after`.
    start_index: Box<[u8]>,
    /// The rule's keywords, each with the state a walk is in right after it
    /// ([`Opening::skipping`]).
    skips: Box<[Skip]>,
}

/// A keyword (lowercase) and, for each distinct start state, the state the walk is in after
/// reading it in any case: [`NOT_SKIPPED`] where the opening tells a letter's cases apart there,
/// or a state at or below `last_admitting` where the keyword alone decides.
#[derive(Debug, Clone)]
struct Skip {
    keyword: Box<[u8]>,
    after: Box<[u16]>,
    /// The same after the keyword spelt in lowercase, as it is written: where the opening tells
    /// cases apart (a case-sensitive pattern, `secret_` for Notion's), a mention so spelt is
    /// still skipped.
    after_lowercase: Box<[u16]>,
}

/// See [`Skip`]: the walk reads the keyword byte by byte.
const NOT_SKIPPED: u16 = u16::MAX;

impl Opening {
    /// The opening of a pattern's syntax tree (parsed as the rules are: bytes, ASCII classes),
    /// or `None` where it would cost more than it turns away: when nothing had to be cut (the
    /// pattern is short, and its own search no longer), when it would read no further than the
    /// pattern's lead already does (`lead_len` bytes), or when even a short one is too large to
    /// build cheaply.
    pub(crate) fn of(hir: &Hir, lead_len: usize) -> Option<Self> {
        let worth = |len: usize| {
            let (opening, cut) = Cut::opening(hir, len)?;
            let reads_further = opening
                .properties()
                .minimum_len()
                .is_some_and(|len| len > lead_len);
            (cut && reads_further).then_some(opening)
        };
        let opening = worth(OPENING_LEN)?;
        Self::compile(&opening).or_else(|| Self::compile(&worth(OPENING_LEN_SHORT)?))
    }

    /// An opening that admits wherever one of `hirs`' would: each cut as its own opening is
    /// (the shorter cut where the longer is too large to build), and the cuts compiled as one.
    /// A single pattern's opening of both lengths would be too large for some unions (a
    /// bearer-token rule with a rule whose pattern is three alternatives), and one of the short
    /// length reads too few bytes to turn away `bearer token obtained`. `None` where a pattern
    /// has no opening that can be built, or their union is too large, or a pattern is short
    /// enough to need no cut: its opening would walk the whole of every match, only for the
    /// pattern to search it again (AWS key ids, 20 bytes: their lines scanned 13 % slower).
    pub(crate) fn of_any(hirs: &[Hir]) -> Option<Self> {
        let cuts = hirs
            .iter()
            .map(|hir| {
                let (long, cut) = Cut::opening(hir, OPENING_LEN)?;
                if !cut {
                    return None;
                }
                if Self::compile(&long).is_some() {
                    return Some(long);
                }
                Cut::opening(hir, OPENING_LEN_SHORT).map(|(short, _)| short)
            })
            .collect::<Option<Vec<Hir>>>()?;
        Self::compile(&Hir::alternation(cuts))
    }

    /// An opening's syntax tree, compiled.
    fn compile(opening: &Hir) -> Option<Self> {
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .utf8(false)
                    .which_captures(WhichCaptures::None),
            )
            .build_from_hir(opening)
            .ok()?;
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Anchored)
                    .match_kind(MatchKind::All)
                    .accelerate(false)
                    .minimize(false)
                    .dfa_size_limit(Some(DFA_BYTES_MAX))
                    .determinize_size_limit(Some(DFA_BYTES_MAX)),
            )
            .build_from_nfa(&nfa)
            .ok()?;
        Self::table(&dfa)
    }

    /// The DFA's states reachable from its anchored starts, as a table; `None` if it has more
    /// than [`TABLE_MAX`] transitions.
    fn table(dfa: &dense::DFA<Vec<u32>>) -> Option<Self> {
        let byte_classes = dfa.byte_classes();
        // The alphabet counts the end of the text as one more class.
        let stride = byte_classes.alphabet_len().checked_sub(1)?;
        let representatives: Vec<u8> = byte_classes
            .representatives(0..=255)
            .filter_map(|unit| unit.as_u8())
            .collect();
        let start_of = |before: Option<u8>| {
            let config = start::Config::new()
                .anchored(Anchored::Yes)
                .look_behind(before);
            dfa.start_state(&config).ok()
        };
        let starts: Vec<StateID> = (0..=255u8)
            .map(Some)
            .chain([None])
            .map(start_of)
            .collect::<Option<_>>()?;
        // Every state reachable, in the order first met.
        let mut found: Vec<StateID> = Vec::new();
        let mut seen = BTreeMap::new();
        let mut queue = starts.clone();
        while let Some(id) = queue.pop() {
            if seen.contains_key(&id) {
                continue;
            }
            seen.insert(id, found.len());
            found.push(id);
            queue.extend(representatives.iter().map(|&b| dfa.next_state(id, b)));
            queue.push(dfa.next_eoi_state(id));
        }
        // Numbered dead first, then those that admit (a match has ended, or the DFA gave up
        // and cannot say), then the rest.
        let admits = |id: StateID| dfa.is_match_state(id) || dfa.is_quit_state(id);
        let mut order: Vec<Option<StateID>> = vec![None];
        order.extend(found.iter().copied().filter(|&id| admits(id)).map(Some));
        let last_admitting = order.len() - 1;
        order.extend(
            found
                .iter()
                .copied()
                .filter(|&id| !admits(id) && !dfa.is_dead_state(id))
                .map(Some),
        );
        if order.len().checked_mul(stride)? > TABLE_MAX {
            return None;
        }
        let mut number = BTreeMap::new();
        for (i, id) in order.iter().enumerate() {
            if let Some(id) = id {
                number.insert(*id, u16::try_from(i * stride).ok()?);
            }
        }
        let number_of = |id: StateID| number.get(&id).copied().unwrap_or(DEAD);
        let mut next = vec![DEAD; order.len() * stride];
        let mut ends = vec![DEAD; order.len()];
        for (i, id) in order.iter().enumerate() {
            let Some(id) = *id else { continue };
            for &b in &representatives {
                let class = usize::from(byte_classes.get(b));
                if let Some(slot) = next.get_mut(i * stride + class) {
                    *slot = number_of(dfa.next_state(id, b));
                }
            }
            if let Some(slot) = ends.get_mut(i) {
                *slot = number_of(dfa.next_eoi_state(id));
            }
        }
        let mut classes = [0u8; 256];
        for (b, class) in (0..=255u8).zip(classes.iter_mut()) {
            *class = byte_classes.get(b);
        }
        Some(Self {
            classes,
            next: next.into_boxed_slice(),
            starts: starts.into_iter().map(number_of).collect(),
            ends: ends.into_boxed_slice(),
            last_admitting: u16::try_from(last_admitting * stride).ok()?,
            stride,
            start_index: Box::default(),
            skips: Box::default(),
        })
    }

    /// With the state after each of `keywords` worked out, so that a walk at a mention of one
    /// begins past it ([`Opening::admits_at`]): the keyword was confirmed already, and reading
    /// it again was most of what an opening cost (a byte is a lookup that waits for the one
    /// before, ~1.5 ns).
    pub(crate) fn skipping<K: AsRef<str>>(mut self, keywords: &[K]) -> Self {
        let mut distinct: Vec<u16> = Vec::new();
        let mut start_index = Vec::with_capacity(self.starts.len());
        for &state in &*self.starts {
            let i = distinct
                .iter()
                .position(|&d| d == state)
                .unwrap_or_else(|| {
                    distinct.push(state);
                    distinct.len() - 1
                });
            let Ok(i) = u8::try_from(i) else {
                return self;
            };
            start_index.push(i);
        }
        let skips = keywords
            .iter()
            .map(|keyword| {
                let keyword = keyword.as_ref().as_bytes().to_ascii_lowercase();
                let after = distinct
                    .iter()
                    .map(|&s| self.after(s, &keyword, true))
                    .collect();
                let after_lowercase = distinct
                    .iter()
                    .map(|&s| self.after(s, &keyword, false))
                    .collect();
                Skip {
                    keyword: keyword.into_boxed_slice(),
                    after,
                    after_lowercase,
                }
            })
            .collect();
        self.start_index = start_index.into_boxed_slice();
        self.skips = skips;
        self
    }

    /// The state a walk from `state` is in after `keyword` (lowercase), as [`Opening::admits`]
    /// would walk it (stopping where a state decides): in any case of its letters when
    /// `any_case` ([`NOT_SKIPPED`] where a letter's two cases lead to different states), or as
    /// it is written.
    fn after(&self, mut state: u16, keyword: &[u8], any_case: bool) -> u16 {
        // Nothing to skip (and the walk steps once before it decides).
        if keyword.is_empty() {
            return NOT_SKIPPED;
        }
        for &b in keyword {
            let next = self.step(state, b);
            if any_case && self.step(state, b.to_ascii_uppercase()) != next {
                return NOT_SKIPPED;
            }
            state = next;
            if state <= self.last_admitting {
                break;
            }
        }
        state
    }

    fn step(&self, state: u16, b: u8) -> u16 {
        let class = self.classes.get(usize::from(b)).copied().unwrap_or(0);
        self.next
            .get(usize::from(state) + usize::from(class))
            .copied()
            .unwrap_or(DEAD)
    }

    /// Whether a match of the pattern may start at `start` and end by `end` (as the pattern's
    /// own anchored search over that span sees it: the byte before `start` and the one at
    /// `end` are context). `true` when the span is not in `hay`, so the pattern decides.
    #[cfg(test)]
    pub(crate) fn admits(&self, hay: &[u8], start: usize, end: usize) -> bool {
        self.admits_at(hay, start, end, &[])
    }

    /// [`Opening::admits`] at a mention of `keyword` (lowercase) that starts at `start`: where
    /// the keyword is one of the rule's ([`Opening::skipping`]), the walk begins after it.
    pub(crate) fn admits_at(&self, hay: &[u8], start: usize, end: usize, keyword: &[u8]) -> bool {
        let skip = self.skips.iter().find(|skip| *skip.keyword == *keyword);
        self.admits_past(hay, start, end, skip)
    }

    /// [`Opening::admits_at`] for an opening made for one keyword (as a keyword's gate is,
    /// [`crate::rule::Rule::joint_opening`]), at a mention of it: nothing to look up.
    pub(crate) fn admits_at_its_keyword(&self, hay: &[u8], start: usize, end: usize) -> bool {
        self.admits_past(hay, start, end, self.skips.first())
    }

    /// [`Opening::admits`] at a mention of `skip`'s keyword that starts at `start`, past it.
    fn admits_past(&self, hay: &[u8], start: usize, end: usize, skip: Option<&Skip>) -> bool {
        let Some(mut text) = hay.get(start..end) else {
            return true;
        };
        let before = start
            .checked_sub(1)
            .and_then(|i| hay.get(i))
            .map_or(256, |&b| usize::from(b));
        let mut state = self.starts.get(before).copied().unwrap_or(DEAD);
        let after = skip
            .zip(self.start_index.get(before))
            .and_then(|(skip, &i)| {
                let i = usize::from(i);
                let after = match skip.after.get(i).copied()? {
                    NOT_SKIPPED if text.starts_with(&skip.keyword) => {
                        skip.after_lowercase.get(i).copied()?
                    }
                    after => after,
                };
                Some(after).zip(text.get(skip.keyword.len()..))
            })
            .filter(|&(after, _)| after != NOT_SKIPPED);
        if let Some((after, rest)) = after {
            if after <= self.last_admitting {
                return after != DEAD;
            }
            (state, text) = (after, rest);
        }
        // A state that admits is entered one byte after the match ends; the first decides.
        for &b in text {
            state = self.step(state, b);
            if state <= self.last_admitting {
                return state != DEAD;
            }
        }
        state = match hay.get(end) {
            Some(&b) => self.step(state, b),
            None => self
                .ends
                .get(usize::from(state) / self.stride.max(1))
                .copied()
                .unwrap_or(DEAD),
        };
        state != DEAD && state <= self.last_admitting
    }
}

/// Cutting a syntax tree after its first bytes.
struct Cut {
    /// Nodes made so far, against [`NODES_MAX`].
    nodes: usize,
    /// Whether anything was cut.
    cut: bool,
}

impl Cut {
    /// `hir` cut after `budget` bytes (see [`Cut::sequence`]), and whether anything was cut.
    fn opening(hir: &Hir, budget: usize) -> Option<(Hir, bool)> {
        let mut cut = Self {
            nodes: 0,
            cut: false,
        };
        let opening = cut.sequence(&[hir], budget)?;
        Some((opening, cut.cut))
    }

    /// The opening of `parts` in sequence, cut once `budget` bytes are sure to be covered: an
    /// expression that every match of the sequence starts with a match of. `None` when it grows
    /// past [`NODES_MAX`].
    ///
    /// What is kept whole matches exactly what it did; what is cut is replaced by a prefix of
    /// it (a literal's first bytes, a repetition's required copies), and nothing follows a cut.
    /// An alternation takes what follows it into each branch, so a branch cut short does not
    /// end the others.
    fn sequence(&mut self, parts: &[&Hir], mut budget: usize) -> Option<Hir> {
        let mut opening = Vec::new();
        // What is left of the sequence, the next part last. Only an alternation recurses, so a
        // long sequence does not make a deep stack.
        let mut left: Vec<&Hir> = parts.iter().rev().copied().collect();
        while let Some(part) = left.pop() {
            self.nodes += 1;
            if self.nodes > NODES_MAX {
                return None;
            }
            if budget == 0 {
                self.cut = true;
                break;
            }
            match part.kind() {
                HirKind::Empty | HirKind::Look(_) => opening.push(part.clone()),
                HirKind::Literal(lit) => match lit.0.get(..budget) {
                    Some(head) if head.len() < lit.0.len() => {
                        self.cut = true;
                        opening.push(Hir::literal(head));
                        break;
                    }
                    _ => {
                        budget -= lit.0.len();
                        opening.push(part.clone());
                    }
                },
                HirKind::Class(_) => {
                    budget -= 1;
                    opening.push(part.clone());
                }
                HirKind::Capture(cap) => left.push(&cap.sub),
                HirKind::Concat(subs) => left.extend(subs.iter().rev()),
                HirKind::Alternation(branches) => {
                    // Each branch takes the rest of the sequence with it.
                    let rest: Vec<&Hir> = left.iter().rev().copied().collect();
                    let mut cut = Vec::with_capacity(branches.len());
                    for branch in branches {
                        let inner: Vec<&Hir> = std::iter::once(branch)
                            .chain(rest.iter().copied())
                            .collect();
                        cut.push(self.sequence(&inner, budget)?);
                    }
                    opening.push(Hir::alternation(cut));
                    break;
                }
                HirKind::Repetition(rep) => {
                    let props = rep.sub.properties();
                    let sub_min = props.minimum_len().unwrap_or(0);
                    let longest = rep
                        .max
                        .zip(props.maximum_len())
                        .and_then(|(max, len)| usize::try_from(max).ok()?.checked_mul(len));
                    let min = usize::try_from(rep.min).unwrap_or(usize::MAX);
                    let spread = rep.max.map(|max| max.saturating_sub(rep.min));
                    if longest.is_some_and(|len| len <= budget)
                        && spread.is_some_and(|spread| spread <= SPREAD_MAX)
                    {
                        // Short enough to keep whole: what follows is still aligned.
                        budget -= min.saturating_mul(sub_min).min(budget);
                        opening.push(part.clone());
                    } else {
                        // Every match has the required copies first; as many of them as cover
                        // the budget, and the opening ends there.
                        self.cut = true;
                        let copies = match sub_min {
                            0 => 0,
                            len => min.min(budget.div_ceil(len)),
                        };
                        let copies = u32::try_from(copies).unwrap_or(rep.min);
                        opening.push(Hir::repetition(Repetition {
                            min: copies,
                            max: Some(copies),
                            greedy: rep.greedy,
                            sub: rep.sub.clone(),
                        }));
                        break;
                    }
                }
            }
        }
        Some(Hir::concat(opening))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(pattern: &str) -> Hir {
        regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(pattern)
            .unwrap()
    }

    /// The opening, whether or not a rule would use it.
    fn opening(pattern: &str) -> Opening {
        let hir = parse(pattern);
        let mut cut = Cut {
            nodes: 0,
            cut: false,
        };
        Opening::compile(&cut.sequence(&[&hir], OPENING_LEN).unwrap()).unwrap()
    }

    fn admits(pattern: &str, text: &str) -> bool {
        opening(pattern).admits(text.as_bytes(), 0, text.len())
    }

    /// Patterns built from the pieces rules are made of (literals, classes, counted and
    /// optional repetitions, alternations, groups, caseless parts, word boundaries) over a
    /// small alphabet, so that texts over it often match.
    fn pattern() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            "[ab_]{1,3}",
            Just("[a-c]".to_string()),
            Just("[^a]".to_string()),
            Just(r"\b".to_string()),
            Just(r"\s".to_string()),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(|parts| parts.concat()),
                prop::collection::vec(inner.clone(), 2..4)
                    .prop_map(|branches| format!("(?:{})", branches.join("|"))),
                (inner.clone(), 0u32..4, 0u32..8)
                    .prop_map(|(p, min, more)| format!("(?:{p}){{{min},{}}}", min + more)),
                inner.clone().prop_map(|p| format!("(?:{p})?")),
                inner.clone().prop_map(|p| format!("({p})")),
                inner.prop_map(|p| format!("(?i:{p})")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Cut after any number of bytes, an opening admits every place its pattern matches
        /// (anchored there, over the span a keyword's try searches, with the bytes around it
        /// as context).
        #[test]
        fn admits_wherever_the_pattern_matches(
            pattern in pattern(),
            budget in 1usize..12,
            text in "[abcAB_ \\-]{0,40}",
        ) {
            let hir = parse(&pattern);
            let regex = regex_automata::meta::Regex::builder()
                .syntax(regex_automata::util::syntax::Config::new().unicode(false).utf8(false))
                .build(&pattern)
                .unwrap();
            let mut cut = Cut { nodes: 0, cut: false };
            let Some(opening) = cut.sequence(&[&hir], budget).and_then(|h| Opening::compile(&h))
            else {
                return Ok(());
            };
            let text = text.as_bytes();
            for start in 0..=text.len() {
                for end in [start + budget / 2, start + budget, text.len()] {
                    let end = end.min(text.len());
                    let input = regex_automata::Input::new(text)
                        .span(start..end)
                        .anchored(regex_automata::Anchored::Yes);
                    if regex.search_half(&input).is_some() {
                        prop_assert!(
                            opening.admits(text, start, end),
                            "{pattern:?} cut at {budget} matches {:?} at {start}..{end}",
                            String::from_utf8_lossy(text)
                        );
                    }
                }
            }
        }
    }

    /// The built-in rules that have an opening, with it.
    fn builtin_openings() -> &'static [(crate::rule::Rule, Opening)] {
        static OPENINGS: std::sync::OnceLock<Vec<(crate::rule::Rule, Opening)>> =
            std::sync::OnceLock::new();
        OPENINGS.get_or_init(|| {
            let set = crate::rule::RuleSet::builtin().unwrap();
            set.rules()
                .iter()
                .filter_map(|r| Some((r.clone(), r.opening()?.clone())))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// At a mention of one of its rule's keywords, in any case, whatever comes before and
        /// after it, an opening that starts past the keyword says what the full walk says; so
        /// does the opening of the rule and another tried together at that keyword.
        #[test]
        fn starting_past_the_keyword_changes_nothing(
            pick in any::<prop::sample::Index>(),
            keyword in any::<prop::sample::Index>(),
            // Half the keywords as written in the rule (lowercase), half in random case.
            flips in prop_oneof![Just(0u64), any::<u64>()],
            before in prop::sample::select(vec![None, Some(b' '), Some(b'a'), Some(b'_'), Some(b'9'), Some(b'"'), Some(b'-')]),
            tail in prop::collection::vec(
                prop_oneof![
                    "[a-zA-Z0-9_]{1,24}",
                    "[ \t=:\"'`,./+-]{1,3}",
                    Just("fw_".to_string()),
                    Just("Bot ".to_string()),
                    Just("Bearer ".to_string()),
                    Just("=> ".to_string()),
                ],
                0..5,
            ),
            cut in 0usize..40,
            other in any::<prop::sample::Index>(),
            other_first in any::<bool>(),
        ) {
            let openings = builtin_openings();
            prop_assume!(!openings.is_empty());
            let (rule, opening) = pick.get(openings);
            let (other, other_opening) = other.get(openings);
            prop_assume!(!rule.spec.keywords.is_empty());
            let kw = keyword.get(&rule.spec.keywords).to_ascii_lowercase().into_bytes();
            let mut hay: Vec<u8> = before.into_iter().collect();
            let start = hay.len();
            hay.extend(kw.iter().enumerate().map(|(i, &b)| {
                if flips >> (i % 64) & 1 == 1 { b.to_ascii_uppercase() } else { b }
            }));
            hay.extend(tail.concat().bytes());
            let mut patterns = [parse(&rule.spec.pattern), parse(&other.spec.pattern)];
            if other_first {
                patterns.reverse();
            }
            let joint = Opening::of_any(&patterns)
                .map(|joint| joint.skipping(&[String::from_utf8_lossy(&kw)]));
            for end in [hay.len(), (start + cut).min(hay.len())] {
                let admits = opening.admits(&hay, start, end);
                prop_assert_eq!(
                    opening.admits_at(&hay, start, end, &kw),
                    admits,
                    "{} at {:?} (to {})", rule.id(), String::from_utf8_lossy(&hay), end
                );
                let Some(joint) = &joint else { continue };
                let joint_admits = joint.admits(&hay, start, end);
                prop_assert_eq!(joint.admits_at_its_keyword(&hay, start, end), joint_admits);
                prop_assert!(
                    joint_admits || !admits && !other_opening.admits(&hay, start, end),
                    "{} with {} at {:?} (to {})",
                    rule.id(), other.id(), String::from_utf8_lossy(&hay), end
                );
            }
        }
    }

    /// Some openings do start past their keywords: the skips are worked out, not all refused
    /// for a case the opening tells apart.
    #[test]
    fn keywords_are_skipped() {
        let skipped = builtin_openings()
            .iter()
            .flat_map(|(_, o)| o.skips.iter())
            .filter(|s| s.after.iter().any(|&a| a != NOT_SKIPPED))
            .count();
        assert!(skipped > 100, "{skipped}");
    }

    #[test]
    fn cuts_after_the_budget() {
        let digits = |n: usize| "7".repeat(n);
        // A counted run that does not fit keeps only the copies that cover the budget.
        let run = r"ab[0-9]{30,40}x";
        assert!(admits(run, &format!("ab{}-", digits(OPENING_LEN - 2))));
        assert!(!admits(run, &format!("ab{}-", digits(OPENING_LEN - 3))));
        // One that fits is kept whole, and what follows with it.
        assert!(!admits(r"ab[0-9]{0,4}x", "ab12y"));
        assert!(admits(r"ab[0-9]{0,4}x", "ab12x"));
        // A long literal is cut to the budget.
        let long = "a".repeat(40);
        assert!(admits(&long, &"a".repeat(OPENING_LEN)));
        assert!(!admits(&long, &"a".repeat(OPENING_LEN - 1)));
        // Each branch takes what follows it: the short one reaches `fw_`, the long one is cut.
        let branches = "(?:ffffffffff[a-z]{0,30}|bearer )fw_[a-z]{24}";
        assert!(!admits(branches, "bearer token"));
        assert!(admits(branches, &format!("bearer fw_{}", "a".repeat(14))));
        assert!(!admits(branches, &format!("bearer fw_{}", "a".repeat(13))));
        assert!(admits(branches, "ffffffffff but then nothing"));
    }

    #[test]
    fn refuses_mentions_the_pattern_gives_up_on_early() {
        let bearer = r"(?i)bearer\s{1,4}(?P<secret>[A-Za-z0-9\-._~+/]{16,1024}={0,2})(?:['\s]|$)";
        assert!(!admits(
            bearer,
            "bearer token obtained from the identity provider"
        ));
        assert!(admits(bearer, "Bearer 8fK2mQ7xL4pWz9Rt3vYb6nHc"));
        let fireworks = r"(?i)(?:fireworks[\w.\-]{0,20}key\s{0,4}=\s{0,4}|bearer\s{1,4}|api[_\-]?key\s{0,4}=\s{0,4}['`]?)(?P<secret>(?-i:fw_[A-Za-z0-9]{24}))\b";
        assert!(!admits(fireworks, "api_key = 'j3tZg2nAH0v6HocIZkslIvh9'"));
        assert!(!admits(fireworks, "bearer token"));
        assert!(admits(fireworks, "api_key = 'fw_RUrB4KMviYWQo65dR5AGpDsS'"));
        // The branch cut short (past `fireworks`) admits what the pattern might still match.
        assert!(admits(fireworks, "fireworks_api_key = nothing"));
        let ssn = r"(?i)(?:ssn|social security(?: number)?)[\s:#=]{1,4}(?P<secret>\d{9})\b";
        assert!(!admits(ssn, "SSN when asked"));
        assert!(admits(ssn, "SSN: 078051120"));
    }

    #[test]
    fn only_where_it_reads_further_than_pattern_and_lead() {
        let of = |pattern: &str, lead_len: usize| Opening::of(&parse(pattern), lead_len).is_some();
        let bearer = r"(?i)bearer\s{1,4}[A-Za-z0-9]{16,1024}";
        assert!(of(bearer, 7), "the lead reads `bearer` and one space");
        assert!(!of(bearer, 23), "a lead as long as the opening");
        assert!(
            !of(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", 0),
            "nothing cut: the pattern is short"
        );
    }

    /// A rule file's pattern can be long and branch often: building its opening stays within
    /// a small stack and gives up past the node limit rather than growing without bound.
    #[test]
    fn pathological_patterns_give_up_on_a_small_stack() {
        let flat = format!("{}a{{30}}", r"\b".repeat(5000));
        let branching = format!("{}a{{30}}", r"(?:\b|\B)".repeat(600));
        let nested = format!("{}a{{30}}{}", "(?:b|".repeat(100), ")".repeat(100));
        let built = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || [flat, branching, nested].map(|p| Opening::of(&parse(&p), 0).is_some()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(built, [false, false, true]);
    }

    #[test]
    fn reads_the_context_the_pattern_reads() {
        // A word boundary before the start and after the end sees the bytes around the span.
        let o = opening(r"\bkey\b");
        assert!(o.admits(b" key ", 1, 4));
        assert!(!o.admits(b"akey ", 1, 4));
        assert!(!o.admits(b" keys", 1, 4));
        // Text that ends before the opening does is refused, and spans out of range admitted.
        assert!(!opening("abcdef").admits(b"abc", 0, 3));
        assert!(opening("abcdef").admits(b"abc", 2, 9));
    }
}
