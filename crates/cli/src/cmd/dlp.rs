//! `cordon dlp`: scan files, directories or stdin for secrets, personal data and classification
//! labels; check and list the detection rules.

use std::cell::Cell;
use std::fs::File;
use std::io::{IsTerminal as _, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use clap::{Subcommand, ValueEnum};
use cordon_dlp::action::Actions;
use cordon_dlp::check::check_examples;
use cordon_dlp::office::{OfficeDocument, looks_like_zip};
use cordon_dlp::redact::{Redactor, preview};
use cordon_dlp::rule::RuleSet;
use cordon_dlp::scan::{Finding, Scanner};
use cordon_dlp::stream::Stream;
use serde_json::json;

use super::dlp_report::{FileFinding, Finished, Kind, LabelFinding, Output, Report, Suppressed};
use super::manifest::ManifestSource;
use crate::fail::{CHECK_FAILED, Fail, Outcome};
use crate::io;

/// Files up to this size are read whole; larger ones are scanned as a stream of chunks.
const WHOLE_FILE: u64 = 64 << 20;
/// Chunk size for streamed files and stdin.
const CHUNK: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per finding, for people.
    Human,
    /// One JSON document.
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Human,
    Json,
}

/// Which rules to load.
#[derive(Debug, Clone, clap::Args)]
pub struct RuleArgs {
    /// An additional rule file (TOML; see docs/dlp.md), repeatable.
    #[arg(long = "rules", value_name = "FILE")]
    rules: Vec<String>,
    /// Leave out the built-in rules (use only `--rules` files).
    #[arg(long)]
    no_builtin: bool,
    /// Turn off a rule by id, repeatable.
    #[arg(long = "disable", value_name = "ID")]
    disable: Vec<String>,
    /// A classification marking to find, as written (case-sensitive), e.g. `ACME RESTRICTED`;
    /// classified `label:<word>`. Repeatable.
    #[arg(long = "marking", value_name = "WORD")]
    markings: Vec<String>,
}

impl RuleArgs {
    /// The rules; `for_scanning` leaves out the built-in rules' examples (see
    /// [`RuleSet::builtin_for_scanning`]).
    fn load(&self, for_scanning: bool) -> Result<RuleSet, Fail> {
        let builtin = if for_scanning {
            RuleSet::builtin_for_scanning
        } else {
            RuleSet::builtin
        };
        let mut set = if self.no_builtin {
            RuleSet::default()
        } else {
            builtin().map_err(|e| Fail::input_msg(format!("built-in rules: {e}")))?
        };
        for file in &self.rules {
            let text = io::read_text(file)?;
            set.add_toml(file, &text)
                .map_err(|e| Fail::input_msg(e.to_string()))?;
        }
        for word in &self.markings {
            set.add_marking(word)
                .map_err(|e| Fail::input_msg(e.to_string()))?;
        }
        if set.rules().is_empty() {
            return Err(Fail::input_msg(
                "no rules: `--no-builtin` needs at least one `--rules FILE` or `--marking WORD`",
            ));
        }
        set.without(&self.disable)
            .map_err(|e| Fail::input_msg(e.to_string()))
    }

    /// The rules and their scanner, kept for the rest of the process: they are leaked rather
    /// than freed at exit, which would cost a short scan ~1 ms for thousands of small strings.
    fn scanner(&self, for_scanning: bool) -> Result<(&'static RuleSet, &'static Scanner), Fail> {
        let set = self.load(for_scanning)?;
        let scanner = Scanner::new(&set).map_err(|e| Fail::input_msg(e.to_string()))?;
        Ok((Box::leak(Box::new(set)), Box::leak(Box::new(scanner))))
    }
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files or directories to scan (`-` for stdin). Directories are walked recursively;
    /// symbolic links are not followed and `.git` directories are skipped.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<String>,
    #[command(flatten)]
    rules: RuleArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// The manifest whose `dlp` section gives the action per classification; without one,
    /// secrets are `block` and the rest `alert`.
    #[command(flatten)]
    source: ManifestSource,
    /// Print progress on stderr (default: only when stderr is a terminal).
    #[arg(long)]
    progress: bool,
    /// Exit 0 even when something is found (report only).
    #[arg(long)]
    exit_zero: bool,
    /// Report findings on lines marked `cordon:allow` too. Without it, a finding on a line
    /// holding `cordon:allow` (every rule) or `cordon:allow=RULE-ID[,RULE-ID…]` (those rules)
    /// is listed as suppressed and does not fail the scan: the mark is for a reviewed false
    /// positive, and shows in code review. Use this flag for audits.
    #[arg(long)]
    no_allow_comments: bool,
}

