//! One pass over bytes: a literal prefilter finds where rules could match, each candidate rule's
//! pattern runs only there, and checks decide.
//!
//! Candidates come from two cheap scans: a bucketed shift-or filter over every rule's keywords
//! (ASCII case-insensitive, see `keywords.rs`) and a scan for runs of digits (for payment cards,
//! IBANs, phone and social security numbers, which have no keyword; see `digits.rs`). A rule's
//! precheck then looks at the bytes around its keyword, or at the groups of its digit run, and
//! turns most candidates away before the pattern runs: clean text that merely *mentions* `token`
//! or `password` costs a look at the next few bytes, not a pattern attempt.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input};

use crate::digits::DigitRuns;
use crate::keywords::Keywords;
use crate::opening::Opening;
use crate::precheck::{self, Precheck, RunGroups, Screen};
use crate::rule::{self, MAX_MATCH_LEN, OPENING_AFTER, Rule, RuleError, RuleSet, Trigger};
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
    /// For each keyword pattern, the precheck all the rules it triggers share, if they do: it
    /// runs as the keyword is found, and a mention it refuses, which every one of those rules
    /// would turn away, is not handed on.
    gates: Vec<Option<Precheck>>,
    /// For each keyword pattern whose rules share no precheck, and are all tried where it
    /// starts: the opening of all of them at once ([`WordGate`]).
    word_gates: Arc<[Option<WordGate>]>,
    /// Which rules are fallbacks, by rule: settling reads it for every finding, twice, and the
    /// flag in each rule's spec was a load from a different cache line each time.
    fallbacks: Vec<bool>,
    /// Rules triggered by digit runs, with their minimum digit count.
    digit_rules: Vec<(usize, usize)>,
    /// The smallest digit count any rule asks for.
    min_digits: usize,
    /// The most bytes a match can span together with its lead-in: how much a stream keeps.
    horizon: OnceLock<usize>,
}

/// The gate of a keyword whose rules share no precheck and are tried where it starts: one
/// opening for all of them, tried as the keyword is found, that turns away the mentions none of
/// their patterns could match from (`bearer token obtained`, `Authorization uses`, `SSN when
/// asked`). An opening follows from the pattern alone, so this holds whatever a rule's precheck
/// would say. Each rule's lead and opening, tried in turn once the mention was handed on, cost
/// ~370 instructions a mention, a tenth of the time of text full of such words. Built once the
/// keyword has been seen [`OPENING_AFTER`] times, as a rule's own opening is, for the same
/// reason: building takes 0.1–1 ms, which a short scan would not win back.
#[derive(Debug, Default)]
struct WordGate {
    /// Mentions seen before the opening was built (shared by the scans of a scanner, counted
    /// without synchronising: a count lost to a race only delays the build).
    seen: AtomicU32,
    opening: OnceLock<Option<Opening>>,
}

/// Capture slots per rule, made on a rule's first match in a scan and reused after.
#[derive(Default)]
struct Captured(Option<Vec<Option<regex_automata::util::captures::Captures>>>);

