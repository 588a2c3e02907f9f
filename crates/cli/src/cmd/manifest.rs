//! `cordon manifest`: lint, render, sign, verify, revoke.

use std::collections::BTreeMap;

use clap::{Subcommand, ValueEnum};
use cordon_policy::dsse::{self, Envelope, MANIFEST_PAYLOAD_TYPE, REVOCATIONS_PAYLOAD_TYPE};
use cordon_policy::lint::{self, Finding, Severity};
use cordon_policy::manifest::{self, Manifest};
use cordon_policy::path::Expansion;
use cordon_policy::pdp::{CompileOptions, Pdp, Request, TestOutcome, TestResult};
use cordon_policy::revocation::{RevocationError, RevocationList, RevokedManifest};
use cordon_policy::template::{GroupMapping, RenderError, Template};
use cordon_policy::trust::{SignatureFailure, TrustStore, VerifyError, format_time};
use cordon_policy::verify::{ManifestVerifyError, VerifiedManifest, verify_manifest};
use cordon_policy::{crypto, template};
use miette::MietteDiagnostic;
use serde_json::json;

use crate::embedded;
use crate::fail::{CHECK_FAILED, Fail, Outcome};
use crate::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DenyLevel {
    /// Fail on warnings as well as errors.
    Warnings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Flag grants that parse but should make a reviewer stop: broad paths, wildcard hosts,
    /// plaintext HTTP, interpreters, credential stores, approvals that match nothing, …
    ///
    /// Exits 1 on errors, and on warnings too with `--deny warnings` (the CI gate). A signed
    /// envelope is linted by its payload. Codes are listed by `--list-rules` and in
    /// docs/lint.md.
    ///
    /// Example: `cordon manifest lint manifest.json --deny warnings --format json`
    Lint {
        /// The manifest (or signed envelope); `-` for stdin.
        #[arg(required_unless_present = "list_rules")]
        file: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Also fail on warnings.
        #[arg(long, value_enum)]
        deny: Option<DenyLevel>,
        /// Home directory `~` stands for (default: `/home/<user>` placeholder).
        #[arg(long)]
        home: Option<String>,
        /// List the lint rules and exit.
        #[arg(long)]
        list_rules: bool,
    },
    /// Render a role template for a user. The output is linted and the template's example
    /// decisions are checked before it is written.
    ///
    /// With `--groups`, the group mapping must map one of the groups to the template; without
    /// `--template`, the mapping chooses it.
    ///
    /// Example: `cordon manifest render --template finance-analyst-agent --user alice
    /// --groups finance --out alice.json`
    Render {
        /// A shipped template name (see `cordon manifest templates`) or a template file.
        #[arg(long)]
        template: Option<String>,
        /// The user's login name.
        #[arg(long)]
        user: String,
        /// The user's home directory (default `/home/<user>`).
        #[arg(long)]
        home: Option<String>,
        /// The user's identity-provider groups, comma separated.
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Group → template mapping file (default: the shipped one).
        #[arg(long)]
        mapping: Option<String>,
        /// A template variable, `NAME=VALUE` (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Where to write the manifest (default: stdout).
        #[arg(long, default_value = "-")]
        out: String,
        /// Render as of this time (RFC 3339) instead of now; sets `expires` from it.
        #[arg(long)]
        time: Option<String>,
    },
    /// List the shipped role templates.
    ///
    /// Example: `cordon manifest templates`
    Templates {
        /// Print a template's JSON instead of the list.
        #[arg(long)]
        show: Option<String>,
    },
    /// Print the manifest JSON Schema (the one committed as schema/manifest.v1.json).
    ///
    /// Example: `cordon manifest schema > manifest.schema.json`
    Schema,
    /// Sign a manifest into a DSSE envelope. The manifest is validated and linted first; the
    /// file's exact bytes are what is signed.
    ///
    /// Example: `cordon manifest sign alice.json --key keys/sec.key --out alice.signed.json`
    Sign {
        /// The manifest.
        file: String,
        /// Private key file (repeat to sign with several keys).
        #[arg(long, required = true)]
        key: Vec<String>,
        /// Where to write the envelope (default: `<file>.signed.json`).
        #[arg(long)]
        out: Option<String>,
        /// Sign even if lint reports errors.
        #[arg(long)]
        allow_lint_errors: bool,
    },
    /// Add a signature to a signed manifest, for trust stores that need t of n signers.
    ///
    /// Example: `cordon manifest cosign alice.signed.json --key keys/ciso.key`
    Cosign {
        /// The envelope.
        file: String,
        /// Private key file.
        #[arg(long)]
        key: String,
        /// Where to write it (default: in place).
        #[arg(long)]
        out: Option<String>,
    },
    /// Verify a signed manifest: signatures against the trust store (roles, validity,
    /// revocation, threshold), the revocation list, then the manifest itself and its expiry.
    ///
    /// Example: `cordon manifest verify alice.signed.json --trust trust.json --revocations
    /// revoked.json`
    Verify {
        /// The envelope.
        file: String,
        /// Trust store.
        #[arg(long)]
        trust: String,
        /// Signed revocation list.
        #[arg(long)]
        revocations: Option<String>,
        /// Verify as of this time (RFC 3339) instead of now.
        #[arg(long)]
        time: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Revoke a manifest: add its digest to a signed revocation list (created if missing).
    ///
    /// Example: `cordon manifest revoke alice.signed.json --list revoked.json --key
    /// keys/sec.key --trust trust.json --reason "left the team"`
    Revoke {
        /// The signed manifest to revoke (or give `--digest`).
        #[arg(required_unless_present = "digest")]
        file: Option<String>,
        /// The digest to revoke, `sha256:<hex>`.
        #[arg(long, conflicts_with = "file")]
        digest: Option<String>,
        /// The revocation list to update or create.
        #[arg(long)]
        list: String,
        /// Private key that signs the list (a `manifest-signer`).
        #[arg(long)]
        key: String,
        /// Trust store: the existing list is verified against it, and so is the new one (so a
        /// list nobody would accept is never written).
        #[arg(long)]
        trust: String,
        /// Why, for people.
        #[arg(long)]
        reason: Option<String>,
        /// Revoke as of this time (RFC 3339) instead of now.
        #[arg(long)]
        time: Option<String>,
    },
    /// Print a manifest's digest (of a signed envelope: of its payload).
    ///
    /// Example: `cordon manifest digest alice.signed.json`
    Digest {
        /// The manifest or envelope.
        file: String,
    },
}

pub fn run(cmd: Command) -> Outcome {
    match cmd {
        Command::Lint {
            file,
            format,
            deny,
            home,
            list_rules,
        } => {
            if list_rules {
                for r in lint::RULES {
                    println!("{} {:<26} {}", r.code, r.name, r.summary);
                }
                return Ok(0);
            }
            let file = file.unwrap_or_else(|| "-".into());
            lint_cmd(&file, format, deny.is_some(), home)
        }
        Command::Render {
            template,
            user,
            home,
            groups,
            mapping,
            vars,
            out,
            time,
        } => {
            let now = io::now_or(time.as_deref())?;
            let rendered = render(
                template.as_deref(),
                &user,
                home.as_deref(),
                &groups,
                mapping.as_deref(),
                &vars,
                now,
            )?;
            io::write(&out, &rendered.json)?;
            if out != "-" {
                eprintln!(
                    "rendered `{}` for `{user}` into {out}",
                    rendered.manifest.agent_name
                );
            }
            Ok(0)
        }
        Command::Templates { show } => {
            if let Some(name) = show {
                let text = embedded::template(&name).ok_or_else(|| {
                    Fail::input_msg(format!(
                        "no shipped template `{name}`; see `cordon manifest templates`"
                    ))
                })?;
                print!("{text}");
                return Ok(0);
            }
            for (name, text) in embedded::TEMPLATES {
                let t = Template::parse(text.as_bytes(), name).map_err(render_fail)?;
                println!("{name}\n    {}", t.description);
            }
            Ok(0)
        }
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&manifest::json_schema()).unwrap_or_default()
            );
            Ok(0)
        }
        Command::Sign {
            file,
            key,
            out,
            allow_lint_errors,
        } => sign(&file, &key, out, allow_lint_errors),
        Command::Cosign { file, key, out } => cosign(&file, &key, out),
        Command::Verify {
            file,
            trust,
            revocations,
            time,
            format,
        } => {
            let now = io::now_or(time.as_deref())?;
            match verify(&file, &trust, revocations.as_deref(), now) {
                Ok(v) => {
                    let m = &v.manifest;
                    if format == Format::Json {
                        println!(
                            "{}",
                            json!({"verified": true, "agentName": m.agent_name, "version": m.version, "digest": v.digest, "signers": v.signers, "expires": m.expires})
                        );
                    } else {
                        println!("verified manifest `{}` {}", m.agent_name, m.version);
                        println!("  digest:  {}", v.digest);
                        for s in &v.signers {
                            println!("  signer:  {s}");
                        }
                        println!("  expires: {}", m.expires.as_deref().unwrap_or("never"));
                    }
                    Ok(0)
                }
                Err(VerifyFail::Refused(kind, err)) => {
                    if format == Format::Json {
                        println!(
                            "{}",
                            json!({"verified": false, "kind": kind, "error": err.to_string()})
                        );
                    }
                    Err(Fail::check_report(err))
                }
                Err(VerifyFail::Input(f)) => Err(f),
            }
        }
        Command::Revoke {
            file,
            digest,
            list,
            key,
            trust,
            reason,
            time,
        } => revoke(
            file.as_deref(),
            digest,
            &list,
            &key,
            &trust,
            reason,
            time.as_deref(),
        ),
        Command::Digest { file } => {
            let bytes = io::read(&file)?;
            let payload = payload_if_envelope(&bytes, &file)?;
            println!("{}", manifest::digest(payload.as_deref().unwrap_or(&bytes)));
            Ok(0)
        }
    }
}