#[derive(Debug, clap::Args)]
pub struct RedactArgs {
    /// The file to redact (`-` for stdin); the result goes to stdout.
    #[arg(value_name = "FILE")]
    file: String,
    #[command(flatten)]
    rules: RuleArgs,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load the rules (built-in and `--rules` files), check them, and run every rule's examples
    /// (which must match) and counterexamples (which must not). Exits 1 when one misbehaves,
    /// 2 when a rule file is invalid.
    ///
    /// Example: `cordon dlp rules check --rules our-rules.toml`
    Check {
        #[command(flatten)]
        rules: RuleArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Human)]
        format: ListFormat,
    },
    /// List the rules: id, classification, name and where each comes from.
    ///
    /// Example: `cordon dlp rules list --format json`
    List {
        #[command(flatten)]
        rules: RuleArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Human)]
        format: ListFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan files, directories or stdin for credentials, personal data (validated card numbers,
    /// IBANs, US SSNs, e-mail addresses, phone numbers), classification markings and Microsoft
    /// Purview sensitivity labels in Office documents.
    ///
    /// Values found are never printed: reports show the rule, the place and a short preview.
    /// Exits 1 when anything is found (a CI or pre-commit gate; `--exit-zero` to only report),
    /// 2 when an input could not be read.
    ///
    /// Example: `cordon dlp scan . --format sarif > dlp.sarif`
    Scan(ScanArgs),
    /// Print a file with every finding replaced by a stable placeholder such as
    /// `[REDACTED:aws-access-key-id:1]` (the same value always gets the same placeholder).
    ///
    /// Example: `cordon dlp redact notes.txt > notes.redacted.txt`
    Redact(RedactArgs),
    /// Check or list the detection rules.
    #[command(subcommand)]
    Rules(RulesCommand),
}

pub fn run(c: Command) -> Outcome {
    match c {
        Command::Scan(a) => scan(&a),
        Command::Redact(a) => redact(&a),
        Command::Rules(RulesCommand::Check { rules, format }) => rules_check(&rules, format),
        Command::Rules(RulesCommand::List { rules, format }) => rules_list(&rules, format),
    }
}

fn rules_check(args: &RuleArgs, format: ListFormat) -> Outcome {
    let (set, scanner) = args.scanner(false)?;
    set.compile_all()
        .map_err(|e| Fail::input_msg(e.to_string()))?;
    let failures = check_examples(scanner);
    let examples: usize = set.rules().iter().map(|r| r.spec.examples.len()).sum();
    let counter: usize = set
        .rules()
        .iter()
        .map(|r| r.spec.counterexamples.len())
        .sum();
    match format {
        ListFormat::Json => println!(
            "{}",
            json!({"rules": set.rules().len(), "examples": examples, "counterexamples": counter, "failures": failures})
        ),
        ListFormat::Human => {
            for f in &failures {
                let what = if f.kind == "example" {
                    "example did not match"
                } else {
                    "counterexample matched"
                };
                println!("FAIL {}: {what}: {:?}", f.rule, f.text);
            }
            println!(
                "{} rules; {} examples and {} counterexamples: {}",
                set.rules().len(),
                examples,
                counter,
                if failures.is_empty() {
                    "all behave".to_owned()
                } else {
                    format!("{} misbehave", failures.len())
                }
            );
        }
    }
    Ok(if failures.is_empty() { 0 } else { CHECK_FAILED })
}

fn rules_list(args: &RuleArgs, format: ListFormat) -> Outcome {
    let set = args.load(false)?;
    match format {
        ListFormat::Json => {
            let rules: Vec<_> = set
                .rules()
                .iter()
                .map(|r| {
                    json!({"id": r.id(), "name": r.spec.name, "classification": r.classification(),
                           "category": r.spec.category, "source": set.source_of(r.id())})
                })
                .collect();
            println!("{}", json!({ "rules": rules }));
        }
        ListFormat::Human => {
            for r in set.rules() {
                println!("{:<44} {:<24} {}", r.id(), r.classification(), r.spec.name);
            }
            println!("{} rules", set.rules().len());
        }
    }
    Ok(0)
}

