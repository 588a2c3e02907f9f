//! Claude Code's hooks: the JSON a hook reads, the requests each tool call makes, and the JSON
//! it answers with.
//!
//! Events governed: `PreToolUse` (allow, deny or ask, per the manifest and DLP), `PostToolUse`
//! (the tool's result is scanned; what the manifest blocks is reported to the model),
//! `UserPromptSubmit` (a prompt carrying blocked content is stopped before it reaches the
//! model) and `SessionStart` (recorded). Claude Code's other events are recorded and
//! answered with nothing; an event name it does not have is an error, which the hook turns
//! into a refusal.
//!
//! Tools map to requests: `Read`, `Glob`, `Grep`, `LS`, `NotebookRead` read; `Write`, `Edit`,
//! `MultiEdit`, `NotebookEdit` write (and their new text is scanned); `Bash` goes through
//! [`crate::bash`]; `WebFetch` is a `GET` of its URL; `WebSearch` is the API scope
//! [`WEB_SEARCH_SCOPE`] (the search runs at Anthropic, so there is no host to grant);
//! `mcp__<server>__<tool>` is that MCP tool. Claude Code's own bookkeeping tools
//! ([`INTERNAL_TOOLS`]) touch nothing and are allowed; any other tool is decided by
//! [`Settings::unknown_tool`] unless [`Settings::tools`] names it.

use std::collections::BTreeMap;

use cordon_dlp::action::{Action as DlpAction, Actions};
use cordon_dlp::redact::Redactor;
use cordon_dlp::scan::Scanner;
use cordon_policy::pdp::{Effect, Pdp, Principal, Request};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{Check, World, bash};

/// Hook input larger than this is refused before parsing.
pub const MAX_INPUT_BYTES: usize = 16 << 20;

/// Text larger than this in one tool call is not scanned whole: the call is refused.
pub const MAX_SCAN_BYTES: usize = 8 << 20;

/// The API scope `WebSearch` is decided as.
pub const WEB_SEARCH_SCOPE: &str = "claude-code:web-search";

/// Claude Code's tools that read, write, run and reach nothing themselves (a `Task` subagent's
/// own tool calls come through the hook like any other).
pub const INTERNAL_TOOLS: [&str; 9] = [
    "Task",
    "TodoWrite",
    "ExitPlanMode",
    "BashOutput",
    "KillShell",
    "KillBash",
    "AskUserQuestion",
    "ListMcpResourcesTool",
    "EnterPlanMode",
];

/// Claude Code's events that are recorded but not decided.
const RECORDED_EVENTS: [&str; 8] = [
    "Notification",
    "Stop",
    "SubagentStop",
    "PreCompact",
    "SessionEnd",
    "SubagentStart",
    "PostToolUseFailure",
    "PermissionRequest",
];

/// Tools whose result is only a confirmation to the model (their new text was scanned before
/// they ran; the old text they report back is not shown to the model).
const WRITE_TOOLS: [&str; 4] = ["Write", "Edit", "MultiEdit", "NotebookEdit"];

/// What the hook tells Claude Code about a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Let it run.
    Allow,
    /// Ask the user.
    Ask,
    /// Stop it.
    Deny,
}

impl Permission {
    /// The protocol's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Ask => "ask",
            Self::Deny => "deny",
        }
    }
}

/// What an organisation chose where the manifest is silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// A command line the hook cannot fully resolve: `Ask` or `Deny` (never `Allow`).
    pub unresolved: Permission,
    /// A tool cordon does not know.
    pub unknown_tool: Permission,
    /// Per-tool answers for tools cordon does not know (known tools are always decided by the
    /// manifest).
    pub tools: BTreeMap<String, Permission>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            unresolved: Permission::Ask,
            unknown_tool: Permission::Deny,
            tools: BTreeMap::new(),
        }
    }
}

