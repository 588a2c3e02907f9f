//! `cordon policy`: ask the decision point, explain the answer, test Rego policies.

use std::path::Path;

use clap::{Subcommand, ValueEnum};
use cordon_policy::manifest::{self, Manifest};
use cordon_policy::path::Expansion;
use cordon_policy::pdp::{
    Action, CompileOptions, Decision, Effect, Pdp, Principal, RegoPolicy, Request, TestOutcome,
    TestResult, VerifiedGrant, run_tests,
};
use cordon_policy::template::Template;
use serde_json::json;

use super::manifest::{VerifyFail, verify};
use crate::fail::{APPROVAL_REQUIRED, CHECK_FAILED, Fail, Outcome};
use crate::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Signed manifest (verified against `--trust` before anything is decided).
    #[arg(
        long,
        requires = "trust",
        conflicts_with = "unsigned",
        required_unless_present = "unsigned"
    )]
    manifest: Option<String>,
    /// Trust store for `--manifest`.
    #[arg(long)]
    trust: Option<String>,
    /// Signed revocation list for `--manifest`.
    #[arg(long)]
    revocations: Option<String>,
    /// An unsigned manifest, to try a draft (the output says it is unsigned).
    #[arg(long)]
    unsigned: Option<String>,
    /// A Rego policy, optionally bound to actions: `FILE` or `write,exec=FILE` (repeatable).
    #[arg(long = "policy", value_name = "[ACTIONS=]FILE")]
    policies: Vec<String>,
    /// The request as JSON (a file, or `-` for stdin).
    #[arg(long, group = "what")]
    request: Option<String>,
    /// Ask to read PATH.
    #[arg(long, group = "what", value_name = "PATH")]
    read: Option<String>,
    /// Ask to write PATH.
    #[arg(long, group = "what", value_name = "PATH")]
    write: Option<String>,
    /// Ask to run an executable (arguments with `--arg`).
    #[arg(long, group = "what", value_name = "COMMAND")]
    exec: Option<String>,
    /// An argument for `--exec` (repeatable).
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    args: Vec<String>,
    /// Ask to send an HTTP request to URL.
    #[arg(long, group = "what", value_name = "URL")]
    network: Option<String>,
    /// The method for `--network`.
    #[arg(long, default_value = "GET")]
    method: String,
    /// Ask to use an API scope.
    #[arg(long, group = "what", value_name = "SCOPE")]
    api: Option<String>,
    /// Ask to call an MCP tool, `SERVER/TOOL`.
    #[arg(long, group = "what", value_name = "SERVER/TOOL")]
    mcp: Option<String>,
    /// A scope the principal holds, seen by policies as `input.scopes` (repeatable).
    #[arg(long = "with-scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// Pretend a verified approval covers this `requiresApproval` entry (what-if; repeatable).
    #[arg(long = "assume-grant", value_name = "ENTRY")]
    assume_grants: Vec<String>,
    /// The user (default: the current user); also what `~` and `${USER}` expand to.
    #[arg(long)]
    user: Option<String>,
    /// The user's home directory (default: `$HOME`, or `/home/<user>` with `--user`).
    #[arg(long)]
    home: Option<String>,
    /// The user's groups, comma separated.
    #[arg(long, value_delimiter = ',')]
    groups: Vec<String>,
    /// The device.
    #[arg(long)]
    device: Option<String>,
    /// Decide as of this time (RFC 3339) instead of now.
    #[arg(long)]
    time: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decide one request and explain the decision: which grant, deny entry, approval entry or
    /// policy decided, or why nothing matched.
    ///
    /// Exits 0 on allow, 1 on deny, 3 on approval_required.
    ///
    /// Examples:
    ///   cordon policy eval --manifest m.signed.json --trust trust.json --read ~/Work/Reports/q3.xlsx
    ///   cordon policy eval --unsigned m.json --policy write=agent.rego --write /sensitive/x --with-scope sensitive-write
    ///   echo '{"action":"api","scope":"sheets:read"}' | cordon policy eval --unsigned m.json --request -
    #[command(verbatim_doc_comment)]
    Eval(Box<EvalArgs>),
    /// Run the `test_*` rules of Rego files, like `opa test`, and the example decisions of role
    /// templates (JSON files with `examples`, rendered for a sample user). Exits 1 if any test
    /// fails or none is found.
    ///
    /// Example: `cordon policy test policies/ templates/`
    Test {
        /// Rego files, template files, or directories (searched for `*.rego`, and for `*.json`
        /// files that are templates).
        #[arg(required = true)]
        paths: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
}

pub fn run(cmd: Command) -> Outcome {
    match cmd {
        Command::Eval(args) => eval(*args),
        Command::Test { paths, format } => test(&paths, format),
    }
}