/// If `bytes` is a DSSE envelope, its payload (unverified: for lint and digest only).
fn payload_if_envelope(bytes: &[u8], name: &str) -> Result<Option<Vec<u8>>, Fail> {
    let looks_like = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .is_some_and(|v| v.get("payloadType").is_some());
    if !looks_like {
        return Ok(None);
    }
    let env = Envelope::parse(bytes, name).map_err(Fail::input)?;
    if env.payload_type != MANIFEST_PAYLOAD_TYPE {
        return Err(Fail::input_msg(format!(
            "`{name}` holds `{}`, not a manifest",
            env.payload_type
        )));
    }
    env.payload_bytes()
        .map(Some)
        .ok_or_else(|| Fail::input_msg(format!("`{name}`: payload is not base64")))
}

fn lint_cmd(file: &str, format: Format, deny_warnings: bool, home: Option<String>) -> Outcome {
    let bytes = io::read(file)?;
    let payload = payload_if_envelope(&bytes, file)?;
    let bytes = payload.unwrap_or(bytes);
    let m = manifest::parse(&bytes, file).map_err(Fail::input)?;
    let src = String::from_utf8_lossy(&bytes);
    let mut ctx = Expansion::placeholder();
    if let Some(h) = home {
        ctx.home = h;
    }
    let findings = lint::lint(&m, Some(&src), &ctx);
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let (errors, warnings, infos) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
    );
    let failed = errors > 0 || (deny_warnings && warnings > 0);
    match format {
        Format::Json => println!(
            "{}",
            json!({"file": file, "passed": !failed, "findings": findings, "summary": {"errors": errors, "warnings": warnings, "infos": infos}})
        ),
        Format::Human => {
            print_findings(file, &findings);
            println!(
                "{file}: {errors} error(s), {warnings} warning(s), {infos} note(s){}",
                if failed { " — lint failed" } else { "" }
            );
        }
    }
    Ok(if failed { CHECK_FAILED } else { 0 })
}

