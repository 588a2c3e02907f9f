//! Converts the built-in rule files from TOML, how they are written and reviewed, to JSON, how
//! the binary reads them: JSON parses about four times faster, and every short scan (a hook's)
//! pays for parsing the built-in rules at start-up. The TOML files stay the only source; the
//! build also writes the table that embeds the JSON (`BUILTIN` in `rule.rs`), each file twice:
//! whole, and without the examples, counterexamples and references a scan does not read (they
//! are most of the text: a scan's start-up parses a third as much).

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
         /// script (it parses faster at start-up; see `build.rs`), as (source name, JSON, JSON\n\
         /// without the rules' examples, counterexamples and references).\n\
         pub const BUILTIN: &[(&str, &str, &str)] = &[\n",
    );
    for name in RULE_FILES {
        let path = format!("rules/{name}.toml");
        println!("cargo::rerun-if-changed={path}");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let rules: toml::Table = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        let json = out.join(format!("{name}.json"));
        std::fs::write(&json, serde_json::to_string(&rules)?)?;
        let mut lean = rules;
        if let Some(toml::Value::Array(list)) = lean.get_mut("rules") {
            for rule in list.iter_mut().filter_map(toml::Value::as_table_mut) {
                for key in ["examples", "counterexamples", "references"] {
                    rule.remove(key);
                }
            }
        }
        let lean_json = out.join(format!("{name}.scan.json"));
        std::fs::write(&lean_json, serde_json::to_string(&lean)?)?;
        writeln!(
            table,
            "    (\"builtin:{name}\", include_str!({:?}), include_str!({:?})),",
            json.display().to_string(),
            lean_json.display().to_string()
        )?;
    }
    table.push_str("];\n");
    std::fs::write(out.join("builtin.rs"), table)?;
    Ok(())
}