/// Bytes of haystack whose keyword hits are gathered before they are checked, so they are
/// still in cache. The keyword walk asks for the next block's bytes as it goes
/// ([`crate::keywords`]), so they are in the cache when the block's first pass begins.
pub(crate) const BLOCK: usize = 64 << 10;

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
        let gates = keyword_rules
            .iter()
            .map(|triggered| {
                let mut prechecks = triggered
                    .iter()
                    .map(|&r| rules.get(r as usize).and_then(|rule| rule.spec.precheck));
                let first = prechecks.next().flatten()?;
                prechecks.all(|p| p == Some(first)).then_some(first)
            })
            .collect::<Vec<_>>();
        let word_gates = keyword_rules
            .iter()
            .zip(&gates)
            .map(|(triggered, gate)| {
                let tried_at_start = |&r: &u32| {
                    rules
                        .get(r as usize)
                        .is_some_and(|rule| rule.spec.before == 0)
                };
                (gate.is_none() && !triggered.is_empty() && triggered.iter().all(tried_at_start))
                    .then(WordGate::default)
            })
            .collect();
        let fallbacks = rules.iter().map(|r| r.spec.fallback).collect();
        Self {
            rules,
            keywords,
            keyword_rules,
            gates,
            word_gates,
            fallbacks,
            digit_rules,
            min_digits,
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
        // What the gate said about each hit, in order, for hits of gated keywords.
        let mut screens = Vec::new();
        // Digit runs are taken a block at a time too, right after the block's keywords, while
        // its bytes are still in cache.
        let mut runs =
            (!self.digit_rules.is_empty()).then(|| DigitRuns::new(hay, self.min_digits).peekable());
        let mut from = 0;
        while from < hay.len() {
            let to = hay.len().min(from + BLOCK);
            let block_found = out.len();
            hits.clear();
            screens.clear();
            let gate = |start: usize, end: usize, id: u32| match self.gates.get(id as usize) {
                // The gate of most keywords, called without going through the dispatch.
                Some(&Some(Precheck::AssignedValue)) => match precheck::assignment(hay, end) {
                    Screen::Refused => false,
                    screen => {
                        screens.push(Some(screen));
                        true
                    }
                },
                Some(&Some(check)) => match check.screen(hay, start, end) {
                    Screen::Refused => false,
                    screen => {
                        screens.push(Some(screen));
                        true
                    }
                },
                _ => {
                    let admitted = self.word_gate_admits(id, hay, start);
                    if admitted {
                        screens.push(None);
                    }
                    admitted
                }
            };
            self.keywords.find(hay, from..to, &mut hits, gate);
            for (&(end, id), screen) in hits.iter().zip(&screens) {
                let keyword = self.keywords.pattern(id);
                let start = end.saturating_sub(keyword.len());
                for &r in self
                    .keyword_rules
                    .get(id as usize)
                    .into_iter()
                    .flat_map(|r| r.iter())
                {
                    let mention = (start, end, keyword);
                    self.try_keyword(
                        r as usize,
                        hay,
                        mention,
                        screen.clone(),
                        &mut out,
                        &mut caps,
                    );
                }
            }
            while let Some(run) = runs
                .as_mut()
                .and_then(|r| r.next_if(|&(start, ..)| start < to))
            {
                self.try_digit_run(hay, run, &mut out, &mut caps);
            }
            // Each block's findings sorted while in cache: the whole is then nearly in order,
            // which the final sort passes over in one run or a few.
            if let Some(found) = out.get_mut(block_found..) {
                found.sort_by_key(settle_order);
            }
            from = to;
        }
        self.settle(out)
    }

    /// Whether some rule of keyword `id` may match at its mention at `start`, as far as the
    /// keyword's [`WordGate`] can tell (it admits every mention until it is built).
    fn word_gate_admits(&self, id: u32, hay: &[u8], start: usize) -> bool {
        let Some(Some(gate)) = self.word_gates.get(id as usize) else {
            return true;
        };
        // Once built, the opening is all there is to read; the count only until then.
        let opening = match gate.opening.get() {
            Some(opening) => opening.as_ref(),
            None => {
                let seen = gate.seen.load(Ordering::Relaxed);
                if seen < OPENING_AFTER {
                    gate.seen.store(seen + 1, Ordering::Relaxed);
                    return true;
                }
                self.word_gate_opening(id)
            }
        };
        opening.is_none_or(|opening| opening.admits_at_its_keyword(hay, start, hay.len()))
    }

    /// The opening of keyword `id`'s [`WordGate`] (built on first use), if it has one.
    fn word_gate_opening(&self, id: u32) -> Option<&Opening> {
        let gate = self.word_gates.get(id as usize)?.as_ref()?;
        gate.opening
            .get_or_init(|| {
                let keyword = std::str::from_utf8(self.keywords.pattern(id)).ok()?;
                let rules = self
                    .keyword_rules
                    .get(id as usize)?
                    .iter()
                    .map(|&r| self.rules.get(r as usize))
                    .collect::<Option<Vec<&Rule>>>()?;
                Rule::joint_opening(&rules, keyword)
            })
            .as_ref()
    }

    /// Try the digit rules at a run of `digits` digits.
    fn try_digit_run(
        &self,
        hay: &[u8],
        (start, end, digits): (usize, usize, usize),
        out: &mut Vec<Finding>,
        caps: &mut Captured,
    ) {
        // Worked out on the first precheck that asks, once for all of them.
        let mut groups = None;
        for &(r, min) in &self.digit_rules {
            // A digit rule's precheck looks at the run's groups: most runs are not written the
            // way its numbers are, and need no search.
            let mut admitted = || {
                self.rules
                    .get(r)
                    .and_then(|rule| rule.spec.precheck)
                    .is_none_or(|check| {
                        let groups = groups.get_or_insert_with(|| RunGroups::of(hay, start, end));
                        check.admits_run(hay, start, groups)
                    })
            };
            if digits >= min && admitted() {
                self.try_window(r, hay, (start, end), out, caps);
            }
        }
    }

    /// Try rule `r` at a mention of `keyword` (lowercase) at `start..end`; `screened` is
    /// what the rule's precheck said about it, when the keyword's gate ran it already.
    fn try_keyword(
        &self,
        r: usize,
        hay: &[u8],
        (start, end, keyword): (usize, usize, &[u8]),
        screened: Option<Screen>,
        out: &mut Vec<Finding>,
        caps: &mut Captured,
    ) {
        let Some(rule) = self.rules.get(r) else {
            return;
        };
        // The secret a match here would have, when the precheck knows it, judged already.
        let mut judged = None;
        if let Some(check) = rule.spec.precheck {
            match screened.unwrap_or_else(|| check.screen(hay, start, end)) {
                Screen::Refused => return,
                Screen::Admitted => {}
                // Where the pattern is the assignment grammar itself, the grammar says exactly
                // whether the value is a match's secret: the regex engine is not needed.
                Screen::Value(value) if rule.is_assignment_grammar() => {
                    // The checks first: they turn away most values (`obtained`,
                    // `config.secret_ref`), the grammar few.
                    if accepts(rule, hay, start, value.clone())
                        && precheck::assignment_match(hay, end).as_ref() == Some(&value)
                    {
                        out.push(Finding {
                            start: value.start,
                            end: value.end,
                            rule: r,
                        });
                    }
                    return;
                }
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
            // A value the precheck judged is most likely a match: the opening would only
            // repeat what the precheck saw.
            if judged.is_none() && !rule.opening_admits(hay, start, limit, keyword) {
                return;
            }
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
        let window = start.saturating_sub(rule.spec.before);
        // A precheck may know where the search can begin; a match most likely starts there.
        let known = rule
            .spec
            .precheck
            .and_then(|check| check.first_match_start(hay, window, start));
        // No match starts where the pattern's lead refuses (its word boundary, first bytes): the
        // search begins at the first place the lead admits, and where there is none before the
        // candidate's end, no match covers it.
        let Some(from) = shape.lead.first_admitted(hay, known.unwrap_or(window)..end) else {
            return;
        };
        let to = hay.len().min(end + shape.max_len.max(DIGIT_RUN_TAIL));
        // A run that is a number whole is the match of that number's pattern: no search (most
        // card and social security numbers; an IBAN's run starts inside a word and is searched).
        if let Some(number) = rule.number()
            && number.is_whole(hay, from, end)
        {
            let input = Input::new(hay).span(from..to).anchored(Anchored::Yes);
            return self.capture(r, rule, input, Some(end), None, out, caps);
        }
        if !rule.may_match(&Input::new(hay).span(from..to)) {
            return;
        }
        let Some(regex) = rule.regex() else {
            return fail_closed(r, anchor, out);
        };
        let mut at = from;
        // A match most likely starts where the search begins when the precheck or the lead
        // moved it there, or where a window starts at its candidate. Either way the match found
        // is the same; this only picks the cheaper way to look.
        let mut likely_at_start = known.is_some() || from > window || rule.spec.before == 0;
        while at < to {
            let Some(m) = leftmost(regex, hay, at..to, likely_at_start) else {
                break;
            };
            likely_at_start = false;
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
            // A value the precheck judged is the secret of the match it found (what
            // `assigned-value` promises, and a property test holds it to): no groups needed.
            if let Some(value) = judged {
                return out.push(Finding {
                    start: value.start,
                    end: value.end,
                    rule: r,
                });
            }
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
        found.sort_by_key(settle_order);
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
        let fallback = |f: &Finding| self.fallbacks.get(f.rule).copied().unwrap_or(false);
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

/// The order findings are settled in: by position, then rule, then the longest first.
fn settle_order(f: &Finding) -> (usize, usize, std::cmp::Reverse<usize>) {
    (f.start, f.rule, std::cmp::Reverse(f.end))
}

/// Whether the rule's checks take `secret` in a match starting at `match_start` for one.
fn accepts(rule: &Rule, hay: &[u8], match_start: usize, secret: Range<usize>) -> bool {
    // Validators see a little of what precedes the match (a key name's prefix, such as
    // `sha256_` before a `key` keyword).
    let context = match_start.saturating_sub(VALIDATOR_CONTEXT)..secret.start;
    let (Some(value), Some(before)) = (hay.get(secret), hay.get(context)) else {
        return false;
    };
    let validator = rule.spec.validator;
    !value.is_empty()
        && rule
            .spec
            .entropy
            .is_none_or(|floor| entropy(value) >= floor)
        && validator.is_none_or(|v| v.check(value, before))
        && !(rule.spec.classification == "secret"
            && !validator.is_some_and(|v| v.rejects_placeholders())
            && is_placeholder(value))
}

/// The leftmost-first match of `regex` in `span` of `hay`. With `likely_at_start`, the pattern
/// is first tried anchored at the span's start: a match there is the leftmost one, and its start
/// is known without the reverse search an unanchored search needs to find it.
fn leftmost(
    regex: &Regex,
    hay: &[u8],
    span: Range<usize>,
    likely_at_start: bool,
) -> Option<regex_automata::Match> {
    let input = Input::new(hay).span(span.clone());
    if likely_at_start && let Some(half) = regex.search_half(&input.clone().anchored(Anchored::Yes))
    {
        return Some(regex_automata::Match::new(
            half.pattern(),
            span.start..half.offset(),
        ));
    }
    regex.search(&input)
}

/// A rule whose pattern could not be built cannot say the candidate is harmless: report it.
fn fail_closed(rule: usize, (start, end): (usize, usize), out: &mut Vec<Finding>) {
    out.push(Finding { start, end, rule });
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PII: &str = include_str!("../rules/pii.toml");

    /// The personal-data rules, with the named prechecks left out (each must be in use once).
    fn pii_without(prechecks: &[&str]) -> Scanner {
        let stripped: String = PII
            .lines()
            .filter(|l| !l.starts_with("precheck =") || !prechecks.iter().any(|p| l.contains(p)))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            PII.lines().count() - stripped.lines().count(),
            prechecks.len()
        );
        let mut set = RuleSet::default();
        set.add_toml("pii.toml", &stripped).unwrap();
        Scanner::new(&set).unwrap()
    }

    /// The personal-data rules, with their digit-run prechecks (`with`) and without (`without`).
    fn pii_scanners() -> (Scanner, Scanner) {
        let without = pii_without(&[
            "plus-lead",
            "ssn-groups",
            "nanp-groups",
            "trunk-groups",
            "iban-lead",
        ]);
        (pii_without(&[]), without)
    }

    /// Text of numbers as people write them: groups of mostly two to four digits (some led by
    /// the trunk `0`), joined by the separators digit runs allow, with `+`, letters and spaces
    /// between them.
    fn numbers() -> impl Strategy<Value = Vec<u8>> {
        let group = (
            prop::sample::select(vec![1usize, 2, 2, 3, 3, 3, 4, 4, 4, 5, 6]),
            any::<u64>(),
            any::<bool>(),
        )
            .prop_map(|(n, seed, trunk)| {
                (0..n)
                    .map(|i| {
                        if i == 0 && trunk {
                            b'0'
                        } else {
                            b'0' + ((seed >> (4 * i)) % 10) as u8
                        }
                    })
                    .collect::<Vec<u8>>()
            });
        let joint = prop::sample::select(vec![
            &b" "[..],
            b"-",
            b"-",
            b" ",
            b".",
            b"/",
            b"(",
            b")",
            b") ",
            b" (",
            b"+",
            b"  ",
            b"\n",
            b"x",
            b"DE",
            b"tel ",
            // IBANs with valid check digits, spaced and compact, so the IBAN rule finds some.
            b" DE89 3704 0044 0532 0130 00",
            b"GB82WEST12345698765432 ",
            b" GB82 WEST 1234 5698 7654 32",
            b"NL91ABNA0417164300",
            b" FR14 2004 1010 0505 0001 3M02 606 ",
        ])
        .prop_map(<[u8]>::to_vec);
        prop::collection::vec((group, joint), 1..12).prop_map(|parts| {
            parts
                .into_iter()
                .flat_map(|(g, j)| g.into_iter().chain(j))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// The digit-run prechecks (`plus-lead`, `ssn-groups`, `nanp-groups`, `trunk-groups`,
        /// `iban-lead`)
        /// only spare pattern searches: with them and without them, the personal-data rules
        /// find the same things.
        #[test]
        fn digit_run_prechecks_lose_no_finding(hay in numbers()) {
            let (with, without) = pii_scanners();
            prop_assert_eq!(with.scan(&hay), without.scan(&hay), "{:?}", String::from_utf8_lossy(&hay));
        }

        /// Trying a pattern anchored at a window's start first finds the match an unanchored
        /// search finds, and the pattern's lead admits a place at or before it, for every
        /// personal-data rule and every place a window could start.
        #[test]
        fn anchored_first_finds_the_leftmost_match(hay in numbers()) {
            let (scanner, _) = pii_scanners();
            for rule in scanner.rules() {
                let (regex, shape) = (rule.regex().unwrap(), rule.shape().unwrap());
                for at in 0..hay.len() {
                    let found = leftmost(regex, &hay, at..hay.len(), false);
                    prop_assert_eq!(
                        leftmost(regex, &hay, at..hay.len(), true),
                        found,
                        "{} at {} in {:?}", rule.spec.id, at, String::from_utf8_lossy(&hay)
                    );
                    // A window's search begins where the lead first admits: before any match.
                    if let Some(m) = found {
                        prop_assert!(
                            shape.lead.first_admitted(&hay, at..hay.len()).is_some_and(|p| p <= m.start()),
                            "{} at {} in {:?}", rule.spec.id, at, String::from_utf8_lossy(&hay)
                        );
                    }
                }
            }
        }
    }

    /// The generator above reaches what the prechecks guard: among a few thousand of its
    /// texts, each of the five rules finds something (else the property would prove little).
    #[test]
    fn numbers_text_reaches_every_digit_precheck() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let (with, _) = pii_scanners();
        let mut runner = TestRunner::deterministic();
        let mut seen = std::collections::BTreeMap::<String, usize>::new();
        for _ in 0..4000 {
            let hay = numbers().new_tree(&mut runner).unwrap().current();
            for f in with.scan(&hay) {
                *seen
                    .entry(with.rule(&f).unwrap().id().to_owned())
                    .or_default() += 1;
            }
        }
        for id in [
            "phone-e164",
            "phone-north-america",
            "phone-national-trunk",
            "us-ssn",
            "iban",
        ] {
            assert!(
                seen.get(id).is_some_and(|&n| n > 0),
                "{id} never found: {seen:?}"
            );
        }
    }

    /// Addresses and what borders them: local parts and domains of every allowed byte, chains
    /// that share bytes (`x@ab.cd@ef.gh`), runs longer than a local part may be, `@` alone.
    fn mail_text() -> impl Strategy<Value = Vec<u8>> {
        let pieces: &[&str] = &[
            "ann",
            "b.c",
            "x_y",
            "%",
            "+",
            "-",
            ".",
            "@",
            "@@",
            " ",
            "\n",
            "mail ",
            "acme-corp.io",
            "mail.acme-corp.com",
            "io",
            "x",
            "0",
            "é",
            ",",
            "<",
            ">",
            "a1234567890b1234567890c1234567890d1234567890e1234567890f1234567890",
        ];
        prop::collection::vec(prop::sample::select(pieces.to_vec()), 0..24)
            .prop_map(|p| p.concat().into_bytes())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The `email-at` precheck (the `@` gate and the window it starts at the address's
        /// local part) loses no address: the personal-data rules find the same with it and
        /// without it.
        #[test]
        fn email_at_loses_no_finding(hay in mail_text()) {
            prop_assert_eq!(
                pii_without(&[]).scan(&hay),
                pii_without(&["\"email-at\""]).scan(&hay),
                "{:?}", String::from_utf8_lossy(&hay)
            );
        }
    }

    /// Text made of the keywords of prechecked rules, assignments, values, addresses and URLs
    /// with credentials: mentions that the keyword gates refuse and admit, side by side.
    fn gated_text() -> impl Strategy<Value = Vec<u8>> {
        let pieces: &[&str] = &[
            "token",
            "API_KEY",
            "password",
            "secret_",
            "credential",
            "@",
            "://",
            " = ",
            ": ",
            "=",
            "\"",
            " ",
            "\n",
            "Zx8qL2mNp4Rt7vWy9KcD",
            "h7Gk2pQw9xLm4Rt",
            "get_token()",
            "alice",
            "acme-corp.io",
            "https",
            "deploy:q8Z2mW9kL4pX",
            "Bearer ",
            "x",
        ];
        prop::collection::vec(prop::sample::select(pieces.to_vec()), 0..24)
            .prop_map(|p| p.concat().into_bytes())
    }

    fn ungated(scanner: &Scanner) -> Scanner {
        let mut ungated = scanner.clone();
        ungated.gates.iter_mut().for_each(|g| *g = None);
        ungated
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A keyword's gate turns away only mentions its rules would: every finding of the
        /// built-in rules is found with the gates as without them.
        #[test]
        fn keyword_gates_lose_no_finding(hay in gated_text()) {
            let scanner = Scanner::builtin().unwrap();
            prop_assert_eq!(scanner.scan(&hay), ungated(&scanner).scan(&hay));
        }
    }

    #[test]
    fn keyword_gates_are_shared_prechecks() {
        let scanner = Scanner::builtin().unwrap();
        let gate = |keyword: &str| {
            let id = scanner
                .keywords
                .patterns()
                .iter()
                .position(|p| **p == *keyword.as_bytes())
                .unwrap();
            scanner.gates[id]
        };
        assert_eq!(gate("token"), Some(Precheck::AssignedValue));
        assert_eq!(gate("@"), Some(Precheck::EmailAt));
        // `bearer` triggers rules without a precheck: no gate.
        assert_eq!(gate("bearer"), None);
        let hay = b"password = Zx8qL2mNp4Rt7vWy9KcD, mail alice@acme-corp.io, \
            https://deploy:q8Z2mW9kL4pX@git.acme-corp.io";
        assert_eq!(scanner.scan(hay).len(), 3);
        assert_eq!(scanner.scan(hay), ungated(&scanner).scan(hay));
    }

    /// Digit runs are taken a block at a time, after each block's keywords: a number across a
    /// block's end is found whole, wherever it falls.
    #[test]
    fn numbers_across_a_block_boundary() {
        let scanner = Scanner::builtin().unwrap();
        let number = b"card 4111 1111 1111 1111 and SSN 568-94-6025.";
        for shift in (0..number.len()).step_by(3) {
            let mut hay = vec![b' '; BLOCK - shift];
            let at = hay.len();
            hay.extend_from_slice(number);
            hay.extend_from_slice(&[b' '; 100]);
            let found: Vec<_> = scanner
                .scan(&hay)
                .into_iter()
                .map(|f| {
                    (
                        f.start - at,
                        f.end - at,
                        scanner.rules[f.rule].id().to_owned(),
                    )
                })
                .collect();
            let alone: Vec<_> = scanner
                .scan(number)
                .into_iter()
                .map(|f| (f.start, f.end, scanner.rules[f.rule].id().to_owned()))
                .collect();
            assert_eq!(
                found, alone,
                "number at {shift} bytes before the block's end"
            );
            assert_eq!(alone.len(), 2, "{alone:?}");
        }
    }

    /// A scanner's rules build their openings once tried often enough; findings are the same
    /// before and after, the openings' refusals included.
    #[test]
    fn findings_do_not_change_when_openings_are_built() {
        let scanner = Scanner::builtin().unwrap();
        let text = b"Authorization uses a bearer token obtained from the provider. \
            Authorization: Bearer 8fK2mQ7xL4pWz9Rt3vYb6nHc\nSSN when asked; SSN: 512345678\n\
            api_key = \"j3tZg2nAH0v6HocIZkslIvh9\" api_key = \"fw_RUrB4KMviYWQo65dR5AGpDsS\"\n";
        let ids = |found: Vec<Finding>| -> Vec<(usize, usize, String)> {
            found
                .into_iter()
                .map(|f| (f.start, f.end, scanner.rules[f.rule].id().to_owned()))
                .collect()
        };
        let first = ids(scanner.scan(text));
        for id in ["http-bearer-token", "fireworks-api-key", "us-ssn-labelled"] {
            assert!(first.iter().any(|f| f.2 == id), "{id} in {first:?}");
        }
        // Each scan tries every rule a few times: past the count, all of them have openings.
        for _ in 0..crate::rule::OPENING_AFTER {
            assert_eq!(ids(scanner.scan(text)), first);
        }
        let rule = |id: &str| scanner.rules.iter().find(|r| r.id() == id).unwrap();
        assert!(rule("http-bearer-token").opening().is_some());
        assert!(rule("us-ssn-labelled").opening().is_some());
    }

    /// The built-in scanner with every keyword's gate built, as after long use, and the same
    /// without gates.
    fn gate_scanners() -> &'static (Scanner, Scanner) {
        static SCANNERS: std::sync::OnceLock<(Scanner, Scanner)> = std::sync::OnceLock::new();
        SCANNERS.get_or_init(|| {
            let gated = Scanner::builtin().unwrap();
            for gate in gated.word_gates.iter().flatten() {
                gate.seen.store(OPENING_AFTER, Ordering::Relaxed);
            }
            let mut open = Scanner::builtin().unwrap();
            open.word_gates = open.word_gates.iter().map(|_| None).collect();
            (gated, open)
        })
    }

    #[test]
    fn keyword_gates_turn_away_mentions_no_rule_could_match_from() {
        let (gated, _) = gate_scanners();
        let id = |keyword: &str| {
            let ids = gated
                .keywords
                .patterns()
                .iter()
                .position(|p| **p == *keyword.as_bytes());
            u32::try_from(ids.unwrap()).unwrap()
        };
        for (keyword, text, admitted) in [
            ("bearer", "bearer token obtained from", false),
            ("bearer", "Bearer 8fK2mQ7xL4pWz9Rt3vYb6nHc", true),
            ("bearer", "bearer fw_RUrB4KMviYWQo65dR5AGpDsS", true),
            ("authorization", "Authorization uses a bearer", false),
            (
                "authorization",
                "authorization: Bot Nky88BV8_luteLKWMFmkkBTD",
                true,
            ),
            ("ssn", "SSN when asked", false),
            ("ssn", "SSN: 512345678", true),
            ("secret_", "secret_name = config.secret_ref", false),
            ("secret_", "SECRET_name = config.secret_ref", false),
            ("secret_", &format!("secret_{}", "a1".repeat(22)), true),
        ] {
            let id = id(keyword);
            assert!(gated.word_gate_opening(id).is_some(), "{keyword}");
            assert_eq!(
                gated.word_gate_admits(id, text.as_bytes(), 0),
                admitted,
                "{text}"
            );
        }
        // A keyword with a rule tried over a window, or whose rules share a precheck (which is
        // its gate), has none of these.
        assert!(gated.word_gates[id("@") as usize].is_none());
        assert!(gated.word_gates[id("token") as usize].is_none());
        // A rule whose pattern is no longer than an opening (AWS key ids) makes none: it would
        // walk every match whole before the pattern searched it again.
        assert!(gated.word_gates[id("akia") as usize].is_some());
        assert!(gated.word_gate_opening(id("akia")).is_none());
        // A gate without an opening admits every mention.
        assert!(gated.word_gate_admits(id("akia"), b"akia", 0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Findings are the same with the keyword gates as without, on examples of the rules
        /// gated keywords trigger, altered, after prose that mentions such keywords.
        #[test]
        fn keyword_gates_change_no_finding(
            pick in any::<prop::sample::Index>(),
            edits in crate::lead::tests::edits(),
            prose in prop::sample::select(vec![
                "",
                "Authorization uses a bearer token obtained from the identity provider. ",
                "Enter the last four digits of your SSN when asked.\n",
                "secret_name = config.secret_ref\n",
            ]),
        ) {
            let (gated, open) = gate_scanners();
            // The scanner's rules are loaded without their examples.
            static RULES: std::sync::LazyLock<RuleSet> =
                std::sync::LazyLock::new(|| RuleSet::builtin().unwrap());
            let gated_rule = |id: &str| {
                let r = gated.rules.iter().position(|rule| rule.id() == id);
                let r = r.and_then(|r| u32::try_from(r).ok());
                gated.keyword_rules.iter().zip(gated.word_gates.iter())
                    .any(|(rules, gate)| gate.is_some() && r.is_some_and(|r| rules.contains(&r)))
            };
            let examples: Vec<&String> = RULES
                .rules()
                .iter()
                .filter(|rule| gated_rule(rule.id()))
                .flat_map(|rule| &rule.spec.examples)
                .collect();
            prop_assert!(examples.len() > 100, "{}", examples.len());
            let mut text = prose.as_bytes().to_vec();
            text.extend(crate::lead::tests::altered(pick.get(&examples).as_str(), &edits));
            prop_assert_eq!(gated.scan(&text), open.scan(&text), "{:?}", String::from_utf8_lossy(&text));
        }
    }

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

    /// The generic rule's pattern is the assignment grammar, which then decides its findings
    /// without the regex engine: a value the precheck finds, and the credential check would
    /// take, is still not one where the pattern's separator, name or quotes rule it out.
    #[test]
    fn the_assignment_grammar_decides_the_generic_rule() {
        let scanner = Scanner::builtin().unwrap();
        let generic = |text: &str| -> Vec<String> {
            scanner
                .scan(text.as_bytes())
                .iter()
                .filter(|f| scanner.rule(f).unwrap().id() == "generic-credential-assignment")
                .map(|f| text[f.start..f.end].to_owned())
                .collect()
        };
        assert_eq!(
            generic("token = Zx8qL2mNp4Rt7vWy9KcD"),
            ["Zx8qL2mNp4Rt7vWy9KcD"]
        );
        assert_eq!(
            generic("TOKEN := 'Zx8qL2mNp4Rt7vWy9KcD';"),
            ["Zx8qL2mNp4Rt7vWy9KcD"]
        );
        let long_name = format!("token{} = Zx8qL2mNp4Rt7vWy9KcD", "_a".repeat(17));
        for near in [
            "token :: Zx8qL2mNp4Rt7vWy9KcD",
            "token` = Zx8qL2mNp4Rt7vWy9KcD",
            "token = =Zx8qL2mNp4Rt7vWy9KcD",
            &long_name,
        ] {
            assert_eq!(generic(near), Vec::<String>::new(), "{near}");
        }
    }

    /// The personal-data rules as shipped (the card and social security number patterns
    /// recognised as numbers a run can be whole), and with those patterns written another way
    /// that matches the same (a greedy `{11,17}` and an optional last group; `\d\d` for `\d{2}`),
    /// which is not recognised and so is searched for at every run.
    fn number_scanners() -> &'static (Scanner, Scanner) {
        static SCANNERS: std::sync::OnceLock<(Scanner, Scanner)> = std::sync::OnceLock::new();
        SCANNERS.get_or_init(|| {
            let card = r"\b(?P<secret>\d(?:[ \-]?\d){11,18})\b";
            let ssn = r"\b(?P<secret>\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4})\b";
            assert!(PII.contains(card) && PII.contains(ssn));
            let other = PII
                .replace(card, r"\b(?P<secret>\d(?:[ \-]?\d){11,17}(?:[ \-]?\d)?)\b")
                .replace(ssn, r"\b(?P<secret>\d{3}-\d\d-\d{4}|\d{3} \d\d \d{4})\b");
            let scanner = |toml: &str| {
                let mut set = RuleSet::default();
                set.add_toml("pii.toml", toml).unwrap();
                Scanner::new(&set).unwrap()
            };
            (scanner(PII), scanner(&other))
        })
    }

    /// Numbers at the edges of what each recognised pattern takes whole, found the same with and
    /// without the search: a group more than the pattern allows, a separator it does not allow,
    /// separators that differ.
    #[test]
    fn numbers_at_the_edges_are_found_as_the_search_finds_them() {
        let (shipped, searched) = number_scanners();
        for text in [
            "card 4111 1111 1111 1111 now",
            "card 4111 1111 1111 1111 1 now",
            "card 4111 1111 1111 1111 111 now",
            "card 4111.1111.1111.1111 now",
            "card 4111 1111-1111 1111 now",
            "SSN 536-22-8741 now",
            "SSN 536-22-8741-1 now",
            "SSN 536 22-8741 now",
            "SSN 536/22/8741 now",
        ] {
            assert_eq!(
                shipped.scan(text.as_bytes()),
                searched.scan(text.as_bytes()),
                "{text}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Card and social security numbers found without a search where a run is one whole
        /// are the numbers the patterns' search finds.
        #[test]
        fn a_run_that_is_a_number_whole_is_the_searchs_match(
            pieces in prop::collection::vec(
                prop_oneof![
                    3 => "[0-9]{1,6}",
                    2 => prop::sample::select(vec![" ", "-", ".", "/", "(", ")", "+", "  ", " - "]).prop_map(str::to_owned),
                    1 => "[a-zA-Z_]{1,3}",
                    1 => Just("4111 1111 1111 1111".to_owned()),
                    1 => Just("5500-0000-0000-0004".to_owned()),
                    1 => Just("536-22-8741".to_owned()),
                    1 => Just("412 58 3096".to_owned()),
                    1 => Just("536-22 8741".to_owned()),
                ],
                0..24,
            ),
        ) {
            let hay = pieces.concat();
            let (shipped, searched) = number_scanners();
            for id in ["payment-card-number", "us-ssn"] {
                let rule = |s: &Scanner| s.rules().iter().find(|r| r.id() == id).unwrap().number();
                prop_assert!(rule(shipped).is_some(), "{id}");
                prop_assert!(rule(searched).is_none(), "{id}");
            }
            prop_assert_eq!(shipped.scan(hay.as_bytes()), searched.scan(hay.as_bytes()), "{:?}", hay);
        }
    }
}
