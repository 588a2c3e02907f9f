//! Reports of `cordon dlp scan`: for people, as JSON, and as SARIF 2.1.0. None of them holds a
//! found value, only a short preview. Findings are written as they are made (see [`Output`]), so
//! a scan's memory does not grow with what it finds.

use std::io::{self, Write};

use cordon_dlp::action::Action;
use cordon_dlp::office::SensitivityLabel;
use cordon_dlp::scan::Scanner;
use serde::Serialize;
use serde_json::json;

/// A finding in a file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileFinding<'a> {
    pub path: &'a str,
    pub line: usize,
    pub column: usize,
    #[serde(rename = "byteOffset")]
    pub offset: usize,
    #[serde(rename = "byteLength")]
    pub length: usize,
    /// The rule's index in the scanner (not reported: what the report caches by).
    #[serde(skip)]
    pub rule_index: usize,
    /// The rule's id, name and classification (the rule set lives until exit).
    pub rule: &'static str,
    pub name: &'static str,
    pub classification: &'static str,
    pub action: Action,
    pub preview: String,
}

/// A sensitivity label on a document.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelFinding {
    pub path: String,
    pub classification: String,
    pub action: Action,
    pub label: SensitivityLabel,
}

/// A finding on a line marked `cordon:allow`: where and what, never the value.
#[derive(Debug, Clone, Serialize)]
pub struct Suppressed {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub rule: &'static str,
    pub classification: &'static str,
    /// What the finding's action would have been.
    pub action: Action,
}

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Human,
    Json,
    Sarif,
}

/// Everything a scan produced, findings already written to its [`Output`].
pub struct Report {
    pub out: Output,
    /// Findings on lines marked `cordon:allow`: reported, but not failing the scan.
    pub suppressed: Vec<Suppressed>,
    pub labels: Vec<LabelFinding>,
    /// Inputs that could not be scanned.
    pub errors: Vec<String>,
    /// Things worth knowing that did not stop the scan (e.g. a damaged Office file, scanned
    /// as bytes).
    pub notes: Vec<String>,
    pub files: u64,
    pub bytes: u64,
}

impl std::fmt::Debug for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Report")
            .field("findings", &self.out.findings)
            .field("files", &self.files)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

/// How a report ended.
#[derive(Debug)]
pub struct Finished {
    /// Whether the report reached standard output whole.
    pub written: io::Result<()>,
    pub errors: Vec<String>,
    /// Findings or labels were reported (suppressed ones do not count).
    pub found: bool,
}

impl Report {
    pub fn new(out: Output) -> Self {
        Self {
            out,
            suppressed: Vec::new(),
            labels: Vec::new(),
            errors: Vec::new(),
            notes: Vec::new(),
            files: 0,
            bytes: 0,
        }
    }

    /// Findings written so far.
    pub fn findings(&self) -> usize {
        self.out.findings
    }

    /// Write the rest of the report (labels, suppressed findings, errors, the summary).
    pub fn finish(self, scanner: &Scanner) -> Finished {
        let found = self.out.findings > 0 || !self.labels.is_empty();
        let Self {
            mut out,
            suppressed,
            labels,
            errors,
            notes,
            files,
            bytes,
        } = self;
        let rest = Rest {
            suppressed: &suppressed,
            labels: &labels,
            errors: &errors,
            notes: &notes,
            files,
            bytes,
        };
        let written = out.finish(&rest, scanner);
        Finished {
            written,
            errors,
            found,
        }
    }
}

/// What is written after the findings (in JSON, these members and a summary).
#[derive(Serialize)]
struct Rest<'a> {
    suppressed: &'a [Suppressed],
    labels: &'a [LabelFinding],
    errors: &'a [String],
    notes: &'a [String],
    #[serde(skip)]
    files: u64,
    #[serde(skip)]
    bytes: u64,
}

/// Where findings go as they are made: standard output through one buffer, in the chosen
/// format. A write error stops further writing and is reported when the report ends.
pub struct Output {
    kind: Kind,
    out: Box<dyn Write>,
    /// One JSON item, serialised here and written to `out` whole: serde_json writes many small
    /// pieces, each a call through `out`'s vtable otherwise.
    item: Vec<u8>,
    /// JSON: a rule's part of a finding (`"rule":…` to `"action":…`), escaped once per rule
    /// and action, by rule index.
    rule_json: Vec<Option<(Action, Vec<u8>)>>,
    /// JSON: the last path written, as given and escaped.
    path_json: (String, Vec<u8>),
    findings: usize,
    /// SARIF: the rules results name, in the order first named (a result's `ruleIndex`).
    rule_ids: Vec<&'static str>,
    failed: Option<io::Error>,
}

