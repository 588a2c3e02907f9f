//! The policy decision point (SPEC §5).
//!
//! [`Pdp::compile`] turns a verified manifest (and optional Rego policies) into matchers once;
//! [`Pdp::decide`] then answers requests without I/O. The order is SPEC P-2: default deny →
//! manifest grants → `denyPaths` → `requiresApproval` (unless a verified grant covers the entry)
//! → Rego policies. Deny always wins: a policy can turn an allow or an approval into a deny,
//! nothing turns a deny into anything else. [`Pdp::explain`] walks the same code and records
//! each step for people (SPEC P-4).

mod decision;
mod rego;
mod request;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;

pub use decision::{Decision, Effect, Obligation, Reason, Rule};
pub use rego::{
    EVAL_LIMIT, RegoError, RegoPolicy, RegoVerdict, TestOutcome, TestResult, run_tests,
};
pub use request::{
    Action, MAX_REQUEST_BYTES, Principal, Request, RequestError, Resource, UNKNOWN_ARG,
    UNKNOWN_ARGS, VerifiedGrant,
};

use crate::manifest::{ApprovalEntry, CommandGrant, Manifest};
use crate::path::{self, Expansion, GrantPath, PathSet};
use crate::scope::{ApiScopePattern, HostPattern, NetScope};

/// What compiling needs besides the manifest.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// The user and home that `~`, `${HOME}` and `${USER}` stand for. Required when the
    /// manifest uses them.
    pub expansion: Option<Expansion>,
    /// Rego policies, in order.
    pub policies: Vec<RegoPolicy>,
}

/// A manifest that cannot be compiled (it passed parsing, so this is about the context).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// A path could not be expanded.
    #[error("`{field}[{index}]`: {message}")]
    Path {
        /// The manifest field.
        field: &'static str,
        /// Its index.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// The manifest uses `~` or a variable but no user was given.
    #[error(
        "`{field}[{index}]` uses `~`, `${{HOME}}` or `${{USER}}`, and no user was given to expand them"
    )]
    NoUser {
        /// The manifest field.
        field: &'static str,
        /// Its index.
        index: usize,
    },
    /// Something else in the manifest did not compile.
    #[error("{0}")]
    Other(String),
}

#[derive(Debug, Clone)]
struct Endpoint {
    api: usize,
    scope: String,
    url: NetScope,
    methods: Vec<String>,
    paths: Option<GlobSet>,
}

#[derive(Debug, Clone)]
struct Tool {
    api: usize,
    scope: String,
    server: String,
    tool: String,
}