fn actions(a: &ScanArgs) -> Result<Actions, Fail> {
    let m = a.source.load()?;
    Ok(match m.and_then(|m| m.dlp) {
        Some(d) => Actions::new(&d.block, &d.redact, &d.alert),
        None => Actions::default(),
    })
}

/// What a scan applies to every input.
struct Scan<'a> {
    scanner: &'static Scanner,
    actions: &'a Actions,
    /// Whether `cordon:allow` marks suppress findings.
    allow_comments: bool,
}

fn scan(a: &ScanArgs) -> Outcome {
    let (_, scanner) = a.rules.scanner(true)?;
    let actions = actions(a)?;
    let ctx = Scan {
        scanner,
        actions: &actions,
        allow_comments: !a.no_allow_comments,
    };
    let kind = match a.format {
        Format::Human => Kind::Human,
        Format::Json => Kind::Json,
        Format::Sarif => Kind::Sarif,
    };
    let stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut report = Report::new(Output::new(kind, Box::new(stdout)));
    let mut progress = Progress::new(a.progress);
    for p in &a.paths {
        if p == "-" {
            scan_reader(&ctx, "-", std::io::stdin().lock(), &mut report);
            progress.file(&report);
            continue;
        }
        let mut files = Vec::new();
        if let Err(e) = walk(Path::new(p), &mut files) {
            report.errors.push(format!("`{p}`: {e}"));
            continue;
        }
        for f in files {
            scan_file(&ctx, &f, &mut report);
            progress.file(&report);
        }
    }
    progress.done(&report);
    let Finished {
        written,
        errors,
        found,
    } = report.finish(scanner);
    match written {
        // The reader went away (`cordon dlp scan … | head`): nothing to tell it; the exit
        // status below still says whether something was found.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            return Err(Fail::input_msg(format!(
                "writing the report to standard output: {e}"
            )));
        }
        Ok(()) => {}
    }
    for e in &errors {
        eprintln!("cordon: error: {e}");
    }
    if !errors.is_empty() {
        return Ok(crate::fail::BAD_INPUT);
    }
    Ok(if found && !a.exit_zero {
        CHECK_FAILED
    } else {
        0
    })
}

/// Regular files under `root` (or `root` itself), sorted, without following symbolic links.
fn walk(root: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(root)?;
    if meta.is_file() {
        out.push(root.to_path_buf());
        return Ok(());
    }
    if !meta.is_dir() {
        return Ok(());
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.filter_map(Result::ok).collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        let mut subdirs = Vec::new();
        for e in entries {
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() && e.file_name() != ".git" {
                subdirs.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

fn scan_file(ctx: &Scan<'_>, path: &Path, report: &mut Report) {
    let scanner = ctx.scanner;
    let name = path.display().to_string();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            report.errors.push(format!("`{name}`: {e}"));
            return;
        }
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    // One descriptor for everything: the magic bytes, the archive (if it is one), the bytes.
    let mut file = file;
    let mut head = [0u8; 4];
    if file.read_exact(&mut head).is_ok() && looks_like_zip(&head) {
        scan_office(ctx, &name, &mut file, report);
    }
    if let Err(e) = file.seek(SeekFrom::Start(0)) {
        report.errors.push(format!("`{name}`: {e}"));
        return;
    }
    if len <= WHOLE_FILE {
        let mut data = Vec::new();
        if let Err(e) = file.take(WHOLE_FILE + 1).read_to_end(&mut data) {
            report.errors.push(format!("`{name}`: {e}"));
            return;
        }
        report.bytes += data.len() as u64;
        report.files += 1;
        let findings = scanner.scan(&data);
        let mut lines = Lines::default();
        if !findings.is_empty() {
            lines.feed(&data);
        }
        let at = Place::held(&name, &data, 0, &lines);
        record(ctx, &at, &findings, report);
    } else {
        scan_reader(ctx, &name, file, report);
    }
}

/// An Office document (any zip archive): its sensitivity labels, and the text of its content
/// parts scanned as `FILE#PART`. A damaged or oversized archive is a note: its bytes are still
/// scanned as they are.
fn scan_office(ctx: &Scan<'_>, name: &str, file: &mut File, report: &mut Report) {
    let (scanner, actions) = (ctx.scanner, ctx.actions);
    let mut doc = match OfficeDocument::open(file) {
        Ok(d) => d,
        Err(e) => {
            report
                .notes
                .push(format!("`{name}`: sensitivity labels: {e}"));
            return;
        }
    };
    match doc.sensitivity_labels() {
        Ok(labels) => {
            for l in labels {
                let classification = l.classification();
                report.labels.push(LabelFinding {
                    path: name.to_owned(),
                    action: actions.action(&classification),
                    classification,
                    label: l,
                });
            }
        }
        Err(e) => report
            .notes
            .push(format!("`{name}`: sensitivity labels: {e}")),
    }
    match doc.text() {
        Ok(parts) => {
            for p in parts {
                let data = p.text.as_bytes();
                report.bytes += data.len() as u64;
                let findings = scanner.scan(data);
                let mut lines = Lines::default();
                if !findings.is_empty() {
                    lines.feed(data);
                }
                let part = format!("{name}#{}", p.part);
                let at = Place::held(&part, data, 0, &lines);
                record(ctx, &at, &findings, report);
            }
        }
        Err(e) => report.notes.push(format!("`{name}`: document text: {e}")),
    }
}

/// Scan a reader chunk by chunk: memory stays bounded whatever its size.
fn scan_reader(ctx: &Scan<'_>, name: &str, mut reader: impl Read, report: &mut Report) {
    // The stream's own bytes place each finding: it keeps the context a finding's line is
    // shown with (and allow markers are looked for in).
    let mut stream = Stream::new(ctx.scanner).keeping(ALLOW_REACH);
    let mut lines = Lines::default();
    let mut chunk = vec![0u8; CHUNK];
    report.files += 1;
    let found = |findings: Vec<Finding>,
                 held: &[u8],
                 base: usize,
                 lines: &mut Lines,
                 report: &mut Report| {
        lines.trim(base);
        record(
            ctx,
            &Place::held(name, held, base, lines),
            &findings,
            report,
        );
    };
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                report.errors.push(format!("`{name}`: {e}"));
                return;
            }
        };
        let data = chunk.get(..n).unwrap_or_default();
        report.bytes += n as u64;
        lines.feed(data);
        stream.push_with(data, |findings, held, base| {
            found(findings, held, base, &mut lines, report);
        });
    }
    stream.finish_with(|findings, held, base| found(findings, held, base, &mut lines, report));
}