/// The hook's input, as Claude Code writes it. Fields it adds later are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Input {
    /// The event.
    pub hook_event_name: String,
    /// The session.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The working directory relative paths are against.
    #[serde(default)]
    pub cwd: Option<String>,
    /// The permission mode (`default`, `plan`, `acceptEdits`, `bypassPermissions`).
    #[serde(default)]
    pub permission_mode: Option<String>,
    /// The tool, for tool events.
    #[serde(default)]
    pub tool_name: Option<String>,
    /// The tool's input, for tool events.
    #[serde(default)]
    pub tool_input: Option<Value>,
    /// The tool's result, for `PostToolUse`.
    #[serde(default)]
    pub tool_response: Option<Value>,
    /// The prompt, for `UserPromptSubmit`.
    #[serde(default)]
    pub prompt: Option<String>,
    /// How the session started, for `SessionStart`.
    #[serde(default)]
    pub source: Option<String>,
    /// Claude Code's id of the tool call, for tool events.
    #[serde(default)]
    pub tool_use_id: Option<String>,
}

/// Hook input that cannot be decided on. The hook refuses (exit code 2) with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Too large.
    #[error("the hook input is {0} bytes, more than the {MAX_INPUT_BYTES} cordon reads")]
    TooLarge(usize),
    /// Not the JSON Claude Code sends.
    #[error("the hook input is not Claude Code's hook JSON: {0}")]
    Json(String),
    /// An event Claude Code does not have.
    #[error("`{0}` is not a Claude Code hook event")]
    UnknownEvent(String),
    /// A field the event needs.
    #[error("a `{event}` event needs `{field}`")]
    Missing {
        /// The event.
        event: String,
        /// The field.
        field: &'static str,
    },
}

/// Parse hook input.
pub fn parse(bytes: &[u8]) -> Result<Input, InputError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge(bytes.len()));
    }
    let input: Input =
        serde_json::from_slice(bytes).map_err(|e| InputError::Json(e.to_string()))?;
    let need = |ok: bool, field| {
        if ok {
            Ok(())
        } else {
            Err(InputError::Missing {
                event: input.hook_event_name.clone(),
                field,
            })
        }
    };
    match input.hook_event_name.as_str() {
        "PreToolUse" | "PostToolUse" => {
            need(input.tool_name.is_some(), "tool_name")?;
            need(input.tool_input.is_some(), "tool_input")?;
            need(input.cwd.is_some(), "cwd")?;
        }
        "UserPromptSubmit" => need(input.prompt.is_some(), "prompt")?,
        "SessionStart" => {}
        e if RECORDED_EVENTS.contains(&e) => {}
        e => return Err(InputError::UnknownEvent(e.to_owned())),
    }
    Ok(input)
}

/// Who asks and when, for the PDP.
#[derive(Debug, Clone)]
pub struct Context {
    /// The user the agent acts for.
    pub principal: Principal,
    /// Now.
    pub time: OffsetDateTime,
}

/// What the classifier needs.
#[derive(Debug, Clone, Copy)]
pub struct Dlp<'a> {
    /// The rules.
    pub scanner: &'a Scanner,
    /// The manifest's actions per classification.
    pub actions: &'a Actions,
}

/// One request and its decision, for the audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decided {
    /// What in the call it is for.
    pub what: String,
    /// The request, for people.
    pub request: String,
    /// `allow`, `deny` or `approval_required`.
    pub effect: Effect,
    /// The decision's reason.
    pub reason: &'static str,
    /// The rule that decided, described.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// DLP findings of one rule in one piece of content. Never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was scanned (the prompt, the command line, the content written to a file …).
    pub what: String,
    /// The rule's id.
    pub rule: String,
    /// Its classification.
    pub classification: String,
    /// How many.
    pub count: usize,
    /// What the manifest does with it.
    pub action: DlpAction,
}

