//! One pass over bytes: a literal prefilter finds where rules could match, each candidate rule's
//! pattern runs only there, and checks decide.
//!
//! Candidates come from two cheap scans: a bucketed shift-or filter over every rule's keywords
//! (ASCII case-insensitive, see `keywords.rs`) and a word-at-a-time scan for runs of digits
//! (for payment cards, IBANs, phone and social security numbers, which have no keyword). Clean text that merely
//! *mentions* `token` or `password` costs one anchored pattern attempt per mention, which fails
//! within a few bytes.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::OnceLock;

use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input, PatternID, PatternSet};

use crate::digits::DigitRuns;
use crate::keywords::Keywords;
use crate::precheck::Screen;
use crate::rule::{self, MAX_MATCH_LEN, Rule, RuleError, RuleSet, Trigger};
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
    /// Every keyword, found ASCII case-insensitively (all matches, overlapping ones included).
    keywords: Keywords,
    /// For each keyword pattern, the rules it triggers.
    keyword_rules: Vec<Cow<'static, [u32]>>,
    /// Rules triggered by digit runs, with their minimum digit count.
    digit_rules: Vec<(usize, usize)>,
    /// The smallest digit count any rule asks for.
    min_digits: usize,
    /// All digit rules' patterns as one automaton, and how far before and after a digit run
    /// any of their windows reaches (built on the first digit run).
    digit_any_of: OnceLock<Option<(Regex, (usize, usize))>>,
    /// The most bytes a match can span together with its lead-in: how much a stream keeps.
    horizon: OnceLock<usize>,
}

/// Capture slots per rule, made on a rule's first match in a scan and reused after.
#[derive(Default)]
struct Captured(Option<Vec<Option<regex_automata::util::captures::Captures>>>);

/// Bytes of haystack whose keyword hits are gathered before they are checked, so they are
/// still in cache.
const BLOCK: usize = 64 << 10;

/// Bytes before a match that validators see as context.
const VALIDATOR_CONTEXT: usize = 32;

/// Bytes searched past the end of a digit run (a match may end in letters, e.g. some IBANs).
const DIGIT_RUN_TAIL: usize = 16;

impl Scanner {
    /// Build a scanner from checked rules.
    pub fn new(set: &RuleSet) -> Result<Self, RuleError> {
        let rules = set.rules().to_vec();
        // Each distinct keyword once, with the rules it triggers in rule order: sorting pairs
        // costs a third of what hashing every keyword did (start-up counts, for hooks).
        let mut pairs: Vec<(&str, u32)> = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if let Trigger::Keywords(kws) = &r.trigger {
                let i = u32::try_from(i).map_err(|_| RuleError {
                    source_name: "rules".into(),
                    rule: None,
                    message: "more rules than a scanner can index".into(),
                })?;
                pairs.extend(kws.iter().map(|k| (&**k, i)));
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut patterns: Vec<&str> = Vec::new();
        let mut keyword_rules: Vec<Cow<'static, [u32]>> = Vec::new();
        for group in pairs.chunk_by(|a, b| a.0 == b.0) {
            if let Some(&(k, _)) = group.first() {
                patterns.push(k);
                keyword_rules.push(Cow::Owned(group.iter().map(|&(_, i)| i).collect()));
            }
        }
        let keywords = Keywords::new(&patterns);
        Ok(Self::assemble(rules, keywords, keyword_rules))
    }

    fn assemble(
        rules: Vec<Rule>,
        keywords: Keywords,
        keyword_rules: Vec<Cow<'static, [u32]>>,
    ) -> Self {
        let digit_rules: Vec<(usize, usize)> = rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r.trigger {
                Trigger::Digits(n) => Some((i, n)),
                Trigger::Keywords(_) => None,
            })
            .collect();
        let min_digits = digit_rules
            .iter()
            .map(|&(_, n)| n)
            .min()
            .unwrap_or(usize::MAX);
        Self {
            rules,
            keywords,
            keyword_rules,
            digit_rules,
            min_digits,
            digit_any_of: OnceLock::new(),
            horizon: OnceLock::new(),
        }
    }

    /// The built-in rules, compiled. Their keyword index comes from the build script (a test
    /// checks it is what [`Scanner::new`] would work out).
    pub fn builtin() -> Result<Self, RuleError> {
        let rules = RuleSet::builtin_for_scanning()?.into_rules();
        let index = rule::builtin_keywords();
        let patterns: Vec<&str> = index.iter().map(|&(k, _)| k).collect();
        let keyword_rules = index.iter().map(|&(_, r)| Cow::Borrowed(r)).collect();
        Ok(Self::assemble(
            rules,
            Keywords::new(&patterns),
            keyword_rules,
        ))
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
        *self.horizon.get_or_init(|| {
            // A rule whose pattern cannot be analysed gets the largest match any rule may have.
            self.rules
                .iter()
                .map(|r| {
                    r.shape().map_or(MAX_MATCH_LEN, |s| s.max_len) + r.spec.before + DIGIT_RUN_TAIL
                })
                .max()
                .unwrap_or(0)
        })
    }

