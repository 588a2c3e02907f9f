//! Capability manifests (SPEC §3): the model, strict parsing and the JSON Schema.

mod approval;
mod model;
mod parse;

pub use approval::ApprovalEntry;
pub use model::{
    ApiGrant, CommandGrant, CommandSpec, CredentialRef, DlpPolicy, HttpEndpoint, Limits, Manifest,
    McpTool,
};
pub(crate) use parse::read_document;
pub use parse::{MAX_MANIFEST_BYTES, parse};

/// The JSON Schema of manifest v1, as committed in `schema/manifest.v1.json`.
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Manifest).to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".to_owned(),
            serde_json::Value::String("https://cordon.dev/schema/manifest.v1.json".to_owned()),
        );
    }
    schema
}

/// The manifest's digest, `sha256:<hex>` of its exact bytes; what revocation lists name.
pub fn digest(bytes: &[u8]) -> String {
    crate::crypto::sha256_id(bytes)
}