/// Where findings were made: the input's name and the bytes still held, from `data_start`.
struct Place<'a> {
    name: &'a str,
    data: &'a [u8],
    data_start: usize,
    lines: &'a Lines,
}

impl<'a> Place<'a> {
    fn held(name: &'a str, data: &'a [u8], data_start: usize, lines: &'a Lines) -> Self {
        Self {
            name,
            data,
            data_start,
            lines,
        }
    }
}

fn record(ctx: &Scan<'_>, at: &Place<'_>, findings: &[Finding], report: &mut Report) {
    let Place {
        name,
        data,
        data_start,
        lines,
    } = *at;
    // A finding is allowed by a mark on its line, within the bytes held: where they hold no
    // mark at all, no line is looked at.
    let marks = ctx.allow_comments && !findings.is_empty() && MARK_FINDER.find(data).is_some();
    for f in findings {
        let Some(rule) = ctx.scanner.rule(f) else {
            continue;
        };
        let (start, end) = (
            f.start.saturating_sub(data_start),
            f.end.saturating_sub(data_start),
        );
        let value = data.get(start..end).unwrap_or_default();
        let (line, column) = lines.position(f.start, data, data_start);
        if marks && allowed(lines.around(f.start, f.end, data, data_start), rule.id()) {
            report.suppressed.push(Suppressed {
                path: name.to_owned(),
                line,
                column,
                rule: rule.id(),
                classification: rule.classification(),
                action: ctx.actions.action(rule.classification()),
            });
            continue;
        }
        report.out.finding(&FileFinding {
            rule_index: f.rule,
            path: name,
            line,
            column,
            offset: f.start,
            length: f.end - f.start,
            rule: rule.id(),
            name: &rule.spec.name,
            classification: rule.classification(),
            action: ctx.actions.action(rule.classification()),
            preview: preview(value),
        });
    }
}

/// The allow mark (see [`allowed`]).
const MARK: &[u8] = b"cordon:allow";

/// Built once: building a searcher for each finding cost more than the search.
static MARK_FINDER: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new(MARK));

/// The most of a line that is looked at for an allow mark, either side of a finding.
const ALLOW_REACH: usize = 4096;

