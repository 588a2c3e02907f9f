//! Network scopes (`scheme://host[:port][/path-prefix]`) and API scope patterns.
//!
//! A network scope names one scheme, one host (or every subdomain of one, with a leftmost `*.`
//! label), one port (the scheme's default when none is written) and optionally a path prefix that
//! ends at a segment boundary. Hosts are compared after IDNA and lowercasing, paths in the
//! percent-encoded form that the URL parser produces, so `%2e%2e` and `..` are resolved before
//! any prefix is compared.

use std::fmt;

use url::{Host, Url};

use crate::path::prefix_covers;

/// Why a network scope cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ScopeError {
    /// What is wrong, naming the part.
    pub message: String,
    /// How to fix it.
    pub help: &'static str,
}

fn scope_err(message: String, help: &'static str) -> ScopeError {
    ScopeError { message, help }
}

/// The host part of a network scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Exactly this host (a lowercased ASCII domain, or an IP literal as the URL parser prints it).
    Exact(String),
    /// Any host below this domain (`*.example.com` → `example.com`), at any depth, not the domain
    /// itself.
    Subdomains(String),
    /// `*`: every host. Parses so that lint can flag it.
    Any,
}

/// A parsed network scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetScope {
    /// `http` or `https`.
    pub scheme: String,
    /// Which hosts.
    pub host: HostPattern,
    /// The port, explicit or the scheme's default.
    pub port: u16,
    /// A path prefix in percent-encoded form, `/` when the scope has none.
    pub path: String,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

fn canonical_domain(host: &str) -> Result<String, ScopeError> {
    match Host::parse(host) {
        Ok(Host::Domain(d)) => Ok(d),
        Ok(Host::Ipv4(ip)) => Ok(ip.to_string()),
        Ok(Host::Ipv6(ip)) => Ok(format!("[{ip}]")),
        Err(e) => Err(scope_err(
            format!("host `{host}` is not valid: {e}"),
            "write a DNS name such as `api.example.com` or an IP literal",
        )),
    }
}

impl NetScope {
    /// Parse `scheme://host[:port][/path-prefix]`.
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        const FORM: &str = "write `https://host[:port][/path-prefix]`";
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(scope_err(format!("`{raw}` has no scheme"), FORM));
        };
        let scheme = scheme.to_ascii_lowercase();
        let Some(default) = default_port(&scheme) else {
            return Err(scope_err(
                format!("scheme `{scheme}` is not supported"),
                "network scopes use `https://` (or `http://`)",
            ));
        };
        if rest.contains(['?', '#']) {
            return Err(scope_err(
                format!("`{raw}` has a query or fragment"),
                "a scope names a host and optionally a path prefix, nothing more",
            ));
        }
        if rest.contains(['\\', ' ', '\t', '\n', '\r', '\0']) {
            return Err(scope_err(
                format!("`{raw}` contains a character URLs do not allow"),
                FORM,
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(scope_err(
                format!("`{raw}` has user information"),
                "credentials never belong in a scope; use an `apis` credential reference",
            ));
        }
        let (host, port) = split_port(authority).map_err(|m| scope_err(m, FORM))?;
        let port = port.unwrap_or(default);
        if host.is_empty() {
            return Err(scope_err(format!("`{raw}` has no host"), FORM));
        }
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            if domain.contains('*') {
                return Err(scope_err(
                    format!("host `{host}` has `*` outside the leftmost label"),
                    "`*.` may only start a host, as in `*.example.com`",
                ));
            }
            let domain = canonical_domain(domain)?;
            if domain.starts_with('[') || domain.parse::<std::net::Ipv4Addr>().is_ok() {
                return Err(scope_err(
                    format!("`{host}` puts a wildcard on an IP address"),
                    "grant each address on its own",
                ));
            }
            HostPattern::Subdomains(domain)
        } else if host.contains('*') {
            return Err(scope_err(
                format!("host `{host}` has `*` outside the leftmost label"),
                "`*.` may only start a host, as in `*.example.com`",
            ));
        } else {
            HostPattern::Exact(canonical_domain(host)?)
        };
        let path = canonical_path(raw, path)?;
        Ok(Self {
            scheme,
            host,
            port,
            path,
        })
    }

    /// Whether this scope covers a URL (already parsed by the URL parser).
    pub fn covers(&self, url: &Url) -> bool {
        self.covers_host(url) && prefix_covers(&self.path, url.path())
    }

    /// Whether this scope covers the URL's scheme, host and port, whatever its path.
    pub fn covers_host(&self, url: &Url) -> bool {
        if url.scheme() != self.scheme {
            return false;
        }
        if url.port_or_known_default() != Some(self.port) {
            return false;
        }
        // The URL parser prints hosts as canonical_domain() stores them: lowercase ASCII
        // domains, dotted IPv4, bracketed compressed IPv6.
        let Some(host) = url.host_str() else {
            return false;
        };
        match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => *h == host,
            HostPattern::Subdomains(d) => host
                .strip_suffix(d.as_str())
                .is_some_and(|label| label.len() > 1 && label.ends_with('.')),
        }
    }

    /// Whether this scope's host is the bare `*`.
    pub fn is_any_host(&self) -> bool {
        matches!(self.host, HostPattern::Any)
    }
}

