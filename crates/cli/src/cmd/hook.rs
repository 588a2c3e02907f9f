//! `cordon hook claude-code`: the gate Claude Code calls before and after every tool call.
//!
//! Fail closed in Claude Code's terms: a hook that exits 2 blocks the call (or the prompt) and
//! shows its standard error; any other failure (exit 1, a crash, a timeout) lets the call
//! proceed. So every failure here — unreadable input, a manifest that does not verify, a
//! policy that does not compile, a panic, running out of time — ends with exit status 2 and
//! a reason on standard error, and a decision is printed as the protocol's JSON with status 0.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::Duration;

use cordon_dlp::action::Actions;
use cordon_dlp::scan::Scanner;
use cordon_hook::World;
use cordon_hook::claude::{self, Context, Dlp, MAX_INPUT_BYTES, Permission, Settings};
use cordon_policy::pdp::Principal;

use super::manifest::Enforced;
use super::run::state_dir;
use crate::fail::{Fail, Outcome};
use crate::io;
use crate::trail::{self, Trail};

/// Exit status that makes Claude Code block the call and show standard error.
pub const BLOCK: u8 = 2;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Answer one Claude Code (or Cowork) hook event: the event's JSON on standard input, the
    /// decision as Claude Code's hook JSON on standard output.
    ///
    /// PreToolUse: each tool call becomes requests to the policy decision point (`Bash` command
    /// lines are parsed into every program they run, with their arguments, redirections and
    /// the files they name; `Read`/`Write`/`Edit`/… are reads and writes; `WebFetch` is
    /// network; `mcp__server__tool` the MCP tool) and its text is scanned by DLP; the answer is
    /// allow, deny or ask with a reason. UserPromptSubmit: a prompt carrying content the
    /// manifest's `dlp` section blocks is stopped. PostToolUse: the tool's result is scanned
    /// and blocked content reported to the model. Every event is an OCSF event in the state
    /// directory's audit log (`audit/`).
    ///
    /// Anything that goes wrong — malformed or oversized input, an unknown event, a manifest
    /// that is missing, unverifiable or revoked, a policy error, running out of time — exits
    /// with status 2, which Claude Code treats as a block, and says why on standard error.
    ///
    /// Example (in a settings file's `hooks`): `cordon hook claude-code --manifest
    /// /etc/cordon/claude.signed.json --trust /etc/cordon/trust.json`
    ClaudeCode(Args),
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    signed: Enforced,
    /// Where audit events go (default: `$XDG_STATE_HOME/cordon`, or `~/.local/state/cordon`).
    #[arg(long)]
    state_dir: Option<String>,
    /// What a command line the hook cannot fully check before it runs gets (a program name or
    /// a `cd` only run time knows, `eval "$x"`, `source`, `PATH=` …): `ask` the user or `deny`.
    /// Never allow.
    #[arg(long, value_enum, default_value_t = Fallback::Ask)]
    unresolved: Fallback,
    /// What a tool cordon does not know gets.
    #[arg(long, value_enum, default_value_t = ToolDefault::Deny)]
    unknown_tool: ToolDefault,
    /// The answer for one tool cordon does not know, as `NAME=allow|ask|deny` (repeatable).
    #[arg(long = "tool", value_name = "NAME=ANSWER")]
    tools: Vec<String>,
    /// Give up (and block) after this many milliseconds; keep it below the hook's `timeout`
    /// in the settings, or Claude Code gives up first and lets the call through.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Fallback {
    Ask,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ToolDefault {
    Allow,
    Ask,
    Deny,
}

pub fn run(c: Command) -> Outcome {
    match c {
        Command::ClaudeCode(a) => {
            // A panic must not look like a non-blocking failure (exit 101): block.
            std::panic::set_hook(Box::new(|info| {
                let _ = writeln!(std::io::stderr(), "cordon hook: internal error: {info}");
                std::process::exit(i32::from(BLOCK));
            }));
            let limit = a.timeout_ms;
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(limit));
                let _ = writeln!(
                    std::io::stderr(),
                    "cordon hook: no decision within {limit} ms: blocked"
                );
                std::process::exit(i32::from(BLOCK));
            });
            claude_code(&a).map_err(|f| f.with_exit(BLOCK))
        }
    }
}

