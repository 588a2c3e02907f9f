//! One pass over bytes: a literal prefilter finds where rules could match, each candidate rule's
//! pattern runs only there, and checks decide.
//!
//! Candidates come from two cheap scans: an Aho-Corasick automaton over every rule's keywords
//! (ASCII case-insensitive) and a word-at-a-time scan for runs of digits (for payment cards,
//! IBANs, phone and social security numbers, which have no keyword). Clean text that merely
//! *mentions* `token` or `password` costs one anchored pattern attempt per mention, which fails
//! within a few bytes.

use aho_corasick::automaton::Automaton as _;
use aho_corasick::automaton::StateID;
use aho_corasick::dfa::DFA;
use aho_corasick::{MatchKind, PatternID, StartKind};
use regex_automata::{Anchored, Input};

use crate::digits::DigitRuns;
use crate::rule::{Rule, RuleError, RuleSet, Trigger};
use crate::validate::{entropy, is_placeholder};

/// One thing found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// Byte offset where the sensitive value starts.
    pub start: usize,
    /// Byte offset just past its end.
    pub end: usize,
    /// Index of the rule in the scanner's rule list.
    pub rule: usize,
}

/// A compiled set of rules, ready to scan. Cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Scanner {
    rules: Vec<Rule>,
    /// Every keyword, ASCII case-insensitive, as one DFA driven byte by byte (all matches,
    /// overlapping ones included).
    keywords: DFA,
    /// For each keyword pattern, the rules it triggers.
    keyword_rules: Vec<Vec<usize>>,
    /// Rules triggered by digit runs, with their minimum digit count.
    digit_rules: Vec<(usize, usize)>,
    /// The smallest digit count any rule asks for.
    min_digits: usize,
    /// The most bytes a match can span together with its lead-in: how much a stream keeps.
    horizon: usize,
    /// The longest keyword, in bytes.
    longest_keyword: usize,
}

/// Capture slots per rule, made on a rule's first match in a scan and reused after.
#[derive(Default)]
struct Captured(Option<Vec<Option<regex_automata::util::captures::Captures>>>);

/// Independent keyword-DFA walks stepped together (see [`Scanner::keyword_hits`]).
const LANES: usize = 4;

/// Bytes of haystack whose keyword hits are gathered before they are checked.
const BLOCK: usize = 64 << 10;

/// One segment of a [`Scanner::keyword_hits`] walk.
struct Lane<'h> {
    bytes: &'h [u8],
    /// Where `bytes` starts in the haystack.
    offset: usize,
    /// Matches must end past this offset to belong to this lane.
    owned: usize,
    state: StateID,
    hits: &'h mut Vec<(usize, PatternID)>,
}

impl Lane<'_> {
    /// Keep the matches of `state`, reached after `walked` bytes of this lane.
    fn record(&mut self, dfa: &DFA, state: StateID, walked: usize) {
        let end = self.offset + walked;
        if dfa.is_match(state) && end > self.owned {
            self.hits
                .extend((0..dfa.match_len(state)).map(|k| (end, dfa.match_pattern(state, k))));
        }
    }
}

/// Bytes before a match that validators see as context.
const VALIDATOR_CONTEXT: usize = 32;

/// Bytes searched past the end of a digit run (a match may end in letters, e.g. some IBANs).
const DIGIT_RUN_TAIL: usize = 16;

