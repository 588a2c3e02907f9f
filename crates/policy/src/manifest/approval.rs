//! Entries of `requiresApproval`: an API scope, or an action pattern.

use crate::path::{self, Expansion};
use crate::scope::{ApiScopePattern, NetScope, ScopeError};

/// One `requiresApproval` entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalEntry {
    /// An API scope (exact or `prefix:*`).
    Scope(ApiScopePattern),
    /// `read:<path or glob>` (as written; expanded when compiled).
    Read(String),
    /// `write:<path or glob>`.
    Write(String),
    /// `network:<scope>`.
    Network(NetScope),
    /// `exec:<absolute path>`.
    Exec(String),
}

impl ApprovalEntry {
    /// Parse an entry as written in a manifest.
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        let path_entry = |p: &str, what: &str| -> Result<String, ScopeError> {
            path::expand(p, &Expansion::placeholder())
                .map(|_| p.to_owned())
                .map_err(|e| ScopeError {
                    message: format!("`{what}:` entry: {e}"),
                    help: e.help(),
                })
        };
        if let Some(p) = raw.strip_prefix("read:") {
            return path_entry(p, "read").map(Self::Read);
        }
        if let Some(p) = raw.strip_prefix("write:") {
            return path_entry(p, "write").map(Self::Write);
        }
        if let Some(s) = raw.strip_prefix("network:") {
            return NetScope::parse(s).map(Self::Network);
        }
        if let Some(p) = raw.strip_prefix("exec:") {
            let ok = path::normalize(p).is_ok_and(|n| n == p) && !path::is_glob(p) && p != "/";
            return if ok {
                Ok(Self::Exec(p.to_owned()))
            } else {
                Err(ScopeError {
                    message: format!("`exec:` entry `{p}` is not an absolute executable path"),
                    help: "write `exec:/usr/bin/tool`",
                })
            };
        }
        ApiScopePattern::parse(raw).map(Self::Scope).map_err(|e| ScopeError {
            message: format!("{}; nor is it `read:`, `write:`, `network:` or `exec:`", e.message),
            help: "write an API scope such as `sheets:write:restricted`, or an action such as `write:~/Work/Sensitive`",
        })
    }
}
