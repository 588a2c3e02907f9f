//! Reports of `cordon dlp scan`: for people, as JSON, and as SARIF 2.1.0. None of them holds a
//! found value, only a short preview.

use cordon_dlp::action::Action;
use cordon_dlp::office::SensitivityLabel;
use cordon_dlp::scan::Scanner;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Value, json};

/// A finding in a file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileFinding {
    pub path: String,
    pub line: usize,
    pub column: usize,
    #[serde(rename = "byteOffset")]
    pub offset: usize,
    #[serde(rename = "byteLength")]
    pub length: usize,
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

/// Everything a scan produced.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<FileFinding>,
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

/// The rule id reported for sensitivity labels.
const LABEL_RULE: &str = "mip-sensitivity-label";

fn action_word(a: Action) -> &'static str {
    match a {
        Action::Block => "block",
        Action::Redact => "redact",
        Action::Alert => "alert",
    }
}

/// One line per finding and label, then a summary line.
pub fn human(r: &Report, out: &mut impl Write) -> io::Result<()> {
    for f in &r.findings {
        writeln!(
            out,
            "{}:{}:{}: {} [{}] {} → {}",
            f.path,
            f.line,
            f.column,
            f.rule,
            f.classification,
            f.preview,
            action_word(f.action)
        )?;
    }
    for l in &r.labels {
        writeln!(
            out,
            "{}: {LABEL_RULE} [{}] {} {} → {}",
            l.path,
            l.classification,
            l.label.name.as_deref().unwrap_or("(unnamed label)"),
            l.label.id,
            action_word(l.action)
        )?;
    }
    for n in &r.notes {
        eprintln!("cordon: note: {n}");
    }
    for s in &r.suppressed {
        writeln!(
            out,
            "{}:{}:{}: {} suppressed by cordon:allow",
            s.path, s.line, s.column, s.rule
        )?;
    }
    writeln!(
        out,
        "{} findings and {} labels in {} files ({} bytes scanned){}",
        r.findings.len(),
        r.labels.len(),
        r.files,
        r.bytes,
        match r.suppressed.len() {
            0 => String::new(),
            n => format!("; {n} suppressed by cordon:allow"),
        }
    )
}

#[derive(Serialize)]
struct JsonReport<'a> {
    findings: &'a [FileFinding],
    suppressed: &'a [Suppressed],
    labels: &'a [LabelFinding],
    errors: &'a [String],
    notes: &'a [String],
    summary: Summary,
}

#[derive(Serialize)]
struct Summary {
    files: u64,
    bytes: u64,
    findings: usize,
    labels: usize,
    suppressed: usize,
}

/// One JSON document: findings, labels, errors, notes and a summary.
pub fn json(r: &Report, out: &mut impl Write) -> io::Result<()> {
    let report = JsonReport {
        findings: &r.findings,
        suppressed: &r.suppressed,
        labels: &r.labels,
        errors: &r.errors,
        notes: &r.notes,
        summary: Summary {
            files: r.files,
            bytes: r.bytes,
            findings: r.findings.len(),
            labels: r.labels.len(),
            suppressed: r.suppressed.len(),
        },
    };
    serde_json::to_writer(&mut *out, &report)?;
    writeln!(out)
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

/// A SARIF 2.1.0 log: one run, the rules that fired in `tool.driver.rules`, one result per
/// finding with its region (lines, code-point columns, byte offsets). Results are written one
/// at a time, so a report of a million findings is not built in memory first.
pub fn sarif(r: &Report, scanner: &Scanner, out: &mut impl Write) -> io::Result<()> {
    let mut rule_ids: Vec<&str> = r
        .findings
        .iter()
        .map(|f| f.rule)
        .chain(r.suppressed.iter().map(|s| s.rule))
        .collect();
    if !r.labels.is_empty() {
        rule_ids.push(LABEL_RULE);
    }
    rule_ids.sort_unstable();
    rule_ids.dedup();
    let rules: Vec<Value> = rule_ids
        .iter()
        .map(|id| match scanner.rules().iter().find(|x| x.id() == *id) {
            Some(rule) => json!({
                "id": id,
                "name": rule.spec.name,
                "shortDescription": {"text": rule.spec.name},
                "fullDescription": {"text": rule.spec.description.clone().unwrap_or_else(|| rule.spec.name.clone())},
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
    let index = |id: &str| rule_ids.binary_search(&id).unwrap_or(0);
    let tool = json!({"driver": {
        "name": "cordon-dlp",
        "version": env!("CARGO_PKG_VERSION"),
        "informationUri": "https://example.invalid/cordon/docs/dlp.md",
        "rules": rules,
    }});
    write!(
        out,
        r#"{{"$schema":"https://json.schemastore.org/sarif-2.1.0.json","version":"2.1.0","runs":[{{"tool":{tool},"columnKind":"unicodeCodePoints","results":["#
    )?;
    let findings = r.findings.iter().map(|f| SarifResult {
        rule_id: f.rule,
        rule_index: index(f.rule),
        level: level(f.action),
        message: Text {
            text: format!("{} ({}) found: {}", f.name, f.classification, f.preview),
        },
        locations: [Location {
            physical_location: PhysicalLocation {
                artifact_location: ArtifactLocation { uri: uri(&f.path) },
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
    });
    let labels = r.labels.iter().map(|l| SarifResult {
        rule_id: LABEL_RULE,
        rule_index: index(LABEL_RULE),
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
    });
    let suppressed = r.suppressed.iter().map(|s| SarifResult {
        rule_id: s.rule,
        rule_index: index(s.rule),
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
    });
    for (i, result) in findings.chain(labels).chain(suppressed).enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &result)?;
    }
    writeln!(out, "]}}]}}")
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
