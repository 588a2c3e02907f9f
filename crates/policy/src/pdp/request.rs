//! Requests to the PDP (SPEC P-1), as enforcement points build them or as JSON.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;

use crate::diagnostic::Problems;
use crate::path;
use crate::scope;

/// Requests larger than this are refused before parsing.
pub const MAX_REQUEST_BYTES: usize = 256 << 10;

/// An argument of an [`Resource::Exec`] request that only run time will know, standing for
/// exactly one argument (a quoted variable, say): only a pattern of nothing but `*`, or a final
/// `**`, covers it. No real argument can be equal to it (it starts with a NUL byte).
pub const UNKNOWN_ARG: &str = "\u{0}?";

/// Any number of arguments only run time will know (an unquoted variable, a glob): only a final
/// `**` covers them.
pub const UNKNOWN_ARGS: &str = "\u{0}*";

/// What the agent wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Read a file or list a directory.
    Read,
    /// Create, change or delete a file.
    Write,
    /// Run an executable.
    Exec,
    /// Send an HTTP request.
    Network,
    /// Use an API scope.
    Api,
    /// Call an MCP tool.
    Mcp,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 6] = [
        Action::Read,
        Action::Write,
        Action::Exec,
        Action::Network,
        Action::Api,
        Action::Mcp,
    ];

    /// The action's name as in requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Exec => "exec",
            Self::Network => "network",
            Self::Api => "api",
            Self::Mcp => "mcp",
        }
    }

    /// Parse an action name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The resource an action is on. Paths are normalised; URLs parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A path to read.
    Read {
        /// Normalised absolute path.
        path: String,
    },
    /// A path to write.
    Write {
        /// Normalised absolute path.
        path: String,
    },
    /// A program to run.
    Exec {
        /// Normalised absolute path of the executable.
        command: String,
        /// Arguments after the program name.
        argv: Vec<String>,
    },
    /// An HTTP request.
    Network {
        /// The URL.
        url: Url,
        /// The method, upper case.
        method: String,
    },
    /// An API scope.
    Api {
        /// The scope.
        scope: String,
    },
    /// An MCP tool call.
    Mcp {
        /// The server.
        server: String,
        /// The tool.
        tool: String,
    },
}

impl Resource {
    /// The action this resource is for.
    pub fn action(&self) -> Action {
        match self {
            Self::Read { .. } => Action::Read,
            Self::Write { .. } => Action::Write,
            Self::Exec { .. } => Action::Exec,
            Self::Network { .. } => Action::Network,
            Self::Api { .. } => Action::Api,
            Self::Mcp { .. } => Action::Mcp,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path } | Self::Write { path } => write!(f, "`{path}`"),
            Self::Exec { command, argv } => {
                write!(f, "`{command}")?;
                for a in argv {
                    write!(f, " {a}")?;
                }
                write!(f, "`")
            }
            Self::Network { url, method } => write!(f, "{method} `{url}`"),
            Self::Api { scope } => write!(f, "scope `{scope}`"),
            Self::Mcp { server, tool } => write!(f, "tool `{tool}` of MCP server `{server}`"),
        }
    }
}

/// Who the agent acts for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// The user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The user's groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// An approval that token verification has already checked: which `requiresApproval` entries it
/// unlocks. The token format arrives with the approval service; until then this value is only
/// built by code that has verified a grant (and by `cordon policy eval --assume-grant`, which
/// says so in its output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedGrant {
    id: String,
    covers: Vec<String>,
}

impl VerifiedGrant {
    /// A grant whose signature, expiry, binding and revocation the caller has verified.
    pub fn from_verified(id: impl Into<String>, covers: Vec<String>) -> Self {
        Self {
            id: id.into(),
            covers,
        }
    }

    /// The grant's id, for audit.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether it unlocks this `requiresApproval` entry (as written in the manifest).
    pub fn covers(&self, entry: &str) -> bool {
        self.covers.iter().any(|c| c == entry)
    }
}

/// A request to the PDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What and on what.
    pub resource: Resource,
    /// For whom.
    pub principal: Principal,
    /// Which agent asks.
    pub agent: Option<String>,
    /// Scopes the principal holds (from tokens or the session), e.g. `sensitive-write`.
    pub scopes: Vec<String>,
    /// Verified just-in-time grants.
    pub grants: Vec<VerifiedGrant>,
    /// When the action happens; needed when the manifest expires.
    pub time: Option<OffsetDateTime>,
}

/// The JSON form of a request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    action: Action,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    argv: Option<Vec<String>>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    principal: Option<Principal>,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    time: Option<String>,
}

