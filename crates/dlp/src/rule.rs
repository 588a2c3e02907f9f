//! Detectors as data: the rule file format (TOML), its checks, and compiled rules.
//!
//! A rule names what it finds (`id`, `name`, `classification`), how candidates are found cheaply
//! (`keywords` for the literal prefilter, or `digits` for runs of digits), the pattern that
//! decides, and what a match must also satisfy (`entropy` floor, `validator`). Every rule carries
//! examples that must match and counterexamples that must not; [`RuleSet::check_examples`] runs
//! them. See `docs/dlp.md` for the reference.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use regex_automata::meta::Regex;
use regex_automata::util::syntax;
use regex_syntax::hir::{Hir, HirKind};
use serde::Deserialize;

use crate::digits;
use crate::lead::Lead;
use crate::opening::Opening;
use crate::precheck::{self, Precheck};
use crate::validate::Validator;

/// The longest match a rule may describe, in bytes: it bounds the window searched around each
/// candidate and the overlap a stream keeps between chunks.
pub const MAX_MATCH_LEN: usize = 16 * 1024;

/// Why rules could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {}{message}", rule.as_ref().map(|r| format!("rule `{r}`: ")).unwrap_or_default())]
pub struct RuleError {
    /// The file (or built-in set) the rule came from.
    pub source_name: String,
    /// The rule's id, when the problem is in one rule.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Text of a rule: borrowed from the binary for the built-in rules (a scan's start-up copies
/// nothing), owned for rules loaded from files.
pub type Text = Cow<'static, str>;

/// A rule as written in a rule file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable identifier, lowercase kebab-case, unique across all loaded rules.
    pub id: Text,
    /// Human name.
    pub name: Text,
    /// What the finding is, e.g. `secret`, `pii:card`, `label:confidential`.
    pub classification: Text,
    /// Grouping for reports.
    #[serde(default)]
    pub category: Option<Text>,
    /// Longer explanation.
    #[serde(default)]
    pub description: Option<Text>,
    /// Literals (ASCII case-insensitive) at which the pattern is tried.
    #[serde(default)]
    pub keywords: Cow<'static, [Text]>,
    /// Instead of keywords: try the pattern at every run of at least this many digits.
    #[serde(default)]
    pub digits: Option<usize>,
    /// How far before its keyword (or digit run) a match may start, in bytes.
    #[serde(default)]
    pub before: usize,
    /// The pattern (Rust regex syntax, ASCII mode, bounded length).
    pub pattern: Text,
    /// Minimum Shannon entropy (bits per byte) of the secret.
    #[serde(default)]
    pub entropy: Option<f64>,
    /// A check the match must pass.
    #[serde(default)]
    pub validator: Option<Validator>,
    /// A cheap check of the bytes around a keyword before the pattern runs there.
    #[serde(default)]
    pub precheck: Option<Precheck>,
    /// A fallback detector: its findings give way to other rules' findings they overlap.
    #[serde(default)]
    pub fallback: bool,
    /// Texts that must produce a finding of this rule.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Texts that must not.
    #[serde(default)]
    pub counterexamples: Vec<String>,
    /// Where the format is documented.
    #[serde(default)]
    pub references: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

/// How candidates for a rule are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// At each occurrence of one of these lowercase literals.
    Keywords(Cow<'static, [Text]>),
    /// At each run of at least this many digits.
    Digits(usize),
}

impl Trigger {
    /// The keywords, lowercase (none for a digit rule).
    pub fn keywords(&self) -> &[Text] {
        match self {
            Self::Keywords(keywords) => keywords,
            Self::Digits(_) => &[],
        }
    }
}

/// A rule as written: borrowed from the binary for the built-in rules a scan loads (nothing
/// copied at start-up), shared for rules loaded from files.
#[derive(Clone)]
pub enum SpecRef {
    /// A built-in rule's static data.
    Builtin(&'static RuleSpec),
    /// A rule loaded from a file or made at run time.
    Loaded(Arc<RuleSpec>),
}

impl std::ops::Deref for SpecRef {
    type Target = RuleSpec;

