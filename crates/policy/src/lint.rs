//! Manifest lint (SPEC M-4): grants that parse but should make a reviewer stop.
//!
//! Each finding has a stable code (`L001`…) and name, a severity, the field it is about and its
//! line and column. Codes are never reused; see `docs/lint.md` for the list with examples.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::diagnostic::line_column;
use crate::json_span;
use crate::manifest::{ApprovalEntry, Manifest};
use crate::path::{self, Expansion, prefix_covers};
use crate::scope::{ApiScopePattern, HostPattern, NetScope};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Should be fixed or justified; `--deny warnings` fails on it.
    Warning,
    /// Must be fixed: lint fails.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// A lint rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LintRule {
    /// Stable code.
    pub code: &'static str,
    /// Stable name.
    pub name: &'static str,
    /// What it flags.
    pub summary: &'static str,
}

macro_rules! rules {
    ($($id:ident = $code:literal, $name:literal, $summary:literal;)*) => {
        $(
            #[doc = $summary]
            pub const $id: LintRule = LintRule { code: $code, name: $name, summary: $summary };
        )*
        /// Every lint rule, in code order.
        pub const RULES: &[LintRule] = &[$($id),*];
    };
}

rules! {
    BROAD_PATH = "L001", "broad-path", "a path grant covers `/`, a home directory, a system tree or uses `**`";
    WILDCARD_HOST = "L002", "wildcard-host", "a network scope matches every host, a whole top-level domain or every subdomain";
    PLAINTEXT_HTTP = "L003", "plaintext-http", "a network scope or API endpoint uses `http://`";
    WRITE_OUTSIDE_READ = "L004", "write-outside-read", "a write path is not covered by any read path";
    INTERPRETER = "L005", "interpreter", "a shell, interpreter or command runner in `commandsAllowed` is an escape hatch";
    CREDENTIAL_STORE = "L006", "credential-store", "a read path exposes a credential store (`~/.ssh`, `~/.aws`, keychains, …)";
    APPROVAL_UNMATCHED = "L007", "approval-matches-nothing", "a `requiresApproval` entry can never match a granted action";
    BROAD_API_SCOPE = "L008", "broad-api-scope", "an API scope grant is `*`";
    NO_EXPIRY = "L009", "no-expiry", "the manifest has no `expires`";
    SECRET_ENV = "L010", "secret-env", "an `env` name looks like a credential or changes how programs load code";
    DUPLICATE = "L011", "duplicate", "an entry is listed twice";
    WRITABLE_COMMAND = "L012", "writable-command", "a granted executable lies under a write path, so the agent could replace it";
    UNUSED_API = "L013", "unused-api", "an `apis` entry describes a scope that `apiScopes` does not grant";
    DENY_UNUSED = "L014", "deny-path-unused", "a `denyPaths` entry is not under any read or write grant";
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code, e.g. `L001`.
    pub code: &'static str,
    /// Stable name, e.g. `broad-path`.
    pub name: &'static str,
    /// How serious.
    pub severity: Severity,
    /// What is wrong here.
    pub message: String,
    /// The field as a JSON pointer.
    pub field: String,
    /// 1-based line (0 when the source is not known).
    pub line: usize,
    /// 1-based column (0 when the source is not known).
    pub column: usize,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<&'static str>,
}

/// Programs that run arbitrary code they are given: granting one grants everything.
const INTERPRETERS: &[&str] = &[
    "sh",
    "bash",
    "dash",
    "zsh",
    "ksh",
    "mksh",
    "csh",
    "tcsh",
    "fish",
    "ash",
    "busybox",
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "node",
    "nodejs",
    "deno",
    "bun",
    "php",
    "lua",
    "luajit",
    "tclsh",
    "wish",
    "pwsh",
    "powershell",
    "osascript",
    "env",
    "xargs",
    "sudo",
    "su",
    "doas",
    "pkexec",
    "nohup",
    "setsid",
    "timeout",
    "nice",
    "ionice",
    "stdbuf",
    "chroot",
    "unshare",
    "nsenter",
    "strace",
    "gdb",
    "script",
    "expect",
    "awk",
    "gawk",
    "mawk",
    "nawk",
    "jshell",
    "irb",
    "R",
    "Rscript",
    "julia",
    "ssh",
    "docker",
    "podman",
    "kubectl",
    "systemd-run",
    "at",
    "crontab",
];