/// Why a request cannot be decided on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A field the action needs is missing.
    #[error("a `{action}` request needs `{field}`")]
    Missing {
        /// The action.
        action: Action,
        /// The field.
        field: &'static str,
    },
    /// A field that does not belong to the action.
    #[error("`{field}` does not belong in a `{action}` request")]
    Extra {
        /// The action.
        action: Action,
        /// The field.
        field: &'static str,
    },
    /// A bad path.
    #[error("`{field}`: {source}")]
    Path {
        /// `path` or `command`.
        field: &'static str,
        /// What is wrong.
        source: path::PathError,
    },
    /// A bad URL.
    #[error("`url`: {0}")]
    Url(scope::UrlError),
    /// A bad method.
    #[error("`method` `{0}` is not an HTTP method")]
    Method(String),
    /// A bad time.
    #[error("`time` `{0}` is not an RFC 3339 time")]
    Time(String),
    /// An empty name.
    #[error("`{0}` is empty")]
    Empty(&'static str),
}

fn need<T>(action: Action, field: &'static str, v: Option<T>) -> Result<T, RequestError> {
    v.ok_or(RequestError::Missing { action, field })
}

impl Request {
    /// A request for `resource` with nothing else set.
    pub fn new(resource: Resource) -> Self {
        Self {
            resource,
            principal: Principal::default(),
            agent: None,
            scopes: Vec::new(),
            grants: Vec::new(),
            time: None,
        }
    }

    /// A read request (the path is normalised).
    pub fn read(path: &str) -> Result<Self, RequestError> {
        Ok(Self::new(Resource::Read {
            path: norm("path", path)?,
        }))
    }

    /// A write request (the path is normalised).
    pub fn write(path: &str) -> Result<Self, RequestError> {
        Ok(Self::new(Resource::Write {
            path: norm("path", path)?,
        }))
    }

    /// An exec request.
    pub fn exec(command: &str, argv: Vec<String>) -> Result<Self, RequestError> {
        Ok(Self::new(Resource::Exec {
            command: norm("command", command)?,
            argv,
        }))
    }

    /// A network request.
    pub fn network(url: &str, method: &str) -> Result<Self, RequestError> {
        Ok(Self::new(Resource::Network {
            url: scope::parse_request_url(url).map_err(RequestError::Url)?,
            method: valid_method(method)?,
        }))
    }

    /// An API scope request.
    pub fn api(scope: &str) -> Result<Self, RequestError> {
        if scope.is_empty() {
            return Err(RequestError::Empty("scope"));
        }
        Ok(Self::new(Resource::Api {
            scope: scope.to_owned(),
        }))
    }

    /// An MCP tool request.
    pub fn mcp(server: &str, tool: &str) -> Result<Self, RequestError> {
        if server.is_empty() {
            return Err(RequestError::Empty("server"));
        }
        if tool.is_empty() {
            return Err(RequestError::Empty("tool"));
        }
        Ok(Self::new(Resource::Mcp {
            server: server.to_owned(),
            tool: tool.to_owned(),
        }))
    }

    /// The action.
    pub fn action(&self) -> Action {
        self.resource.action()
    }

    /// Parse a JSON request (the form `cordon policy eval` takes and Rego sees as `input`).
    /// Grants cannot be given in JSON: they only come from verified tokens.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Problems> {
        let (wire, src) =
            crate::manifest::read_document::<Wire>(bytes, "request", "request", MAX_REQUEST_BYTES)
                .map_err(|mut e| {
                    for p in &mut e.problems {
                        if p.message.contains("unknown field `grants`") {
                            p.help = Some(
                        "grants come from verified approval tokens, never from the request body"
                            .into(),
                    );
                        }
                    }
                    e
                })?;
        Self::from_wire(wire).map_err(|e| {
            Problems::one(
                "request",
                "request",
                src,
                "request::invalid".into(),
                e.to_string(),
            )
        })
    }

    fn from_wire(w: Wire) -> Result<Self, RequestError> {
        let a = w.action;
        let extra = |field: &'static str, present: bool| {
            if present {
                Err(RequestError::Extra { action: a, field })
            } else {
                Ok(())
            }
        };
        let path_fields = w.path.is_some();
        let net_fields = [w.url.is_some(), w.method.is_some()];
        let exec_fields = [w.command.is_some(), w.argv.is_some()];
        let mcp_fields = [w.server.is_some(), w.tool.is_some()];
        if a != Action::Read && a != Action::Write {
            extra("path", path_fields)?;
        }
        if a != Action::Network {
            extra("url", net_fields[0])?;
            extra("method", net_fields[1])?;
        }
        if a != Action::Exec {
            extra("command", exec_fields[0])?;
            extra("argv", exec_fields[1])?;
        }
        if a != Action::Api {
            extra("scope", w.scope.is_some())?;
        }
        if a != Action::Mcp {
            extra("server", mcp_fields[0])?;
            extra("tool", mcp_fields[1])?;
        }
        let mut req = match a {
            Action::Read => Self::read(&need(a, "path", w.path)?)?,
            Action::Write => Self::write(&need(a, "path", w.path)?)?,
            Action::Exec => {
                Self::exec(&need(a, "command", w.command)?, w.argv.unwrap_or_default())?
            }
            Action::Network => Self::network(
                &need(a, "url", w.url)?,
                w.method.as_deref().unwrap_or("GET"),
            )?,
            Action::Api => Self::api(&need(a, "scope", w.scope)?)?,
            Action::Mcp => Self::mcp(&need(a, "server", w.server)?, &need(a, "tool", w.tool)?)?,
        };
        req.principal = w.principal.unwrap_or_default();
        req.agent = w.agent;
        req.scopes = w.scopes;
        req.time = match w.time {
            None => None,
            Some(t) => {
                Some(OffsetDateTime::parse(&t, &Rfc3339).map_err(|_| RequestError::Time(t))?)
            }
        };
        Ok(req)
    }

    /// The request as JSON, the document Rego policies see as `input`.
    pub fn to_input(&self) -> serde_json::Value {
        use serde_json::{Value, json};
        let mut obj = serde_json::Map::new();
        obj.insert("action".into(), json!(self.action().as_str()));
        match &self.resource {
            Resource::Read { path } | Resource::Write { path } => {
                obj.insert("path".into(), json!(path));
            }
            Resource::Exec { command, argv } => {
                obj.insert("command".into(), json!(command));
                obj.insert("argv".into(), json!(argv));
            }
            Resource::Network { url, method } => {
                obj.insert("url".into(), json!(url.as_str()));
                obj.insert("method".into(), json!(method));
                obj.insert("host".into(), json!(url.host_str()));
                obj.insert("port".into(), json!(url.port_or_known_default()));
                obj.insert("urlPath".into(), json!(url.path()));
            }
            Resource::Api { scope } => {
                obj.insert("scope".into(), json!(scope));
            }
            Resource::Mcp { server, tool } => {
                obj.insert("server".into(), json!(server));
                obj.insert("tool".into(), json!(tool));
            }
        }
        obj.insert(
            "principal".into(),
            serde_json::to_value(&self.principal).unwrap_or(Value::Null),
        );
        if let Some(agent) = &self.agent {
            obj.insert("agent".into(), json!(agent));
        }
        obj.insert("scopes".into(), json!(self.scopes));
        obj.insert(
            "grants".into(),
            Value::Array(self.grants.iter().map(|g| json!(g.id())).collect()),
        );
        if let Some(t) = self.time {
            obj.insert("time".into(), json!(t.format(&Rfc3339).ok()));
        }
        Value::Object(obj)
    }
}