/// The hook's answer, and everything the audit record needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// The event.
    pub event: String,
    /// The tool, for tool events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The decision; none for events that are only recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<Permission>,
    /// Why, for the user and the model.
    pub reason: String,
    /// Every request and its decision.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<Decided>,
    /// DLP findings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// What could not be resolved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<String>,
    /// What the tool acts on: the absolute path, the command line or the URL (scrubbed like
    /// the rest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl Answer {
    /// The JSON Claude Code reads on the hook's standard output, if any.
    pub fn output(&self) -> Option<Value> {
        let permission = self.permission?;
        match self.event.as_str() {
            "PreToolUse" => Some(json!({
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": permission.as_str(),
                    "permissionDecisionReason": self.reason,
                }
            })),
            "UserPromptSubmit" | "PostToolUse" if permission != Permission::Allow => {
                Some(json!({ "decision": "block", "reason": self.reason }))
            }
            _ => None,
        }
    }
}

/// What a tool call needs decided and scanned.
#[derive(Debug, Default)]
struct Call {
    checks: Vec<Check>,
    unresolved: Vec<String>,
    content: Vec<(String, String)>,
    /// Set for tools decided without the manifest.
    fixed: Option<(Permission, String)>,
}

/// Decide a hook event.
pub fn decide(
    input: &Input,
    pdp: &Pdp,
    dlp: Dlp<'_>,
    world: &dyn World,
    settings: &Settings,
    ctx: &Context,
) -> Answer {
    let mut answer = Answer {
        event: input.hook_event_name.clone(),
        tool: input.tool_name.clone(),
        permission: None,
        reason: String::new(),
        decisions: Vec::new(),
        findings: Vec::new(),
        unresolved: Vec::new(),
        target: target(input, world.home()),
    };
    match input.hook_event_name.as_str() {
        "PreToolUse" => {
            let tool = input.tool_name.as_deref().unwrap_or_default();
            let call = match call(input, world, settings) {
                Ok(c) => c,
                Err(e) => {
                    answer.permission = Some(Permission::Deny);
                    answer.reason = format!("cordon: the `{tool}` call cannot be checked: {e}");
                    return answer;
                }
            };
            judge(&mut answer, call, pdp, dlp, settings, ctx, tool);
        }
        "PostToolUse" => {
            let mut texts = Vec::new();
            let tool = input.tool_name.as_deref().unwrap_or_default();
            if let Some(r) = &input.tool_response
                && !WRITE_TOOLS.contains(&tool)
            {
                strings(r, &mut texts);
            }
            let what = format!(
                "the result of `{}`",
                input.tool_name.as_deref().unwrap_or_default()
            );
            scan(&mut answer, dlp, &what, &texts.join("\n"));
            let blocked = blocked_summary(&answer.findings);
            if blocked.is_empty() {
                answer.permission = Some(Permission::Allow);
                answer.reason = "cordon: nothing the manifest blocks in the result".into();
            } else {
                answer.permission = Some(Permission::Deny);
                answer.reason = format!(
                    "cordon: {blocked}; the manifest's dlp section blocks these, do not repeat, \
                     store or send them"
                );
            }
        }
        "UserPromptSubmit" => {
            scan(
                &mut answer,
                dlp,
                "the prompt",
                input.prompt.as_deref().unwrap_or_default(),
            );
            let blocked = blocked_summary(&answer.findings);
            if blocked.is_empty() {
                answer.permission = Some(Permission::Allow);
                answer.reason = "cordon: nothing the manifest blocks in the prompt".into();
            } else {
                answer.permission = Some(Permission::Deny);
                answer.reason = format!(
                    "cordon blocked this prompt: {blocked}; the manifest's dlp section blocks \
                     these, remove them and submit again"
                );
            }
        }
        "SessionStart" => {
            answer.permission = Some(Permission::Allow);
            answer.reason = format!("cordon: session governed by manifest `{}`", pdp.agent());
        }
        _ => answer.reason = "recorded".into(),
    }
    answer.scrub(dlp.scanner);
    answer
}

