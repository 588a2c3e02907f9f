//! Strict parsing of manifests (SPEC M-3): the JSON must be well formed and of the right shape,
//! and every value must mean something. Each problem names its field and position.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::approval::ApprovalEntry;
use super::model::{ApiGrant, CommandGrant, Manifest};
use crate::diagnostic::{Problem, Problems, offset_of};
use crate::json_span;
use crate::path::{self, Expansion};
use crate::scope::{ApiScopePattern, NetScope};

/// Manifests larger than this are refused before parsing.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// Parse and validate a manifest. `name` is used in messages (usually the file path).
///
/// ```
/// let m = cordon_policy::manifest::parse(br#"{"agentName":"a","version":"1.0.0"}"#, "m.json").unwrap();
/// assert_eq!(m.agent_name, "a");
/// assert!(cordon_policy::manifest::parse(br#"{"agentName":"a"}"#, "m.json").is_err());
/// ```
pub fn parse(bytes: &[u8], name: &str) -> Result<Manifest, Problems> {
    let (manifest, src) = read_document::<Manifest>(bytes, "manifest", name, MAX_MANIFEST_BYTES)?;
    let problems = validate(&manifest, src);
    if problems.is_empty() {
        Ok(manifest)
    } else {
        Err(Problems::new("manifest", name, src, problems))
    }
}

/// Read a JSON document strictly: refuse it over `max` bytes, if it is not UTF-8 or is empty,
/// then deserialise it into `T` (unknown fields, wrong types and duplicates are errors). Returns
/// the value and the text, for locating later problems. `what` names the kind of document in
/// messages and error codes (`manifest`, `envelope`, `trust store`, …).
pub(crate) fn read_document<'a, T: serde::de::DeserializeOwned>(
    bytes: &'a [u8],
    what: &'static str,
    name: &str,
    max: usize,
) -> Result<(T, &'a str), Problems> {
    let prefix = code_prefix(what);
    if bytes.len() > max {
        return Err(Problems::one(
            what,
            name,
            "",
            format!("{prefix}::too-large"),
            format!("{what} is {} bytes; the limit is {max} bytes", bytes.len()),
        ));
    }
    let src = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let valid = String::from_utf8_lossy(bytes.get(..e.valid_up_to()).unwrap_or_default());
            let problem = Problem::at(
                &valid,
                (valid.len(), 0),
                format!("{prefix}::encoding"),
                "",
                format!("{what} is not valid UTF-8 (byte {})", e.valid_up_to()),
                Some("save the file as UTF-8".to_owned()),
            );
            return Err(Problems::new(what, name, &valid, vec![problem]));
        }
    };
    if src.trim().is_empty() {
        return Err(Problems::one(
            what,
            name,
            src,
            format!("{prefix}::empty"),
            format!("{what} is empty"),
        ));
    }
    let value =
        deserialize::<T>(src, what).map_err(|p| Problems::new(what, name, src, vec![*p]))?;
    Ok((value, src))
}

/// Deserialise `src` strictly into `T`, turning a serde error into a located problem.
pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(
    src: &str,
    what: &'static str,
) -> Result<T, Box<Problem>> {
    let mut de = serde_json::Deserializer::from_str(src);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        Box::new(serde_problem(
            src,
            what,
            pointer_of(err.path()),
            err.inner(),
        ))
    })?;
    de.end()
        .map_err(|err| serde_problem(src, what, String::new(), &err))?;
    Ok(value)
}

