//! The committed JSON Schema is the one the code generates.

use crate::repo_file;

#[test]
fn committed_schema_matches_the_code() {
    let committed: serde_json::Value =
        serde_json::from_slice(&repo_file("schema/manifest.v1.json")).unwrap();
    let generated = cordon_policy::manifest::json_schema();
    assert!(
        committed == generated,
        "schema/manifest.v1.json is stale: run `cordon manifest schema > schema/manifest.v1.json`"
    );
}

#[test]
fn schema_is_strict() {
    let s = cordon_policy::manifest::json_schema();
    assert_eq!(s["additionalProperties"], false);
    let required: Vec<&str> = s["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["agentName", "version"]);
}