    fn deref(&self) -> &RuleSpec {
        match self {
            Self::Builtin(s) => s,
            Self::Loaded(s) => s,
        }
    }
}

impl std::fmt::Debug for SpecRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        RuleSpec::fmt(self, f)
    }
}

/// A checked, compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule as written.
    pub spec: SpecRef,
    /// Where candidates come from.
    pub trigger: Trigger,
    /// What is worked out on first use, shared by the rule's clones (one allocation).
    lazy: Arc<Lazy>,
    /// Where it came from (a rule file, `builtin:<file>`, `--marking`).
    source: Text,
}

/// A rule's parts worked out on first use.
#[derive(Debug, Default)]
struct Lazy {
    /// Compiled on first use: most rules never meet a candidate in most inputs, and compiling
    /// all of them would dominate the start-up of short scans. `None` if building failed
    /// (the syntax was checked at load; scans treat it as a match, failing closed).
    regex: OnceLock<Option<Regex>>,
    /// The pattern with its long counted repetitions left open ([`relaxed`]), compiled on
    /// first use; `None` when it has none (or could not be built): searches use `regex`.
    relaxed: OnceLock<Option<Regex>>,
    /// What the pattern's syntax tree says, worked out at load for rules from files and on
    /// first use for the built-in ones (parsing 415 patterns costs ~12 ms, too much for a
    /// hook's start-up; a test checks every built-in rule at load).
    shape: OnceLock<Result<Shape, String>>,
    /// The pattern's first bytes as a small DFA ([`Opening`]), built once the rule has been
    /// tried [`OPENING_AFTER`] times; `None` when it could not be built cheaply (the pattern
    /// then decides alone).
    opening: OnceLock<Option<Opening>>,
    /// The grammar the pattern is, if it is one the scanner decides without the regex engine
    /// (worked out on first use; see [`Grammar`]).
    grammar: OnceLock<Option<Grammar>>,
    /// How often the rule was tried at a keyword before its opening was built (shared by the
    /// scans of a scanner, counted without synchronising: a count lost to a race only delays
    /// the build).
    tries: AtomicU32,
}

/// Tries at a keyword before a rule builds its opening. Building one takes 0.1–1 ms and each
/// mention it turns away spares ~0.1 µs, so an opening pays only for rules tried thousands of
/// times (a scanner that runs for long, or a large input); built on first use, the openings
/// of the rules a 4 MB documentation set mentions cost a whole-program scan of it ~4 ms.
pub(crate) const OPENING_AFTER: u32 = 1024;

/// A pattern the scanner can decide without the regex engine, recognised by comparing the
/// rule's syntax tree with the one the grammar generates (a rule file whose pattern differs in
/// any way keeps the regex).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grammar {
    /// [`precheck::assignment_grammar`] for the rule's keywords.
    Assignment,
    /// A [`digits::Number`]'s grammar.
    Number(digits::Number),
}

/// What a rule's pattern looks like, from its syntax tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Capture group index of the secret (`secret`), or 0 for the whole match.
    pub(crate) secret_group: usize,
    /// The secret is the whole match (no group, or a `secret` group around all but
    /// zero-width assertions): no capture groups needed to find it.
    pub(crate) secret_is_match: bool,
    /// Longest possible match, in bytes.
    pub(crate) max_len: usize,
    /// What every match starts with.
    pub(crate) lead: Lead,
}

impl Shape {
    fn of(pattern: &str) -> Result<Self, String> {
        let hir = parse(pattern)?;
        let max_len = max_len(&hir)?;
        let secret_group = secret_group(&hir).map_or(0, |i| i as usize);
        Ok(Self {
            secret_group,
            secret_is_match: secret_group == 0 || secret_spans_match(&hir),
            max_len,
            lead: Lead::of(&hir),
        })
    }
}

/// How rules are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Analyse {
    /// Patterns analysed at load, so a bad pattern is refused with its file and rule.
    Now,
    /// Patterns analysed on first use: the built-in rules, checked by the test suite.
    OnUse,
    /// As `OnUse`, and the rules come without examples, counterexamples and references (a scan
    /// does not read them); the test suite checks the built-in rules have them.
    OnUseForScanning,
}