/// Load `[ACTIONS=]FILE` policy arguments.
pub fn load_policies(specs: &[String]) -> Result<Vec<RegoPolicy>, Fail> {
    specs
        .iter()
        .map(|spec| {
            let (actions, file) = match spec.split_once('=') {
                Some((acts, file)) if acts.split(',').all(|a| Action::parse(a).is_some()) => (
                    Some(
                        acts.split(',')
                            .filter_map(Action::parse)
                            .collect::<Vec<_>>(),
                    ),
                    file,
                ),
                _ => (None, spec.as_str()),
            };
            let source = io::read_text(file)?;
            RegoPolicy::load(file, &source, actions).map_err(|e| Fail::input_msg(e.to_string()))
        })
        .collect()
}

fn eval(a: EvalArgs) -> Outcome {
    let now = io::now_or(a.time.as_deref())?;
    let (m, digest, signed): (Manifest, String, bool) = match (&a.manifest, &a.unsigned) {
        (Some(file), _) => {
            let trust = a.trust.as_deref().unwrap_or_default();
            match verify(file, trust, a.revocations.as_deref(), now) {
                Ok(v) => (v.manifest, v.digest, true),
                Err(VerifyFail::Refused(_, d)) => return Err(Fail::check_report(d)),
                Err(VerifyFail::Input(f)) => return Err(f),
            }
        }
        (None, Some(file)) => {
            let bytes = io::read(file)?;
            (
                manifest::parse(&bytes, file).map_err(Fail::input)?,
                manifest::digest(&bytes),
                false,
            )
        }
        (None, None) => {
            return Err(Fail::input_msg(
                "give `--manifest` (signed) or `--unsigned`",
            ));
        }
    };
    let (env_user, env_home) = io::current_user();
    let user = a.user.clone().unwrap_or(env_user);
    let home = a.home.clone().unwrap_or_else(|| {
        if a.user.is_some() {
            format!("/home/{user}")
        } else {
            env_home
        }
    });
    let policies = load_policies(&a.policies)?;
    let pdp = Pdp::compile(
        &m,
        &CompileOptions {
            expansion: Some(Expansion {
                user: user.clone(),
                home,
            }),
            policies,
        },
    )
    .map_err(|e| Fail::input_msg(format!("cannot compile the manifest: {e}")))?;
    let mut req = build_request(&a)?;
    if a.request.is_none() || req.principal == Principal::default() {
        req.principal = Principal {
            user: Some(user),
            groups: a.groups.clone(),
            device: a.device.clone(),
        };
    }
    req.scopes.extend(a.scopes.iter().cloned());
    if req.time.is_none() {
        req.time = Some(now);
    }
    if req.agent.is_none() {
        req.agent = Some(m.agent_name.clone());
    }
    for (i, entry) in a.assume_grants.iter().enumerate() {
        req.grants.push(VerifiedGrant::from_verified(
            format!("assumed-{i}"),
            vec![entry.clone()],
        ));
    }
    let (decision, steps) = pdp.explain(&req);
    print_decision(
        &pdp,
        &req,
        &decision,
        &steps,
        &digest,
        signed,
        !a.assume_grants.is_empty(),
        a.format,
    );
    Ok(match decision.effect {
        Effect::Allow => 0,
        Effect::Deny => CHECK_FAILED,
        Effect::ApprovalRequired => APPROVAL_REQUIRED,
    })
}

fn build_request(a: &EvalArgs) -> Result<Request, Fail> {
    let bad = |e: cordon_policy::pdp::RequestError| Fail::input_msg(e.to_string());
    if let Some(file) = &a.request {
        return Request::from_json(&io::read(file)?).map_err(Fail::input);
    }
    if let Some(p) = &a.read {
        return Request::read(p).map_err(bad);
    }
    if let Some(p) = &a.write {
        return Request::write(p).map_err(bad);
    }
    if let Some(c) = &a.exec {
        return Request::exec(c, a.args.clone()).map_err(bad);
    }
    if let Some(u) = &a.network {
        return Request::network(u, &a.method).map_err(bad);
    }
    if let Some(s) = &a.api {
        return Request::api(s).map_err(bad);
    }
    if let Some(t) = &a.mcp {
        let Some((server, tool)) = t.split_once('/') else {
            return Err(Fail::input_msg(format!("`--mcp {t}` is not SERVER/TOOL")));
        };
        return Request::mcp(server, tool).map_err(bad);
    }
    Err(Fail::input_msg(
        "say what to decide: `--request FILE`, or one of `--read`, `--write`, `--exec`, `--network`, `--api`, `--mcp`",
    ))
}

