//! `cordon quickstart`: the main job end to end, on embedded defaults, in a fresh directory.

use std::path::PathBuf;

use cordon_policy::lint::{self, Severity};
use cordon_policy::path::Expansion;
use cordon_policy::pdp::{CompileOptions, Effect, Pdp, Request};
use cordon_policy::trust::{Role, TrustStoreFile};
use cordon_policy::{dsse, manifest};

use super::manifest::{VerifyFail, verify};
use crate::embedded;
use crate::fail::{Fail, Outcome};
use crate::io;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to work in (created; must be empty if it exists). Default: a new directory
    /// under the system's temporary directory.
    #[arg(long)]
    dir: Option<String>,
    /// The user to render the manifest for (default: the current user).
    #[arg(long)]
    user: Option<String>,
    /// The role template (default: finance-analyst-agent).
    #[arg(long, default_value = "finance-analyst-agent")]
    template: String,
}

fn step(n: u32, text: &str) {
    println!("\n[{n}] {text}");
}

pub fn run(args: &Args) -> Outcome {
    let dir = match &args.dir {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("cordon-quickstart-{}", std::process::id())),
    };
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Fail::input_msg(format!(
            "`{}` exists and is not empty; give an empty or new `--dir`",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir.join("keys"))
        .map_err(|e| Fail::input_msg(format!("cannot create `{}`: {e}", dir.display())))?;
    let at = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (env_user, env_home) = io::current_user();
    let user = args.user.clone().unwrap_or(env_user);
    let home = if args.user.is_some() {
        format!("/home/{user}")
    } else {
        env_home
    };
    let now = io::now_or(None)?;
    println!("cordon quickstart in {}", dir.display());

    step(1, "generate the security team's Ed25519 signing key");
    let (key, private, public) = super::keys::write_pair(&at("keys/security-team"), false)?;
    println!(
        "    key id {}\n    {private} (0600), {public}",
        cordon_policy::crypto::key_id(&key.verifying_key())
    );

    step(2, "create a trust store that trusts it as manifest-signer");
    let mut store = TrustStoreFile::new();
    store.add_key(
        &key.verifying_key(),
        Some("security-team".into()),
        vec![Role::ManifestSigner],
    );
    let trust = at("trust.json");
    io::write(&trust, &store.to_json())?;
    println!("    {trust}");

    step(
        3,
        &format!("render role template `{}` for user `{user}`", args.template),
    );
    let rendered = super::manifest::render(
        Some(&args.template),
        &user,
        Some(&home),
        &[],
        None,
        &[],
        now,
    )?;
    let manifest_path = at("manifest.json");
    io::write(&manifest_path, &rendered.json)?;
    println!(
        "    {manifest_path} (agent `{}`, expires {})",
        rendered.manifest.agent_name,
        rendered.manifest.expires.as_deref().unwrap_or("never")
    );

    step(4, "lint it (the CI gate)");
    let ctx = Expansion {
        user: user.clone(),
        home: home.clone(),
    };
    let findings = lint::lint(&rendered.manifest, Some(&rendered.json), &ctx);
    super::manifest::print_findings(&manifest_path, &findings);
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    println!("    {errors} error(s), {warnings} warning(s)");

    step(5, "sign it into a DSSE envelope");
    let env = dsse::sign(
        dsse::MANIFEST_PAYLOAD_TYPE,
        rendered.json.as_bytes(),
        &[&key],
    );
    let signed = at("manifest.signed.json");
    io::write(&signed, &env.to_json())?;
    println!(
        "    {signed}\n    digest {}",
        manifest::digest(rendered.json.as_bytes())
    );

    step(6, "verify it against the trust store");
    let verified = match verify(&signed, &trust, None, now) {
        Ok(v) => v,
        Err(VerifyFail::Refused(_, d)) => return Err(Fail::check_report(d)),
        Err(VerifyFail::Input(f)) => return Err(f),
    };
    println!(
        "    verified `{}` {}, signed by {}",
        verified.manifest.agent_name,
        verified.manifest.version,
        verified.signers.join(", ")
    );

    step(7, "ask the decision point");
    let pdp = Pdp::compile(
        &verified.manifest,
        &CompileOptions {
            expansion: Some(ctx),
            policies: Vec::new(),
        },
    )
    .map_err(|e| Fail::input_msg(e.to_string()))?;
    let mut examples = rendered.examples.clone();
    examples.truncate(8);
    for (json, _) in &examples {
        let mut req = Request::from_json(json.as_bytes()).map_err(Fail::input)?;
        req.time = Some(now);
        let (d, steps) = pdp.explain(&req);
        let mark = match d.effect {
            Effect::Allow => "ALLOW   ",
            Effect::Deny => "DENY    ",
            Effect::ApprovalRequired => "APPROVAL",
        };
        println!("    {mark} {} {}", req.action(), req.resource);
        if let Some(why) = steps
            .get(1..)
            .and_then(|s| s.iter().rev().find(|s| !s.starts_with("result")))
        {
            println!("             {why}");
        }
    }

    step(
        8,
        "run a sample agent under the kernel sandbox (template `sample-agent`)",
    );
    let work = dir.join("work");
    for sub in ["in", "out"] {
        std::fs::create_dir_all(work.join(sub))
            .map_err(|e| Fail::input_msg(format!("cannot create `{}`: {e}", work.display())))?;
    }
    io::write(
        &at("work/in/report.txt"),
        "q3 revenue 12\nq2 revenue 10\nq1 revenue 9\n",
    )?;
    io::write(&at("work/agent.sh"), embedded::SAMPLE_AGENT)?;
    let work_s = work.to_string_lossy().into_owned();
    let sample = super::manifest::render(
        Some("sample-agent"),
        &user,
        Some(&home),
        &[],
        None,
        &[format!("workDir={work_s}")],
        now,
    )?;
    let sample_json = at("sample-agent.json");
    io::write(&sample_json, &sample.json)?;
    let sample_env = dsse::sign(dsse::MANIFEST_PAYLOAD_TYPE, sample.json.as_bytes(), &[&key]);
    let sample_signed = at("sample-agent.signed.json");
    io::write(&sample_signed, &sample_env.to_json())?;
    let state = at("state");
    println!("    {sample_signed}: reads {work_s}, writes {work_s}/out, runs sh, cat, ls, sort");
    println!(
        "    cordon run --manifest {sample_signed} --trust {trust} -- /bin/sh {work_s}/agent.sh {work_s}"
    );
    let args = super::run::Args::new(
        sample_signed.clone(),
        trust.clone(),
        state.clone(),
        vec!["/bin/sh".into(), at("work/agent.sh"), work_s.clone()],
    );
    match super::run::run(&args) {
        Ok(code) => {
            println!(
                "    the agent exited with status {code}; audit events: {state}/audit/ (`cordon audit verify --state-dir {state}`)"
            )
        }
        Err(fail) => {
            println!("    the sandbox refused to start here (see `cordon sandbox check`):");
            let _ = fail.report(false);
        }
    }

    step(9, "revoke the manifest and verify again");
    let revocations = at("revocations.json");
    super::manifest::revoke(
        Some(&signed),
        None,
        &revocations,
        &private,
        &trust,
        Some("quickstart demo".into()),
        None,
    )?;
    match verify(&signed, &trust, Some(&revocations), now) {
        Err(VerifyFail::Refused(kind, d)) => println!("    refused as it should be ({kind}): {d}"),
        Ok(_) => {
            return Err(Fail::check_msg(
                "a revoked manifest verified: this is a bug",
            ));
        }
        Err(VerifyFail::Input(f)) => return Err(f),
    }

    println!("\ndone. Try:");
    println!(
        "  cordon policy eval --manifest {signed} --trust {trust} --read {home}/Work/Reports/q3.xlsx"
    );
    println!("  cordon manifest lint {manifest_path} --deny warnings");
    println!("  cordon manifest verify {signed} --trust {trust} --revocations {revocations}");
    Ok(0)
}