/// Whether `line` carries a mark that allows findings of `rule`: `cordon:allow` (every rule) or
/// `cordon:allow=ID[,ID…]`. The mark ends at a byte that cannot continue it, so that
/// `cordon:allowed` is not one.
fn allowed(line: &[u8], rule: &str) -> bool {
    MARK_FINDER.find_iter(line).any(|i| {
        let after = line.get(i + MARK.len()..).unwrap_or_default();
        match after.first() {
            Some(b'=') => after
                .get(1..)
                .unwrap_or_default()
                .split(|&b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b','))
                .next()
                .unwrap_or_default()
                .split(|&b| b == b',')
                .any(|id| id == rule.as_bytes()),
            Some(&b) => !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            None => true,
        }
    })
}

/// Line numbers for findings: a count of the newlines already passed and the offsets of the
/// recent ones, so that memory stays bounded on huge inputs.
#[derive(Debug, Default)]
struct Lines {
    recent: Vec<usize>,
    dropped: usize,
    last_dropped: Option<usize>,
    seen: usize,
    /// The last place [`Lines::position`] was asked for: findings come in order, so the next
    /// is found from there rather than from the start of its line and by a search of every
    /// newline held (which cost more than the scan on text dense with findings).
    last: Cell<Option<Spot>>,
}

/// A place in the text, and what [`Lines::position`] said of it.
#[derive(Debug, Clone, Copy)]
struct Spot {
    offset: usize,
    /// How many of the newlines in `recent` come before it.
    newlines_held: usize,
    line: usize,
    column: usize,
}

impl Lines {
    fn feed(&mut self, data: &[u8]) {
        let base = self.seen;
        self.recent
            .extend(memchr::memchr_iter(b'\n', data).map(|i| base + i));
        self.seen += data.len();
    }

    /// Forget newline offsets before `offset` (no finding will lie there).
    fn trim(&mut self, offset: usize) {
        let k = self.recent.partition_point(|&n| n < offset);
        if let Some(&last) = k.checked_sub(1).and_then(|i| self.recent.get(i)) {
            self.last_dropped = Some(last);
            self.dropped += k;
            self.recent.drain(..k);
            let spot = self.last.get().filter(|s| s.newlines_held >= k);
            self.last.set(spot.map(|s| Spot {
                newlines_held: s.newlines_held - k,
                ..s
            }));
        }
    }

    /// Where the line holding `offset` starts.
    fn line_start(&self, offset: usize) -> usize {
        self.start_after(self.recent.partition_point(|&n| n < offset))
    }

    /// Where the line after the first `newlines_held` newlines held starts.
    fn start_after(&self, newlines_held: usize) -> usize {
        match newlines_held
            .checked_sub(1)
            .and_then(|i| self.recent.get(i))
        {
            Some(n) => n + 1,
            None => self.last_dropped.map_or(0, |n| n + 1),
        }
    }

    /// The line holding the bytes `start..end`, at most [`ALLOW_REACH`] bytes either side of
    /// them and within `data` (the bytes from `data_start` on).
    fn around<'d>(&self, start: usize, end: usize, data: &'d [u8], data_start: usize) -> &'d [u8] {
        let line_start = self.line_start(start);
        let next_newline = self
            .recent
            .get(self.recent.partition_point(|&n| n < end))
            .copied()
            .unwrap_or(usize::MAX);
        let from = line_start
            .max(start.saturating_sub(ALLOW_REACH))
            .max(data_start)
            - data_start;
        let to = next_newline
            .min(end + ALLOW_REACH)
            .min(data_start + data.len())
            - data_start;
        data.get(from..to).unwrap_or_default()
    }

    /// 1-based line and column (in characters) of `offset`; `data` holds the bytes from
    /// `data_start` on. The column counts from the line's start, or from the first byte of it
    /// still held when it was first asked about.
    fn position(&self, offset: usize, data: &[u8], data_start: usize) -> (usize, usize) {
        let chars = |from: usize, to: usize| {
            data.get(from.max(data_start) - data_start..to.saturating_sub(data_start))
                .unwrap_or_default()
                .iter()
                .filter(|&&b| b & 0xC0 != 0x80)
                .count()
        };
        let spot = match self.last.get() {
            // On from the last place asked for, past the newlines between.
            Some(last) if last.offset <= offset && last.offset >= data_start => {
                let passed = self
                    .recent
                    .get(last.newlines_held..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|&&n| n < offset)
                    .count();
                let newlines_held = last.newlines_held + passed;
                match passed {
                    0 => Spot {
                        offset,
                        newlines_held,
                        line: last.line,
                        column: last.column + chars(last.offset, offset),
                    },
                    _ => self.spot_from_line_start(offset, newlines_held, chars),
                }
            }
            _ => {
                let newlines_held = self.recent.partition_point(|&n| n < offset);
                self.spot_from_line_start(offset, newlines_held, chars)
            }
        };
        self.last.set(Some(spot));
        (spot.line, spot.column + 1)
    }

    /// The place `offset`, with `newlines_held` newlines of `recent` before it, its column
    /// counted from the start of its line.
    fn spot_from_line_start(
        &self,
        offset: usize,
        newlines_held: usize,
        chars: impl Fn(usize, usize) -> usize,
    ) -> Spot {
        Spot {
            offset,
            newlines_held,
            line: self.dropped + newlines_held + 1,
            column: chars(self.start_after(newlines_held), offset),
        }
    }
}