/// Credential stores, relative to a home directory.
const CREDENTIAL_STORES: &[&str] = &[
    ".ssh",
    ".aws",
    ".gnupg",
    ".kube",
    ".docker",
    ".azure",
    ".config/gcloud",
    ".config/gh",
    ".local/share/keyrings",
    "Library/Keychains",
    ".password-store",
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".cargo/credentials.toml",
    ".vault-token",
    ".config/op",
];

/// Environment names that change how programs load code.
const LOADER_ENV: &[&str] = &[
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "DYLD_INSERT_LIBRARIES",
    "DYLD_LIBRARY_PATH",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "NODE_OPTIONS",
    "PERL5LIB",
    "PERL5OPT",
    "RUBYOPT",
    "BASH_ENV",
    "ENV",
    "PROMPT_COMMAND",
    "GIT_SSH_COMMAND",
    "GIT_EXEC_PATH",
];

/// Words of an environment name (split at `_`) that mark a credential.
const SECRET_WORDS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "SECRETS",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "APIKEY",
    "CREDENTIAL",
    "CREDENTIALS",
    "AUTH",
    "PAT",
    "PRIVATE",
];

/// Whether an environment name looks like it carries a credential: a secret word as a whole
/// `_`-separated part, or `…_KEY` after `API`, `ACCESS`, `SECRET` or `PRIVATE`.
fn looks_secret(upper: &str) -> bool {
    let parts: Vec<&str> = upper.split('_').collect();
    parts.iter().any(|p| SECRET_WORDS.contains(p))
        || parts
            .windows(2)
            .any(|w| matches!(w, [a, "KEY"] if matches!(*a, "API" | "ACCESS" | "SECRET" | "PRIVATE" | "SIGNING")))
}

const SYSTEM_TREES: &[&str] = &[
    "/", "/home", "/Users", "/root", "/etc", "/usr", "/var", "/proc", "/sys", "/dev", "/tmp",
];

struct Linter<'a> {
    src: Option<&'a str>,
    findings: Vec<Finding>,
}

impl Linter<'_> {
    fn add(
        &mut self,
        rule: LintRule,
        severity: Severity,
        field: String,
        message: String,
        help: &'static str,
    ) {
        let (line, column) = self
            .src
            .and_then(|src| json_span::locate(src, &field).map(|(at, _)| line_column(src, at)))
            .unwrap_or((0, 0));
        self.findings.push(Finding {
            code: rule.code,
            name: rule.name,
            severity,
            message,
            field,
            line,
            column,
            help: (!help.is_empty()).then_some(help),
        });
    }
}

fn expanded(raws: &[String], ctx: &Expansion) -> Vec<Option<String>> {
    raws.iter().map(|r| path::expand(r, ctx).ok()).collect()
}

/// A glob-free prefix of a (possibly glob) path: what it certainly lies under.
fn literal_prefix(p: &str) -> &str {
    match p.find(['*', '?']) {
        None => p,
        Some(at) => {
            let head = p.get(..at).unwrap_or("/");
            match head.rfind('/') {
                Some(0) | None => "/",
                Some(slash) => head.get(..slash).unwrap_or("/"),
            }
        }
    }
}

/// Whether grant `g` (maybe a glob) could cover `p`.
fn may_cover(g: &str, p: &str) -> bool {
    if path::is_glob(g) {
        path::PathSet::new([g]).is_ok_and(|s| s.find(p).is_some())
    } else {
        prefix_covers(g, p)
    }
}

