//! A hook call as an audit event: the tool's class in OCSF (a file tool is File System Activity,
//! `Bash` is Process Activity, `WebFetch` is HTTP Activity, anything else API Activity; a
//! session start is Application Lifecycle), the answer as the verdict, and the requests, DLP
//! findings and unresolved parts under `unmapped.cordon`.

use cordon_audit::ocsf::{self, Activity, Event, HttpMethod, Severity, Verdict};
use cordon_dlp::action::Action as DlpAction;
use cordon_policy::pdp::Effect;
use serde_json::json;

use super::{Answer, Input, Permission};

/// The product that calls the hook, as events name it.
const CLAUDE_CODE: &str = "claude-code";

impl Answer {
    /// The audit event of this answer to `input`, at `time_ms`.
    pub fn event(&self, input: &Input, time_ms: i64) -> Event {
        let tool = self.tool.as_deref().unwrap_or_default();
        let clipped = self.target.as_deref().map(clip);
        let target = clipped.as_deref();
        let id = input
            .tool_use_id
            .as_deref()
            .or(input.session_id.as_deref())
            .unwrap_or("unknown");
        let api = |e: Event, operation: &str| {
            let service = tool
                .strip_prefix("mcp__")
                .and_then(|rest| rest.split_once("__"))
                .map_or(CLAUDE_CODE, |(server, _)| server);
            e.with(
                "api",
                json!({"operation": operation, "service": {"name": service}}),
            )
            .with("src_endpoint", json!({"name": CLAUDE_CODE}))
        };
        let e = match (self.event.as_str(), tool, target) {
            ("SessionStart", _, _) => Event::new(Activity::AppStart, time_ms).with(
                "app",
                json!({"name": "Claude Code", "uid": input.session_id}),
            ),
            ("UserPromptSubmit", _, _) => api(
                Event::new(Activity::ApiOther("Prompt"), time_ms),
                "UserPromptSubmit",
            ),
            (_, "Read" | "NotebookRead", Some(path)) => {
                Event::new(Activity::FileRead, time_ms).with("file", ocsf::file(path, false))
            }
            (_, "LS" | "Glob" | "Grep", Some(path)) => {
                Event::new(Activity::FileRead, time_ms).with("file", ocsf::file(path, true))
            }
            (_, "Write", Some(path)) => {
                Event::new(Activity::FileCreate, time_ms).with("file", ocsf::file(path, false))
            }
            (_, "Edit" | "MultiEdit" | "NotebookEdit", Some(path)) => {
                Event::new(Activity::FileUpdate, time_ms).with("file", ocsf::file(path, false))
            }
            (_, "Bash", Some(line)) => {
                let program = line.split_whitespace().next().unwrap_or_default();
                Event::new(Activity::ProcessLaunch, time_ms)
                    .with("process", ocsf::process(line, program, id, None))
            }
            (_, "WebFetch", Some(url)) => Event::new(Activity::Http(HttpMethod::Get), time_ms)
                .with(
                    "http_request",
                    json!({"http_method": "GET", "url": {"url_string": url}}),
                )
                .with("src_endpoint", json!({"name": CLAUDE_CODE})),
            _ => api(Event::new(Activity::ApiOther("Invoke"), time_ms), tool),
        };
        let strictest = self.findings.iter().map(|f| f.action).max();
        let verdict = match (self.permission, strictest) {
            (None, _) => Verdict::None,
            (Some(Permission::Deny), _) => Verdict::Deny,
            (Some(Permission::Ask), _) => Verdict::Ask,
            (Some(Permission::Allow), Some(_)) => Verdict::Alert,
            (Some(Permission::Allow), None) => Verdict::Allow,
        };
        let deciding = self
            .decisions
            .iter()
            .find(|d| d.effect == Effect::Deny)
            .or_else(|| {
                self.decisions
                    .iter()
                    .find(|d| d.effect == Effect::ApprovalRequired)
            })
            .or_else(|| self.decisions.first());
        let reason = match (verdict, deciding) {
            _ if strictest == Some(DlpAction::Block) && verdict == Verdict::Deny => "dlp_blocked",
            (Verdict::Deny | Verdict::Ask, Some(d)) if d.effect != Effect::Allow => d.reason,
            (Verdict::Deny | Verdict::Ask, _) if !self.unresolved.is_empty() => "unresolved",
            (Verdict::Deny | Verdict::Ask, _) => "hook_settings",
            (Verdict::None, _) => "recorded",
            (_, Some(d)) => d.reason,
            _ => "granted",
        };
        let mut e = e
            .decided(verdict, reason, deciding.and_then(|d| d.rule.as_deref()))
            .message(self.reason.clone())
            .cordon("hook_event", self.event.as_str().into());
        if strictest == Some(DlpAction::Block) {
            e = e.severity(Severity::High);
        }
        if !tool.is_empty() {
            e = e.cordon("tool", tool.into());
        }
        if let Some(id) = &input.tool_use_id {
            e = e.cordon("tool_use_id", id.as_str().into());
        }
        let requests: Vec<_> = self
            .decisions
            .iter()
            .take(MAX_REQUESTS)
            .map(|d| {
                json!({"what": clip(&d.what), "request": clip(&d.request), "effect": d.effect,
                       "reason": d.reason, "rule": d.rule})
            })
            .collect();
        if self.decisions.len() > MAX_REQUESTS {
            e = e.cordon(
                "requests_left_out",
                (self.decisions.len() - MAX_REQUESTS).into(),
            );
        }
        for (name, value) in [
            ("requests", json!(requests)),
            ("dlp", json!(self.findings)),
            ("unresolved", json!(self.unresolved)),
        ] {
            if value.as_array().is_some_and(|a| !a.is_empty()) {
                e = e.cordon(name, value);
            }
        }
        e
    }
}

/// Most requests of one call an event lists.
const MAX_REQUESTS: usize = 64;

/// Most bytes of a path, command line or URL an event keeps: the agent shapes them, and the
/// audit trail must not grow by megabytes per call.
const MAX_TARGET: usize = 8 << 10;

/// `text` cut to [`MAX_TARGET`] bytes (at a character boundary), saying how much was left out.
fn clip(text: &str) -> String {
    if text.len() <= MAX_TARGET {
        return text.to_owned();
    }
    let mut end = MAX_TARGET;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}…[{} more bytes]",
        text.get(..end).unwrap_or_default(),
        text.len() - end
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_agent_text_is_clipped_at_a_character_boundary() {
        assert_eq!(clip("ls -la"), "ls -la");
        let long = format!("echo {}", "é".repeat(MAX_TARGET));
        let c = clip(&long);
        // "echo " is 5 bytes and each "é" 2: the last whole character ends at byte 8191.
        let kept = 8191;
        assert_eq!(
            c,
            format!("{}…[{} more bytes]", &long[..kept], long.len() - kept)
        );
    }
}
