//! Converts the built-in rule files from TOML, how they are written and reviewed, to JSON, how
//! the binary reads them: JSON parses about four times faster, and every short scan (a hook's)
//! pays for loading the built-in rules at start-up. The TOML files stay the only source; the
//! build also writes the table that embeds the JSON (`BUILTIN` in `rule.rs`, what `rules check`
//! and `rules list` load), and the rules' scan fields as static Rust data (`BUILTIN_SCAN`, what a
//! scan loads: no parsing, and none of the examples, counterexamples and references that are
//! most of the text).

use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;

/// The files under `rules/`, in the order the rule set loads them (a rule's index in a scanner
/// follows it). Every `rules/*.toml` must be listed.
const RULE_FILES: &[&str] = &[
    "cloud", "devtools", "saas", "ai", "generic", "pii", "markings",
];

fn main() -> Result<(), Box<dyn Error>> {
    let out = std::env::var_os("OUT_DIR").ok_or("cargo did not set OUT_DIR")?;
    let out = Path::new(&out);
    println!("cargo::rerun-if-changed=rules");
    for entry in std::fs::read_dir("rules")? {
        let path = entry?.path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if path.extension().is_some_and(|e| e == "toml") && !RULE_FILES.contains(&stem) {
            return Err(format!("{}: not listed in RULE_FILES in build.rs", path.display()).into());
        }
    }
    let mut table = String::from(
        "/// The rule files compiled into cordon: `rules/*.toml`, converted to JSON by the build\n\
         /// script (it parses faster; see `build.rs`), as (source name, JSON).\n\
         pub const BUILTIN: &[(&str, &str)] = &[\n",
    );
    for name in RULE_FILES {
        let path = format!("rules/{name}.toml");
        println!("cargo::rerun-if-changed={path}");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let rules: toml::Table = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        let json = out.join(format!("{name}.json"));
        std::fs::write(&json, serde_json::to_string(&rules)?)?;
        writeln!(
            table,
            "    (\"builtin:{name}\", include_str!({:?})),",
            json.display().to_string()
        )?;
    }
    table.push_str("];\n");
    table.push_str(&scan_table()?);
    std::fs::write(out.join("builtin.rs"), table)?;
    Ok(())
}

/// The fields of a rule a scan reads, and the ones only `rules check` and `rules list` read.
const SCAN_FIELDS: &[&str] = &[
    "id",
    "name",
    "classification",
    "category",
    "description",
    "keywords",
    "digits",
    "before",
    "pattern",
    "entropy",
    "validator",
    "precheck",
    "fallback",
];
const DOC_FIELDS: &[&str] = &["examples", "counterexamples", "references"];

