//! `cordon claude-code settings`: the managed settings that make cordon's hook mandatory.

use std::path::Path;

use cordon_policy::manifest::Manifest;
use serde_json::{Value, json};

use super::manifest::Enforced;
use crate::fail::{Fail, Outcome};
use crate::io;

/// Where Claude Code (and Cowork) read managed settings on Linux.
pub const MANAGED_SETTINGS: &str = "/etc/claude-code/managed-settings.json";

/// Seconds Claude Code waits for the hook; cordon gives up (and blocks) well before.
const HOOK_TIMEOUT_SECS: u64 = 30;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print (or install) the managed settings that make `cordon hook claude-code` the gate on
    /// every tool call, prompt and session, for Claude Code and Cowork.
    ///
    /// The settings register the hook for PreToolUse, PostToolUse, UserPromptSubmit and
    /// SessionStart with the verified manifest; allow only managed hooks and managed permission
    /// rules (`allowManagedHooksOnly`, `allowManagedPermissionRulesOnly`) so neither a user nor
    /// the agent can add a hook or an allow rule that loosens them; turn off the bypass
    /// permission mode; allow only the MCP servers the manifest names; and add deny rules for
    /// the manifest's `denyPaths` as a second layer. Distribute the output with your MDM to
    /// `/etc/claude-code/managed-settings.json`, or write it there with `--install` (root).
    ///
    /// Hooks are a fine-grained layer, not the boundary: run the CLI under `cordon run` too
    /// (see docs/claude-code.md).
    ///
    /// Example: `cordon claude-code settings --manifest /etc/cordon/claude.signed.json --trust
    /// /etc/cordon/trust.json --install`
    Settings(Args),
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The manifest the hook enforces (verified now; the hook verifies it again on every call).
    #[command(flatten)]
    signed: Enforced,
    /// The cordon binary the hook runs (default: this one).
    #[arg(long, value_name = "PATH")]
    cordon: Option<String>,
    /// State directory for the hook's audit records (default: the user's own, see `cordon hook
    /// claude-code --help`).
    #[arg(long)]
    state_dir: Option<String>,
    /// What a command line the hook cannot check before it runs gets: `ask` or `deny`.
    #[arg(long, default_value = "ask", value_parser = ["ask", "deny"])]
    unresolved: String,
    /// Write the settings to /etc/claude-code/managed-settings.json instead of printing them.
    #[arg(long)]
    install: bool,
    /// With `--install`: replace an existing file.
    #[arg(long, requires = "install")]
    force: bool,
}

pub fn run(c: Command) -> Outcome {
    match c {
        Command::Settings(a) => settings(&a),
    }
}

fn settings(a: &Args) -> Outcome {
    let now = io::now_or(None)?;
    let verified = a.signed.verify(now)?;
    let cordon = match &a.cordon {
        Some(c) => c.clone(),
        None => std::env::current_exe()
            .map_err(|e| {
                Fail::input_msg(format!("cannot tell where cordon is: {e}; give `--cordon`"))
            })?
            .to_string_lossy()
            .into_owned(),
    };
    let absolute = |what: &str, p: &str| -> Result<String, Fail> {
        let path = Path::new(p);
        if path.is_absolute() {
            return Ok(p.to_owned());
        }
        std::path::absolute(path)
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|e| Fail::input_msg(format!("`{what}` `{p}`: {e}")))
    };
    let program = absolute("--cordon", &cordon)?;
    let mut args = vec![
        "hook".to_owned(),
        "claude-code".into(),
        "--manifest".into(),
        absolute("--manifest", &a.signed.manifest)?,
        "--trust".into(),
        absolute("--trust", &a.signed.trust)?,
        "--unresolved".into(),
        a.unresolved.clone(),
    ];
    if let Some(r) = &a.signed.revocations {
        args.extend(["--revocations".into(), absolute("--revocations", r)?]);
    }
    if let Some(s) = &a.state_dir {
        args.extend(["--state-dir".into(), absolute("--state-dir", s)?]);
    }
    let out = managed(&verified.manifest, &program, &args);
    let text = serde_json::to_string_pretty(&out)
        .map_err(|e| Fail::input_msg(format!("cannot write the settings: {e}")))?
        + "\n";
    if a.install {
        let dir = Path::new(MANAGED_SETTINGS)
            .parent()
            .unwrap_or(Path::new("/"));
        std::fs::create_dir_all(dir)
            .map_err(|e| Fail::input_msg(format!("cannot create `{}`: {e}", dir.display())))?;
        io::write_file(MANAGED_SETTINGS, &text, 0o644, a.force)?;
        eprintln!(
            "installed {MANAGED_SETTINGS}: every Claude Code session on this machine now asks cordon"
        );
    } else {
        print!("{text}");
    }
    Ok(0)
}

/// The managed settings for a manifest, with `program args…` as the hook. The hook is given
/// in exec form (`command` and `args`): Claude Code starts it without a shell, so no quoting
/// can go wrong, no shell start-up is paid on every tool call, and a sandbox need not grant a
/// shell for it.
pub fn managed(m: &Manifest, program: &str, args: &[String]) -> Value {
    let hook = json!([{
        "matcher": "*",
        "hooks": [{"type": "command", "command": program, "args": args, "timeout": HOOK_TIMEOUT_SECS}],
    }]);
    let mut deny = Vec::new();
    for p in &m.deny_paths {
        for rule in permission_paths(p) {
            for tool in ["Read", "Edit"] {
                deny.push(format!("{tool}({rule})"));
            }
        }
    }
    let servers: std::collections::BTreeSet<&str> = m
        .apis
        .values()
        .flat_map(|g| g.mcp_tools.iter().map(|t| t.server.as_str()))
        .collect();
    let mut settings = json!({
        "hooks": {
            "PreToolUse": hook,
            "PostToolUse": hook,
            "UserPromptSubmit": hook,
            "SessionStart": hook,
        },
        "allowManagedHooksOnly": true,
        "allowManagedPermissionRulesOnly": true,
        "allowManagedMcpServersOnly": true,
        "allowedMcpServers": servers.iter().map(|s| json!({"serverName": s})).collect::<Vec<_>>(),
        "disableAllHooks": false,
        "permissions": {
            "disableBypassPermissionsMode": "disable",
            "deny": deny,
        },
    });
    // When the egress proxy adds the Anthropic API key, the CLI gets a placeholder to start
    // with (it refuses to run without a key); the proxy replaces it on the way out.
    let injected = m.apis.values().any(|g| {
        g.credential.is_some()
            && g.endpoints
                .iter()
                .any(|e| e.url.contains("api.anthropic.com"))
    });
    if injected && let Some(o) = settings.as_object_mut() {
        o.insert(
            "env".into(),
            json!({"ANTHROPIC_API_KEY": API_KEY_PLACEHOLDER}),
        );
    }
    settings
}

/// What the CLI holds instead of the Anthropic API key when the proxy adds the real one.
pub const API_KEY_PLACEHOLDER: &str = "sk-ant-placeholder-the-cordon-proxy-adds-the-key";

/// A manifest path as Claude Code permission rule paths: `~/…` stays, an absolute path gets the
/// `//` Claude Code's rules use for the file system root, and a path without wildcards covers
/// itself and what is under it.
fn permission_paths(p: &str) -> Vec<String> {
    let base = match p.strip_prefix('/') {
        Some(rest) => format!("//{rest}"),
        None => p.to_owned(),
    };
    if base.contains('*') {
        vec![base]
    } else {
        let base = base.trim_end_matches('/');
        vec![base.to_owned(), format!("{base}/**")]
    }
}