impl Request {
    /// The same document as [`Request::to_input`], built directly as a Rego value (the form the
    /// decision path hands to policies, without a JSON detour).
    pub fn to_rego_input(&self) -> regorus::Value {
        use std::collections::BTreeMap;

        use regorus::Value as V;
        let strings = |items: &[String]| {
            V::from(
                items
                    .iter()
                    .map(|s| V::from(s.as_str()))
                    .collect::<Vec<_>>(),
            )
        };
        let mut obj: BTreeMap<V, V> = BTreeMap::new();
        let mut put = |k: &str, v: V| {
            obj.insert(V::from(k), v);
        };
        put("action", V::from(self.action().as_str()));
        match &self.resource {
            Resource::Read { path } | Resource::Write { path } => {
                put("path", V::from(path.as_str()))
            }
            Resource::Exec { command, argv } => {
                put("command", V::from(command.as_str()));
                put("argv", strings(argv));
            }
            Resource::Network { url, method } => {
                put("url", V::from(url.as_str()));
                put("method", V::from(method.as_str()));
                put("host", url.host_str().map_or(V::Null, V::from));
                put(
                    "port",
                    url.port_or_known_default()
                        .map_or(V::Null, |p| V::from(u32::from(p))),
                );
                put("urlPath", V::from(url.path()));
            }
            Resource::Api { scope } => put("scope", V::from(scope.as_str())),
            Resource::Mcp { server, tool } => {
                put("server", V::from(server.as_str()));
                put("tool", V::from(tool.as_str()));
            }
        }
        let mut principal: BTreeMap<V, V> = BTreeMap::new();
        if let Some(u) = &self.principal.user {
            principal.insert(V::from("user"), V::from(u.as_str()));
        }
        if !self.principal.groups.is_empty() {
            principal.insert(V::from("groups"), strings(&self.principal.groups));
        }
        if let Some(d) = &self.principal.device {
            principal.insert(V::from("device"), V::from(d.as_str()));
        }
        put("principal", V::from(principal));
        if let Some(agent) = &self.agent {
            put("agent", V::from(agent.as_str()));
        }
        put("scopes", strings(&self.scopes));
        put(
            "grants",
            V::from(
                self.grants
                    .iter()
                    .map(|g| V::from(g.id()))
                    .collect::<Vec<_>>(),
            ),
        );
        if let Some(t) = self.time.and_then(|t| t.format(&Rfc3339).ok()) {
            put("time", V::from(t));
        }
        V::from(obj)
    }
}

fn norm(field: &'static str, p: &str) -> Result<String, RequestError> {
    path::normalize(p).map_err(|source| RequestError::Path { field, source })
}

fn valid_method(m: &str) -> Result<String, RequestError> {
    if !m.is_empty() && m.len() <= 32 && m.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(m.to_ascii_uppercase())
    } else {
        Err(RequestError::Method(m.chars().take(40).collect()))
    }
}