impl Answer {
    /// Replace whatever the classifier finds in the answer's own text (a path, a command line
    /// or a URL quoted in a reason) with placeholders: the answer is shown to the model and
    /// recorded, and neither may carry the value.
    fn scrub(&mut self, scanner: &Scanner) {
        let mut redactor = Redactor::new();
        let mut clean = |text: &mut String| {
            let found = scanner.scan(text.as_bytes());
            if !found.is_empty() {
                let redacted = redactor.redact(scanner, text.as_bytes(), &found);
                *text = String::from_utf8_lossy(&redacted).into_owned();
            }
        };
        clean(&mut self.reason);
        for d in &mut self.decisions {
            clean(&mut d.what);
            clean(&mut d.request);
            if let Some(r) = &mut d.rule {
                clean(r);
            }
        }
        for u in &mut self.unresolved {
            clean(u);
        }
        if let Some(t) = &mut self.target {
            clean(t);
        }
    }
}

fn judge(
    answer: &mut Answer,
    call: Call,
    pdp: &Pdp,
    dlp: Dlp<'_>,
    settings: &Settings,
    ctx: &Context,
    tool: &str,
) {
    if let Some((p, why)) = call.fixed {
        answer.permission = Some(p);
        answer.reason = why;
        return;
    }
    let mut denied = Vec::new();
    let mut approval = Vec::new();
    for check in call.checks {
        let mut req = check.request;
        req.principal = ctx.principal.clone();
        req.agent = Some(pdp.agent().to_owned());
        req.time = Some(ctx.time);
        let d = pdp.decide(&req);
        let rule = d.rule.map(|r| pdp.describe(r));
        let request = short(&req);
        // Only what is not allowed is spelled out in the reason.
        let line = || match &rule {
            Some(r) => format!(
                "{}: {} `{request}` ({r})",
                check.what,
                req.resource.action()
            ),
            None => format!("{}: {} `{request}`", check.what, req.resource.action()),
        };
        match d.effect {
            Effect::Deny => {
                denied.push(format!("{} is not allowed: {}", line(), d.reason.as_str()))
            }
            Effect::ApprovalRequired => approval.push(line()),
            Effect::Allow => {}
        }
        answer.decisions.push(Decided {
            what: check.what,
            request,
            effect: d.effect,
            reason: d.reason.as_str(),
            rule,
        });
    }
    for (what, text) in &call.content {
        scan(answer, dlp, what, text);
    }
    let blocked = blocked_summary(&answer.findings);
    answer.unresolved = call.unresolved;
    let (permission, reason) = if !denied.is_empty() {
        (
            Permission::Deny,
            format!(
                "cordon denied this `{tool}` call under manifest `{}`: {}",
                pdp.agent(),
                denied.join("; ")
            ),
        )
    } else if !blocked.is_empty() {
        (
            Permission::Deny,
            format!(
                "cordon denied this `{tool}` call: {blocked}; the manifest's dlp section blocks \
                 these"
            ),
        )
    } else if !answer.unresolved.is_empty() {
        (
            settings.unresolved.max(Permission::Ask),
            format!(
                "cordon cannot check this `{tool}` call before it runs: {}",
                answer.unresolved.join("; ")
            ),
        )
    } else if !approval.is_empty() {
        (
            Permission::Ask,
            format!(
                "cordon: this `{tool}` call needs approval under manifest `{}`: {}",
                pdp.agent(),
                approval.join("; ")
            ),
        )
    } else {
        (
            Permission::Allow,
            format!("cordon: granted by manifest `{}`", pdp.agent()),
        )
    };
    answer.permission = Some(permission);
    answer.reason = reason;
}

/// The resource of a request, for people.
fn short(req: &Request) -> String {
    use cordon_policy::pdp::{Resource, UNKNOWN_ARG, UNKNOWN_ARGS};
    match &req.resource {
        Resource::Read { path } | Resource::Write { path } => path.clone(),
        Resource::Exec { command, argv } => {
            let mut s = command.clone();
            for a in argv {
                s.push(' ');
                s.push_str(match a.as_str() {
                    UNKNOWN_ARG | UNKNOWN_ARGS => "…",
                    a => a,
                });
            }
            s
        }
        Resource::Network { url, method } => format!("{method} {url}"),
        Resource::Api { scope } => scope.clone(),
        Resource::Mcp { server, tool } => format!("{server}/{tool}"),
    }
}