#[allow(clippy::too_many_arguments)]
fn print_decision(
    pdp: &Pdp,
    req: &Request,
    d: &Decision,
    steps: &[String],
    digest: &str,
    signed: bool,
    assumed: bool,
    format: Format,
) {
    let rule_text = d.rule.map(|r| pdp.describe(r));
    let approval = d
        .rule
        .and_then(|r| pdp.approval_entry(r))
        .filter(|_| d.effect == Effect::ApprovalRequired);
    match format {
        Format::Json => println!(
            "{}",
            json!({
                "effect": d.effect,
                "reason": d.reason,
                "rule": d.rule,
                "ruleText": rule_text,
                "approval": approval,
                "approvalId": d.approval_id,
                "messages": d.messages,
                "obligations": d.obligations,
                "steps": steps,
                "request": req.to_input(),
                "manifest": {"agentName": pdp.agent(), "digest": digest, "signed": signed},
                "assumedGrants": assumed,
            })
        ),
        Format::Human => {
            println!("{}: {} {}", d.effect, req.action(), req.resource);
            println!("  reason: {}", d.reason.as_str());
            println!(
                "  rule:   {}",
                rule_text.as_deref().unwrap_or("none (default deny)")
            );
            if let Some(entry) = approval {
                println!("  approval needed for `{entry}`");
            }
            for m in &d.messages {
                println!("  policy says: {m}");
            }
            println!("  steps:");
            for s in steps {
                println!("    - {s}");
            }
            if !signed {
                println!(
                    "  note: the manifest is unsigned; enforcement points only accept signed, verified manifests"
                );
            }
            if assumed {
                println!("  note: approvals were assumed with --assume-grant, not verified");
            }
        }
    }
}

/// Files to test under `path`: `.rego` files, and `.json` files (templates are told apart
/// when they are read). Files named explicitly are taken whatever their extension.
fn collect(path: &Path, out: &mut Vec<String>, depth: usize) -> Result<(), Fail> {
    if !path.is_dir() {
        out.push(path.to_string_lossy().into_owned());
        return Ok(());
    }
    if depth > 32 {
        return Err(Fail::input_msg(format!(
            "`{}` nests too deep",
            path.display()
        )));
    }
    let mut entries: Vec<_> = std::fs::read_dir(path)
        .map_err(|e| Fail::input_msg(format!("cannot read `{}`: {e}", path.display())))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() || e.extension().is_some_and(|x| x == "rego" || x == "json") {
            collect(&e, out, depth + 1)?;
        }
    }
    Ok(())
}

/// Render a template file for a sample user and test its examples; `None` if the file is not a
/// template (found in a directory walk) .
fn template_results(file: &str, explicit: bool) -> Result<Option<Vec<TestResult>>, Fail> {
    let bytes = io::read(file)?;
    let is_template = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .is_some_and(|v| v.get("template").is_some() && v.get("manifest").is_some());
    if !is_template {
        return if explicit {
            Err(Fail::input_msg(format!(
                "`{file}` is neither a Rego file nor a role template"
            )))
        } else {
            Ok(None)
        };
    }
    let t = Template::parse(&bytes, file).map_err(|e| Fail::input_msg(e.to_string()))?;
    let now = io::now_or(None)?;
    let ctx = Expansion {
        user: "alice".into(),
        home: "/home/alice".into(),
    };
    let rendered = t
        .render(
            &ctx.user,
            Some(&ctx.home),
            &std::collections::BTreeMap::new(),
            now,
        )
        .map_err(|e| Fail::input_msg(format!("`{file}`: {e}")))?;
    super::manifest::example_results(&t.template, &rendered, &ctx, now).map(Some)
}

fn test(paths: &[String], format: Format) -> Outcome {
    let mut files = Vec::new();
    for p in paths {
        collect(Path::new(p), &mut files, 0)?;
    }
    let explicit = |f: &String| paths.contains(f);
    let mut modules = Vec::new();
    let mut results = Vec::new();
    for f in &files {
        if f.ends_with(".rego") {
            modules.push((f.clone(), io::read_text(f)?));
        } else if let Some(r) = template_results(f, explicit(f))? {
            results.extend(r);
        }
    }
    if !modules.is_empty() {
        results.extend(run_tests(&modules).map_err(|e| Fail::input_msg(e.to_string()))?);
    }
    let passed = results
        .iter()
        .filter(|r| r.outcome == TestOutcome::Pass)
        .count();
    let total = results.len();
    match format {
        Format::Json => println!(
            "{}",
            json!({"results": results, "passed": passed, "total": total})
        ),
        Format::Human => {
            for r in &results {
                match &r.outcome {
                    TestOutcome::Pass => println!("{}: PASS", r.name),
                    TestOutcome::Fail(None) => println!("{}: FAIL ({})", r.name, r.file),
                    TestOutcome::Fail(Some(why)) => println!("{}: FAIL: {why}", r.name),
                    TestOutcome::Error(e) => println!("{}: ERROR ({}): {e}", r.name, r.file),
                }
            }
            println!("{}", "-".repeat(60));
            if passed == total && total > 0 {
                println!("PASS: {passed}/{total}");
            } else {
                println!("FAIL: {}/{total} failed", total - passed);
            }
        }
    }
    if total == 0 {
        eprintln!(
            "no `test_` rules or template examples found in {} file(s)",
            files.len()
        );
        return Ok(CHECK_FAILED);
    }
    Ok(if passed == total { 0 } else { CHECK_FAILED })
}