impl Rule {
    /// The rule's id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// The rule's classification.
    pub fn classification(&self) -> &str {
        &self.spec.classification
    }

    /// The pattern's shape, or `None` if it cannot be analysed (never for a checked rule; scans
    /// then fail closed).
    pub(crate) fn shape(&self) -> Option<&Shape> {
        self.lazy
            .shape
            .get_or_init(|| Shape::of(&self.spec.pattern))
            .as_ref()
            .ok()
    }

    /// The compiled pattern (built on first use).
    pub(crate) fn regex(&self) -> Option<&Regex> {
        self.lazy
            .regex
            .get_or_init(|| build_regex(&self.spec.pattern).ok())
            .as_ref()
    }

    /// Whether the pattern may match in `input`: `false` only when its open form
    /// ([`Rule::relaxed`]) finds nothing there, so the exact pattern, slow to build, need not be.
    pub(crate) fn may_match(&self, input: &regex_automata::Input<'_>) -> bool {
        self.relaxed()
            .is_none_or(|open| open.search_half(input).is_some())
    }

    /// Whether a match may start at `start` and end by `end`, by the pattern's opening once the
    /// rule has been tried often enough to build it: `false` only where no match can, so the
    /// pattern need not run there.
    /// `keyword` is the mention's keyword, lowercase, that starts at `start`.
    pub(crate) fn opening_admits(
        &self,
        hay: &[u8],
        start: usize,
        end: usize,
        keyword: &[u8],
    ) -> bool {
        let tries = self.lazy.tries.load(Ordering::Relaxed);
        if tries < OPENING_AFTER {
            self.lazy.tries.store(tries + 1, Ordering::Relaxed);
            return true;
        }
        self.opening()
            .is_none_or(|opening| opening.admits_at(hay, start, end, keyword))
    }

    /// Whether the rule's pattern is [`precheck::assignment_grammar`] for its keywords, with
    /// `precheck = "assigned-value"` and no `before`, and no keyword begins another (so at a
    /// mention only that keyword can start a match). Then [`precheck::assignment_match`] says
    /// exactly what the pattern's anchored search there would, and the regex engine need not
    /// confirm a value the precheck found (a property test holds the two equal).
    pub(crate) fn is_assignment_grammar(&self) -> bool {
        self.grammar() == Some(Grammar::Assignment)
    }

    /// For a digit rule without `before` whose pattern is a [`digits::Number`]'s grammar: that
    /// number. A digit run that is such a number whole is then its own match
    /// ([`digits::Number::is_whole`]), and the pattern need not search for it (a test holds the
    /// findings to those of the same patterns written so that they are not recognised).
    pub(crate) fn number(&self) -> Option<digits::Number> {
        match self.grammar()? {
            Grammar::Number(number) => Some(number),
            Grammar::Assignment => None,
        }
    }

    /// The grammar the pattern is, if any (see [`Rule::is_assignment_grammar`] and
    /// [`Rule::number`] for what each asks of the rule besides its pattern).
    fn grammar(&self) -> Option<Grammar> {
        *self.lazy.grammar.get_or_init(|| {
            if self.spec.before != 0 {
                return None;
            }
            let hir = parse(&self.spec.pattern).ok()?;
            let same = |grammar: String| parse(&grammar).is_ok_and(|g| g == hir);
            match &self.trigger {
                Trigger::Keywords(keywords) => {
                    let begins_another = keywords.iter().any(|a| {
                        keywords
                            .iter()
                            .any(|b| a.len() < b.len() && b.as_bytes().starts_with(a.as_bytes()))
                    });
                    (self.spec.precheck == Some(Precheck::AssignedValue)
                        && !keywords.is_empty()
                        && !begins_another
                        && same(precheck::assignment_grammar(keywords)))
                    .then_some(Grammar::Assignment)
                }
                Trigger::Digits(_) => {
                    let number = digits::Number::read(&hir)?;
                    same(number.grammar()).then_some(Grammar::Number(number))
                }
            }
        })
    }