fn scan(answer: &mut Answer, dlp: Dlp<'_>, what: &str, text: &str) {
    if text.len() > MAX_SCAN_BYTES {
        answer.findings.push(Finding {
            what: what.to_owned(),
            rule: "cordon-oversized".into(),
            classification: "unscanned".into(),
            count: 1,
            action: DlpAction::Block,
        });
        return;
    }
    let mut by_rule: BTreeMap<(String, String), usize> = BTreeMap::new();
    for f in dlp.scanner.scan(text.as_bytes()) {
        if let Some(rule) = dlp.scanner.rule(&f) {
            *by_rule
                .entry((rule.id().to_owned(), rule.classification().to_owned()))
                .or_default() += 1;
        }
    }
    for ((rule, classification), count) in by_rule {
        let action = dlp.actions.action(&classification);
        answer.findings.push(Finding {
            what: what.to_owned(),
            rule,
            classification,
            count,
            action,
        });
    }
}

/// What is blocked, for the reason: a hook cannot send part of a tool call, so a finding the
/// manifest would redact stops the call too.
fn blocked_summary(findings: &[Finding]) -> String {
    findings
        .iter()
        .filter(|f| f.action >= DlpAction::Redact)
        .map(|f| format!("{} ({}) in {}", f.rule, f.classification, f.what))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every string in a JSON value.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn field<'a>(input: &'a Value, tool: &str, name: &'static str) -> Result<&'a str, String> {
    input
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{tool}` needs `tool_input.{name}` as a string"))
}

fn opt_field<'a>(
    input: &'a Value,
    tool: &str,
    name: &'static str,
) -> Result<Option<&'a str>, String> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{tool}`: `tool_input.{name}` must be a string")),
    }
}

/// An absolute path for a tool's path argument: `~` expanded, relative ones against `cwd`.
fn absolute(path: &str, cwd: &str, home: &str) -> String {
    if path == "~" {
        home.to_owned()
    } else if let Some(rest) = path.strip_prefix("~/") {
        format!("{home}/{rest}")
    } else if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{cwd}/{path}")
    }
}

/// The directory a glob pattern can reach: its components before the first with a wildcard.
fn glob_base(pattern: &str) -> String {
    let mut base = Vec::new();
    for part in pattern.split('/') {
        if part.contains(['*', '?', '[', '{']) {
            break;
        }
        base.push(part);
    }
    let joined = base.join("/");
    if joined.is_empty() && pattern.starts_with('/') {
        "/".into()
    } else {
        joined
    }
}

/// What a tool call acts on, for the audit trail: the absolute path of a file tool, the command
/// line, the URL; none for other tools or input of the wrong shape (which is denied anyway).
fn target(input: &Input, home: &str) -> Option<String> {
    let tool = input.tool_name.as_deref()?;
    let ti = input.tool_input.as_ref()?;
    let text = |name: &str| ti.get(name).and_then(Value::as_str);
    let cwd = input.cwd.as_deref().unwrap_or("/");
    let path = |name: &str| text(name).map(|p| absolute(p, cwd, home));
    match tool {
        "Read" | "Write" | "Edit" | "MultiEdit" => path("file_path"),
        "NotebookRead" | "NotebookEdit" => path("notebook_path"),
        "LS" | "Glob" | "Grep" => path("path").or_else(|| Some(cwd.to_owned())),
        "Bash" => text("command").map(str::to_owned),
        "WebFetch" => text("url").map(str::to_owned),
        _ => None,
    }
}

