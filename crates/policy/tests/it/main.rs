//! Integration tests of the policy core: the playbook's acceptance cases, path-safety
//! properties, malformed input, and the committed JSON Schema.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod malformed;
mod path_safety;
mod playbook;
mod rego;
mod schema;

/// A file of the repository, by path from its root.
pub fn repo_file(path: &str) -> Vec<u8> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    std::fs::read(format!("{root}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}