/// Lint a manifest. `src` (its JSON text) gives findings line and column; `ctx` is the user and
/// home that `~` stands for (a placeholder is fine for templates).
pub fn lint(m: &Manifest, src: Option<&str>, ctx: &Expansion) -> Vec<Finding> {
    use Severity::{Error, Info, Warning};
    let mut l = Linter {
        src,
        findings: Vec::new(),
    };
    let reads = expanded(&m.read_paths, ctx);
    let writes = expanded(&m.write_paths, ctx);
    let denies = expanded(&m.deny_paths, ctx);
    let home = ctx.home.as_str();

    // L001 broad paths, L004 writes outside reads.
    for (field, list, raws) in [
        ("readPaths", &reads, &m.read_paths),
        ("writePaths", &writes, &m.write_paths),
    ] {
        for (i, p) in list.iter().enumerate() {
            let Some(p) = p else { continue };
            let raw = raws.get(i).map_or("", String::as_str);
            let lit = literal_prefix(p);
            let at = format!("/{field}/{i}");
            if lit == "/" || SYSTEM_TREES.contains(&lit) || lit == home || is_home_dir(lit) {
                let sev = if lit == "/" || field == "writePaths" {
                    Error
                } else {
                    Warning
                };
                l.add(
                    BROAD_PATH,
                    sev,
                    at.clone(),
                    format!(
                        "`{raw}` grants {}",
                        if lit == "/" {
                            "the whole file system".to_owned()
                        } else if path::is_glob(p) {
                            format!("matches across `{lit}`")
                        } else if SYSTEM_TREES.contains(&lit) {
                            "a whole system tree".to_owned()
                        } else {
                            "a whole home directory".to_owned()
                        }
                    ),
                    "grant the project or document folders the agent works on",
                );
            } else if p.contains("**") {
                l.add(
                    BROAD_PATH,
                    Warning,
                    at.clone(),
                    format!("`{raw}` uses `**`, which matches at any depth"),
                    "name the directories instead, or use `*` within one level",
                );
            }
            if field == "writePaths" && !reads.iter().flatten().any(|r| may_cover(r, p)) {
                l.add(
                    WRITE_OUTSIDE_READ,
                    Warning,
                    at,
                    format!("`{raw}` may be written but not read"),
                    "add it (or a parent) to `readPaths`, or drop the write grant",
                );
            }
        }
    }

    // L006 credential stores, read or (worse: planted keys, changed config) written.
    let granted = reads
        .iter()
        .zip(&m.read_paths)
        .enumerate()
        .map(|(i, (p, raw))| ("readPaths", i, p, raw))
        .chain(
            writes
                .iter()
                .zip(&m.write_paths)
                .enumerate()
                .map(|(i, (p, raw))| ("writePaths", i, p, raw)),
        );
    for (field, i, p, raw) in granted {
        let Some(p) = p else { continue };
        let lit = literal_prefix(p);
        let mut homes = BTreeSet::from([home.to_owned()]);
        homes.extend(home_of(lit));
        let mut exposed = BTreeSet::new();
        for h in &homes {
            for store in CREDENTIAL_STORES {
                let full = format!("{}/{store}", h.trim_end_matches('/'));
                let open = if prefix_covers(&full, lit) {
                    !denies.iter().flatten().any(|d| may_cover(d, lit))
                } else if may_cover(p, &full) {
                    !denies.iter().flatten().any(|d| may_cover(d, &full))
                } else {
                    false
                };
                if open {
                    exposed.insert(format!("~/{store}"));
                }
            }
        }
        if !exposed.is_empty() {
            let list: Vec<String> = exposed.into_iter().map(|s| format!("`{s}`")).collect();
            l.add(
                CREDENTIAL_STORE,
                Error,
                format!("/{field}/{i}"),
                format!("`{raw}` exposes {}", list.join(", ")),
                "narrow the path, or add the stores to `denyPaths`",
            );
        }
    }

    // L002 wildcard hosts, L003 plaintext.
    let mut scopes: Vec<(String, NetScope)> = Vec::new();
    for (i, s) in m.network_scopes.iter().enumerate() {
        if let Ok(ns) = NetScope::parse(s) {
            scopes.push((format!("/networkScopes/{i}"), ns));
        }
    }
    for (scope, api) in &m.apis {
        let base = format!("/apis/{}", scope.replace('~', "~0").replace('/', "~1"));
        for (j, ep) in api.endpoints.iter().enumerate() {
            if let Ok(ns) = NetScope::parse(&ep.url) {
                scopes.push((format!("{base}/endpoints/{j}/url"), ns));
            }
        }
    }
    for (at, ns) in &scopes {
        match &ns.host {
            HostPattern::Any => l.add(
                WILDCARD_HOST,
                Error,
                at.clone(),
                format!("`{ns}` reaches every host"),
                "name the hosts the agent needs",
            ),
            HostPattern::Subdomains(d) if !d.contains('.') => l.add(
                WILDCARD_HOST,
                Error,
                at.clone(),
                format!("`*.{d}` covers a whole top-level domain"),
                "name the hosts the agent needs",
            ),
            HostPattern::Subdomains(d) => l.add(
                WILDCARD_HOST,
                Warning,
                at.clone(),
                format!("`*.{d}` covers every subdomain of `{d}`"),
                "name the hosts the agent needs, if you can",
            ),
            HostPattern::Exact(_) => {}
        }
        if ns.scheme == "http" {
            l.add(
                PLAINTEXT_HTTP,
                Warning,
                at.clone(),
                format!("`{ns}` is plaintext HTTP: readable and changeable on the way"),
                "use `https://`",
            );
        }
    }

    // L005 interpreters, L012 writable commands.
    for (i, c) in m.commands_allowed.iter().enumerate() {
        let p = c.path();
        let base = p.rsplit('/').next().unwrap_or(p);
        let stem = base.trim_end_matches(|ch: char| ch.is_ascii_digit() || ch == '.');
        if INTERPRETERS.contains(&base) || INTERPRETERS.contains(&stem) {
            l.add(INTERPRETER, Warning, format!("/commandsAllowed/{i}"), format!("`{p}` runs whatever code it is given: the agent can do anything its sandbox allows"), "grant the specific tools instead, or keep this and rely on the sandbox and a narrow manifest");
        }
        if writes.iter().flatten().any(|w| may_cover(w, p)) {
            l.add(
                WRITABLE_COMMAND,
                Error,
                format!("/commandsAllowed/{i}"),
                format!("`{p}` lies under a write path: the agent could replace it"),
                "keep granted executables out of write paths",
            );
        }
    }

    // L007 approval entries that match nothing.
    let api_patterns: Vec<ApiScopePattern> = m
        .api_scopes
        .iter()
        .filter_map(|s| ApiScopePattern::parse(s).ok())
        .collect();
    for (i, raw) in m.requires_approval.iter().enumerate() {
        let Ok(entry) = ApprovalEntry::parse(raw) else {
            continue;
        };
        let matches = match &entry {
            ApprovalEntry::Scope(p) => match p {
                ApiScopePattern::Exact(s) => api_patterns.iter().any(|g| g.covers(s)),
                ApiScopePattern::Prefix(pre) => api_patterns.iter().any(|g| match g {
                    ApiScopePattern::Exact(s) => p.covers(s),
                    ApiScopePattern::Prefix(gp) => {
                        gp.starts_with(pre.as_str()) || pre.starts_with(gp.as_str())
                    }
                }),
            },
            ApprovalEntry::Read(p) | ApprovalEntry::Write(p) => {
                let grants = if matches!(entry, ApprovalEntry::Read(_)) {
                    &reads
                } else {
                    &writes
                };
                path::expand(p, ctx).is_ok_and(|e| {
                    grants.iter().flatten().any(|g| {
                        may_cover(g, literal_prefix(&e)) || may_cover(&e, literal_prefix(g))
                    })
                })
            }
            ApprovalEntry::Network(s) => scopes.iter().any(|(_, g)| overlaps(g, s)),
            ApprovalEntry::Exec(p) => m.commands_allowed.iter().any(|c| c.path() == p),
        };
        if !matches {
            l.add(
                APPROVAL_UNMATCHED,
                Warning,
                format!("/requiresApproval/{i}"),
                format!("`{raw}` matches nothing the manifest grants, so it never applies"),
                "grant the action it guards, or fix the entry",
            );
        }
    }

    // L008 broad API scopes, L013 unused apis.
    for (i, s) in m.api_scopes.iter().enumerate() {
        if s == "*" {
            l.add(
                BROAD_API_SCOPE,
                Warning,
                format!("/apiScopes/{i}"),
                "`*` grants every API scope".into(),
                "list the scopes the agent needs",
            );
        }
    }
    for scope in m.apis.keys() {
        if !api_patterns.iter().any(|p| p.covers(scope)) {
            let at = format!("/apis/{}", scope.replace('~', "~0").replace('/', "~1"));
            l.add(
                UNUSED_API,
                Info,
                at,
                format!("`{scope}` is described in `apis` but not granted in `apiScopes`"),
                "",
            );
        }
    }

    // L009 no expiry.
    if m.expires.is_none() {
        l.add(
            NO_EXPIRY,
            Info,
            "/agentName".into(),
            "the manifest never expires".into(),
            "set `expires` so that forgotten grants lapse",
        );
    }

    // L010 env names.
    for (i, name) in m.env.iter().enumerate() {
        let upper = name.to_ascii_uppercase();
        if LOADER_ENV.contains(&upper.as_str()) {
            l.add(
                SECRET_ENV,
                Warning,
                format!("/env/{i}"),
                format!("`{name}` changes how programs load code"),
                "leave it out: the sandbox sets what programs need",
            );
        } else if looks_secret(&upper) {
            l.add(
                SECRET_ENV,
                Warning,
                format!("/env/{i}"),
                format!("`{name}` looks like a credential passed to the agent"),
                "inject credentials at the proxy with an `apis` credential reference instead",
            );
        }
    }

    // L011 duplicates.
    for (field, list) in [
        ("readPaths", &m.read_paths),
        ("writePaths", &m.write_paths),
        ("denyPaths", &m.deny_paths),
        ("networkScopes", &m.network_scopes),
        ("apiScopes", &m.api_scopes),
        ("requiresApproval", &m.requires_approval),
        ("env", &m.env),
    ] {
        let mut seen = BTreeSet::new();
        for (i, v) in list.iter().enumerate() {
            if !seen.insert(v) {
                l.add(
                    DUPLICATE,
                    Warning,
                    format!("/{field}/{i}"),
                    format!("`{v}` is listed twice"),
                    "",
                );
            }
        }
    }

    // L014 deny paths under no grant.
    for (i, d) in denies.iter().enumerate() {
        let Some(d) = d else { continue };
        let under = reads
            .iter()
            .chain(writes.iter())
            .flatten()
            .any(|g| may_cover(g, literal_prefix(d)) || may_cover(d, literal_prefix(g)));
        if !under {
            let raw = m.deny_paths.get(i).map_or("", String::as_str);
            l.add(
                DENY_UNUSED,
                Info,
                format!("/denyPaths/{i}"),
                format!("`{raw}` is not under any grant, so it denies nothing that was allowed"),
                "",
            );
        }
    }

    l.findings
        .sort_by(|a, b| (a.line, a.column, a.code).cmp(&(b.line, b.column, b.code)));
    l.findings
}