/// Print findings in `file:line:col: severity[code name]: message` form.
pub fn print_findings(file: &str, findings: &[Finding]) {
    for f in findings {
        println!(
            "{file}:{}:{}: {}[{} {}]: {}",
            f.line, f.column, f.severity, f.code, f.name, f.message
        );
        if let Some(h) = f.help {
            println!("    help: {h}");
        }
    }
}

fn render_fail(e: RenderError) -> Fail {
    match e {
        RenderError::Template(p) | RenderError::Manifest(p) | RenderError::Mapping(p) => {
            Fail::input(p)
        }
        other => Fail::input_msg(other.to_string()),
    }
}

/// Render a template (shipped or from a file), lint it and check its examples.
pub fn render(
    template: Option<&str>,
    user: &str,
    home: Option<&str>,
    groups: &[String],
    mapping: Option<&str>,
    vars: &[String],
    now: time::OffsetDateTime,
) -> Result<template::Rendered, Fail> {
    let name = if groups.is_empty() {
        template.map(str::to_owned).ok_or_else(|| {
            Fail::input_msg("give `--template`, or `--groups` to choose one from the group mapping")
        })?
    } else {
        let (bytes, mname) = match mapping {
            Some(p) => (io::read(p)?, p.to_owned()),
            None => (
                embedded::GROUPS.as_bytes().to_vec(),
                "shipped groups.json".to_owned(),
            ),
        };
        let map = GroupMapping::parse(&bytes, &mname).map_err(render_fail)?;
        let requested = template.map(|t| {
            // A file path is entitled by its template name.
            if embedded::template(t).is_some() {
                t.to_owned()
            } else {
                template_name_of_file(t).unwrap_or_else(|| t.to_owned())
            }
        });
        let chosen = map
            .choose(requested.as_deref(), groups)
            .map_err(|e| Fail::check_msg(e.to_string()))?;
        template.map_or(chosen, str::to_owned)
    };
    let (text, tname) = match embedded::template(&name) {
        Some(t) => (t.as_bytes().to_vec(), name.clone()),
        None if name.contains('/') || name.ends_with(".json") => (io::read(&name)?, name.clone()),
        None => {
            let names: Vec<&str> = embedded::TEMPLATES.iter().map(|(n, _)| *n).collect();
            return Err(Fail::input_msg(format!(
                "no template `{name}`; shipped templates are {}, or give a file path",
                names.join(", ")
            )));
        }
    };
    let t = Template::parse(&text, &tname).map_err(render_fail)?;
    let mut values = BTreeMap::new();
    for v in vars {
        let Some((k, val)) = v.split_once('=') else {
            return Err(Fail::input_msg(format!("`--var {v}` is not NAME=VALUE")));
        };
        values.insert(k.to_owned(), val.to_owned());
    }
    let rendered = t.render(user, home, &values, now).map_err(render_fail)?;
    let ctx = Expansion {
        user: user.to_owned(),
        home: home.map_or_else(|| format!("/home/{user}"), str::to_owned),
    };
    let findings = lint::lint(&rendered.manifest, Some(&rendered.json), &ctx);
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    if !errors.is_empty() {
        print_findings(&format!("{tname} (rendered)"), &findings);
        return Err(Fail::check_msg(format!(
            "template `{tname}` renders a manifest with {} lint error(s)",
            errors.len()
        )));
    }
    check_examples(&tname, &rendered, &ctx, now)?;
    Ok(rendered)
}