    /// Every finding in `hay`, ordered by position, without duplicates: where rules overlap,
    /// a fallback rule's finding gives way to the others'.
    pub fn scan(&self, hay: &[u8]) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut caps = Captured::default();
        // Keywords are found a block at a time so the hits are still in cache when checked.
        let mut hits = Vec::new();
        let mut from = 0;
        while from < hay.len() {
            let to = hay.len().min(from + BLOCK);
            hits.clear();
            self.keywords.find(hay, from..to, &mut hits);
            for &(end, id) in &hits {
                let start = end.saturating_sub(self.keywords.len(id));
                for &r in self
                    .keyword_rules
                    .get(id as usize)
                    .into_iter()
                    .flat_map(|r| r.iter())
                {
                    self.try_keyword(r as usize, hay, (start, end), &mut out, &mut caps);
                }
            }
            from = to;
        }
        if !self.digit_rules.is_empty() {
            let mut runs = DigitRuns::new(hay, self.min_digits).peekable();
            // Built on the first digit run: a short scan without one (a hook's) never pays for it.
            let any_of = match runs.peek() {
                Some(_) => self
                    .digit_any_of
                    .get_or_init(|| self.build_digit_any_of())
                    .as_ref(),
                None => None,
            };
            let mut matching = any_of.map(|(re, _)| PatternSet::new(re.pattern_len()));
            for (start, end, digits) in runs {
                // One pass over the widest window says which digit rules match near this run;
                // only those search their own windows.
                if let (Some((re, (before, after))), Some(set)) = (any_of, matching.as_mut()) {
                    set.clear();
                    let from = start.saturating_sub(*before);
                    let to = hay.len().min(end + after);
                    re.which_overlapping_matches(&Input::new(hay).span(from..to), set);
                }
                for (k, &(r, min)) in self.digit_rules.iter().enumerate() {
                    let near = matching
                        .as_ref()
                        .is_none_or(|set| PatternID::new(k).map_or(true, |id| set.contains(id)));
                    if digits >= min && near {
                        self.try_window(r, hay, (start, end), &mut out, &mut caps);
                    }
                }
            }
        }
        self.settle(out)
    }

    /// See [`Scanner::digit_any_of`]. `None` (try every digit rule) if a pattern cannot be
    /// analysed or built.
    fn build_digit_any_of(&self) -> Option<(Regex, (usize, usize))> {
        let mut rules = Vec::new();
        let (mut before, mut after) = (0, 0);
        for &(r, _) in &self.digit_rules {
            let rule = self.rules.get(r)?;
            before = before.max(rule.spec.before);
            after = after.max(rule.shape()?.max_len.max(DIGIT_RUN_TAIL));
            rules.push(rule);
        }
        Some((rule::build_any_of(&rules)?, (before, after)))
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
        // The secret a match here would have, when the precheck knows it, judged already.
        let mut judged = None;
        if let Some(check) = rule.spec.precheck {
            match check.screen(hay, start, end) {
                Screen::Refused => return,
                Screen::Admitted => {}
                // Judged before the pattern runs, which then need not when the checks say no:
                // most mentions that look like assignments hold a name or a word, not a secret.
                // (A rule whose pattern could not be built reports the candidate instead.)
                Screen::Value(value) if rule.regex().is_some() => {
                    if !accepts(rule, hay, start, value.clone()) {
                        return;
                    }
                    judged = Some(value);
                }
                Screen::Value(_) => {}
            }
        }
        if rule.spec.before == 0 {
            let Some(shape) = rule.shape() else {
                return fail_closed(r, (start, end), out);
            };
            if !shape.lead.admits(hay, start) {
                return;
            }
            let limit = hay.len().min(start + shape.max_len);
            let input = Input::new(hay).span(start..limit).anchored(Anchored::Yes);
            self.capture(r, rule, input, None, judged, out, caps);
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
        let Some(shape) = rule.shape() else {
            return fail_closed(r, anchor, out);
        };
        let from = start.saturating_sub(rule.spec.before);
        let to = hay.len().min(end + shape.max_len.max(DIGIT_RUN_TAIL));
        if !rule.may_match(&Input::new(hay).span(from..to)) {
            return;
        }
        let Some(regex) = rule.regex() else {
            return fail_closed(r, anchor, out);
        };
        let mut at = from;
        while at < to {
            let input = Input::new(hay).span(at..to);
            let Some(m) = regex.search(&input) else {
                break;
            };
            // A match covers the candidate when they share a byte.
            if m.start() >= end {
                break;
            }
            if m.end() > start {
                let input = Input::new(hay).span(m.start()..to).anchored(Anchored::Yes);
                self.capture(r, rule, input, Some(m.end()), None, out, caps);
            }
            // The next match would start at the candidate's end or past it.
            if m.end() >= end {
                break;
            }
            at = m.end().max(m.start() + 1);
        }
    }

    /// Run the pattern anchored on `input` (unless the match is known to end at `known_end`),
    /// extract the secret and apply the checks (unless they passed it already: `judged`).
    #[expect(
        clippy::too_many_arguments,
        reason = "the hot path's state, passed rather than bundled per attempt"
    )]
    fn capture(
        &self,
        r: usize,
        rule: &Rule,
        input: Input<'_>,
        known_end: Option<usize>,
        judged: Option<Range<usize>>,
        out: &mut Vec<Finding>,
        captured: &mut Captured,
    ) {
        // After a window search there is a match; otherwise the open form may say there is none.
        if known_end.is_none() && !rule.may_match(&input) {
            return;
        }
        let (Some(regex), Some(shape)) = (rule.regex(), rule.shape()) else {
            let at = input.start();
            return fail_closed(r, (at, at + 1), out);
        };
        let at = input.start();
        let (whole, secret) = if shape.secret_is_match {
            let span = match known_end {
                Some(end) => regex_automata::Span::from(at..end),
                None => match regex.search(&input) {
                    Some(m) => m.span(),
                    None => return,
                },
            };
            (span, span)
        } else {
            // Most anchored attempts fail at once; only a match pays for capture groups, and
            // only over the match itself (the backtracker's work grows with the span).
            let end = match known_end {
                Some(end) => end,
                None => match regex.search_half(&input) {
                    Some(half) => half.offset(),
                    None => return,
                },
            };
            let input = input.clone().span(at..end);
            let slots = captured.0.get_or_insert_with(|| {
                let mut v = Vec::new();
                v.resize_with(self.rules.len(), || None);
                v
            });
            let Some(slot) = slots.get_mut(r) else { return };
            let caps = slot.get_or_insert_with(|| regex.create_captures());
            regex.search_captures(&input, caps);
            let (Some(whole), Some(secret)) =
                (caps.get_match(), caps.get_group(shape.secret_group))
            else {
                return;
            };
            (whole.span(), secret)
        };
        if judged != Some(secret.range())
            && !accepts(rule, input.haystack(), whole.start, secret.range())
        {
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
        // The end of each rule's last kept finding.
        let mut last_end = vec![0usize; self.rules.len()];
        found.retain(|f| match last_end.get_mut(f.rule) {
            Some(end) if *end > f.start => false,
            Some(end) => {
                *end = f.end;
                true
            }
            None => true,
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

/// Whether the rule's checks take `secret` in a match starting at `match_start` for one.
fn accepts(rule: &Rule, hay: &[u8], match_start: usize, secret: Range<usize>) -> bool {
    // Validators see a little of what precedes the match (a key name's prefix, such as
    // `sha256_` before a `key` keyword).
    let context = match_start.saturating_sub(VALIDATOR_CONTEXT)..secret.start;
    let (Some(value), Some(before)) = (hay.get(secret), hay.get(context)) else {
        return false;
    };
    !value.is_empty()
        && rule
            .spec
            .entropy
            .is_none_or(|floor| entropy(value) >= floor)
        && rule.spec.validator.is_none_or(|v| v.check(value, before))
        && !(rule.spec.classification == "secret" && is_placeholder(value))
}

/// A rule whose pattern could not be built cannot say the candidate is harmless: report it.
fn fail_closed(rule: usize, (start, end): (usize, usize), out: &mut Vec<Finding>) {
    out.push(Finding { start, end, rule });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The build script's keyword index for the built-in rules is exactly what `new` works out
    /// from them: same keywords, same ids, same rules per keyword, same digit rules.
    #[test]
    fn the_built_in_keyword_index_is_what_new_works_out() {
        let built = Scanner::builtin().unwrap();
        let worked = Scanner::new(&RuleSet::builtin_for_scanning().unwrap()).unwrap();
        assert_eq!(built.keywords.patterns(), worked.keywords.patterns());
        assert_eq!(built.keyword_rules, worked.keyword_rules);
        assert_eq!(built.digit_rules, worked.digit_rules);
        assert_eq!(built.min_digits, worked.min_digits);
        let ids = |s: &Scanner| {
            s.rules
                .iter()
                .map(|r| r.id().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&built), ids(&worked));
        assert!(built.keyword_rules.len() > 400);
    }
}
