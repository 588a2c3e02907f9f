//! The capability manifest as written (SPEC M-1): field names, types and documentation. The
//! JSON Schema in `schema/manifest.v1.json` is generated from these types.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// A capability manifest: what one agent, in one role, may read, write, execute, reach and call,
/// and what needs approval first. Everything not granted is denied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "cordon capability manifest v1")]
pub struct Manifest {
    /// The JSON Schema this file follows (ignored by cordon; for editors).
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The agent this manifest is for, e.g. `cowork-lite`.
    pub agent_name: String,
    /// Version of this manifest (`MAJOR.MINOR.PATCH`).
    pub version: String,
    /// What the agent is for, for people reading the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who issued the manifest (team or person), for audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// When the manifest stops being valid (RFC 3339, e.g. `2027-01-31T00:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Files and directories the agent may read. Absolute; `~`, `${HOME}` and `${USER}` are
    /// expanded; a plain path covers its subtree; `*`, `**` and `?` are globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_paths: Vec<String>,
    /// Files and directories the agent may create, change and delete (same syntax).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write_paths: Vec<String>,
    /// Paths denied even where `readPaths` or `writePaths` cover them (same syntax).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_paths: Vec<String>,
    /// Destinations the agent may reach: `scheme://host[:port][/path-prefix]`, with `*.` allowed
    /// as the leftmost label only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_scopes: Vec<String>,
    /// API scopes the agent holds, e.g. `sheets:read`; a trailing `:*` covers every scope below.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_scopes: Vec<String>,
    /// What each API scope means on the wire: HTTP endpoints and MCP tools, and an optional
    /// credential the proxy injects.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique_map"
    )]
    pub apis: BTreeMap<String, ApiGrant>,
    /// Executables the agent may run: absolute paths, optionally with argument patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands_allowed: Vec<CommandGrant>,
    /// What needs a just-in-time approval: an API scope, or `write:<path>`, `network:<scope>`,
    /// `exec:<path>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires_approval: Vec<String>,
    /// Names of environment variables passed to the agent; all others are scrubbed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// What happens to classified content the agent tries to send out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dlp: Option<DlpPolicy>,
    /// Resource limits for the agent's processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

/// The wire meaning of one API scope.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiGrant {
    /// HTTP endpoints this scope covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<HttpEndpoint>,
    /// MCP tools this scope covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_tools: Vec<McpTool>,
    /// A credential the egress proxy adds to requests for this scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialRef>,
}

/// HTTP requests covered by an API scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpEndpoint {
    /// The destination, in network-scope syntax (`https://sheets.example.com/v4`).
    pub url: String,
    /// HTTP methods, upper case (`GET`, `POST`, …).
    pub methods: Vec<String>,
    /// Path globs the request path must match (`/v4/spreadsheets/*/values/**`); any path under
    /// the URL when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
}

/// MCP tools covered by an API scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct McpTool {
    /// The MCP server's name as configured for the agent.
    pub server: String,
    /// The tool name; `*` covers every tool of the server.
    pub tool: String,
}

/// Where the proxy finds a credential. Exactly one of `env`, `file` and `vault`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialRef {
    /// An environment variable of the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// A file readable by the proxy (absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// A HashiCorp Vault KV v2 reference, `mount/path#field`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<String>,
    /// The header that carries it (default `Authorization`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Text put before the secret in the header (default `Bearer ` for `Authorization`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// An executable the agent may run.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum CommandGrant {
    /// Any arguments.
    Path(String),
    /// Only arguments matching the patterns.
    WithArgs(CommandSpec),
}

/// An executable with argument patterns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommandSpec {
    /// Absolute path of the executable.
    pub path: String,
    /// One pattern per argument after the program name: `*` and `?` match within the argument;
    /// a final `**` matches any number of further arguments.
    pub args: Vec<String>,
}

impl CommandGrant {
    /// The executable's path.
    pub fn path(&self) -> &str {
        match self {
            Self::Path(p) => p,
            Self::WithArgs(s) => &s.path,
        }
    }
}

impl<'de> Deserialize<'de> for CommandGrant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CommandGrant;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an executable path or an object with `path` and `args`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommandGrant, E> {
                Ok(CommandGrant::Path(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CommandGrant, A::Error> {
                CommandSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(CommandGrant::WithArgs)
            }
        }
        d.deserialize_any(V)
    }
}

/// Actions per data classification (see the DLP reference for the classification names).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DlpPolicy {
    /// Classifications whose content is blocked from leaving.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub block: Vec<String>,
    /// Classifications whose content is replaced by placeholders before it leaves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redact: Vec<String>,
    /// Classifications that are let through and reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert: Vec<String>,
}

/// Resource limits for the agent's process tree.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Limits {
    /// Maximum number of processes (RLIMIT_NPROC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<u32>,
    /// Maximum address space per process, in MiB (RLIMIT_AS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "memoryMiB")]
    pub memory_mib: Option<u64>,
    /// Maximum open files per process (RLIMIT_NOFILE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_files: Option<u32>,
    /// Maximum CPU time per process, in seconds (RLIMIT_CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<u64>,
    /// Maximum size of a file the agent writes, in MiB (RLIMIT_FSIZE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "fileSizeMiB")]
    pub file_size_mib: Option<u64>,
}

/// Deserialise a map, refusing a key that appears twice (serde would keep the last silently).
fn unique_map<'de, D, V>(d: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct M<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for M<V> {
        type Value = BTreeMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                if out.contains_key(&key) {
                    return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
                }
                let value = map.next_value()?;
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(M(std::marker::PhantomData))
}