/// Progress on stderr for long scans.
struct Progress {
    enabled: bool,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn new(forced: bool) -> Self {
        let now = Instant::now();
        Self {
            enabled: forced || std::io::stderr().is_terminal(),
            started: now,
            last: now,
        }
    }

    fn file(&mut self, r: &Report) {
        if self.enabled && self.last.elapsed() >= Duration::from_millis(500) {
            self.last = Instant::now();
            eprintln!(
                "cordon: scanned {} files, {} MiB, {} findings so far",
                r.files,
                r.bytes >> 20,
                r.findings() + r.labels.len()
            );
        }
    }

    fn done(&self, r: &Report) {
        let secs = self.started.elapsed().as_secs_f64();
        if self.enabled {
            #[expect(clippy::cast_precision_loss, reason = "a rate for people")]
            let mib = r.bytes as f64 / f64::from(1u32 << 20);
            eprintln!(
                "cordon: scanned {} files, {:.1} MiB in {:.2} s ({:.0} MiB/s)",
                r.files,
                mib,
                secs,
                mib / secs.max(1e-9)
            );
        }
    }
}

fn redact(a: &RedactArgs) -> Outcome {
    let (_, scanner) = a.rules.scanner(true)?;
    let data = io::read(&a.file)?;
    let findings = scanner.scan(&data);
    let out = Redactor::new().redact(scanner, &data, &findings);
    std::io::Write::write_all(&mut std::io::stdout(), &out)
        .map_err(|e| Fail::input_msg(format!("cannot write the output: {e}")))?;
    eprintln!("cordon: {} values redacted", findings.len());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Lines;

    /// Line and column of `offset` in `text`, counted from the start: the reference.
    fn reference(text: &[u8], offset: usize) -> (usize, usize) {
        let before = text.get(..offset).unwrap_or_default();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = before
            .get(line_start..)
            .unwrap_or_default()
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        (
            before.iter().filter(|&&b| b == b'\n').count() + 1,
            column + 1,
        )
    }

    proptest! {
        /// Text fed in pieces and forgotten up to a point now and then, asked about places in
        /// order (as findings come), some of them twice, some on the same line: the places
        /// the whole text gives, while lines start inside what is held.
        #[test]
        fn positions_are_those_counted_from_the_start(
            text in proptest::collection::vec(
                proptest::sample::select(b"ab \n\xc3\xa9x\n".to_vec()),
                1..400,
            ),
            cuts in proptest::collection::vec(1usize..60, 1..12),
            asks in proptest::collection::vec(0usize..400, 0..40),
        ) {
            let mut asks: Vec<usize> = asks.into_iter().map(|a| a % text.len()).collect();
            asks.sort_unstable();
            let mut lines = Lines::default();
            let (mut fed, mut held_from) = (0, 0);
            let mut asked = asks.iter().peekable();
            for cut in cuts.iter().cycle().take(1000) {
                let to = (fed + cut).min(text.len());
                lines.feed(&text[fed..to]);
                fed = to;
                // Answer what lies in what was fed, keeping the line of the next ask held.
                while let Some(&&offset) = asked.peek() {
                    if offset >= fed {
                        break;
                    }
                    asked.next();
                    let data = &text[held_from..fed];
                    prop_assert_eq!(lines.position(offset, data, held_from), reference(&text, offset), "at {}", offset);
                }
                let next = asked.peek().map_or(fed, |&&o| o);
                let line_start = text[..next].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                if line_start > held_from {
                    held_from = line_start;
                    lines.trim(held_from);
                }
                if fed == text.len() {
                    break;
                }
            }
        }
    }
}