/// The rule id reported for sensitivity labels.
const LABEL_RULE: &str = "mip-sensitivity-label";

const SARIF_OPENING: &str = r#"{"$schema":"https://json.schemastore.org/sarif-2.1.0.json","version":"2.1.0","runs":[{"columnKind":"unicodeCodePoints","results":["#;

impl Output {
    /// Start a report of `kind` on `out`.
    pub fn new(kind: Kind, out: Box<dyn Write>) -> Self {
        let mut o = Self {
            kind,
            out,
            item: Vec::new(),
            rule_json: Vec::new(),
            path_json: (String::new(), Vec::new()),
            findings: 0,
            rule_ids: Vec::new(),
            failed: None,
        };
        let opening = match kind {
            Kind::Human => "",
            Kind::Json => r#"{"findings":["#,
            Kind::Sarif => SARIF_OPENING,
        };
        let written = o.out.write_all(opening.as_bytes());
        o.keep(written);
        o
    }

    fn keep(&mut self, written: io::Result<()>) {
        if let Err(e) = written
            && self.failed.is_none()
        {
            self.failed = Some(e);
        }
    }

    /// The `ruleIndex` of `rule` in the SARIF rule list.
    fn rule_index(&mut self, rule: &'static str) -> usize {
        match self.rule_ids.iter().position(|r| *r == rule) {
            Some(i) => i,
            None => {
                self.rule_ids.push(rule);
                self.rule_ids.len() - 1
            }
        }
    }

    /// Write one finding.
    pub fn finding(&mut self, f: &FileFinding<'_>) {
        if self.failed.is_some() {
            return;
        }
        let comma = self.findings > 0;
        let written = match self.kind {
            Kind::Human => writeln!(
                self.out,
                "{}:{}:{}: {} [{}] {} → {}",
                f.path,
                f.line,
                f.column,
                f.rule,
                f.classification,
                f.preview,
                action_word(f.action)
            ),
            Kind::Json => {
                self.item.clear();
                if comma {
                    self.item.push(b',');
                }
                self.finding_json(f);
                self.out.write_all(&self.item)
            }
            Kind::Sarif => {
                let result = SarifResult {
                    rule_id: f.rule,
                    rule_index: self.rule_index(f.rule),
                    level: level(f.action),
                    message: Text {
                        text: format!("{} ({}) found: {}", f.name, f.classification, f.preview),
                    },
                    locations: [Location {
                        physical_location: PhysicalLocation {
                            artifact_location: ArtifactLocation { uri: uri(f.path) },
                            region: Some(Region {
                                start_line: f.line,
                                start_column: f.column,
                                byte_offset: Some(f.offset),
                                byte_length: Some(f.length),
                            }),
                        },
                    }],
                    properties: ResultProperties {
                        classification: f.classification,
                        action: f.action,
                        label_id: None,
                    },
                    suppressions: None,
                };
                json_item(&mut self.out, &mut self.item, comma, &result)
            }
        };
        self.findings += 1;
        self.keep(written);
    }