fn template_name_of_file(path: &str) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Template::parse(&bytes, path).ok().map(|t| t.template)
}

/// Decide each of a rendered template's example requests and compare with what it expects.
pub fn example_results(
    tname: &str,
    r: &template::Rendered,
    ctx: &Expansion,
    now: time::OffsetDateTime,
) -> Result<Vec<TestResult>, Fail> {
    let pdp = Pdp::compile(
        &r.manifest,
        &CompileOptions {
            expansion: Some(ctx.clone()),
            policies: Vec::new(),
        },
    )
    .map_err(|e| Fail::input_msg(format!("template `{tname}`: {e}")))?;
    let mut results = Vec::with_capacity(r.examples.len());
    for (i, (req, expect)) in r.examples.iter().enumerate() {
        let mut request = Request::from_json(req.as_bytes()).map_err(Fail::input)?;
        request.time = Some(now);
        let d = pdp.decide(&request);
        let name = format!(
            "template {tname} example {i}: {} {}",
            request.action(),
            request.resource
        );
        let outcome = if d.effect.to_string() == *expect {
            TestOutcome::Pass
        } else {
            TestOutcome::Fail(Some(format!(
                "expects `{expect}` but the manifest decides `{}` ({})",
                d.effect,
                d.reason.as_str()
            )))
        };
        results.push(TestResult {
            name,
            file: tname.to_owned(),
            outcome,
        });
    }
    Ok(results)
}