#[derive(Debug, Clone)]
struct Command {
    path: String,
    args: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
struct Approval {
    raw: String,
    entry: ApprovalEntry,
}

/// A compiled manifest and policies: the decision point.
#[derive(Debug, Clone)]
pub struct Pdp {
    agent: String,
    expires: Option<OffsetDateTime>,
    read_paths: Vec<GrantPath>,
    write_paths: Vec<GrantPath>,
    deny_paths: Vec<GrantPath>,
    read: PathSet,
    write: PathSet,
    deny: PathSet,
    network: Vec<NetScope>,
    network_raw: Vec<String>,
    api_scopes: Vec<ApiScopePattern>,
    api_raw: Vec<String>,
    apis_with_credentials: Vec<bool>,
    endpoints: Vec<Endpoint>,
    tools: Vec<Tool>,
    commands: Vec<Command>,
    approvals: Vec<Approval>,
    /// Path entries of `requiresApproval`: (entry index, action, matcher).
    approval_paths: Vec<(usize, Action, PathSet)>,
    policies: Vec<RegoPolicy>,
    inspect_content: bool,
}

fn uses_user(raw: &str) -> bool {
    raw.starts_with('~') || raw.contains("${")
}

fn expand_all(
    field: &'static str,
    raws: &[String],
    ctx: Option<&Expansion>,
) -> Result<Vec<GrantPath>, CompileError> {
    raws.iter()
        .enumerate()
        .map(|(index, raw)| {
            let ctx = match ctx {
                Some(c) => c.clone(),
                None if uses_user(raw) => return Err(CompileError::NoUser { field, index }),
                None => Expansion::placeholder(),
            };
            path::expand(raw, &ctx)
                .map(|expanded| GrantPath {
                    raw: raw.clone(),
                    expanded,
                })
                .map_err(|e| CompileError::Path {
                    field,
                    index,
                    message: e.to_string(),
                })
        })
        .collect()
}

fn path_set(paths: &[GrantPath]) -> Result<PathSet, CompileError> {
    PathSet::new(paths.iter().map(|p| p.expanded.as_str()))
        .map_err(|e| CompileError::Other(e.to_string()))
}

impl Pdp {
    /// Compile a manifest (already parsed and, for enforcement, verified).
    pub fn compile(m: &Manifest, opts: &CompileOptions) -> Result<Self, CompileError> {
        let ctx = opts.expansion.as_ref();
        let read_paths = expand_all("readPaths", &m.read_paths, ctx)?;
        let write_paths = expand_all("writePaths", &m.write_paths, ctx)?;
        let deny_paths = expand_all("denyPaths", &m.deny_paths, ctx)?;
        let other = |e: String| CompileError::Other(e);
        let network = m
            .network_scopes
            .iter()
            .map(|s| NetScope::parse(s).map_err(|e| other(format!("`{s}`: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let api_scopes = m
            .api_scopes
            .iter()
            .map(|s| ApiScopePattern::parse(s).map_err(|e| other(format!("`{s}`: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let mut endpoints = Vec::new();
        let mut tools = Vec::new();
        let mut apis_with_credentials = Vec::new();
        for (api, (scope, grant)) in m.apis.iter().enumerate() {
            apis_with_credentials.push(grant.credential.is_some());
            for ep in &grant.endpoints {
                let url =
                    NetScope::parse(&ep.url).map_err(|e| other(format!("`{}`: {e}", ep.url)))?;
                let paths = if ep.paths.is_empty() {
                    None
                } else {
                    let mut b = GlobSetBuilder::new();
                    for p in &ep.paths {
                        b.add(
                            GlobBuilder::new(p)
                                .literal_separator(true)
                                .backslash_escape(false)
                                .build()
                                .map_err(|e| other(format!("`{p}`: {e}")))?,
                        );
                    }
                    Some(b.build().map_err(|e| other(e.to_string()))?)
                };
                endpoints.push(Endpoint {
                    api,
                    scope: scope.clone(),
                    url,
                    methods: ep.methods.clone(),
                    paths,
                });
            }
            for t in &grant.mcp_tools {
                tools.push(Tool {
                    api,
                    scope: scope.clone(),
                    server: t.server.clone(),
                    tool: t.tool.clone(),
                });
            }
        }
        let commands = m
            .commands_allowed
            .iter()
            .map(|c| match c {
                CommandGrant::Path(p) => Command {
                    path: p.clone(),
                    args: None,
                },
                CommandGrant::WithArgs(s) => Command {
                    path: s.path.clone(),
                    args: Some(s.args.clone()),
                },
            })
            .collect();
        let mut approvals = Vec::new();
        let mut approval_paths = Vec::new();
        for (i, raw) in m.requires_approval.iter().enumerate() {
            let entry = ApprovalEntry::parse(raw).map_err(|e| other(format!("`{raw}`: {e}")))?;
            let path_entry = match &entry {
                ApprovalEntry::Read(p) => Some((Action::Read, p)),
                ApprovalEntry::Write(p) => Some((Action::Write, p)),
                _ => None,
            };
            if let Some((action, p)) = path_entry {
                let expanded = expand_all("requiresApproval", std::slice::from_ref(p), ctx)?;
                approval_paths.push((i, action, path_set(&expanded)?));
            }
            approvals.push(Approval {
                raw: raw.clone(),
                entry,
            });
        }
        let expires = match &m.expires {
            None => None,
            Some(t) => Some(
                OffsetDateTime::parse(t, &Rfc3339)
                    .map_err(|_| other(format!("`expires` `{t}` is not an RFC 3339 time")))?,
            ),
        };
        Ok(Self {
            agent: m.agent_name.clone(),
            expires,
            read: path_set(&read_paths)?,
            write: path_set(&write_paths)?,
            deny: path_set(&deny_paths)?,
            read_paths,
            write_paths,
            deny_paths,
            network,
            network_raw: m.network_scopes.clone(),
            api_scopes,
            api_raw: m.api_scopes.clone(),
            apis_with_credentials,
            endpoints,
            tools,
            commands,
            approvals,
            approval_paths,
            policies: opts.policies.clone(),
            inspect_content: m.dlp.is_some(),
        })
    }

    /// The agent the manifest is for.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// The loaded Rego policies.
    pub fn policies(&self) -> &[RegoPolicy] {
        &self.policies
    }

    /// Decide a request.
    pub fn decide(&self, req: &Request) -> Decision {
        self.evaluate(req, &mut None)
    }

    /// Decide a request and record, for people, every step that led to the decision.
    pub fn explain(&self, req: &Request) -> (Decision, Vec<String>) {
        let mut steps = Some(Vec::new());
        let decision = self.evaluate(req, &mut steps);
        (decision, steps.unwrap_or_default())
    }

    /// A description of a rule for people: the manifest field, index and value.
    pub fn describe(&self, rule: Rule) -> String {
        let at = |field: &str, i: usize, v: Option<String>| match v {
            Some(v) => format!("{field}[{i}] {v}"),
            None => format!("{field}[{i}]"),
        };
        match rule {
            Rule::ReadPaths(i) => at(
                "readPaths",
                i,
                self.read_paths.get(i).map(ToString::to_string),
            ),
            Rule::WritePaths(i) => at(
                "writePaths",
                i,
                self.write_paths.get(i).map(ToString::to_string),
            ),
            Rule::DenyPaths(i) => at(
                "denyPaths",
                i,
                self.deny_paths.get(i).map(ToString::to_string),
            ),
            Rule::NetworkScopes(i) => at(
                "networkScopes",
                i,
                self.network_raw.get(i).map(|s| format!("`{s}`")),
            ),
            Rule::ApiScopes(i) => at(
                "apiScopes",
                i,
                self.api_raw.get(i).map(|s| format!("`{s}`")),
            ),
            Rule::Apis(i) => match (
                self.endpoints.get(i),
                self.tools.get(i.wrapping_sub(self.endpoints.len())),
            ) {
                (Some(e), _) => format!(
                    "apis[`{}`] endpoint `{}` {}",
                    e.scope,
                    e.url,
                    e.methods.join(",")
                ),
                (None, Some(t)) => {
                    format!("apis[`{}`] MCP tool `{}`/`{}`", t.scope, t.server, t.tool)
                }
                (None, None) => format!("apis entry {i}"),
            },
            Rule::CommandsAllowed(i) => at(
                "commandsAllowed",
                i,
                self.commands.get(i).map(|c| format!("`{}`", c.path)),
            ),
            Rule::RequiresApproval(i) => at(
                "requiresApproval",
                i,
                self.approvals.get(i).map(|a| format!("`{}`", a.raw)),
            ),
            Rule::Policy(i) => self.policies.get(i).map_or_else(
                || format!("policy {i}"),
                |p| format!("policy `{}` ({})", p.name(), p.package()),
            ),
            Rule::Expires => "expires".to_owned(),
        }
    }

    /// Whether a grant that covers `method` to `url` names the URL's host exactly: a
    /// `networkScopes` entry, or an `apis` endpoint with that method, whose host is written as
    /// the same host. The proxy lets a request reach a loopback or private address only then.
    pub fn names_host(&self, method: &str, url: &Url) -> bool {
        let exact =
            |scope: &NetScope| matches!(&scope.host, HostPattern::Exact(_)) && scope.covers(url);
        self.network.iter().any(exact)
            || self
                .endpoints
                .iter()
                .any(|e| exact(&e.url) && e.methods.iter().any(|m| m == method))
    }

    /// Whether a grant that reaches the URL's scheme, host and port (at some path, with some
    /// method) is written with that host: what a tunnel opened for inspection may connect to.
    pub fn names_host_anywhere(&self, url: &Url) -> bool {
        let exact = |scope: &NetScope| {
            matches!(&scope.host, HostPattern::Exact(_)) && scope.covers_host(url)
        };
        self.network.iter().any(exact)
            || self
                .endpoints
                .iter()
                .any(|e| exact(&e.url) && self.scope_granted(&e.scope))
    }

    /// Whether any grant reaches the URL's scheme, host and port at some path or with some
    /// method: a `networkScopes` entry, or an endpoint of a granted API scope. A proxy that can
    /// see inside TLS opens a tunnel on this and decides each request in it.
    pub fn grants_host(&self, url: &Url) -> bool {
        self.network.iter().any(|s| s.covers_host(url))
            || self
                .endpoints
                .iter()
                .any(|e| e.url.covers_host(url) && self.scope_granted(&e.scope))
    }

    /// Whether an endpoint of a granted API scope that carries a `credential` reaches the URL's
    /// host and port: requests there must be seen (TLS inspected) so the credential can be added.
    pub fn injects_on_host(&self, url: &Url) -> bool {
        self.endpoints.iter().any(|e| {
            e.url.covers_host(url)
                && self.scope_granted(&e.scope)
                && self
                    .apis_with_credentials
                    .get(e.api)
                    .copied()
                    .unwrap_or(false)
        })
    }

    /// The `requiresApproval` entry a rule names, if it names one.
    pub fn approval_entry(&self, rule: Rule) -> Option<&str> {
        match rule {
            Rule::RequiresApproval(i) => self.approvals.get(i).map(|a| a.raw.as_str()),
            _ => None,
        }
    }

    fn evaluate(&self, req: &Request, trace: &mut Option<Vec<String>>) -> Decision {
        macro_rules! note {
            ($($arg:tt)*) => {
                if let Some(t) = trace.as_mut() {
                    t.push(format!($($arg)*));
                }
            };
        }
        note!("request: {} {}", req.action(), req.resource);

        // Expiry first: an expired manifest grants nothing.
        if let Some(expires) = self.expires {
            match req.time {
                None => {
                    note!("the manifest expires and the request carries no time: deny");
                    return Decision::new(Reason::InvalidRequest, Some(Rule::Expires));
                }
                Some(t) if t >= expires => {
                    note!(
                        "the manifest expired at {}: deny",
                        crate::trust::format_time(expires)
                    );
                    return Decision::new(Reason::ManifestExpired, Some(Rule::Expires));
                }
                Some(_) => {}
            }
        }

        // 1. Grants (default deny).
        let mut api_hits: Vec<usize> = Vec::new();
        let mut obligations = Vec::new();
        let granted = match &req.resource {
            Resource::Read { path } => self.read.find(path).map(Rule::ReadPaths),
            Resource::Write { path } => self.write.find(path).map(Rule::WritePaths),
            Resource::Exec { command, argv } => {
                let mut path_granted = false;
                let hit = self.commands.iter().position(|c| {
                    if c.path != *command {
                        return false;
                    }
                    path_granted = true;
                    c.args.as_ref().is_none_or(|pats| args_match(pats, argv))
                });
                if hit.is_none() && path_granted {
                    note!(
                        "`{command}` is granted, but no argument pattern matches the arguments given: deny"
                    );
                    return Decision::new(
                        Reason::ArgsNotAllowed,
                        self.commands
                            .iter()
                            .position(|c| c.path == *command)
                            .map(Rule::CommandsAllowed),
                    );
                }
                hit.map(Rule::CommandsAllowed)
            }
            Resource::Network { url, method } => {
                for (i, e) in self.endpoints.iter().enumerate() {
                    let path_ok = e.paths.as_ref().is_none_or(|g| g.is_match(url.path()));
                    if e.url.covers(url) && path_ok && e.methods.iter().any(|m| m == method) {
                        api_hits.push(i);
                    }
                }
                let by_scope = self
                    .network
                    .iter()
                    .position(|s| s.covers(url))
                    .map(Rule::NetworkScopes);
                by_scope.or_else(|| {
                    api_hits
                        .iter()
                        .copied()
                        .find(|&i| {
                            self.endpoints
                                .get(i)
                                .is_some_and(|e| self.scope_granted(&e.scope))
                        })
                        .map(Rule::Apis)
                })
            }
            Resource::Api { scope } => self
                .api_scopes
                .iter()
                .position(|p| p.covers(scope))
                .map(Rule::ApiScopes),
            Resource::Mcp { server, tool } => {
                for (i, t) in self.tools.iter().enumerate() {
                    if t.server == *server && (t.tool == "*" || t.tool == *tool) {
                        api_hits.push(self.endpoints.len() + i);
                    }
                }
                api_hits
                    .iter()
                    .copied()
                    .find(|&i| self.api_scope_of(i).is_some_and(|s| self.scope_granted(s)))
                    .map(Rule::Apis)
            }
        };
        let Some(grant) = granted else {
            note!("no grant covers it: {}", self.grants_hint(req));
            return Decision::new(Reason::NoGrant, None);
        };
        note!("granted by {}", self.describe(grant));
        // A credential is injected for the first granted API whose endpoint or tool the request
        // hits, whichever grant allowed it (a `networkScopes` entry may cover the same host).
        let credential = api_hits
            .iter()
            .filter(|&&h| self.api_scope_of(h).is_some_and(|s| self.scope_granted(s)))
            .filter_map(|&h| self.api_index_of(h))
            .find(|&api| {
                self.apis_with_credentials
                    .get(api)
                    .copied()
                    .unwrap_or(false)
            });
        if let Some(api) = credential {
            obligations.push(Obligation::InjectCredential { api });
        }
        if self.inspect_content
            && matches!(req.action(), Action::Network | Action::Api | Action::Mcp)
        {
            obligations.push(Obligation::InspectContent);
        }

        // 2. denyPaths beat grants.
        let denied_path = match &req.resource {
            Resource::Read { path } | Resource::Write { path } => self.deny.find(path),
            Resource::Exec { command, .. } => self.deny.find(command),
            _ => None,
        };
        if let Some(i) = denied_path {
            let d = Decision::new(Reason::DeniedPath, Some(Rule::DenyPaths(i)));
            note!("but {} denies it: deny", self.describe(Rule::DenyPaths(i)));
            return d;
        }

        // 3. requiresApproval, unless a verified grant covers the entry.
        let mut pending = None;
        let mut approval_id = None;
        for i in self.matching_approvals(req, &api_hits) {
            let Some(a) = self.approvals.get(i) else {
                continue;
            };
            match req.grants.iter().find(|g| g.covers(&a.raw)) {
                Some(g) => {
                    note!(
                        "{} needs approval; verified grant `{}` covers it",
                        self.describe(Rule::RequiresApproval(i)),
                        g.id()
                    );
                    approval_id = Some(g.id().to_owned());
                }
                None => {
                    note!(
                        "{} needs approval and no verified grant covers it",
                        self.describe(Rule::RequiresApproval(i))
                    );
                    pending.get_or_insert(i);
                }
            }
        }

        // 4. Rego policies: any objection denies.
        let applicable = self
            .policies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.applies_to(req.action()));
        let mut input = None;
        for (i, policy) in applicable {
            let input = input.get_or_insert_with(|| req.to_rego_input());
            match policy.evaluate(input) {
                Ok(RegoVerdict::Pass) => note!("{} agrees", self.describe(Rule::Policy(i))),
                Ok(RegoVerdict::Deny(messages)) => {
                    note!(
                        "{} denies it{}",
                        self.describe(Rule::Policy(i)),
                        if messages.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", messages.join("; "))
                        }
                    );
                    let mut d = Decision::new(Reason::PolicyDenied, Some(Rule::Policy(i)));
                    d.messages = messages;
                    return d;
                }
                Err(e) => {
                    note!("{} failed: {e}: deny", self.describe(Rule::Policy(i)));
                    let mut d = Decision::new(Reason::PolicyError, Some(Rule::Policy(i)));
                    d.messages = vec![e];
                    return d;
                }
            }
        }

        if let Some(i) = pending {
            note!(
                "result: approval required for `{}`",
                self.approvals.get(i).map_or("", |a| a.raw.as_str())
            );
            return Decision::new(Reason::ApprovalRequired, Some(Rule::RequiresApproval(i)));
        }
        let reason = if approval_id.is_some() {
            Reason::GrantedWithApproval
        } else {
            Reason::Granted
        };
        let mut d = Decision::new(reason, Some(grant));
        d.approval_id = approval_id;
        d.obligations = obligations;
        note!("result: allow");
        d
    }

    fn scope_granted(&self, scope: &str) -> bool {
        self.api_scopes.iter().any(|p| p.covers(scope))
    }

    fn api_scope_of(&self, hit: usize) -> Option<&str> {
        match self.endpoints.get(hit) {
            Some(e) => Some(&e.scope),
            None => self
                .tools
                .get(hit.checked_sub(self.endpoints.len())?)
                .map(|t| t.scope.as_str()),
        }
    }

    fn api_index_of(&self, hit: usize) -> Option<usize> {
        match self.endpoints.get(hit) {
            Some(e) => Some(e.api),
            None => self
                .tools
                .get(hit.checked_sub(self.endpoints.len())?)
                .map(|t| t.api),
        }
    }

    fn matching_approvals(&self, req: &Request, api_hits: &[usize]) -> Vec<usize> {
        let mut out = Vec::new();
        if self.approvals.is_empty() {
            return out;
        }
        if let Resource::Read { path } | Resource::Write { path } = &req.resource {
            // Every entry covering the path counts, not only the first.
            for (i, action, set) in &self.approval_paths {
                if *action == req.action() && set.find(path).is_some() {
                    out.push(*i);
                }
            }
        }
        for (i, a) in self.approvals.iter().enumerate() {
            let hit = match (&a.entry, &req.resource) {
                (ApprovalEntry::Scope(p), Resource::Api { scope }) => p.covers(scope),
                (ApprovalEntry::Scope(p), Resource::Network { .. } | Resource::Mcp { .. }) => {
                    api_hits
                        .iter()
                        .any(|&h| self.api_scope_of(h).is_some_and(|s| p.covers(s)))
                }
                (ApprovalEntry::Network(s), Resource::Network { url, .. }) => s.covers(url),
                (ApprovalEntry::Exec(p), Resource::Exec { command, .. }) => p == command,
                _ => false,
            };
            if hit {
                out.push(i);
            }
        }
        out.sort_unstable();
        out
    }

    fn grants_hint(&self, req: &Request) -> String {
        let list = |name: &str, items: Vec<String>| {
            if items.is_empty() {
                format!("the manifest has no {name}")
            } else {
                format!("{name} are {}", items.join(", "))
            }
        };
        match &req.resource {
            Resource::Read { .. } => list(
                "readPaths",
                self.read_paths.iter().map(ToString::to_string).collect(),
            ),
            Resource::Write { .. } => list(
                "writePaths",
                self.write_paths.iter().map(ToString::to_string).collect(),
            ),
            Resource::Exec { .. } => list(
                "commandsAllowed",
                self.commands
                    .iter()
                    .map(|c| format!("`{}`", c.path))
                    .collect(),
            ),
            Resource::Network { .. } => {
                let mut all: Vec<String> =
                    self.network_raw.iter().map(|s| format!("`{s}`")).collect();
                all.extend(
                    self.endpoints.iter().map(|e| {
                        format!("`{}` ({} via `{}`)", e.url, e.methods.join(","), e.scope)
                    }),
                );
                list("networkScopes and apis endpoints", all)
            }
            Resource::Api { .. } => list(
                "apiScopes",
                self.api_raw.iter().map(|s| format!("`{s}`")).collect(),
            ),
            Resource::Mcp { .. } => list(
                "MCP tools",
                self.tools
                    .iter()
                    .map(|t| format!("`{}`/`{}` (`{}`)", t.server, t.tool, t.scope))
                    .collect(),
            ),
        }
    }
}

/// Match arguments against patterns: one pattern per argument, `*`/`?` within it, a final `**`
/// for any further arguments.
fn args_match(patterns: &[String], argv: &[String]) -> bool {
    let mut args = argv.iter();
    for (i, p) in patterns.iter().enumerate() {
        if p == "**" && i + 1 == patterns.len() {
            return true;
        }
        match args.next() {
            // Any number of arguments: only a final `**`, handled above, covers them.
            Some(a) if a == UNKNOWN_ARGS => return false,
            // One argument of any value: only a pattern of nothing but `*` covers it.
            Some(a) if a == UNKNOWN_ARG => {
                if p.is_empty() || p.bytes().any(|b| b != b'*') {
                    return false;
                }
            }
            Some(a) if crate::wildcard::matches(p.as_bytes(), a.as_bytes()) => {}
            _ => return false,
        }
    }
    args.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_patterns() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(args_match(&s(&["status"]), &s(&["status"])));
        assert!(!args_match(&s(&["status"]), &s(&["status", "-s"])));
        assert!(args_match(&s(&["log", "**"]), &s(&["log", "-p", "x"])));
        assert!(args_match(&s(&["log", "**"]), &s(&["log"])));
        assert!(!args_match(&s(&["log", "**"]), &s(&["push"])));
        assert!(args_match(&s(&[]), &s(&[])));
    }

    #[test]
    fn arguments_only_run_time_knows_match_only_wildcards() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let one = UNKNOWN_ARG;
        let many = UNKNOWN_ARGS;
        assert!(args_match(&s(&["log", "*"]), &s(&["log", one])));
        assert!(args_match(&s(&["log", "**"]), &s(&["log", one])));
        assert!(args_match(&s(&["log", "**"]), &s(&["log", many])));
        assert!(!args_match(&s(&["log", "*"]), &s(&["log", many])));
        assert!(!args_match(&s(&["log", "-?"]), &s(&["log", one])));
        assert!(!args_match(&s(&["log", "?"]), &s(&["log", one])));
        assert!(!args_match(&s(&["log", "--format=*"]), &s(&["log", one])));
        assert!(!args_match(&s(&["log"]), &s(&["log", many])));
    }

    #[test]
    fn only_a_grant_written_with_the_host_names_it() {
        let m = crate::manifest::parse(
            br#"{"agentName":"a","version":"1.0.0","networkScopes":["http://*:8080","http://10.0.0.7:8080/api"],
                "apiScopes":["x:read"],"apis":{"x:read":{"endpoints":[{"url":"https://10.0.0.8","methods":["GET"]}]}}}"#,
            "m.json",
        )
        .unwrap();
        let pdp = Pdp::compile(&m, &CompileOptions::default()).unwrap();
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(pdp.names_host("GET", &url("http://10.0.0.7:8080/api/v1")));
        // Covered by `*` only: outside the written path, or another address.
        assert!(!pdp.names_host("GET", &url("http://10.0.0.7:8080/admin")));
        assert!(!pdp.names_host("GET", &url("http://10.0.0.9:8080/api")));
        // An endpoint names its host for its own methods.
        assert!(pdp.names_host("GET", &url("https://10.0.0.8/x")));
        assert!(!pdp.names_host("POST", &url("https://10.0.0.8/x")));
        // Some grant reaches these hosts at some path or with some method.
        assert!(pdp.grants_host(&url("http://10.0.0.7:8080/admin")));
        assert!(!pdp.grants_host(&url("https://10.0.0.8:444/")));
        assert!(!pdp.injects_on_host(&url("https://10.0.0.8/")));
        // At some path: what a tunnel opened for inspection may connect to.
        assert!(pdp.names_host_anywhere(&url("http://10.0.0.7:8080/")));
        assert!(!pdp.names_host_anywhere(&url("http://10.0.0.9:8080/")));
    }
}