fn serde_problem(
    src: &str,
    what: &'static str,
    pointer: String,
    inner: &serde_json::Error,
) -> Problem {
    let mut message = inner.to_string();
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    let (code, help) = match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Io => ("syntax", None),
        serde_json::error::Category::Eof => (
            "syntax",
            Some("the document ends early: is it truncated?".to_owned()),
        ),
        serde_json::error::Category::Data => {
            if message.starts_with("unknown field") {
                ("unknown-field", did_you_mean(&message))
            } else if message.starts_with("missing field") {
                ("missing-field", None)
            } else if message.starts_with("duplicate") {
                (
                    "duplicate-field",
                    Some("each field may appear once".to_owned()),
                )
            } else {
                ("type", None)
            }
        }
    };
    let code = format!("{}::{code}", code_prefix(what));
    let at = offset_of(src, inner.line(), inner.column());
    let fallback = (at.saturating_sub(1), 1);
    let mut pointer = pointer;
    // serde reports the position just after the offending token; point at the token itself.
    let span = match inner.classify() {
        serde_json::error::Category::Data if message.starts_with("unknown field") => {
            // The unknown key is the first quoted word; the path may or may not name it yet.
            if let Some(key) = message.split('`').nth(1) {
                let escaped = format!("/{}", key.replace('~', "~0").replace('/', "~1"));
                if !pointer.ends_with(&escaped) {
                    pointer.push_str(&escaped);
                }
            }
            json_span::locate_key(src, &pointer).unwrap_or(fallback)
        }
        serde_json::error::Category::Data if !message.starts_with("missing field") => {
            json_span::locate(src, &pointer).unwrap_or(fallback)
        }
        _ => fallback,
    };
    let mut problem = Problem::at(src, span, code, pointer, message, help);
    // The serde position is exact for syntax errors; keep it.
    if matches!(
        inner.classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    ) {
        problem.line = inner.line().max(1);
        problem.column = inner.column().max(1);
    }
    problem
}

/// The code prefix of a kind of document: `manifest`, `envelope`, …
fn code_prefix(what: &str) -> &str {
    match what {
        "trust store" => "trust",
        "group mapping" => "mapping",
        "revocation list" => "revocations",
        other => other,
    }
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        out.push('/');
        match seg {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } => out.push_str(&key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => out.push_str(variant),
            Segment::Unknown => out.push('?'),
        }
    }
    out
}

/// "unknown field `readPath`, expected one of `a`, `b`" → "did you mean `readPaths`?"
fn did_you_mean(message: &str) -> Option<String> {
    let mut ticks = message.split('`').skip(1).step_by(2);
    let unknown = ticks.next()?;
    let best = ticks
        .map(|cand| (edit_distance(unknown, cand), cand))
        .filter(|(d, cand)| *d <= 3.max(cand.len() / 3))
        .min_by_key(|(d, _)| *d)?;
    Some(format!("did you mean `{}`?", best.1))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let cur = row.get(j + 1).copied().unwrap_or(0);
            let sub = prev + usize::from(!ca.eq_ignore_ascii_case(cb));
            let del = cur + 1;
            let ins = row.get(j).copied().unwrap_or(0) + 1;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = sub.min(del).min(ins);
            }
            prev = cur;
        }
    }
    row.last().copied().unwrap_or(0)
}

struct Checker<'a> {
    src: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn report(&mut self, code: &'static str, pointer: String, message: String, help: Option<&str>) {
        let span = json_span::locate(self.src, &pointer).unwrap_or((0, 0));
        self.problems.push(Problem::at(
            self.src,
            span,
            code,
            pointer,
            message,
            help.filter(|h| !h.is_empty()).map(str::to_owned),
        ));
    }

    fn paths(&mut self, field: &str, paths: &[String]) {
        for (i, p) in paths.iter().enumerate() {
            if let Err(e) = path::expand(p, &Expansion::placeholder()) {
                self.report(
                    "manifest::path",
                    format!("/{field}/{i}"),
                    e.to_string(),
                    Some(e.help()),
                );
            }
        }
    }
}