    /// A finding as JSON into `item`: [`finding_json`], with the path and the rule's part
    /// escaped once rather than for every finding.
    fn finding_json(&mut self, f: &FileFinding<'_>) {
        if self.path_json.0 != f.path {
            self.path_json.0.clear();
            self.path_json.0.push_str(f.path);
            self.path_json.1.clear();
            json_str(&mut self.path_json.1, f.path);
        }
        if self.rule_json.len() <= f.rule_index {
            self.rule_json.resize_with(f.rule_index + 1, || None);
        }
        let Some(slot) = self.rule_json.get_mut(f.rule_index) else {
            return finding_json(&mut self.item, f);
        };
        if slot.as_ref().is_none_or(|(action, _)| *action != f.action) {
            let mut part = Vec::new();
            rule_json(&mut part, f);
            *slot = Some((f.action, part));
        }
        let rule_part = slot.as_ref().map(|(_, part)| part.as_slice());
        let buf = &mut self.item;
        buf.extend_from_slice(br#"{"path":"#);
        buf.extend_from_slice(&self.path_json.1);
        position_json(buf, f);
        buf.extend_from_slice(rule_part.unwrap_or_default());
        buf.extend_from_slice(br#","preview":"#);
        json_str(buf, &f.preview);
        buf.push(b'}');
    }

    fn finish(&mut self, r: &Rest<'_>, scanner: &Scanner) -> io::Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        match self.kind {
            Kind::Human => self.human_tail(r)?,
            Kind::Json => self.json_tail(r)?,
            Kind::Sarif => self.sarif_tail(r, scanner)?,
        }
        self.out.flush()
    }

    fn human_tail(&mut self, r: &Rest<'_>) -> io::Result<()> {
        for l in r.labels {
            writeln!(
                self.out,
                "{}: {LABEL_RULE} [{}] {} {} → {}",
                l.path,
                l.classification,
                l.label.name.as_deref().unwrap_or("(unnamed label)"),
                l.label.id,
                action_word(l.action)
            )?;
        }
        for s in r.suppressed {
            writeln!(
                self.out,
                "{}:{}:{}: {} suppressed by cordon:allow",
                s.path, s.line, s.column, s.rule
            )?;
        }
        for n in r.notes {
            eprintln!("cordon: note: {n}");
        }
        writeln!(
            self.out,
            "{} findings and {} labels in {} files ({} bytes scanned){}",
            self.findings,
            r.labels.len(),
            r.files,
            r.bytes,
            match r.suppressed.len() {
                0 => String::new(),
                n => format!("; {n} suppressed by cordon:allow"),
            }
        )
    }

    fn json_tail(&mut self, r: &Rest<'_>) -> io::Result<()> {
        #[derive(Serialize)]
        struct Tail<'a> {
            #[serde(flatten)]
            rest: &'a Rest<'a>,
            summary: Summary,
        }
        let tail = Tail {
            rest: r,
            summary: Summary {
                files: r.files,
                bytes: r.bytes,
                findings: self.findings,
                labels: r.labels.len(),
                suppressed: r.suppressed.len(),
            },
        };
        // `],` then the tail object's members: its opening brace is dropped.
        let tail = serde_json::to_vec(&tail)?;
        self.out.write_all(b"],")?;
        self.out.write_all(tail.get(1..).unwrap_or_default())?;
        writeln!(self.out)
    }