impl Scanner {
    /// Build a scanner from checked rules.
    pub fn new(set: &RuleSet) -> Result<Self, RuleError> {
        let rules = set.rules().to_vec();
        let mut patterns: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut digit_rules = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            match &r.trigger {
                Trigger::Keywords(kws) => {
                    for k in kws {
                        match patterns.iter().position(|p| p == k) {
                            Some(p) => {
                                if let Some(list) = keyword_rules.get_mut(p)
                                    && !list.contains(&i)
                                {
                                    list.push(i);
                                }
                            }
                            None => {
                                patterns.push(k.clone());
                                keyword_rules.push(vec![i]);
                            }
                        }
                    }
                }
                Trigger::Digits(n) => digit_rules.push((i, *n)),
            }
        }
        let keywords = DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Unanchored)
            .prefilter(false)
            .build(&patterns)
            .map_err(|e| RuleError {
                source_name: "keywords".into(),
                rule: None,
                message: format!("cannot build the keyword automaton: {e}"),
            })?;
        let min_digits = digit_rules
            .iter()
            .map(|&(_, n)| n)
            .min()
            .unwrap_or(usize::MAX);
        let horizon = rules
            .iter()
            .map(|r| r.max_len + r.spec.before + DIGIT_RUN_TAIL)
            .max()
            .unwrap_or(0);
        let longest_keyword = patterns.iter().map(String::len).max().unwrap_or(0);
        Ok(Self {
            rules,
            keywords,
            keyword_rules,
            digit_rules,
            min_digits,
            horizon,
            longest_keyword,
        })
    }

    /// The built-in rules, compiled.
    pub fn builtin() -> Result<Self, RuleError> {
        Self::new(&RuleSet::builtin()?)
    }

    /// The rules, indexed as [`Finding::rule`] indexes them.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule of a finding.
    pub fn rule(&self, f: &Finding) -> Option<&Rule> {
        self.rules.get(f.rule)
    }

    /// How many bytes before the end of the data a match may still be growing: what a stream
    /// keeps between chunks.
    pub fn horizon(&self) -> usize {
        self.horizon
    }

    /// Every finding in `hay`, ordered by position, without duplicates: where rules overlap,
    /// a fallback rule's finding gives way to the others'.
    pub fn scan(&self, hay: &[u8]) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut caps = Captured::default();
        // Keywords are found a block at a time so the hits stay in cache until checked.
        let mut hits: [Vec<(usize, PatternID)>; LANES] = Default::default();
        let mut from = 0;
        while from < hay.len() {
            let to = hay.len().min(from + BLOCK);
            hits.iter_mut().for_each(Vec::clear);
            if self.keyword_hits(hay, from..to, &mut hits).is_none() {
                // Not reachable for an unanchored DFA; if it were, every keyword rule would be
                // unchecked, so fail closed on the whole input.
                for r in self.keyword_rules.iter().flatten() {
                    fail_closed(*r, (0, hay.len()), &mut out);
                }
                break;
            }
            for &(end, pid) in hits.iter().flatten() {
                let start = end.saturating_sub(self.keywords.pattern_len(pid));
                for &r in self.keyword_rules.get(pid.as_usize()).into_iter().flatten() {
                    self.try_keyword(r, hay, (start, end), &mut out, &mut caps);
                }
            }
            from = to;
        }
        if !self.digit_rules.is_empty() {
            for (start, end, digits) in DigitRuns::new(hay, self.min_digits) {
                for &(r, min) in &self.digit_rules {
                    if digits >= min {
                        self.try_window(r, hay, (start, end), &mut out, &mut caps);
                    }
                }
            }
        }
        self.settle(out)
    }

    /// Every keyword occurrence ending inside `range`, as (end offset, keyword), appended to
    /// `hits` (ordered within each of the [`LANES`] segments, not overall). The range is cut
    /// into segments walked in lockstep: one DFA walk is bound by the latency of each
    /// transition's load, and independent walks hide it. Each segment starts its walk early by
    /// the longest keyword less one byte and keeps only matches ending inside it, so matches
    /// across a cut are found exactly once.
    fn keyword_hits(
        &self,
        hay: &[u8],
        range: std::ops::Range<usize>,
        hits: &mut [Vec<(usize, PatternID)>; LANES],
    ) -> Option<()> {
        let dfa = &self.keywords;
        let start = dfa.start_state(aho_corasick::Anchored::No).ok()?;
        let seg = range.len().div_ceil(LANES).max(1);
        let lead = self.longest_keyword.saturating_sub(1);
        let mut l = 0;
        let mut lanes: [Lane<'_>; LANES] = hits.each_mut().map(|hits| {
            let owned = (range.start + l * seg).min(range.end);
            let from = owned.saturating_sub(lead);
            let to = (range.start + (l + 1) * seg).min(range.end);
            l += 1;
            Lane {
                bytes: hay.get(from..to).unwrap_or_default(),
                offset: from,
                owned,
                state: start,
                hits,
            }
        });
        // The common length is walked four bytes at a time; the special-state test (a match)
        // is one comparison per byte and rarely taken.
        let common = lanes.iter().map(|l| l.bytes.len()).min().unwrap_or(0);
        let [l0, l1, l2, l3] = &mut lanes;
        let (b0, b1, b2, b3) = (l0.bytes, l1.bytes, l2.bytes, l3.bytes);
        let zipped = b0.iter().zip(b1).zip(b2).zip(b3).take(common).enumerate();
        let (mut s0, mut s1, mut s2, mut s3) = (start, start, start, start);
        for (i, (((&c0, &c1), &c2), &c3)) in zipped {
            s0 = dfa.next_state(aho_corasick::Anchored::No, s0, c0);
            s1 = dfa.next_state(aho_corasick::Anchored::No, s1, c1);
            s2 = dfa.next_state(aho_corasick::Anchored::No, s2, c2);
            s3 = dfa.next_state(aho_corasick::Anchored::No, s3, c3);
            if dfa.is_special(s0) | dfa.is_special(s1) | dfa.is_special(s2) | dfa.is_special(s3) {
                for (lane, s) in [
                    (&mut *l0, s0),
                    (&mut *l1, s1),
                    (&mut *l2, s2),
                    (&mut *l3, s3),
                ] {
                    lane.record(dfa, s, i + 1);
                }
            }
        }
        for (lane, s) in [(l0, s0), (l1, s1), (l2, s2), (l3, s3)] {
            lane.state = s;
            for (i, &b) in lane.bytes.iter().enumerate().skip(common) {
                lane.state = dfa.next_state(aho_corasick::Anchored::No, lane.state, b);
                if dfa.is_special(lane.state) {
                    lane.record(dfa, lane.state, i + 1);
                }
            }
        }
        Some(())
    }

    fn try_keyword(
        &self,
        r: usize,
        hay: &[u8],
        (start, end): (usize, usize),
        out: &mut Vec<Finding>,
        caps: &mut Captured,
    ) {
        let Some(rule) = self.rules.get(r) else {
            return;
        };
        if rule.spec.before == 0 {
            let limit = hay.len().min(start + rule.max_len);
            let input = Input::new(hay).span(start..limit).anchored(Anchored::Yes);
            self.capture(r, rule, input, out, caps);
        } else {
            self.try_window(r, hay, (start, end), out, caps);
        }
    }

    /// Search the window around a candidate for matches that cover the candidate `anchor`.
    fn try_window(
        &self,
        r: usize,
        hay: &[u8],
        anchor: (usize, usize),
        out: &mut Vec<Finding>,
        caps: &mut Captured,
    ) {
        let (start, end) = anchor;
        let Some(rule) = self.rules.get(r) else {
            return;
        };
        let from = start.saturating_sub(rule.spec.before);
        let to = hay.len().min(end + rule.max_len.max(DIGIT_RUN_TAIL));
        let Some(regex) = rule.regex() else {
            return fail_closed(r, anchor, out);
        };
        let mut at = from;
        while at < to {
            let input = Input::new(hay).span(at..to);
            let Some(m) = regex.search(&input) else {
                break;
            };
            if m.start() > anchor.1 {
                break;
            }
            if m.end() >= anchor.0 {
                let input = Input::new(hay).span(m.start()..to).anchored(Anchored::Yes);
                self.capture(r, rule, input, out, caps);
            }
            at = m.end().max(m.start() + 1);
        }
    }

    /// Run the pattern on `input`, extract the secret and apply the checks.
    fn capture(
        &self,
        r: usize,
        rule: &Rule,
        input: Input<'_>,
        out: &mut Vec<Finding>,
        captured: &mut Captured,
    ) {
        let Some(regex) = rule.regex() else {
            let at = input.start();
            return fail_closed(r, (at, at + 1), out);
        };
        let (whole, secret) = if rule.secret_is_match {
            let Some(m) = regex.search(&input) else {
                return;
            };
            (m.span(), m.span())
        } else {
            // Most anchored attempts fail at once; only a match pays for capture groups, and
            // only over the match itself (the backtracker's work grows with the span).
            let Some(half) = regex.search_half(&input) else {
                return;
            };
            let at = input.start();
            let input = input.clone().span(at..half.offset());
            let slots = captured.0.get_or_insert_with(|| {
                let mut v = Vec::new();
                v.resize_with(self.rules.len(), || None);
                v
            });
            let Some(slot) = slots.get_mut(r) else { return };
            let caps = slot.get_or_insert_with(|| regex.create_captures());
            regex.search_captures(&input, caps);
            let (Some(whole), Some(secret)) = (caps.get_match(), caps.get_group(rule.secret_group))
            else {
                return;
            };
            (whole.span(), secret)
        };
        let hay = input.haystack();
        // Validators see a little of what precedes the match (a key name's prefix, such as
        // `sha256_` before a `key` keyword).
        let context = whole.start.saturating_sub(VALIDATOR_CONTEXT)..secret.start;
        let (Some(value), Some(before)) = (hay.get(secret.range()), hay.get(context)) else {
            return;
        };
        if value.is_empty() {
            return;
        }
        if let Some(floor) = rule.spec.entropy
            && entropy(value) < floor
        {
            return;
        }
        if let Some(v) = rule.spec.validator
            && !v.check(value, before)
        {
            return;
        }
        if rule.spec.classification == "secret" && is_placeholder(value) {
            return;
        }
        out.push(Finding {
            start: secret.start,
            end: secret.end,
            rule: r,
        });
    }

    /// Order, drop duplicates and overlaps within a rule (the earliest, then longest, match
    /// stays), and let fallback rules give way to the others.
    fn settle(&self, mut found: Vec<Finding>) -> Vec<Finding> {
        found.sort_by_key(|f| (f.start, f.rule, std::cmp::Reverse(f.end)));
        let mut last_end: std::collections::HashMap<usize, usize> =
            std::collections::HashMap::new();
        found.retain(|f| {
            let end = last_end.entry(f.rule).or_insert(0);
            if *end > f.start {
                return false;
            }
            *end = f.end;
            true
        });
        let fallback = |f: &Finding| self.rules.get(f.rule).is_some_and(|r| r.spec.fallback);
        // Specific findings as sorted, disjoint intervals.
        let mut covered: Vec<(usize, usize)> = Vec::new();
        for f in found.iter().filter(|f| !fallback(f)) {
            match covered.last_mut() {
                Some(last) if f.start < last.1 => last.1 = last.1.max(f.end),
                _ => covered.push((f.start, f.end)),
            }
        }
        found.retain(|f| {
            if !fallback(f) {
                return true;
            }
            let i = covered.partition_point(|&(s, _)| s < f.end);
            i.checked_sub(1)
                .and_then(|j| covered.get(j))
                .is_none_or(|&(_, e)| e <= f.start)
        });
        found
    }
}