/// The home directory a path lies in, if it lies in one (`/home/u/x` → `/home/u`).
fn home_of(p: &str) -> Option<String> {
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        [top @ ("home" | "Users"), user, ..] => Some(format!("/{top}/{user}")),
        ["root", ..] => Some("/root".to_owned()),
        _ => None,
    }
}

fn is_home_dir(p: &str) -> bool {
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    matches!(parts.as_slice(), ["home" | "Users", _] | ["root"])
}

fn overlaps(grant: &NetScope, entry: &NetScope) -> bool {
    if grant.scheme != entry.scheme || grant.port != entry.port {
        return false;
    }
    let host = match (&grant.host, &entry.host) {
        (HostPattern::Any, _) | (_, HostPattern::Any) => true,
        (HostPattern::Exact(a), HostPattern::Exact(b)) => a == b,
        (HostPattern::Subdomains(d), HostPattern::Exact(h))
        | (HostPattern::Exact(h), HostPattern::Subdomains(d)) => h.ends_with(&format!(".{d}")),
        (HostPattern::Subdomains(a), HostPattern::Subdomains(b)) => {
            a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}"))
        }
    };
    host && (prefix_covers(&grant.path, &entry.path) || prefix_covers(&entry.path, &grant.path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse;

    fn codes(json: &str) -> Vec<&'static str> {
        let m = parse(json.as_bytes(), "t.json").unwrap();
        lint(&m, Some(json), &Expansion::placeholder())
            .into_iter()
            .map(|f| f.name)
            .collect()
    }

    #[test]
    fn flags_each_case_of_the_spec() {
        let c = codes(
            r#"{"agentName":"a","version":"1.0.0","readPaths":["/"],"expires":"2030-01-01T00:00:00Z"}"#,
        );
        assert!(
            c.contains(&"broad-path") && c.contains(&"credential-store"),
            "{c:?}"
        );
        let c = codes(
            r#"{"agentName":"a","version":"1.0.0","readPaths":["~"],"expires":"2030-01-01T00:00:00Z"}"#,
        );
        assert!(
            c.contains(&"broad-path") && c.contains(&"credential-store"),
            "{c:?}"
        );
        let c = codes(
            r#"{"agentName":"a","version":"1.0.0","readPaths":["~/.aws/config"],"expires":"2030-01-01T00:00:00Z"}"#,
        );
        assert_eq!(c, ["credential-store"]);
        let c = codes(
            r#"{"agentName":"a","version":"1.0.0","readPaths":["~/w/**/x"],"expires":"2030-01-01T00:00:00Z"}"#,
        );
        assert_eq!(c, ["broad-path"]);
        let c = codes(
            r#"{"agentName":"a","version":"1.0.0","networkScopes":["https://*","http://x.example.com","https://*.com","https://*.example.com"],"expires":"2030-01-01T00:00:00Z"}"#,
        );
        assert_eq!(
            c,
            [
                "wildcard-host",
                "plaintext-http",
                "wildcard-host",
                "wildcard-host"
            ]
        );
        let c = codes(
            r#"{"agentName":"a","version":"1.0.0","readPaths":["~/a"],"writePaths":["~/b"],"expires":"2030-01-01T00:00:00Z"}"#,
        );
        assert_eq!(c, ["write-outside-read"]);
        let c = codes(
            r#"{"agentName":"a","version":"1.0.0","commandsAllowed":["/usr/bin/python3","/bin/bash","/usr/bin/convert"],"expires":"2030-01-01T00:00:00Z"}"#,
        );
        assert_eq!(c, ["interpreter", "interpreter"]);
        let c = codes(
            r#"{"agentName":"a","version":"1.0.0","apiScopes":["x:read"],"requiresApproval":["x:write","write:~/a","network:https://a.example.com","exec:/usr/bin/x"],"expires":"2030-01-01T00:00:00Z"}"#,
        );
        assert_eq!(c, ["approval-matches-nothing"; 4]);
        let c = codes(r#"{"agentName":"a","version":"1.0.0"}"#);
        assert_eq!(c, ["no-expiry"]);
    }

    #[test]
    fn a_narrow_manifest_is_clean() {
        let c = codes(
            r#"{"agentName":"a","version":"1.0.0","expires":"2030-01-01T00:00:00Z",
            "readPaths":["~/Work/Reports"],"writePaths":["~/Work/Reports/outgoing"],
            "denyPaths":["~/Work/Reports/secret"],
            "networkScopes":["https://api.example.com"],"apiScopes":["sheets:read","sheets:write"],
            "requiresApproval":["sheets:write","write:~/Work/Reports/outgoing/final"],
            "commandsAllowed":["/usr/bin/convert"]}"#,
        );
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn secrets_in_env_are_whole_words() {
        let c = codes(
            r#"{"agentName":"a","version":"1.0.0","expires":"2030-01-01T00:00:00Z","env":["GIT_AUTHOR_NAME","TZ","OPENAI_API_KEY","GH_TOKEN","LD_PRELOAD","AUTHOR"]}"#,
        );
        assert_eq!(c, ["secret-env"; 3]);
    }

    #[test]
    fn writable_credential_stores_are_errors() {
        let c = codes(
            r#"{"agentName":"a","version":"1.0.0","expires":"2030-01-01T00:00:00Z","readPaths":["~/.ssh"],"writePaths":["~/.ssh/authorized_keys"]}"#,
        );
        assert_eq!(c, ["credential-store", "credential-store"]);
    }

    #[test]
    fn denied_stores_are_not_exposed() {
        let c = codes(
            r#"{"agentName":"a","version":"1.0.0","expires":"2030-01-01T00:00:00Z","readPaths":["~/.ssh/known_hosts"],"denyPaths":["~/.ssh"]}"#,
        );
        assert_eq!(c, Vec::<&str>::new());
    }
}