fn call(input: &Input, world: &dyn World, settings: &Settings) -> Result<Call, String> {
    let tool = input.tool_name.as_deref().unwrap_or_default();
    let empty = Value::Null;
    let ti = input.tool_input.as_ref().unwrap_or(&empty);
    if !ti.is_object() {
        return Err("`tool_input` is not an object".into());
    }
    let cwd = input.cwd.as_deref().unwrap_or_default();
    if !cwd.starts_with('/') {
        return Err(format!("the working directory `{cwd}` is not absolute"));
    }
    let home = world.home();
    let mut c = Call::default();
    let push = |c: &mut Call,
                r: Result<Request, cordon_policy::pdp::RequestError>,
                what: String| {
        match r {
            Ok(request) => c.checks.push(Check { request, what }),
            Err(e) => c.unresolved.push(format!("{what}: {e}")),
        }
    };
    match tool {
        "Read" | "NotebookRead" | "LS" => {
            let name = if tool == "NotebookRead" {
                "notebook_path"
            } else if tool == "LS" {
                "path"
            } else {
                "file_path"
            };
            let p = absolute(field(ti, tool, name)?, cwd, home);
            push(&mut c, Request::read(&p), format!("`{tool}` of `{p}`"));
        }
        "Glob" | "Grep" => {
            let dir = absolute(opt_field(ti, tool, "path")?.unwrap_or("."), cwd, home);
            let reach = match (tool, opt_field(ti, tool, "pattern")?) {
                ("Glob", Some(pattern)) => {
                    let full = absolute(pattern, &dir, home);
                    glob_base(&full)
                }
                _ => dir,
            };
            push(
                &mut c,
                Request::read(&reach),
                format!("`{tool}` in `{reach}`"),
            );
        }
        "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => {
            let name = if tool == "NotebookEdit" {
                "notebook_path"
            } else {
                "file_path"
            };
            let p = absolute(field(ti, tool, name)?, cwd, home);
            push(&mut c, Request::write(&p), format!("`{tool}` of `{p}`"));
            let mut texts = Vec::new();
            for key in ["content", "new_string", "new_source"] {
                if let Some(v) = ti.get(key) {
                    strings(v, &mut texts);
                }
            }
            if let Some(edits) = ti.get("edits").and_then(Value::as_array) {
                for e in edits {
                    if let Some(v) = e.get("new_string") {
                        strings(v, &mut texts);
                    }
                }
            }
            c.content
                .push((format!("the content written to `{p}`"), texts.join("\n")));
        }
        "Bash" => {
            let line = field(ti, tool, "command")?;
            let plan = bash::plan(line, cwd, world);
            c.checks = plan.checks;
            c.unresolved = plan.unresolved;
            c.content.push(("the command line".into(), line.to_owned()));
        }
        "WebFetch" => {
            let url = field(ti, tool, "url")?;
            push(
                &mut c,
                Request::network(url, "GET"),
                format!("`WebFetch` of `{url}`"),
            );
            c.content.push(("the URL".into(), url.to_owned()));
        }
        "WebSearch" => {
            let query = field(ti, tool, "query")?;
            push(&mut c, Request::api(WEB_SEARCH_SCOPE), "`WebSearch`".into());
            c.content
                .push(("the search query".into(), query.to_owned()));
        }
        t if t.starts_with("mcp__") => {
            let rest = t.get(5..).unwrap_or_default();
            let Some((server, name)) = rest.split_once("__") else {
                return Err(format!("`{t}` is not `mcp__<server>__<tool>`"));
            };
            push(
                &mut c,
                Request::mcp(server, name),
                format!("MCP tool `{name}` of `{server}`"),
            );
            let mut texts = Vec::new();
            strings(ti, &mut texts);
            c.content
                .push((format!("the arguments of `{t}`"), texts.join("\n")));
        }
        t if INTERNAL_TOOLS.contains(&t) => {
            c.fixed = Some((
                Permission::Allow,
                format!("cordon: `{t}` touches no file, program or host"),
            ));
        }
        t => {
            let p = settings
                .tools
                .get(t)
                .copied()
                .unwrap_or(settings.unknown_tool);
            c.fixed = Some((
                p,
                format!(
                    "cordon does not know the tool `{t}`; the hook's settings answer {} for it",
                    p.as_str()
                ),
            ));
        }
    }
    Ok(c)
}

mod audit;

#[cfg(test)]
mod tests;
