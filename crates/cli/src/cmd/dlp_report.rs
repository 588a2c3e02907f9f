//! Reports of `cordon dlp scan`: for people, as JSON, and as SARIF 2.1.0. None of them holds a
//! found value, only a short preview.

use cordon_dlp::action::Action;
use cordon_dlp::office::SensitivityLabel;
use cordon_dlp::scan::Scanner;
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
    pub rule: String,
    pub name: String,
    pub classification: String,
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

/// Everything a scan produced.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<FileFinding>,
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

pub fn human(r: &Report) {
    for f in &r.findings {
        println!(
            "{}:{}:{}: {} [{}] {} → {}",
            f.path,
            f.line,
            f.column,
            f.rule,
            f.classification,
            f.preview,
            action_word(f.action)
        );
    }
    for l in &r.labels {
        println!(
            "{}: {LABEL_RULE} [{}] {} {} → {}",
            l.path,
            l.classification,
            l.label.name.as_deref().unwrap_or("(unnamed label)"),
            l.label.id,
            action_word(l.action)
        );
    }
    for n in &r.notes {
        eprintln!("cordon: note: {n}");
    }
    println!(
        "{} findings and {} labels in {} files ({} bytes scanned)",
        r.findings.len(),
        r.labels.len(),
        r.files,
        r.bytes
    );
}

pub fn json(r: &Report) -> Value {
    json!({
        "findings": r.findings,
        "labels": r.labels,
        "errors": r.errors,
        "notes": r.notes,
        "summary": {"files": r.files, "bytes": r.bytes, "findings": r.findings.len(), "labels": r.labels.len()},
    })
}

fn level(a: Action) -> &'static str {
    match a {
        Action::Block => "error",
        Action::Redact | Action::Alert => "warning",
    }
}

/// A SARIF 2.1.0 log: one run, the rules that fired in `tool.driver.rules`, one result per
/// finding with its region (lines, code-point columns, byte offsets).
pub fn sarif(r: &Report, scanner: &Scanner) -> Value {
    let mut rule_ids: Vec<&str> = r.findings.iter().map(|f| f.rule.as_str()).collect();
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
    let index = |id: &str| rule_ids.iter().position(|r| *r == id).unwrap_or(0);
    let mut results: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.rule,
                "ruleIndex": index(&f.rule),
                "level": level(f.action),
                "message": {"text": format!("{} ({}) found: {}", f.name, f.classification, f.preview)},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri(&f.path)},
                    "region": {"startLine": f.line, "startColumn": f.column,
                               "byteOffset": f.offset, "byteLength": f.length},
                }}],
                "properties": {"classification": f.classification, "action": f.action},
            })
        })
        .collect();
    results.extend(r.labels.iter().map(|l| {
        json!({
            "ruleId": LABEL_RULE,
            "ruleIndex": index(LABEL_RULE),
            "level": level(l.action),
            "message": {"text": format!("sensitivity label {} ({})", l.label.name.as_deref().unwrap_or(&l.label.id), l.classification)},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(&l.path)}}}],
            "properties": {"classification": l.classification, "action": l.action, "labelId": l.label.id},
        })
    }));
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "cordon-dlp",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/cordon/docs/dlp.md",
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
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