    /// The pattern's opening (built on first use), if it has one.
    pub(crate) fn opening(&self) -> Option<&Opening> {
        self.lazy
            .opening
            .get_or_init(|| {
                let lead_len = self.shape().map_or(0, |shape| shape.lead.len());
                Opening::of(&parse(&self.spec.pattern).ok()?, lead_len)
                    .map(|opening| opening.skipping(&self.spec.keywords))
            })
            .as_ref()
    }

    /// An opening for all of `rules` at once, tried at a mention of `keyword` (one of each
    /// rule's, lowercase): it admits wherever one of the rules' own openings would, so where it
    /// refuses, none of their patterns can match from the keyword's start. `None` where a pattern
    /// does not parse, or the opening would be too large ([`Opening::of_any`]).
    pub(crate) fn joint_opening(rules: &[&Rule], keyword: &str) -> Option<Opening> {
        let patterns = rules
            .iter()
            .map(|rule| parse(&rule.spec.pattern).ok())
            .collect::<Option<Vec<Hir>>>()?;
        Opening::of_any(&patterns).map(|opening| opening.skipping(&[keyword]))
    }

    /// A cheap first look for a match where the pattern's exact form is slow to build: the
    /// pattern with repetitions of more than [`RELAX_ABOVE`] left open (`{64,12000}` as
    /// `{64,}`). It matches everything the pattern matches, and more, so it can only say where
    /// no match is; `None` when the pattern has no such repetition.
    pub(crate) fn relaxed(&self) -> Option<&Regex> {
        self.lazy
            .relaxed
            .get_or_init(|| {
                let hir = parse(&self.spec.pattern).ok()?;
                let open = relax(&hir)?;
                Regex::builder().build_from_hir(&open).ok()
            })
            .as_ref()
    }

    fn compile(spec: SpecRef, source: Text, analyse: Analyse) -> Result<Self, RuleError> {
        let fail = |message: String| RuleError {
            source_name: source.to_string(),
            rule: Some(spec.id.to_string()),
            message,
        };
        // The built-in scan table is the built-in rule files' data, which load with every check
        // (a test compares the two): a hook's start-up need not check the text again.
        let check_text = analyse != Analyse::OnUseForScanning;
        if check_text && !is_kebab(&spec.id) {
            return Err(fail(
                "`id` must be lowercase kebab-case (letters, digits, single dashes)".into(),
            ));
        }
        if check_text && spec.name.trim().is_empty() {
            return Err(fail("`name` is empty".into()));
        }
        if check_text && !is_classification(&spec.classification) {
            return Err(fail(format!(
                "`classification` `{}` must be lowercase words joined by `:`, e.g. `secret` or `pii:card`",
                spec.classification
            )));
        }
        let trigger = match (spec.keywords.is_empty(), spec.digits) {
            (false, None) => {
                if let Some(k) = spec
                    .keywords
                    .iter()
                    .find(|k| check_text && (k.trim() != **k || k.is_empty()))
                {
                    return Err(fail(format!(
                        "keyword `{k}` is empty or has surrounding spaces"
                    )));
                }
                let lowercase = spec
                    .keywords
                    .iter()
                    .all(|k| !k.bytes().any(|b| b.is_ascii_uppercase()));
                Trigger::Keywords(match &spec.keywords {
                    // The built-in table's own slice: nothing to copy.
                    Cow::Borrowed(static_keywords) if lowercase => Cow::Borrowed(*static_keywords),
                    keywords => Cow::Owned(
                        keywords
                            .iter()
                            .map(|k| Cow::Owned(k.to_ascii_lowercase()))
                            .collect(),
                    ),
                })
            }
            (true, Some(n)) if (1..=64).contains(&n) => Trigger::Digits(n),
            (true, Some(n)) => return Err(fail(format!("`digits` is {n}; it must be 1 to 64"))),
            (true, None) => {
                return Err(fail(
                    "give `keywords` (literals the prefilter finds) or `digits` (a digit-run trigger)"
                        .into(),
                ));
            }
            (false, Some(_)) => return Err(fail("give `keywords` or `digits`, not both".into())),
        };
        match spec.precheck {
            Some(p) if p.on_digit_runs() && spec.digits.is_none() => {
                return Err(fail(
                    "this `precheck` looks at a digit run: it needs `digits`, not `keywords`"
                        .into(),
                ));
            }
            Some(p) if !p.on_digit_runs() && spec.digits.is_some() => {
                return Err(fail(
                    "this `precheck` looks around a keyword: it needs `keywords`, not `digits`"
                        .into(),
                ));
            }
            _ => {}
        }
        if spec.precheck == Some(Precheck::AssignedValue) && spec.before > 0 {
            return Err(fail(
                "`precheck = \"assigned-value\"` judges the value after the keyword before the pattern runs there: it needs `before = 0`".into(),
            ));
        }
        if spec.before > MAX_MATCH_LEN {
            return Err(fail(format!("`before` is larger than {MAX_MATCH_LEN}")));
        }
        if let Some(e) = spec.entropy
            && !(0.0..=8.0).contains(&e)
        {
            return Err(fail(format!(
                "`entropy` is {e}; bits per byte lie between 0 and 8"
            )));
        }
        let lazy = Lazy::default();
        if analyse == Analyse::Now {
            let _ = lazy.shape.set(Ok(Shape::of(&spec.pattern).map_err(fail)?));
        }
        if analyse != Analyse::OnUseForScanning
            && (spec.examples.is_empty() || spec.counterexamples.is_empty())
        {
            return Err(fail(
                "every rule needs `examples` (must match) and `counterexamples` (must not)".into(),
            ));
        }
        Ok(Self {
            source,
            spec,
            trigger,
            lazy: Arc::new(lazy),
        })
    }
}