fn check_examples(
    tname: &str,
    r: &template::Rendered,
    ctx: &Expansion,
    now: time::OffsetDateTime,
) -> Result<(), Fail> {
    for result in example_results(tname, r, ctx, now)? {
        if let TestOutcome::Fail(Some(why)) = result.outcome {
            return Err(Fail::check_msg(format!("{}: {why}", result.name)));
        }
    }
    Ok(())
}

pub fn load_key(path: &str) -> Result<crypto::SigningKey, Fail> {
    let key = crypto::parse_private_key(&io::read(path)?)
        .map_err(|e| Fail::input_msg(format!("`{path}`: {e}")))?;
    Ok(key)
}

fn sign(file: &str, keys: &[String], out: Option<String>, allow_lint_errors: bool) -> Outcome {
    let bytes = io::read(file)?;
    if payload_if_envelope(&bytes, file)?.is_some() {
        return Err(Fail::input_msg(format!(
            "`{file}` is already signed; use `cordon manifest cosign` to add a signature"
        )));
    }
    let m: Manifest = manifest::parse(&bytes, file).map_err(Fail::input)?;
    let src = String::from_utf8_lossy(&bytes);
    let findings = lint::lint(&m, Some(&src), &Expansion::placeholder());
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    if errors > 0 && !allow_lint_errors {
        print_findings(file, &findings);
        return Err(Fail::check_msg(format!(
            "`{file}` has {errors} lint error(s); fix them or sign with `--allow-lint-errors`"
        )));
    }
    let signing: Vec<crypto::SigningKey> =
        keys.iter().map(|k| load_key(k)).collect::<Result<_, _>>()?;
    let refs: Vec<&crypto::SigningKey> = signing.iter().collect();
    let env = dsse::sign(MANIFEST_PAYLOAD_TYPE, &bytes, &refs);
    let out = out.unwrap_or_else(|| signed_name(file));
    io::write(&out, &env.to_json())?;
    eprintln!("signed `{}` {} into {out}", m.agent_name, m.version);
    eprintln!("  digest: {}", manifest::digest(&bytes));
    for s in &env.signatures {
        eprintln!("  signer: {}", s.keyid);
    }
    Ok(0)
}

fn signed_name(file: &str) -> String {
    match file.strip_suffix(".json") {
        Some(stem) if file != "-" => format!("{stem}.signed.json"),
        _ if file == "-" => "-".to_owned(),
        _ => format!("{file}.signed.json"),
    }
}