/// `BUILTIN_SCAN`: every built-in rule's scan fields as static `RuleSpec`s borrowing their text
/// from the binary, so that a scan's start-up neither parses JSON nor copies strings. Types and
/// field names are checked here; the rule checks proper (ids, patterns, …) run at load as for
/// any rule, and a test compares the table with the JSON.
fn scan_table() -> Result<String, Box<dyn Error>> {
    let mut out = String::from(
        "/// The built-in rules' scan fields, as (source name, rules); see `build.rs`.\n\
         static BUILTIN_SCAN: &[(&str, &[RuleSpec])] = &[\n",
    );
    // (lowercase keyword, rule index in load order), for the keyword index below.
    let mut pairs: Vec<(String, usize)> = Vec::new();
    let mut index = 0;
    for name in RULE_FILES {
        let path = format!("rules/{name}.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let file: toml::Table = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        writeln!(out, "    (\"builtin:{name}\", &[")?;
        let rules = match file.get("rules") {
            Some(toml::Value::Array(rules)) => rules.as_slice(),
            _ => &[],
        };
        for rule in rules {
            let rule = rule
                .as_table()
                .ok_or(format!("{path}: a rule is not a table"))?;
            let id = rule.get("id").and_then(toml::Value::as_str).unwrap_or("?");
            let fail = |what: &str| format!("{path}: rule `{id}`: {what}");
            if let Some(k) = rule
                .keys()
                .find(|k| !SCAN_FIELDS.contains(&k.as_str()) && !DOC_FIELDS.contains(&k.as_str()))
            {
                return Err(fail(&format!("unknown field `{k}`")).into());
            }
            let text = |key: &str| -> Result<String, String> {
                match rule.get(key) {
                    None => Ok("None".into()),
                    Some(toml::Value::String(v)) => Ok(format!("Some(Cow::Borrowed({v:?}))")),
                    Some(_) => Err(fail(&format!("`{key}` is not a string"))),
                }
            };
            let required = |key: &str| -> Result<String, String> {
                match rule.get(key) {
                    Some(toml::Value::String(v)) => Ok(format!("{v:?}")),
                    _ => Err(fail(&format!("`{key}` is missing or not a string"))),
                }
            };
            let number = |key: &str| -> Result<Option<i64>, String> {
                match rule.get(key) {
                    None => Ok(None),
                    Some(toml::Value::Integer(n)) if *n >= 0 => Ok(Some(*n)),
                    Some(_) => Err(fail(&format!("`{key}` is not a whole number"))),
                }
            };
            let variant = |key: &str, ty: &str| -> Result<String, String> {
                match rule.get(key) {
                    None => Ok("None".into()),
                    Some(toml::Value::String(v)) => {
                        // kebab-case as serde reads it, to the Rust variant name.
                        let camel: String = v
                            .split('-')
                            .map(|w| {
                                let mut c = w.chars();
                                c.next()
                                    .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
                            })
                            .collect();
                        Ok(format!("Some({ty}::{camel})"))
                    }
                    Some(_) => Err(fail(&format!("`{key}` is not a string"))),
                }
            };
            let keywords = match rule.get("keywords") {
                None => Vec::new(),
                Some(toml::Value::Array(list)) => list
                    .iter()
                    .map(|k| {
                        k.as_str()
                            .map(|k| {
                                pairs.push((k.to_ascii_lowercase(), index));
                                format!("Cow::Borrowed({k:?})")
                            })
                            .ok_or_else(|| fail("a keyword is not a string"))
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(fail("`keywords` is not a list").into()),
            };
            index += 1;
            let entropy = match rule.get("entropy") {
                None => "None".to_owned(),
                Some(toml::Value::Float(f)) => format!("Some({f:?})"),
                Some(toml::Value::Integer(n)) => format!("Some({n}.0)"),
                Some(_) => return Err(fail("`entropy` is not a number").into()),
            };
            let fallback = match rule.get("fallback") {
                None => false,
                Some(toml::Value::Boolean(b)) => *b,
                Some(_) => return Err(fail("`fallback` is not true or false").into()),
            };
            writeln!(
                out,
                "        RuleSpec {{ id: Cow::Borrowed({}), name: Cow::Borrowed({}), classification: Cow::Borrowed({}), category: {}, description: {}, keywords: Cow::Borrowed(&[{}]), digits: {}, before: {}, pattern: Cow::Borrowed({}), entropy: {entropy}, validator: {}, precheck: {}, fallback: {fallback}, examples: Vec::new(), counterexamples: Vec::new(), references: Vec::new() }},",
                required("id")?,
                required("name")?,
                required("classification")?,
                text("category")?,
                text("description")?,
                keywords.join(", "),
                number("digits")?.map_or("None".into(), |n| format!("Some({n})")),
                number("before")?.unwrap_or(0),
                required("pattern")?,
                variant("validator", "Validator")?,
                variant("precheck", "Precheck")?,
            )?;
        }
        writeln!(out, "    ]),")?;
    }
    out.push_str("];\n");
    // What `Scanner::new` works out from the rules at start-up, done here for the built-in
    // ones (a test compares the two).
    pairs.sort_unstable();
    pairs.dedup();
    out.push_str(
        "/// Every distinct built-in keyword, lowercase and sorted, with the built-in rules it\n\
         /// triggers (indexes in load order); see `build.rs`.\n\
         static BUILTIN_KEYWORDS: &[(&str, &[u32])] = &[\n",
    );
    for group in pairs.chunk_by(|a, b| a.0 == b.0) {
        let Some((keyword, _)) = group.first() else {
            continue;
        };
        let rules: Vec<String> = group.iter().map(|(_, i)| i.to_string()).collect();
        writeln!(out, "    ({keyword:?}, &[{}]),", rules.join(", "))?;
    }
    out.push_str("];\n");
    Ok(out)
}