/// The syntax every pattern is compiled with: ASCII semantics, matching arbitrary bytes.
fn ascii_bytes() -> syntax::Config {
    syntax::Config::new().unicode(false).utf8(false)
}

/// Compile a rule's pattern.
/// Without a literal prefilter: a rule's pattern runs anchored at a keyword or over a window of
/// a few hundred bytes around a candidate, where setting a prefilter up costs more than it
/// skips (and building one costs start-up time too).
fn build_regex(pattern: &str) -> Result<Regex, String> {
    Regex::builder()
        .syntax(ascii_bytes())
        .configure(Regex::config().auto_prefilter(false))
        .build(pattern)
        .map_err(|e| format!("`pattern`: {e}"))
}

fn parse(pattern: &str) -> Result<Hir, String> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|e| format!("`pattern`: {e}"))
}

/// Counted repetitions allowing more than this many further copies are left open in a rule's
/// [`Rule::relaxed`] form. The compiler writes out every copy of a counted repetition: a
/// private-key block's `[A-Za-z0-9+/=\s]{64,12000}` took 9–16 ms to build; open, well under one.
const RELAX_ABOVE: u32 = 256;

/// `hir` with its long counted repetitions left open, or `None` if it has none.
fn relax(hir: &Hir) -> Option<Hir> {
    fn walk(hir: &Hir, changed: &mut bool) -> Hir {
        match hir.kind() {
            HirKind::Repetition(rep) => {
                let sub = walk(&rep.sub, changed);
                let long = rep
                    .max
                    .is_some_and(|max| max.saturating_sub(rep.min) > RELAX_ABOVE);
                *changed |= long;
                Hir::repetition(regex_syntax::hir::Repetition {
                    min: rep.min,
                    max: if long { None } else { rep.max },
                    greedy: rep.greedy,
                    sub: Box::new(sub),
                })
            }
            HirKind::Capture(cap) => Hir::capture(regex_syntax::hir::Capture {
                index: cap.index,
                name: cap.name.clone(),
                sub: Box::new(walk(&cap.sub, changed)),
            }),
            HirKind::Concat(parts) => Hir::concat(parts.iter().map(|p| walk(p, changed)).collect()),
            HirKind::Alternation(parts) => {
                Hir::alternation(parts.iter().map(|p| walk(p, changed)).collect())
            }
            _ => hir.clone(),
        }
    }
    let mut changed = false;
    let open = walk(hir, &mut changed);
    changed.then_some(open)
}