fn cosign(file: &str, key: &str, out: Option<String>) -> Outcome {
    let bytes = io::read(file)?;
    let mut env = Envelope::parse(&bytes, file).map_err(Fail::input)?;
    if env.payload_type != MANIFEST_PAYLOAD_TYPE {
        return Err(Fail::input_msg(format!(
            "`{file}` holds `{}`, not a manifest",
            env.payload_type
        )));
    }
    let payload = env
        .payload_bytes()
        .ok_or_else(|| Fail::input_msg(format!("`{file}`: payload is not base64")))?;
    manifest::parse(&payload, file).map_err(Fail::input)?;
    let key = load_key(key)?;
    let extra = dsse::sign(MANIFEST_PAYLOAD_TYPE, &payload, &[&key]);
    let Some(sig) = extra.signatures.into_iter().next() else {
        return Err(Fail::input_msg("signing produced no signature"));
    };
    if env.signatures.iter().any(|s| s.keyid == sig.keyid) {
        return Err(Fail::input_msg(format!(
            "`{file}` is already signed by key {}",
            sig.keyid
        )));
    }
    eprintln!(
        "added signature by {} ({} in all)",
        sig.keyid,
        env.signatures.len() + 1
    );
    env.signatures.push(sig);
    io::write(out.as_deref().unwrap_or(file), &env.to_json())?;
    Ok(0)
}