/// A rule whose pattern could not be built cannot say the candidate is harmless: report it.
fn fail_closed(rule: usize, (start, end): (usize, usize), out: &mut Vec<Finding>) {
    out.push(Finding { start, end, rule });
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::Anchored;

    /// The plain one-walk keyword search, to check the lockstep lanes against.
    fn one_walk(s: &Scanner, hay: &[u8]) -> Vec<(usize, aho_corasick::PatternID)> {
        let dfa = &s.keywords;
        let mut sid = dfa.start_state(Anchored::No).unwrap();
        let mut out = Vec::new();
        for (i, &b) in hay.iter().enumerate() {
            sid = dfa.next_state(Anchored::No, sid, b);
            if dfa.is_special(sid) && dfa.is_match(sid) {
                out.extend((0..dfa.match_len(sid)).map(|k| (i + 1, dfa.match_pattern(sid, k))));
            }
        }
        out
    }

    #[test]
    fn lockstep_lanes_find_exactly_what_one_walk_finds() {
        let s = Scanner::builtin().unwrap();
        let pieces: &[&[u8]] = &[
            b"token",
            b"password",
            b"ghp_",
            b"AKIA",
            b"x",
            b" ",
            b"-----BEGIN",
            b"@",
            b"secret_key",
            b"sk-ant-api03-",
        ];
        // Every length from empty to a few lanes' worth, built so keywords straddle the cuts,
        // walked whole and as two blocks cut at every third offset.
        let mut text = Vec::new();
        let mut i = 0usize;
        while text.len() < 600 {
            let hay = &text[..];
            let mut expected = one_walk(&s, hay);
            expected.sort();
            for cut in (0..=hay.len()).step_by(3).chain([hay.len()]) {
                let mut hits: [Vec<_>; LANES] = Default::default();
                s.keyword_hits(hay, 0..cut, &mut hits).unwrap();
                s.keyword_hits(hay, cut..hay.len(), &mut hits).unwrap();
                let mut found: Vec<_> = hits.into_iter().flatten().collect();
                found.sort();
                assert_eq!(found, expected, "length {}, cut at {cut}", hay.len());
            }
            text.extend_from_slice(pieces[i % pieces.len()]);
            i = (i * 7 + 3) % 1009;
        }
    }
}