/// Whether the pattern is a `secret` group with only zero-width assertions (`\b`, `^`, `$`)
/// around it.
fn secret_spans_match(hir: &Hir) -> bool {
    let is_secret =
        |h: &Hir| matches!(h.kind(), HirKind::Capture(c) if c.name.as_deref() == Some("secret"));
    match hir.kind() {
        HirKind::Capture(_) => is_secret(hir),
        HirKind::Concat(parts) => {
            parts.iter().filter(|p| is_secret(p)).count() == 1
                && parts
                    .iter()
                    .all(|p| is_secret(p) || matches!(p.kind(), HirKind::Look(_)))
        }
        _ => false,
    }
}

/// The index of the capture group named `secret`.
fn secret_group(hir: &Hir) -> Option<u32> {
    match hir.kind() {
        HirKind::Capture(c) if c.name.as_deref() == Some("secret") => Some(c.index),
        HirKind::Capture(c) => secret_group(&c.sub),
        HirKind::Repetition(r) => secret_group(&r.sub),
        HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().find_map(secret_group),
        _ => None,
    }
}

/// The pattern's longest match, refusing patterns without one (they would make the scan window
/// and the stream overlap unbounded).
fn max_len(hir: &Hir) -> Result<usize, String> {
    let props = hir.properties();
    if props.minimum_len() == Some(0) {
        return Err("`pattern` matches the empty string".into());
    }
    match props.maximum_len() {
        Some(n) if n <= MAX_MATCH_LEN => Ok(n),
        Some(n) => Err(format!(
            "`pattern` matches up to {n} bytes; the limit is {MAX_MATCH_LEN}"
        )),
        None => Err("`pattern` has no maximum length: bound every repetition (`{m,n}` instead of `*`, `+` or `{n,}`)".into()),
    }
}

fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('-').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn is_classification(s: &str) -> bool {
    s.len() <= 64 && s.split(':').all(is_kebab)
}

/// Rules loaded from one or more sources, checked together (ids are unique across them).
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    sources: BTreeMap<Text, Text>,
}

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

/// The built-in rules' keyword index as the build script made it: each distinct lowercase
/// keyword with the indexes of the rules it triggers, in the order
/// [`RuleSet::builtin_for_scanning`] loads them.
pub(crate) fn builtin_keywords() -> &'static [(&'static str, &'static [u32])] {
    BUILTIN_KEYWORDS
}

impl RuleSet {
    /// The built-in rules.
    pub fn builtin() -> Result<Self, RuleError> {
        Self::load_builtin(Analyse::OnUse)
    }

    /// The built-in rules without their examples, counterexamples and references: what a scan
    /// needs, loaded in about half the time (a hook's short scan pays for loading on every
    /// call). [`RuleSet::check_examples`] on this set has nothing to check.
    pub fn builtin_for_scanning() -> Result<Self, RuleError> {
        Self::load_builtin(Analyse::OnUseForScanning)
    }

    fn load_builtin(analyse: Analyse) -> Result<Self, RuleError> {
        let mut set = Self::default();
        if analyse == Analyse::OnUseForScanning {
            // Static data written by the build script, borrowed: no parsing, no copying and no
            // index by id on a short scan's start-up (the ids are unique: a test compares this
            // table with the rule files, which load with every check).
            for (name, specs) in BUILTIN_SCAN {
                for spec in specs.iter() {
                    set.rules.push(Rule::compile(
                        SpecRef::Builtin(spec),
                        Cow::Borrowed(*name),
                        analyse,
                    )?);
                }
            }
            return Ok(set);
        }
        for (name, text) in BUILTIN {
            let file: RuleFile = serde_json::from_str(text).map_err(|e| RuleError {
                source_name: (*name).to_owned(),
                rule: None,
                message: e.to_string(),
            })?;
            set.add(Cow::Borrowed(*name), file, analyse)?;
        }
        Ok(set)
    }

    /// Add the rules of one TOML document.
    pub fn add_toml(&mut self, source_name: &str, text: &str) -> Result<(), RuleError> {
        let file: RuleFile = toml::from_str(text).map_err(|e| RuleError {
            source_name: source_name.to_owned(),
            rule: None,
            message: e.to_string().trim_end().to_owned(),
        })?;
        self.add(Cow::Owned(source_name.to_owned()), file, Analyse::Now)
    }