/// Why verification did not succeed: refused (exit 1, with a kind for JSON) or bad input.
pub enum VerifyFail {
    Refused(&'static str, miette::Report),
    Input(Fail),
}

impl From<Fail> for VerifyFail {
    fn from(f: Fail) -> Self {
        Self::Input(f)
    }
}

impl From<anyhow::Error> for VerifyFail {
    fn from(e: anyhow::Error) -> Self {
        Self::Input(e.into())
    }
}

fn refused(kind: &'static str, message: String, help: &str) -> VerifyFail {
    VerifyFail::Refused(
        kind,
        miette::Report::new(
            MietteDiagnostic::new(message)
                .with_code(format!("verify::{kind}"))
                .with_help(help),
        ),
    )
}

/// Load a trust store and an optional revocation list.
pub fn load_trust(
    trust: &str,
    revocations: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<(TrustStore, Option<RevocationList>), VerifyFail> {
    let store = TrustStore::parse(&io::read(trust)?, trust).map_err(Fail::input)?;
    let list = match revocations {
        None => None,
        Some(path) => Some(RevocationList::verify(&io::read(path)?, path, &store, now).map_err(|e| match e {
            RevocationError::Envelope(p) | RevocationError::Payload(p) => VerifyFail::Input(Fail::input(p)),
            RevocationError::Verify(v) => refused("revocation-list", format!("revocation list `{path}` does not verify: {v}"), "a revocation list must be signed by a trusted manifest-signer; without a valid list nothing is verified"),
        })?),
    };
    Ok((store, list))
}

/// Verify a signed manifest file, classifying each refusal.
pub fn verify(
    file: &str,
    trust: &str,
    revocations: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<VerifiedManifest, VerifyFail> {
    let (store, list) = load_trust(trust, revocations, now)?;
    let bytes = io::read(file)?;
    verify_manifest(&bytes, file, &store, list.as_ref(), now).map_err(|e| classify(file, e))
}

/// Default trust store, as distributed by MDM.
pub const DEFAULT_TRUST: &str = "/etc/cordon/trust.json";

/// The signed manifest an enforcement point enforces, and what verifies it (`run`, `proxy`).
#[derive(Debug, Clone, clap::Args)]
pub struct Enforced {
    /// The signed manifest (verified before anything uses it).
    #[arg(long)]
    pub manifest: String,
    /// Trust store.
    #[arg(long, default_value = DEFAULT_TRUST)]
    pub trust: String,
    /// Signed revocation list.
    #[arg(long)]
    pub revocations: Option<String>,
}

impl Enforced {
    /// The verified manifest, or the refusal as a failed check (a file that cannot be read as
    /// bad input).
    pub fn verify(&self, now: time::OffsetDateTime) -> Result<VerifiedManifest, Fail> {
        match self.verify_why(now) {
            Ok(v) => Ok(v),
            Err(VerifyFail::Refused(_, d)) => Err(Fail::check_report(d)),
            Err(VerifyFail::Input(f)) => Err(f),
        }
    }

    /// The verified manifest, or why not (for the audit trail, which records the kind).
    pub fn verify_why(&self, now: time::OffsetDateTime) -> Result<VerifiedManifest, VerifyFail> {
        verify(
            &self.manifest,
            &self.trust,
            self.revocations.as_deref(),
            now,
        )
    }

    /// The decision point for a verified manifest, its paths expanded for `user` at `home`
    /// (the enforcement points' common start).
    pub fn pdp(
        &self,
        verified: &VerifiedManifest,
        user: &str,
        home: &str,
    ) -> Result<cordon_policy::pdp::Pdp, Fail> {
        cordon_policy::pdp::Pdp::compile(
            &verified.manifest,
            &cordon_policy::pdp::CompileOptions {
                expansion: Some(cordon_policy::path::Expansion {
                    user: user.to_owned(),
                    home: home.to_owned(),
                }),
                policies: Vec::new(),
            },
        )
        .map_err(|e| Fail::input_msg(format!("`{}`: {e}", self.manifest)))
    }
}

/// Where a command that only reads a manifest gets it: a signed one, verified against a trust
/// store, or an unsigned draft.
#[derive(Debug, Clone, clap::Args)]
pub struct ManifestSource {
    /// A signed manifest (verified against `--trust` before it is used).
    #[arg(long, requires = "trust", conflicts_with = "unsigned")]
    manifest: Option<String>,
    /// Trust store for `--manifest`.
    #[arg(long)]
    trust: Option<String>,
    /// An unsigned manifest, to try a draft.
    #[arg(long)]
    unsigned: Option<String>,
}

impl ManifestSource {
    /// Whether a manifest was given.
    pub fn given(&self) -> bool {
        self.manifest.is_some() || self.unsigned.is_some()
    }

    /// The manifest: verified when signed, parsed as is when a draft, or none.
    pub fn load(&self) -> Result<Option<Manifest>, Fail> {
        load_signed_or_draft(
            self.manifest.as_deref(),
            self.trust.as_deref(),
            self.unsigned.as_deref(),
        )
    }
}

fn load_signed_or_draft(
    signed: Option<&str>,
    trust: Option<&str>,
    unsigned: Option<&str>,
) -> Result<Option<Manifest>, Fail> {
    match (signed, unsigned) {
        (Some(file), _) => {
            let now = io::now_or(None)?;
            match verify(file, trust.unwrap_or_default(), None, now) {
                Ok(v) => Ok(Some(v.manifest)),
                Err(VerifyFail::Refused(_, d)) => Err(Fail::check_report(d)),
                Err(VerifyFail::Input(f)) => Err(f),
            }
        }
        (None, Some(file)) => Ok(Some(
            manifest::parse(&io::read(file)?, file).map_err(Fail::input)?,
        )),
        (None, None) => Ok(None),
    }
}

fn classify(file: &str, e: ManifestVerifyError) -> VerifyFail {
    let msg = format!("`{file}`: {e}");
    match e {
        // Located problems keep their source excerpts.
        ManifestVerifyError::Envelope(p) => VerifyFail::Refused("envelope", miette::Report::new(p)),
        ManifestVerifyError::Manifest(p) => {
            VerifyFail::Refused("invalid-manifest", miette::Report::new(p))
        }
        ManifestVerifyError::Revoked { .. } => refused(
            "revoked-manifest",
            msg,
            "render and sign a new manifest; this one must not run",
        ),
        ManifestVerifyError::Expired { .. } => refused(
            "expired-manifest",
            msg,
            "render and sign a new manifest with a later `expires`",
        ),
        ManifestVerifyError::Signature(v) => match &v {
            VerifyError::PayloadType { .. } => refused(
                "payload-type",
                msg,
                "this envelope does not hold a manifest (is it a revocation list?)",
            ),
            VerifyError::PayloadEncoding => refused(
                "payload-encoding",
                msg,
                "the envelope is damaged; sign the manifest again",
            ),
            VerifyError::Unsigned => refused(
                "unsigned",
                msg,
                "sign the manifest with `cordon manifest sign`",
            ),
            VerifyError::BelowThreshold { .. } => refused(
                "below-threshold",
                msg,
                "collect more signatures from trusted keys with `cordon manifest cosign`",
            ),
            VerifyError::Signature(f) => match f {
                SignatureFailure::UnknownKey { .. } => refused(
                    "unknown-key",
                    msg,
                    "if the signer should be trusted, add its public key with `cordon trust add`",
                ),
                SignatureFailure::RevokedKey { .. } => refused(
                    "revoked-key",
                    msg,
                    "sign the manifest again with a key that is not revoked",
                ),
                SignatureFailure::WrongRole { .. } => refused(
                    "wrong-role",
                    msg,
                    "sign with a key trusted as `manifest-signer`",
                ),
                SignatureFailure::OutsideValidity { .. } => refused(
                    "key-validity",
                    msg,
                    "sign again with a currently valid key, or check the clock",
                ),
                SignatureFailure::Malformed { .. } => refused(
                    "malformed-signature",
                    msg,
                    "the envelope is damaged; sign the manifest again",
                ),
                SignatureFailure::BadSignature { .. } => refused(
                    "bad-signature",
                    msg,
                    "the manifest was changed after it was signed: review the change and sign it again",
                ),
            },
        },
    }
}

/// Add a manifest to a signed revocation list, creating the list if it does not exist.
#[allow(clippy::too_many_arguments)]
pub fn revoke(
    file: Option<&str>,
    digest: Option<String>,
    list_path: &str,
    key: &str,
    trust: &str,
    reason: Option<String>,
    time: Option<&str>,
) -> Outcome {
    let now = io::now_or(time)?;
    let (digest, agent) = match (file, digest) {
        (Some(f), _) => {
            let bytes = io::read(f)?;
            let payload = payload_if_envelope(&bytes, f)?.unwrap_or(bytes);
            let agent = manifest::parse(&payload, f).ok().map(|m| m.agent_name);
            (manifest::digest(&payload), agent)
        }
        (None, Some(d)) => {
            let ok = d.strip_prefix("sha256:").is_some_and(|h| {
                h.len() == 64
                    && h.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            });
            if !ok {
                return Err(Fail::input_msg(format!(
                    "`{d}` is not `sha256:` followed by 64 lowercase hex digits"
                )));
            }
            (d, None)
        }
        (None, None) => return Err(Fail::input_msg("give the signed manifest or `--digest`")),
    };
    let store = TrustStore::parse(&io::read(trust)?, trust).map_err(Fail::input)?;
    let mut list = if std::path::Path::new(list_path).exists() {
        RevocationList::verify(&io::read(list_path)?, list_path, &store, now)
            .map_err(|e| Fail::check_msg(e.to_string()))?
    } else {
        RevocationList::new(now)
    };
    if list.find(&digest).is_some() {
        eprintln!("{digest} is already revoked in {list_path}");
        return Ok(0);
    }
    list.sequence += 1;
    list.issued = format_time(now);
    list.revoked.push(RevokedManifest {
        digest: digest.clone(),
        revoked_at: format_time(now),
        reason,
        agent_name: agent,
    });
    let key = load_key(key)?;
    let env = dsse::sign(REVOCATIONS_PAYLOAD_TYPE, list.to_json().as_bytes(), &[&key]);
    let json = env.to_json();
    RevocationList::verify(json.as_bytes(), list_path, &store, now).map_err(|e| {
        Fail::check_msg(format!("the new list would not verify with `{trust}`: {e}"))
    })?;
    io::write(list_path, &json)?;
    eprintln!(
        "revoked {digest} in {list_path} (sequence {}, {} entr{})",
        list.sequence,
        list.revoked.len(),
        if list.revoked.len() == 1 { "y" } else { "ies" }
    );
    Ok(0)
}
