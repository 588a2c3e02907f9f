//! The `cordon` binary: parses arguments and files at the edge, calls the policy core, reports.
//!
//! Exit codes (also in `docs/cli.md`):
//! - 0: success; for `policy eval`, the decision is allow
//! - 1: a check failed: verification refused, lint found errors, a decision denied, tests failed
//! - 2: usage error, or an input that cannot be read or parsed
//! - 3: `policy eval` only: the decision is approval_required

mod cmd;
mod config;
mod embedded;
mod fail;
mod io;
mod ship;
mod trail;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// cordon: least privilege for desktop AI agents, enforced and audited.
///
/// cordon governs what an agent (Claude Code, Cowork, Codex, any process) may read, write,
/// execute, reach and call, from a signed capability manifest.
///
/// Start with `cordon quickstart`, which generates a key and a trust store, renders, lints, signs
/// and verifies a manifest, and explains a few decisions.
#[derive(Debug, Parser)]
#[command(
    name = "cordon",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    /// How errors are printed: `human` (with source excerpts) or `json` (one object on stderr).
    #[arg(long, global = true, value_enum, default_value_t = ErrorFormat::Human)]
    error_format: ErrorFormat,
    /// The configuration file (audit rotation, retention and checkpoints; see `docs/audit.md`).
    #[arg(long, global = true, value_name = "FILE", default_value = config::DEFAULT_PATH)]
    config: std::path::PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ErrorFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run cordon's main job on embedded defaults: keys, trust store, a rendered and signed
    /// manifest, verification, decisions explained, and a revocation.
    ///
    /// Example: `cordon quickstart --dir /tmp/cordon-demo`
    Quickstart(cmd::quickstart::Args),
    /// Run an agent under the kernel sandbox its signed manifest describes: namespaces,
    /// Landlock file/exec/network rights, seccomp, no capabilities, scrubbed environment, limits.
    ///
    /// The manifest is verified first (as `manifest verify` does); the agent's own program must
    /// be in `commandsAllowed`. cordon exits with the agent's exit status, or 125 when it refused
    /// or failed to start the agent. The verified manifest, the privileges granted, the launch
    /// and the exit are OCSF events in the state directory's audit log (`audit/`).
    ///
    /// Example: `cordon run --manifest alice.signed.json --trust trust.json -- /usr/bin/python3 agent.py`
    Run(cmd::run::Args),
    /// The egress proxy: HTTP forward proxy and CONNECT tunnels to the destinations a signed
    /// manifest grants, nothing else.
    ///
    /// Grants come from `networkScopes` and `apis`; other destinations, other ports, names that
    /// resolve to loopback, private, link-local or metadata addresses (unless a grant names the
    /// address), and tunnels whose TLS ClientHello names another server are refused with `403`
    /// and a JSON reason. With `--ca` (from `cordon ca init`) it inspects TLS where the manifest
    /// needs it: path and method rules, DLP on request bodies per the `dlp` section, credentials
    /// of `apis` entries added so the agent never holds them. Every request and tunnel is an
    /// OCSF event in the state directory's audit log (`audit/`).
    ///
    /// Example: `cordon proxy --manifest alice.signed.json --trust trust.json --listen 127.0.0.1:3128`
    /// then `https_proxy=http://127.0.0.1:3128 curl https://api.example.com/`
    Proxy(cmd::proxy::Args),
    /// Claude Code and Cowork: the managed settings that make cordon's hook mandatory.
    #[command(subcommand)]
    ClaudeCode(cmd::claude_code::Command),
    /// Hooks for coding agents: cordon as the gate on every tool call.
    #[command(subcommand)]
    Hook(cmd::hook::Command),
    /// The tamper-evident audit log: verify its hash chain, append events.
    #[command(subcommand)]
    Audit(cmd::audit::Command),
    /// Run Sigma detection rules over the audit trail: the stored log, or new events as they
    /// are written (`--follow`); findings are printed, and with `--record` appended to the log
    /// as Detection Finding events, which the sinks deliver.
    ///
    /// Example: `cordon detect --since 24h` or, as a service, `cordon detect --follow --record`
    Detect(cmd::detect::Args),
    /// Create the CA the egress proxy inspects TLS with.
    #[command(subcommand)]
    Ca(cmd::ca::Command),
    /// Generate Ed25519 signing keys.
    #[command(subcommand)]
    Keys(cmd::keys::Command),
    /// Create and edit trust stores: which keys may sign what, from when to when, and how many
    /// signatures are needed.
    #[command(subcommand)]
    Trust(cmd::trust::Command),
    /// Lint, render, sign, verify and revoke capability manifests.
    #[command(subcommand)]
    Manifest(cmd::manifest::Command),
    /// Ask the policy decision point, and test Rego policies.
    #[command(subcommand)]
    Policy(cmd::policy::Command),
    /// Find credentials, personal data and classification labels in files and streams; check
    /// the detection rules.
    #[command(subcommand)]
    Dlp(cmd::dlp::Command),
    /// Inspect the kernel's isolation features and what the sandbox would enforce.
    #[command(subcommand)]
    Sandbox(cmd::sandbox::Command),
}