    fn add(
        &mut self,
        source_name: Text,
        file: RuleFile,
        analyse: Analyse,
    ) -> Result<(), RuleError> {
        for spec in file.rules {
            if let Some(prev) = self.source_of(&spec.id) {
                return Err(RuleError {
                    source_name: source_name.to_string(),
                    rule: Some(spec.id.to_string()),
                    message: format!("the id is already used by a rule from {prev}"),
                });
            }
            self.sources.insert(spec.id.clone(), source_name.clone());
            self.rules.push(Rule::compile(
                SpecRef::Loaded(Arc::new(spec)),
                source_name.clone(),
                analyse,
            )?);
        }
        Ok(())
    }

    /// Analyse and compile every rule's pattern now (rather than on first use), reporting the
    /// first that fails.
    pub fn compile_all(&self) -> Result<(), RuleError> {
        for r in &self.rules {
            if let Err(message) = r.lazy.shape.get_or_init(|| Shape::of(&r.spec.pattern)) {
                return Err(RuleError {
                    source_name: self.source_of(r.id()).unwrap_or("rules").to_owned(),
                    rule: Some(r.id().to_owned()),
                    message: message.clone(),
                });
            }
            if r.regex().is_none() {
                let message = build_regex(&r.spec.pattern)
                    .err()
                    .unwrap_or_else(|| "cannot be compiled".into());
                return Err(RuleError {
                    source_name: self.source_of(r.id()).unwrap_or("rules").to_owned(),
                    rule: Some(r.id().to_owned()),
                    message,
                });
            }
        }
        Ok(())
    }

    /// Add a classification marking: `word` as written (case-sensitive, e.g. `ACME SECRET`),
    /// found wherever it stands on its own, classified `label:<word in kebab case>`.
    pub fn add_marking(&mut self, word: &str) -> Result<(), RuleError> {
        let fail = |message: String| RuleError {
            source_name: "--marking".into(),
            rule: Some(word.to_owned()),
            message,
        };
        if word.trim() != word
            || !(2..=64).contains(&word.len())
            || word.chars().any(char::is_control)
        {
            return Err(fail(
                "a marking is 2 to 64 printable characters without surrounding spaces".into(),
            ));
        }
        let kebab = word
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
            .join("-");
        if kebab.is_empty() {
            return Err(fail("a marking needs at least one letter or digit".into()));
        }
        let edge = |c: Option<char>| {
            if c.is_some_and(|c| c.is_ascii_alphanumeric()) {
                r"\b"
            } else {
                ""
            }
        };
        let spec = RuleSpec {
            id: format!("marking-{kebab}").into(),
            name: format!("{word} marking").into(),
            classification: format!("label:{kebab}").into(),
            category: Some("marking".into()),
            description: Some("A classification marking given on the command line.".into()),
            keywords: vec![Cow::Owned(word.to_owned())].into(),
            digits: None,
            before: 0,
            pattern: format!(
                "{}{}{}",
                edge(word.chars().next()),
                regex_syntax::escape(word),
                edge(word.chars().last())
            )
            .into(),
            entropy: None,
            validator: None,
            precheck: None,
            fallback: false,
            examples: vec![format!("[{word}]")],
            counterexamples: vec![String::from("-")],
            references: Vec::new(),
        };
        if let Some(prev) = self.source_of(&spec.id) {
            return Err(fail(format!(
                "`{}` is already used by a rule from {prev}",
                spec.id
            )));
        }
        self.sources
            .insert(spec.id.clone(), Cow::Borrowed("--marking"));
        self.rules.push(Rule::compile(
            SpecRef::Loaded(Arc::new(spec)),
            Cow::Borrowed("--marking"),
            Analyse::Now,
        )?);
        Ok(())
    }

    /// The rules, in load order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rules, taken out of the set.
    pub(crate) fn into_rules(self) -> Vec<Rule> {
        self.rules
    }