fn split_port(authority: &str) -> Result<(&str, Option<u16>), String> {
    if authority.starts_with('[') {
        let Some(end) = authority.find(']') else {
            return Err(format!("IPv6 literal in `{authority}` is not closed"));
        };
        let (host, rest) = authority.split_at(end + 1);
        return match rest.strip_prefix(':') {
            None if rest.is_empty() => Ok((host, None)),
            None => Err(format!("unexpected `{rest}` after the host")),
            Some(p) => parse_port(p).map(|p| (host, Some(p))),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, p)) => parse_port(p).map(|p| (host, Some(p))),
        None => Ok((authority, None)),
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("port `{p}` is not a number from 1 to 65535")),
        Ok(port) => Ok(port),
    }
}

fn canonical_path(raw: &str, path: &str) -> Result<String, ScopeError> {
    if path.is_empty() || path == "/" {
        return Ok("/".to_owned());
    }
    let lowered = path.to_ascii_lowercase();
    if path.split('/').any(|s| s == ".." || s == ".") || lowered.contains("%2e") {
        return Err(scope_err(
            format!("path prefix in `{raw}` contains a dot segment"),
            "write the path prefix as it should match, without `.` or `..`",
        ));
    }
    if path.contains('*') {
        return Err(scope_err(
            format!("path prefix in `{raw}` contains `*`"),
            "a scope path is a prefix; use an `apis` endpoint for path patterns",
        ));
    }
    let url = Url::parse(&format!("https://scope.invalid{path}"))
        .map_err(|e| scope_err(format!("path prefix in `{raw}` is not valid: {e}"), ""))?;
    let canonical = url.path().trim_end_matches('/');
    Ok(if canonical.is_empty() {
        "/".to_owned()
    } else {
        canonical.to_owned()
    })
}

impl fmt::Display for NetScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match &self.host {
            HostPattern::Exact(h) => h.clone(),
            HostPattern::Subdomains(d) => format!("*.{d}"),
            HostPattern::Any => "*".to_owned(),
        };
        write!(f, "{}://{}:{}{}", self.scheme, host, self.port, self.path)
    }
}

/// Why a request URL cannot be decided on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL.
    #[error("url `{url}` is not valid: {reason}")]
    Invalid {
        /// The URL as given.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// Not http or https.
    #[error("url scheme `{0}` is not http or https")]
    Scheme(String),
    /// Userinfo in the URL.
    #[error("url carries user information")]
    Credentials,
}