// `cordon hook …` alone: Claude Code starts the hook for every tool call, and building the
// whole command tree costs a sixth of the call's instructions. Same options, same meaning.
#[derive(Debug, Parser)]
#[command(
    name = "cordon hook",
    bin_name = "cordon hook",
    about = "Hooks for coding agents: cordon as the gate on every tool call.",
    version,
    max_term_width = 100
)]
struct HookCli {
    /// How errors are printed: `human` (with source excerpts) or `json` (one object on stderr).
    #[arg(long, global = true, value_enum, default_value_t = ErrorFormat::Human)]
    error_format: ErrorFormat,
    /// The configuration file.
    #[arg(long, global = true, value_name = "FILE", default_value = config::DEFAULT_PATH)]
    config: std::path::PathBuf,
    #[command(subcommand)]
    command: cmd::hook::Command,
}

// `cordon run …` alone, for the same reason: its start-up is an agent's.
#[derive(Debug, Parser)]
#[command(
    name = "cordon run",
    bin_name = "cordon run",
    about = "Run an agent under the kernel sandbox its signed manifest describes: namespaces, \
             Landlock file/exec/network rights, seccomp, no capabilities, scrubbed environment, \
             limits. The verified manifest, the privileges granted, the launch and the exit are \
             OCSF events in the state directory's audit log.\n\nExample: `cordon run --manifest \
             alice.signed.json --trust trust.json -- /usr/bin/python3 agent.py`",
    long_about = None,
    version,
    max_term_width = 100
)]
struct RunCli {
    /// How errors are printed: `human` (with source excerpts) or `json` (one object on stderr).
    #[arg(long, global = true, value_enum, default_value_t = ErrorFormat::Human)]
    error_format: ErrorFormat,
    /// The configuration file.
    #[arg(long, global = true, value_name = "FILE", default_value = config::DEFAULT_PATH)]
    config: std::path::PathBuf,
    #[command(flatten)]
    args: cmd::run::Args,
}

/// The arguments without the subcommand's name (the second).
fn without_subcommand() -> impl Iterator<Item = std::ffi::OsString> {
    std::env::args_os()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, a)| a)
}

fn main() -> ExitCode {
    // Fast paths for the commands on an agent's critical path: `cordon hook …` as the managed
    // settings start it, `cordon run …` as a launcher does.
    let first = std::env::args_os().nth(1);
    if first.as_deref().is_some_and(|a| a == "hook") {
        let cli = HookCli::parse_from(without_subcommand());
        config::set_path(cli.config.clone());
        return match cmd::hook::run(cli.command) {
            Ok(code) => ExitCode::from(code),
            Err(fail) => fail.report(cli.error_format == ErrorFormat::Json),
        };
    }
    if first.as_deref().is_some_and(|a| a == "run") {
        let cli = RunCli::parse_from(without_subcommand());
        config::set_path(cli.config.clone());
        return match cmd::run::run(&cli.args) {
            Ok(code) => ExitCode::from(code),
            Err(fail) => fail.report(cli.error_format == ErrorFormat::Json),
        };
    }
    let cli = Cli::parse();
    config::set_path(cli.config.clone());
    let result = match cli.command {
        Command::Quickstart(args) => cmd::quickstart::run(&args),
        Command::Run(args) => cmd::run::run(&args),
        Command::Proxy(args) => cmd::proxy::run(&args),
        Command::Hook(c) => cmd::hook::run(c),
        Command::Audit(c) => cmd::audit::run(c),
        Command::Detect(a) => cmd::detect::run(&a),
        Command::ClaudeCode(c) => cmd::claude_code::run(c),
        Command::Keys(c) => cmd::keys::run(c),
        Command::Ca(c) => cmd::ca::run(c),
        Command::Trust(c) => cmd::trust::run(c),
        Command::Manifest(c) => cmd::manifest::run(c),
        Command::Policy(c) => cmd::policy::run(c),
        Command::Sandbox(c) => cmd::sandbox::run(c),
        Command::Dlp(c) => cmd::dlp::run(c),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(fail) => fail.report(cli.error_format == ErrorFormat::Json),
    }
}