    /// Where a rule came from.
    pub fn source_of(&self, id: &str) -> Option<&str> {
        match self.sources.get(id) {
            Some(s) => Some(s),
            None => self.rules.iter().find(|r| r.id() == id).map(|r| &*r.source),
        }
    }

    /// Keep only the rules whose id is not in `ids` (unknown ids are an error).
    pub fn without(mut self, ids: &[String]) -> Result<Self, RuleError> {
        let known: BTreeSet<&str> = self.rules.iter().map(Rule::id).collect();
        if let Some(unknown) = ids.iter().find(|i| !known.contains(i.as_str())) {
            return Err(RuleError {
                source_name: "--disable".into(),
                rule: Some(unknown.clone()),
                message: "no rule has this id".into(),
            });
        }
        self.rules.retain(|r| !ids.iter().any(|i| *i == r.spec.id));
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only long counted repetitions are opened, in any position; nothing else changes.
    #[test]
    fn relax_opens_only_long_counted_repetitions() {
        let open = |p: &str| relax(&parse(p).unwrap()).map(|h| h.to_string());
        assert_eq!(open("a{1,200}b{0,256}"), None);
        assert_eq!(
            open("x(?P<secret>a{3,300})y"),
            Some(parse("x(?P<secret>a{3,})y").unwrap().to_string())
        );
        assert_eq!(
            open("(?:a|b[0-9]{64,12000})c{2}"),
            Some(parse("(?:a|b[0-9]{64,})c{2}").unwrap().to_string())
        );
    }

    /// Every built-in rule with an open form: it matches each example where the pattern does
    /// (it is a superset), and the rules it is for, the slowest to build, have one.
    #[test]
    fn open_forms_match_what_their_patterns_match() {
        let set = RuleSet::builtin().unwrap();
        let mut opened = Vec::new();
        for rule in set.rules() {
            let Some(open) = rule.relaxed() else { continue };
            opened.push(rule.id().to_owned());
            let exact = rule.regex().unwrap();
            for text in rule
                .spec
                .examples
                .iter()
                .chain(rule.spec.counterexamples.iter())
            {
                let input = regex_automata::Input::new(text.as_bytes());
                if let Some(m) = exact.search(&input) {
                    assert!(
                        open.search(&input.clone().range(m.start()..))
                            .is_some_and(|o| o.start() == m.start()),
                        "{}: {text:?}",
                        rule.id()
                    );
                }
            }
        }
        for id in [
            "private-key-rsa",
            "pgp-private-key-block",
            "json-web-token",
            "http-bearer-token",
        ] {
            assert!(
                opened.iter().any(|o| o == id),
                "{id} has no open form: {opened:?}"
            );
        }
    }

    /// The build script's JSON says exactly what the TOML files say, and loading the TOML (with
    /// every pattern analysed at once) accepts every built-in rule.
    #[test]
    fn builtin_json_equals_the_toml_files() {
        let mut from_toml = RuleSet::default();
        for (name, _) in BUILTIN {
            let file = name.trim_start_matches("builtin:");
            let path = format!("{}/rules/{file}.toml", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            from_toml.add_toml(name, &text).unwrap();
        }
        let builtin = RuleSet::builtin().unwrap();
        let specs = |set: &RuleSet| -> Vec<String> {
            set.rules()
                .iter()
                .map(|r| format!("{:?}", r.spec))
                .collect()
        };
        assert_eq!(specs(&builtin), specs(&from_toml));
        assert_eq!(builtin.sources, from_toml.sources);
        // The scanning set is the same rules without what only `rules check` reads.
        let lean = RuleSet::builtin_for_scanning().unwrap();
        let without_docs = |set: &RuleSet| -> Vec<String> {
            set.rules()
                .iter()
                .map(|r| {
                    let mut spec = (*r.spec).clone();
                    spec.examples.clear();
                    spec.counterexamples.clear();
                    spec.references.clear();
                    format!("{spec:?}")
                })
                .collect()
        };
        assert_eq!(without_docs(&lean), without_docs(&builtin));
        assert!(lean.rules().iter().all(|r| r.spec.examples.is_empty()));
        assert!(builtin.rules().iter().all(|r| !r.spec.examples.is_empty()));
    }
}