/// Check the meaning of every value of a deserialised manifest. `src` locates problems.
fn validate(m: &Manifest, src: &str) -> Vec<Problem> {
    let mut c = Checker {
        src,
        problems: Vec::new(),
    };
    if !valid_name(&m.agent_name) {
        c.report(
            "manifest::agent-name",
            "/agentName".into(),
            format!("agent name `{}` is not valid", m.agent_name),
            Some("use 1 to 128 letters, digits, `.`, `_` or `-`"),
        );
    }
    if !valid_version(&m.version) {
        c.report(
            "manifest::version",
            "/version".into(),
            format!("version `{}` is not `MAJOR.MINOR.PATCH`", m.version),
            Some("write a version such as `1.0.0`"),
        );
    }
    if let Some(exp) = &m.expires
        && OffsetDateTime::parse(exp, &Rfc3339).is_err()
    {
        c.report(
            "manifest::expires",
            "/expires".into(),
            format!("`{exp}` is not an RFC 3339 time"),
            Some("write a time such as `2027-01-31T00:00:00Z`"),
        );
    }
    c.paths("readPaths", &m.read_paths);
    c.paths("writePaths", &m.write_paths);
    c.paths("denyPaths", &m.deny_paths);
    for (i, s) in m.network_scopes.iter().enumerate() {
        if let Err(e) = NetScope::parse(s) {
            c.report(
                "manifest::network-scope",
                format!("/networkScopes/{i}"),
                e.message,
                Some(e.help),
            );
        }
    }
    for (i, s) in m.api_scopes.iter().enumerate() {
        if let Err(e) = ApiScopePattern::parse(s) {
            c.report(
                "manifest::api-scope",
                format!("/apiScopes/{i}"),
                e.message,
                Some(e.help),
            );
        }
    }
    for (scope, api) in &m.apis {
        validate_api(&mut c, scope, api);
    }
    for (i, cmd) in m.commands_allowed.iter().enumerate() {
        validate_command(&mut c, i, cmd);
    }
    for (i, entry) in m.requires_approval.iter().enumerate() {
        if let Err(e) = ApprovalEntry::parse(entry) {
            c.report(
                "manifest::approval",
                format!("/requiresApproval/{i}"),
                e.message,
                Some(e.help),
            );
        }
    }
    for (i, name) in m.env.iter().enumerate() {
        let ok = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes().first().is_some_and(u8::is_ascii_digit);
        if !ok {
            c.report(
                "manifest::env",
                format!("/env/{i}"),
                format!("`{name}` is not an environment variable name"),
                Some("use letters, digits and `_`, not starting with a digit"),
            );
        }
    }
    if let Some(dlp) = &m.dlp {
        for (field, list) in [
            ("block", &dlp.block),
            ("redact", &dlp.redact),
            ("alert", &dlp.alert),
        ] {
            for (i, class) in list.iter().enumerate() {
                let ok = !class.is_empty()
                    && class.bytes().all(|b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || matches!(b, b'-' | b'_' | b':' | b'.' | b'*')
                    });
                if !ok {
                    c.report(
                        "manifest::dlp",
                        format!("/dlp/{field}/{i}"),
                        format!("`{class}` is not a classification name"),
                        Some("classifications are lower case, e.g. `secret`, `pii:card`, `label:confidential`"),
                    );
                }
            }
        }
    }
    if let Some(limits) = &m.limits {
        for (field, zero) in [
            ("processes", limits.processes == Some(0)),
            ("memoryMiB", limits.memory_mib == Some(0)),
            ("openFiles", limits.open_files == Some(0)),
            ("cpuSeconds", limits.cpu_seconds == Some(0)),
            ("fileSizeMiB", limits.file_size_mib == Some(0)),
        ] {
            if zero {
                c.report(
                    "manifest::limits",
                    format!("/limits/{field}"),
                    format!("`{field}` is 0, which would stop the agent from starting"),
                    Some("leave the limit out to use the default"),
                );
            }
        }
    }
    c.problems
}