/// Parse a request URL: http(s) only, a host, no user information.
pub fn parse_request_url(raw: &str) -> Result<Url, UrlError> {
    let url = Url::parse(raw).map_err(|e| UrlError::Invalid {
        url: raw.chars().take(200).collect(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Scheme(url.scheme().to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    if url.host().is_none() {
        return Err(UrlError::Invalid {
            url: raw.chars().take(200).collect(),
            reason: "no host".to_owned(),
        });
    }
    Ok(url)
}

/// An API scope pattern: exact, or a prefix ending in a `*` segment (`sheets:*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiScopePattern {
    /// Exactly this scope.
    Exact(String),
    /// Any scope that starts with this prefix (which ends with `:`), or `*` for all.
    Prefix(String),
}

impl ApiScopePattern {
    /// Parse an API scope as written in a manifest.
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        let valid = |s: &str| {
            !s.is_empty()
                && s.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-' | b'/')
                })
        };
        if raw == "*" {
            return Ok(Self::Prefix(String::new()));
        }
        // Words separated by single `:`; a pattern is such words followed by `:*`.
        let words =
            |s: &str| valid(s) && !s.starts_with(':') && !s.ends_with(':') && !s.contains("::");
        if let Some(prefix) = raw.strip_suffix(":*") {
            if words(prefix) {
                return Ok(Self::Prefix(format!("{prefix}:")));
            }
        } else if words(raw) {
            return Ok(Self::Exact(raw.to_owned()));
        }
        Err(scope_err(
            format!("`{raw}` is not a valid API scope"),
            "API scopes are `:`-separated words of letters, digits, `.`, `_`, `-`, `/`, optionally ending in `:*`",
        ))
    }

    /// Whether this pattern covers a concrete scope.
    pub fn covers(&self, scope: &str) -> bool {
        match self {
            Self::Exact(s) => s == scope,
            Self::Prefix(p) => scope.len() > p.len() && scope.starts_with(p.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        parse_request_url(s).unwrap()
    }

    #[test]
    fn parses_and_matches_scopes() {
        let s = NetScope::parse("https://internal-api.corp.example.com").unwrap();
        assert_eq!(s.port, 443);
        assert!(s.covers(&url("https://internal-api.corp.example.com/v1/x")));
        assert!(s.covers(&url("https://INTERNAL-API.corp.example.com:443/")));
        assert!(!s.covers(&url("http://internal-api.corp.example.com/")));
        assert!(!s.covers(&url("https://internal-api.corp.example.com:8443/")));
        assert!(!s.covers(&url("https://internal-api.corp.example.com.evil.test/")));
        assert!(!s.covers(&url("https://evil-internal-api.corp.example.com/")));

        let p = NetScope::parse("https://api.example.com/v1/").unwrap();
        assert_eq!(p.path, "/v1");
        assert!(p.covers(&url("https://api.example.com/v1")));
        assert!(p.covers(&url("https://api.example.com/v1/a")));
        assert!(!p.covers(&url("https://api.example.com/v10")));
        assert!(!p.covers(&url("https://api.example.com/v1/../admin")));
        assert!(!p.covers(&url("https://api.example.com/v1/%2e%2e/admin")));

        let w = NetScope::parse("https://*.example.com").unwrap();
        assert!(w.covers(&url("https://a.example.com/")));
        assert!(w.covers(&url("https://a.b.example.com/")));
        assert!(!w.covers(&url("https://example.com/")));
        assert!(!w.covers(&url("https://aexample.com/")));
    }

    #[test]
    fn rejects_malformed_scopes() {
        for bad in [
            "internal-api.corp.example.com",
            "ftp://x.example.com",
            "https://",
            "https://a.*.com",
            "https://*x.com",
            "https://x.example.com:0",
            "https://x.example.com:99999",
            "https://x.example.com/?q=1",
            "https://u:p@x.example.com",
            "https://x.example.com/a/../b",
            "https://x.example.com/a/%2E%2E/b",
            "https://*.10.0.0.1",
        ] {
            assert!(NetScope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn api_scope_patterns() {
        let p = ApiScopePattern::parse("sheets:*").unwrap();
        assert!(p.covers("sheets:read"));
        assert!(p.covers("sheets:write:restricted"));
        assert!(!p.covers("sheetsx:read"));
        assert!(!p.covers("sheets:"));
        assert!(
            ApiScopePattern::parse("sheets:read")
                .unwrap()
                .covers("sheets:read")
        );
        for bad in [
            "",
            "sheets read",
            "sheets:",
            "she*ets",
            ":x",
            "a::b",
            "a::*",
            ":*",
            "*:*",
            "sheets*",
        ] {
            assert!(ApiScopePattern::parse(bad).is_err(), "{bad}");
        }
    }
}