    /// The results of labels and suppressed findings, then the rules every result names.
    fn sarif_tail(&mut self, r: &Rest<'_>, scanner: &Scanner) -> io::Result<()> {
        let mut comma = self.findings > 0;
        for l in r.labels {
            let result = SarifResult {
                rule_id: LABEL_RULE,
                rule_index: self.rule_index(LABEL_RULE),
                level: level(l.action),
                message: Text {
                    text: format!(
                        "sensitivity label {} ({})",
                        l.label.name.as_deref().unwrap_or(&l.label.id),
                        l.classification
                    ),
                },
                locations: [Location {
                    physical_location: PhysicalLocation {
                        artifact_location: ArtifactLocation { uri: uri(&l.path) },
                        region: None,
                    },
                }],
                properties: ResultProperties {
                    classification: &l.classification,
                    action: l.action,
                    label_id: Some(&l.label.id),
                },
                suppressions: None,
            };
            json_item(&mut self.out, &mut self.item, comma, &result)?;
            comma = true;
        }
        for s in r.suppressed {
            let result = SarifResult {
                rule_id: s.rule,
                rule_index: self.rule_index(s.rule),
                level: level(s.action),
                message: Text {
                    text: format!(
                        "{} ({}) on a line marked cordon:allow",
                        s.rule, s.classification
                    ),
                },
                locations: [Location {
                    physical_location: PhysicalLocation {
                        artifact_location: ArtifactLocation { uri: uri(&s.path) },
                        region: Some(Region {
                            start_line: s.line,
                            start_column: s.column,
                            byte_offset: None,
                            byte_length: None,
                        }),
                    },
                }],
                properties: ResultProperties {
                    classification: s.classification,
                    action: s.action,
                    label_id: None,
                },
                suppressions: Some([Suppression { kind: "inSource" }]),
            };
            json_item(&mut self.out, &mut self.item, comma, &result)?;
            comma = true;
        }
        let rules: Vec<serde_json::Value> = self
            .rule_ids
            .iter()
            .map(|id| match scanner.rules().iter().find(|x| x.id() == *id) {
                Some(rule) => json!({
                    "id": id,
                    "name": rule.spec.name,
                    "shortDescription": {"text": rule.spec.name},
                    "fullDescription": {"text": rule.spec.description.as_deref().unwrap_or(&rule.spec.name)},
                    "properties": {"classification": rule.classification(), "category": rule.spec.category},
                }),
                None => json!({
                    "id": id,
                    "name": "Microsoft Purview sensitivity label",
                    "shortDescription": {"text": "Document carries a sensitivity label"},
                    "properties": {"classification": "label"},
                }),
            })
            .collect();
        let tool = json!({"driver": {
            "name": "cordon-dlp",
            "version": env!("CARGO_PKG_VERSION"),
            "informationUri": "https://example.invalid/cordon/docs/dlp.md",
            "rules": rules,
        }});
        writeln!(self.out, r#"],"tool":{tool}}}]}}"#)
    }
}

/// One element of a JSON array, after a comma unless it is the first, serialised in `scratch`
/// and written to `out` in one piece.
fn json_item(
    out: &mut dyn Write,
    scratch: &mut Vec<u8>,
    comma: bool,
    item: &impl Serialize,
) -> io::Result<()> {
    scratch.clear();
    if comma {
        scratch.push(b',');
    }
    serde_json::to_writer(&mut *scratch, item).map_err(io::Error::from)?;
    out.write_all(scratch)
}

/// A finding as JSON, written by hand: exactly the bytes serde_json writes for a
/// [`FileFinding`] (a test holds them equal), without escaping the constant keys byte by byte,
/// which was most of the cost of a large report.
fn finding_json(buf: &mut Vec<u8>, f: &FileFinding<'_>) {
    buf.extend_from_slice(br#"{"path":"#);
    json_str(buf, f.path);
    position_json(buf, f);
    rule_json(buf, f);
    buf.extend_from_slice(br#","preview":"#);
    json_str(buf, &f.preview);
    buf.push(b'}');
}

/// The members of a finding from `"line"` to `"byteLength"`, each after a comma.
fn position_json(buf: &mut Vec<u8>, f: &FileFinding<'_>) {
    buf.extend_from_slice(br#","line":"#);
    json_usize(buf, f.line);
    buf.extend_from_slice(br#","column":"#);
    json_usize(buf, f.column);
    buf.extend_from_slice(br#","byteOffset":"#);
    json_usize(buf, f.offset);
    buf.extend_from_slice(br#","byteLength":"#);
    json_usize(buf, f.length);
}

/// The members of a finding from `"rule"` to `"action"`, each after a comma.
fn rule_json(buf: &mut Vec<u8>, f: &FileFinding<'_>) {
    buf.extend_from_slice(br#","rule":"#);
    json_str(buf, f.rule);
    buf.extend_from_slice(br#","name":"#);
    json_str(buf, f.name);
    buf.extend_from_slice(br#","classification":"#);
    json_str(buf, f.classification);
    buf.extend_from_slice(br#","action":"#);
    json_str(buf, action_word(f.action));
}

/// `s` as a JSON string, escaped as serde_json escapes: `"`, `\` and control characters (the
/// usual short forms, `\u00XX` for the rest, in lower-case hex); everything else as it is.
fn json_str(buf: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    buf.push(b'"');
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0..=0x1f => 0,
            _ => continue,
        };
        buf.extend_from_slice(bytes.get(from..i).unwrap_or_default());
        if short == 0 {
            let hex = |n: u8| HEX.get(usize::from(n)).copied().unwrap_or(b'0');
            buf.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex(b >> 4), hex(b & 15)]);
        } else {
            buf.extend_from_slice(&[b'\\', short]);
        }
        from = i + 1;
    }
    buf.extend_from_slice(bytes.get(from..).unwrap_or_default());
    buf.push(b'"');
}

/// `n` in decimal.
fn json_usize(buf: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            // The remainder is below ten: the cast keeps it.
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    buf.extend_from_slice(digits.get(at..).unwrap_or_default());
}

fn action_word(a: Action) -> &'static str {
    match a {
        Action::Block => "block",
        Action::Redact => "redact",
        Action::Alert => "alert",
    }
}

#[derive(Serialize)]
struct Summary {
    files: u64,
    bytes: u64,
    findings: usize,
    labels: usize,
    suppressed: usize,
}

fn level(a: Action) -> &'static str {
    match a {
        Action::Block => "error",
        Action::Redact | Action::Alert => "warning",
    }
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: [Location; 1],
    properties: ResultProperties<'a>,
    /// SARIF's way to say a result was reviewed and suppressed in the source.
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressions: Option<[Suppression; 1]>,
}

#[derive(Serialize)]
struct Suppression {
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
    start_column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    byte_offset: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    byte_length: Option<usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultProperties<'a> {
    classification: &'a str,
    action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    label_id: Option<&'a str>,
}

/// A relative reference for a path: SARIF `artifactLocation.uri` is a URI reference, so
/// characters outside the unreserved set and `/` are percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Strings with every kind of byte JSON escapes, and characters beyond ASCII.
    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                (0u32..0x80).prop_map(|c| char::from_u32(c).unwrap_or('x')),
                prop::sample::select(vec!['é', '…', '\u{2028}', '\u{7f}', '😀', '"', '\\']),
            ],
            0..24,
        )
        .prop_map(|c| c.into_iter().collect())
    }

    proptest! {
        /// The hand-written JSON of a finding is byte for byte what serde_json writes.
        #[test]
        fn findings_are_written_as_serde_json_writes_them(
            path in text(),
            preview in text(),
            names in prop::sample::subsequence(
                vec!["aws-access-key-id", "Card \"number\"", "a\\b\tc", "pii:card", "é\u{1}"],
                3,
            ),
            numbers in any::<[usize; 4]>(),
            action in prop::sample::select(vec![Action::Alert, Action::Redact, Action::Block]),
        ) {
            let f = FileFinding {
                rule_index: 0,
                path: &path,
                line: numbers[0],
                column: numbers[1],
                offset: numbers[2],
                length: numbers[3],
                rule: names[0],
                name: names[1],
                classification: names[2],
                action,
                preview,
            };
            let mut ours = Vec::new();
            finding_json(&mut ours, &f);
            let theirs = serde_json::to_vec(&f).unwrap();
            prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
        }
    }

    /// A writer whose bytes the test reads back.
    #[derive(Clone, Default)]
    struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The report's cached parts (a file's path, a rule's members) give the same bytes as
    /// serde_json, as files, rules and actions change from one finding to the next.
    #[test]
    fn cached_parts_write_what_serde_json_writes() {
        let shared = Shared::default();
        let mut out = Output::new(Kind::Json, Box::new(shared.clone()));
        let paths = [
            "a.txt".to_owned(),
            "dir/\"b\".txt".to_owned(),
            "a.txt".to_owned(),
        ];
        let rules = [
            (3, "aws-access-key-id", "AWS \"key\""),
            (0, "email", "E-mail"),
        ];
        let mut expected = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            for (j, &(rule_index, rule, name)) in rules.iter().enumerate() {
                let action = if (i + j) % 2 == 0 {
                    Action::Block
                } else {
                    Action::Alert
                };
                let f = FileFinding {
                    rule_index,
                    path,
                    line: i + 1,
                    column: j + 7,
                    offset: 100 * i + j,
                    length: 20,
                    rule,
                    name,
                    classification: "secret",
                    action,
                    preview: format!("AK\u{1}IA… ({i} bytes)"),
                };
                out.finding(&f);
                expected.push(serde_json::to_string(&f).unwrap());
            }
        }
        let written = String::from_utf8(shared.0.borrow().clone()).unwrap();
        assert_eq!(written, format!("{{\"findings\":[{}", expected.join(",")));
    }

    #[test]
    fn every_ascii_character_is_escaped_as_serde_json_escapes_it() {
        let all: String = (0u8..0x80).map(char::from).collect();
        let mut ours = Vec::new();
        json_str(&mut ours, &all);
        assert_eq!(ours, serde_json::to_vec(&all).unwrap());
        for n in [0, 9, 10, 99, 100, 12_345, usize::MAX] {
            let mut digits = Vec::new();
            json_usize(&mut digits, n);
            assert_eq!(digits, n.to_string().into_bytes());
        }
    }
}