fn validate_api(c: &mut Checker<'_>, scope: &str, api: &ApiGrant) {
    let base = format!("/apis/{}", scope.replace('~', "~0").replace('/', "~1"));
    match ApiScopePattern::parse(scope) {
        Ok(ApiScopePattern::Exact(_)) => {}
        Ok(ApiScopePattern::Prefix(_)) => c.report(
            "manifest::api-scope",
            base.clone(),
            format!("`{scope}` is a pattern; `apis` keys name one scope"),
            Some("describe each scope on its own"),
        ),
        Err(e) => c.report("manifest::api-scope", base.clone(), e.message, Some(e.help)),
    }
    if api.endpoints.is_empty() && api.mcp_tools.is_empty() {
        c.report(
            "manifest::api",
            base.clone(),
            format!("API scope `{scope}` lists no endpoints and no MCP tools"),
            Some("add `endpoints` or `mcpTools`, or remove the entry"),
        );
    }
    for (i, ep) in api.endpoints.iter().enumerate() {
        let at = format!("{base}/endpoints/{i}");
        if let Err(e) = NetScope::parse(&ep.url) {
            c.report(
                "manifest::network-scope",
                format!("{at}/url"),
                e.message,
                Some(e.help),
            );
        }
        if ep.methods.is_empty() {
            c.report(
                "manifest::method",
                format!("{at}/methods"),
                "no methods listed".into(),
                Some("list the HTTP methods the scope covers, e.g. `[\"GET\"]`"),
            );
        }
        for (j, m) in ep.methods.iter().enumerate() {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                c.report(
                    "manifest::method",
                    format!("{at}/methods/{j}"),
                    format!("`{m}` is not an HTTP method"),
                    Some("write methods in upper case, e.g. `GET`"),
                );
            }
        }
        for (j, p) in ep.paths.iter().enumerate() {
            let ok = p.starts_with('/')
                && !p.split('/').any(|s| s == ".." || s == ".")
                && !p.contains(['[', ']', '{', '}', '\\', '?', '#'])
                && !p.split('/').any(|s| s.contains("**") && s != "**");
            if !ok {
                c.report(
                    "manifest::endpoint-path",
                    format!("{at}/paths/{j}"),
                    format!("`{p}` is not a valid path pattern"),
                    Some("start with `/`; use `*` within a segment and `**` for any depth"),
                );
            }
        }
    }
    for (i, t) in api.mcp_tools.iter().enumerate() {
        let at = format!("{base}/mcpTools/{i}");
        if t.server.is_empty() || t.server.contains('*') {
            c.report(
                "manifest::mcp-tool",
                format!("{at}/server"),
                format!("`{}` is not an MCP server name", t.server),
                Some("name one server as configured for the agent"),
            );
        }
        if t.tool.is_empty() {
            c.report(
                "manifest::mcp-tool",
                format!("{at}/tool"),
                "tool name is empty".into(),
                None,
            );
        }
    }
    if let Some(cred) = &api.credential {
        let at = format!("{base}/credential");
        let sources = [
            cred.env.is_some(),
            cred.file.is_some(),
            cred.vault.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if sources != 1 {
            c.report(
                "manifest::credential",
                at.clone(),
                "a credential names exactly one of `env`, `file` and `vault`".into(),
                None,
            );
        }
        if let Some(file) = &cred.file
            && (!file.starts_with('/') || file.split('/').any(|s| s == ".."))
        {
            c.report(
                "manifest::credential",
                format!("{at}/file"),
                format!("`{file}` is not an absolute path without `..`"),
                None,
            );
        }
        if let Some(vault) = &cred.vault
            && !vault
                .split_once('#')
                .is_some_and(|(p, f)| !p.is_empty() && !f.is_empty())
        {
            c.report(
                "manifest::credential",
                format!("{at}/vault"),
                format!("`{vault}` is not `mount/path#field`"),
                None,
            );
        }
    }
}

fn validate_command(c: &mut Checker<'_>, i: usize, cmd: &CommandGrant) {
    let (path, at) = match cmd {
        CommandGrant::Path(p) => (p.as_str(), format!("/commandsAllowed/{i}")),
        CommandGrant::WithArgs(s) => (s.path.as_str(), format!("/commandsAllowed/{i}/path")),
    };
    let normal = path::normalize(path).ok();
    if normal.as_deref() != Some(path) || path == "/" || path::is_glob(path) {
        c.report(
            "manifest::command",
            at,
            format!("`{path}` is not an absolute, normalised executable path"),
            Some("name the executable by its full path, e.g. `/usr/bin/convert`, without globs or `..`"),
        );
    }
    if let CommandGrant::WithArgs(spec) = cmd {
        let last = spec.args.len().saturating_sub(1);
        for (j, a) in spec.args.iter().enumerate() {
            if a == "**" && j != last {
                c.report(
                    "manifest::command",
                    format!("/commandsAllowed/{i}/args/{j}"),
                    "`**` may only be the last argument pattern".into(),
                    None,
                );
            }
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn valid_version(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
        && v.len() <= 64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_field_names() {
        assert_eq!(
            did_you_mean("unknown field `readPath`, expected one of `readPaths`, `writePaths`")
                .as_deref(),
            Some("did you mean `readPaths`?")
        );
        assert_eq!(
            did_you_mean("unknown field `zzzzzzzzzz`, expected `readPaths`"),
            None
        );
    }

    #[test]
    fn versions() {
        assert!(valid_version("1.0.0"));
        assert!(valid_version("1.2.3-rc.1"));
        assert!(!valid_version("1.0"));
        assert!(!valid_version("v1.0.0"));
    }
}
