//! Selecting events: the filters `cordon audit query`, `tail` and `export` take, and a one-line
//! summary of an event for people.

use serde_json::Value;

use crate::ocsf::{Class, Verdict};

/// What an event must match. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// At or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Before this time (ms since the epoch).
    pub until: Option<i64>,
    /// One of these classes.
    pub classes: Vec<Class>,
    /// This decision.
    pub decision: Option<Verdict>,
    /// This agent.
    pub agent: Option<String>,
    /// A path (file, process, or URL path) starting with this.
    pub path_prefix: Option<String>,
    /// This destination host (case-insensitive).
    pub host: Option<String>,
}

/// A string at a dotted path of an event.
fn text<'a>(e: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.')
        .try_fold(e, |v, k| v.get(k))
        .and_then(Value::as_str)
}

/// The paths an event is about: a file's, a process's program, a URL's path.
pub fn paths(e: &Value) -> impl Iterator<Item = &str> {
    ["file.path", "process.path", "http_request.url.path"]
        .into_iter()
        .filter_map(move |p| text(e, p))
}

/// The destination host an event names, lowercase: the endpoint's, the URL's, or the host of a
/// full URL.
pub fn host(e: &Value) -> Option<String> {
    let direct = text(e, "dst_endpoint.hostname").or_else(|| text(e, "http_request.url.hostname"));
    if let Some(h) = direct {
        return Some(h.to_ascii_lowercase());
    }
    let full = text(e, "http_request.url.url_string")?;
    let rest = full.split_once("://").map_or(full, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host.split(':').next()?,
    };
    Some(host.to_ascii_lowercase())
}

impl Filter {
    /// Whether `e` (an OCSF event) matches. Records that are not events (checkpoints,
    /// retention) never do.
    pub fn matches(&self, e: &Value) -> bool {
        let Some(class) = e.get("class_uid").and_then(Value::as_u64) else {
            return false;
        };
        let time = e.get("time").and_then(Value::as_i64).unwrap_or_default();
        if self.since.is_some_and(|s| time < s) || self.until.is_some_and(|u| time >= u) {
            return false;
        }
        if !self.classes.is_empty() && !self.classes.iter().any(|c| u64::from(c.uid()) == class) {
            return false;
        }
        if let Some(d) = self.decision
            && text(e, "unmapped.cordon.decision") != Some(d.as_str())
        {
            return false;
        }
        if let Some(a) = &self.agent
            && text(e, "unmapped.cordon.agent") != Some(a.as_str())
        {
            return false;
        }
        if let Some(p) = &self.path_prefix
            && !paths(e).any(|path| under(path, p))
        {
            return false;
        }
        if let Some(h) = &self.host
            && host(e).as_deref() != Some(h.to_ascii_lowercase().as_str())
        {
            return false;
        }
        true
    }
}

/// Whether `path` is `prefix` or below it (a prefix ending in `/` is a directory; one that does
/// not matches the path itself or what is below it, never `/home/al` for `/home/alice`).
fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// What an event is about, for a one-line summary: the file, the command line, the URL, the
/// API operation, the application.
pub fn subject(e: &Value) -> String {
    if let Some(p) = text(e, "file.path") {
        return p.to_owned();
    }
    if let Some(c) = text(e, "process.cmd_line") {
        return c.to_owned();
    }
    if let Some(u) = text(e, "http_request.url.url_string") {
        return u.to_owned();
    }
    if let Some(h) = text(e, "http_request.url.hostname") {
        let scheme = text(e, "http_request.url.scheme").unwrap_or("http");
        let path = text(e, "http_request.url.path").unwrap_or("");
        let port = e
            .get("http_request")
            .and_then(|r| r.get("url"))
            .and_then(|u| u.get("port"))
            .and_then(Value::as_u64)
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        return format!("{scheme}://{h}{port}{path}");
    }
    if let Some(h) = text(e, "dst_endpoint.hostname") {
        let port = e
            .get("dst_endpoint")
            .and_then(|d| d.get("port"))
            .and_then(Value::as_u64)
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        return format!("{h}{port}");
    }
    for p in [
        "api.operation",
        "app.name",
        "finding_info.title",
        "user.name",
    ] {
        if let Some(t) = text(e, p) {
            return t.to_owned();
        }
    }
    String::new()
}

/// One line for people: time, component, decision, type, subject, reason, agent.
pub fn summary(e: &Value, time: &str) -> String {
    let c = |k: &str| text(e, &format!("unmapped.cordon.{k}")).unwrap_or("-");
    let mut line = format!(
        "{time} {:<5} {:<6} {}: {}",
        c("component"),
        c("decision"),
        text(e, "type_name").unwrap_or("?"),
        subject(e)
    );
    if let Some(r) = text(e, "unmapped.cordon.reason") {
        line.push_str(&format!(" [{r}]"));
    }
    if let Some(a) = text(e, "unmapped.cordon.agent") {
        line.push_str(&format!(" agent={a}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({"class_uid": 1001, "time": 1000, "type_name": "File System Activity: Read",
               "file": {"path": "/home/alice/.ssh/id_rsa"},
               "unmapped": {"cordon": {"decision": "deny", "agent": "coder", "component": "hook", "reason": "path_denied"}}})
    }

    #[test]
    fn each_filter_selects() {
        let e = event();
        let f = |f: Filter| f.matches(&e);
        assert!(f(Filter::default()));
        assert!(f(Filter {
            since: Some(1000),
            until: Some(1001),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            since: Some(1001),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            until: Some(1000),
            ..Filter::default()
        }));
        assert!(f(Filter {
            classes: vec![Class::FileSystem],
            ..Filter::default()
        }));
        assert!(!f(Filter {
            classes: vec![Class::Http],
            ..Filter::default()
        }));
        assert!(f(Filter {
            decision: Some(Verdict::Deny),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            decision: Some(Verdict::Allow),
            ..Filter::default()
        }));
        assert!(f(Filter {
            agent: Some("coder".into()),
            ..Filter::default()
        }));
        assert!(f(Filter {
            path_prefix: Some("/home/alice".into()),
            ..Filter::default()
        }));
        assert!(f(Filter {
            path_prefix: Some("/home/alice/.ssh/".into()),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            path_prefix: Some("/home/al".into()),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            host: Some("x".into()),
            ..Filter::default()
        }));
        assert!(!Filter::default().matches(&json!({"checkpoint": {}})));
    }

    #[test]
    fn hosts_come_from_endpoints_and_urls() {
        assert_eq!(
            host(&json!({"dst_endpoint": {"hostname": "API.example"}})).as_deref(),
            Some("api.example")
        );
        for url in [
            "https://u:p@Docs.Example.com:8443/x?y",
            "docs.example.com/a",
            "http://[::1]:80/",
        ] {
            let h = host(&json!({"http_request": {"url": {"url_string": url}}})).unwrap();
            assert!(h == "docs.example.com" || h == "::1", "{url}: {h}");
        }
        assert_eq!(
            summary(&event(), "T"),
            "T hook  deny   File System Activity: Read: /home/alice/.ssh/id_rsa [path_denied] agent=coder"
        );
    }
}