fn settings(a: &Args) -> Result<Settings, Fail> {
    let mut tools = BTreeMap::new();
    for t in &a.tools {
        let (name, answer) = t.split_once('=').ok_or_else(|| {
            Fail::input_msg(format!("`--tool {t}`: expected `NAME=allow|ask|deny`"))
        })?;
        let p = match answer {
            "allow" => Permission::Allow,
            "ask" => Permission::Ask,
            "deny" => Permission::Deny,
            other => {
                return Err(Fail::input_msg(format!(
                    "`--tool {t}`: `{other}` is not allow, ask or deny"
                )));
            }
        };
        tools.insert(name.to_owned(), p);
    }
    Ok(Settings {
        unresolved: match a.unresolved {
            Fallback::Ask => Permission::Ask,
            Fallback::Deny => Permission::Deny,
        },
        unknown_tool: match a.unknown_tool {
            ToolDefault::Allow => Permission::Allow,
            ToolDefault::Ask => Permission::Ask,
            ToolDefault::Deny => Permission::Deny,
        },
        tools,
    })
}

fn claude_code(a: &Args) -> Outcome {
    let settings = settings(a)?;
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Fail::input_msg(format!("cannot read the hook input: {e}")))?;
    let input = claude::parse(&bytes).map_err(|e| Fail::input_msg(format!("cordon: {e}")))?;
    let now = io::now_or(None)?;
    let (user, home) = io::current_user();
    let mut trail = Trail::new(&state_dir(a.state_dir.as_deref(), &home), "hook", &user)?;
    trail.subject.correlation = input.session_id.clone();
    // A verified manifest is not recorded on every call: the decision's event names it.
    let (verified, _) = trail.verify(&a.signed, now)?;
    let pdp = a.signed.pdp(&verified, &user, &home)?;
    let scanner = Scanner::builtin()
        .map_err(|e| Fail::check_msg(format!("the DLP rules do not compile: {e}")))?;
    let actions = match &verified.manifest.dlp {
        Some(d) => Actions::new(&d.block, &d.redact, &d.alert),
        None => Actions::default(),
    };
    let world = Machine {
        home: home.clone(),
        path: std::env::var("PATH").unwrap_or_default(),
    };
    let answer = claude::decide(
        &input,
        &pdp,
        Dlp {
            scanner: &scanner,
            actions: &actions,
        },
        &world,
        &settings,
        &Context {
            principal: Principal {
                user: Some(user.clone()),
                groups: Vec::new(),
                device: None,
            },
            time: now,
        },
    );
    trail.record([answer.event(&input, trail::millis(now))])?;
    if let Some(out) = answer.output() {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{out}")
            .and_then(|()| stdout.flush())
            .map_err(|e| Fail::input_msg(format!("cannot write the hook answer: {e}")))?;
    }
    // The process ends here: freeing the rules and automata one by one would cost more than a
    // sixth of the hook's instructions, for nothing.
    std::mem::forget(scanner);
    std::mem::forget(pdp);
    Ok(0)
}

/// The machine the hook runs on, as the hook library may ask about it.
struct Machine {
    home: String,
    path: String,
}

impl World for Machine {
    fn home(&self) -> &str {
        &self.home
    }

    fn which(&self, name: &str) -> Option<String> {
        use std::os::unix::fs::PermissionsExt as _;
        self.path
            .split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| Path::new(d).join(name))
            .find(|p| {
                std::fs::metadata(p)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
            .map(|p| p.to_string_lossy().into_owned())
    }

    fn exists(&self, path: &str) -> bool {
        Path::new(path).symlink_metadata().is_ok()
    }
}
