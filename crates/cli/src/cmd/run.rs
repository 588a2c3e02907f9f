//! `cordon run`: verify a signed manifest, then run the agent under the kernel sandbox.

use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use cordon_audit::ocsf::{self, Activity, Event, Verdict};
use cordon_policy::manifest::Manifest;
use cordon_policy::path::{self, Expansion, PathSet};
use cordon_sandbox::bridge::Bridge;
use cordon_sandbox::exec::{ExecError, ExecPlan, needs_each};
use cordon_sandbox::launch::{self, Limits, Spec};
use cordon_sandbox::probe::{probe, probe_assuming_namespaces};
use serde_json::json;

use super::manifest::Enforced;
use crate::fail::{Fail, Outcome, RUN_REFUSED};
use crate::io;
use crate::trail::{self, KeySigner, Trail};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    signed: Enforced,
    /// Where audit events go (default: `$XDG_STATE_HOME/cordon`, or `~/.local/state/cordon`).
    #[arg(long)]
    state_dir: Option<String>,
    /// Run even if the kernel lacks required layers, say which, and record it.
    #[arg(long)]
    allow_degraded: bool,
    /// Host-side unix socket of the egress proxy that the sandbox's bridge forwards to
    /// (default: `<state-dir>/egress.sock`). cordon starts its own proxy there, enforcing the
    /// same manifest, unless `--external-proxy` is given.
    #[arg(long, value_name = "PATH")]
    egress_socket: Option<String>,
    /// Do not start a proxy: one already listens on `--egress-socket` (until one does, nothing
    /// gets out).
    #[arg(long, requires = "egress_socket")]
    external_proxy: bool,
    /// The proxy inspects TLS with the CA in this directory (see `cordon proxy --ca`). The agent
    /// must trust the CA: install it system-wide where agents run.
    #[arg(long, value_name = "DIR", conflicts_with = "external_proxy")]
    ca: Option<String>,
    /// Extra CA certificates the proxy trusts for upstream servers and Vault (repeatable).
    #[arg(long, value_name = "FILE", conflicts_with = "external_proxy")]
    upstream_ca: Vec<String>,
    /// The proxy reads `vault` credentials from this Vault (token from `VAULT_TOKEN`, which the
    /// agent never sees: its environment is scrubbed).
    #[arg(long, value_name = "URL", conflicts_with = "external_proxy")]
    vault_addr: Option<String>,
    /// Port of the bridge on the sandbox's loopback; the agent's proxy variables point here.
    #[arg(long, default_value_t = 3128)]
    proxy_port: u16,
    /// Sign audit checkpoints with this private key (its public half is an `audit-signer` in
    /// the trust store): the run signs one when the agent ends, its proxy periodically and when
    /// it stops. Default: the configuration's `audit.checkpointKey`. Refused when the manifest
    /// lets the agent read or write the key file.
    #[arg(long, value_name = "FILE")]
    audit_key: Option<String>,
    /// The agent's command and its arguments (the program must be in `commandsAllowed`).
    #[arg(required = true, last = true, value_name = "CMD")]
    command: Vec<String>,
}

impl Args {
    /// Arguments for running `command` under a verified manifest, as `cordon run` takes them.
    pub fn new(manifest: String, trust: String, state_dir: String, command: Vec<String>) -> Self {
        Self {
            signed: Enforced {
                manifest,
                trust,
                revocations: None,
            },
            state_dir: Some(state_dir),
            allow_degraded: false,
            egress_socket: None,
            external_proxy: false,
            ca: None,
            upstream_ca: Vec::new(),
            vault_addr: None,
            proxy_port: 3128,
            audit_key: None,
            command,
        }
    }
}

pub fn state_dir(arg: Option<&str>, home: &str) -> PathBuf {
    if let Some(d) = arg {
        return PathBuf::from(d);
    }
    match std::env::var("XDG_STATE_HOME") {
        Ok(x) if x.starts_with('/') => PathBuf::from(x).join("cordon"),
        _ => Path::new(home).join(".local/state/cordon"),
    }
}

/// A manifest's file grants as concrete paths.
struct FileRights {
    read: Vec<PathBuf>,
    write: Vec<PathBuf>,
    deny: Vec<PathBuf>,
}

/// Expand manifest paths; globs in read or write grants are refused (the kernel needs concrete
/// paths), globs in `denyPaths` are expanded against the file system.
fn paths(m: &Manifest, ctx: &Expansion) -> Result<FileRights, Fail> {
    let grant = |field: &str, list: &[String]| -> Result<Vec<PathBuf>, Fail> {
        list.iter()
            .map(|raw| {
                let p = path::expand(raw, ctx).map_err(|e| Fail::input_msg(format!("`{field}`: {e}")))?;
                if path::is_glob(&p) {
                    return Err(Fail::input_msg(format!(
                        "`{field}` entry `{raw}` is a glob; the kernel sandbox needs concrete paths (name the directories)"
                    )));
                }
                Ok(PathBuf::from(p))
            })
            .collect()
    };
    let read = grant("readPaths", &m.read_paths)?;
    let write = grant("writePaths", &m.write_paths)?;
    let mut deny = Vec::new();
    for raw in &m.deny_paths {
        let p = path::expand(raw, ctx).map_err(|e| Fail::input_msg(format!("`denyPaths`: {e}")))?;
        if path::is_glob(&p) {
            deny.extend(expand_glob(&p)?);
        } else {
            deny.push(PathBuf::from(p));
        }
    }
    Ok(FileRights { read, write, deny })
}

/// Existing paths matching a glob, found by walking from its literal prefix (bounded).
fn expand_glob(pattern: &str) -> Result<Vec<PathBuf>, Fail> {
    const MAX_WALK: usize = 100_000;
    let set = PathSet::new([pattern]).map_err(|e| Fail::input_msg(e.to_string()))?;
    let literal: PathBuf = Path::new(pattern)
        .components()
        .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?']))
        .collect();
    let depth = if pattern.contains("**") {
        usize::MAX
    } else {
        pattern.matches('/').count()
    };
    let mut found = Vec::new();
    let mut stack = vec![(literal, 0usize)];
    let mut walked = 0usize;
    while let Some((dir, level)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            walked += 1;
            if walked > MAX_WALK {
                return Err(Fail::input_msg(format!(
                    "`denyPaths` glob `{pattern}` matches too much to expand; name the paths"
                )));
            }
            let path = entry.path();
            if set.find(&path.to_string_lossy()).is_some() {
                found.push(path);
            } else if level < depth && entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push((path, level + 1));
            }
        }
    }
    Ok(found)
}

/// Resolve the granted commands; a command that is not installed grants nothing, any other
/// failure refuses the run.
fn exec_rights(m: &Manifest) -> Result<(ExecPlan, Vec<String>), Fail> {
    let programs: Vec<PathBuf> = m
        .commands_allowed
        .iter()
        .map(|c| PathBuf::from(c.path()))
        .collect();
    let mut plan = ExecPlan::default();
    let mut notes = Vec::new();
    for (program, needs) in programs.iter().zip(needs_each(&programs)) {
        match needs {
            Ok(n) => {
                if let Some(w) = &n.widens {
                    notes.push(format!("`{}`: {w}", program.display()));
                }
                plan.add(n);
            }
            Err(ExecError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                notes.push(format!(
                    "`{}` is granted but not installed",
                    program.display()
                ));
            }
            Err(e) => {
                return Err(Fail::check_msg(format!(
                    "cannot compute what the granted commands need: {e}"
                )));
            }
        }
    }
    Ok((plan, notes))
}

fn resolve_program(cmd: &str) -> Result<PathBuf, Fail> {
    let candidate = if cmd.contains('/') {
        PathBuf::from(cmd)
    } else {
        std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .map(|d| Path::new(d).join(cmd))
            .find(|p| p.is_file())
            .ok_or_else(|| Fail::input_msg(format!("`{cmd}` was not found on PATH")))?
    };
    std::fs::canonicalize(&candidate).map_err(|e| Fail::input_msg(format!("`{cmd}`: {e}")))
}

/// Start `cordon proxy` for the agent on a unix socket bound here, so the bridge's first
/// connection queues until the proxy accepts it: the agent never waits for the proxy to start.
fn start_proxy(a: &Args, state: &Path, socket: &Path, run_id: &str) -> Result<Child, Fail> {
    let fail = |what: &str, e: std::io::Error| {
        Fail::check_msg(format!("cannot start the egress proxy: {what}: {e}"))
    };
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(&dir.display().to_string(), e))?;
    }
    if socket.exists() {
        if UnixStream::connect(socket).is_ok() {
            return Err(Fail::check_msg(format!(
                "a proxy already listens on `{}`; pass `--external-proxy` to use it",
                socket.display()
            )));
        }
        std::fs::remove_file(socket).map_err(|e| fail(&socket.display().to_string(), e))?;
    }
    // The proxy reports its own start-up errors, but the agent would then run with no way out:
    // catch a missing CA here, before anything starts.
    if let Some(ca) = &a.ca {
        for name in ["ca.pem", "ca.key"] {
            let path = Path::new(ca).join(name);
            std::fs::File::open(&path).map_err(|e| {
                Fail::input_msg(format!(
                    "`--ca {ca}`: `{}`: {e} (make one with `cordon ca init --out {ca}`)",
                    path.display()
                ))
            })?;
        }
    }
    let listener =
        UnixListener::bind(socket).map_err(|e| fail(&socket.display().to_string(), e))?;
    let exe = std::env::current_exe().map_err(|e| fail("cordon's own path", e))?;
    let mut cmd = Command::new(exe);
    cmd.args(["proxy", "--manifest", &a.signed.manifest])
        .args(["--trust", &a.signed.trust])
        .arg("--state-dir")
        .arg(state)
        .args(["--listen", "stdin", "--quiet", "--stop-with-parent"])
        .args(["--correlation", run_id]);
    // The proxy reads the same configuration (and so the same checkpoint key) itself.
    if let Some(key) = &a.audit_key {
        cmd.args(["--audit-key", key]);
    }
    cmd.arg("--config").arg(crate::config::path());
    if let Some(r) = &a.signed.revocations {
        cmd.args(["--revocations", r]);
    }
    if let Some(ca) = &a.ca {
        cmd.args(["--ca", ca]);
    }
    for file in &a.upstream_ca {
        cmd.args(["--upstream-ca", file]);
    }
    if let Some(addr) = &a.vault_addr {
        cmd.args(["--vault-addr", addr]);
    }
    // The listening socket is the proxy's standard input; ours closes when `listener` drops, so
    // if the proxy dies, the agent's connections are refused rather than left waiting.
    cmd.stdin(Stdio::from(OwnedFd::from(listener)))
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| fail("spawn", e))
}

/// Debian's bundle of the system's root certificates.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Write `<state>/inspection-roots.pem`: the system's roots (when readable) and the inspection
/// CA's certificate.
fn ca_bundle(ca: &str, state: &Path) -> Result<PathBuf, Fail> {
    let cert_path = Path::new(ca).join("ca.pem");
    let cert = std::fs::read_to_string(&cert_path).map_err(|e| {
        Fail::input_msg(format!(
            "`--ca {ca}`: `{}`: {e} (make one with `cordon ca init --out {ca}`)",
            cert_path.display()
        ))
    })?;
    let mut bundle = std::fs::read_to_string(SYSTEM_ROOTS).unwrap_or_default();
    if !bundle.is_empty() && !bundle.ends_with('\n') {
        bundle.push('\n');
    }
    bundle.push_str(&cert);
    std::fs::create_dir_all(state)
        .map_err(|e| Fail::input_msg(format!("cannot create `{}`: {e}", state.display())))?;
    let path = state.join("inspection-roots.pem");
    io::write_file(&path.to_string_lossy(), &bundle, 0o644, true)
        .map_err(|e| Fail::input_msg(format!("{e:#}")))?;
    Ok(path)
}

/// Ask the proxy to stop (it records what is in flight), and make sure it has.
fn stop_proxy(mut proxy: Child) {
    let _ = cordon_sandbox::process::terminate(&proxy);
    // It usually exits within a millisecond: poll often at first, then back off.
    let deadline = Instant::now() + std::time::Duration::from_secs(2);
    let mut pause = std::time::Duration::from_micros(100);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = proxy.try_wait() {
            return;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
    }
    let _ = proxy.kill();
    let _ = proxy.wait();
}

/// Run the agent: its exit status, or [`RUN_REFUSED`] when it was not started.
pub fn run(a: &Args) -> Outcome {
    run_agent(a).map_err(|f| f.with_exit(RUN_REFUSED))
}

fn run_agent(a: &Args) -> Outcome {
    let started = Instant::now();
    let now = io::now_or(None)?;
    let (user, home) = io::current_user();
    let state = state_dir(a.state_dir.as_deref(), &home);
    let mut trail = Trail::new(&state, "run", &user)?;
    let run_id = trail::new_id();
    trail.subject.correlation = Some(run_id.clone());
    let (verified, verify_event) = trail.verify(&a.signed, now)?;
    let m = &verified.manifest;
    // The command line goes through the DLP classifier before it is recorded; building the
    // classifier takes about a millisecond, spent on the other core while the sandbox is
    // planned.
    let line = a.command.join(" ");
    let scrubbing = std::thread::spawn(move || trail::scrubbed(&line));
    let ctx = Expansion {
        user: user.clone(),
        home: home.clone(),
    };
    // Trying namespaces costs a fork: only do it when missing ones may be skipped. Otherwise
    // the launcher creates them and fails closed if the kernel refuses.
    let features = if a.allow_degraded {
        probe()
    } else {
        probe_assuming_namespaces()
    };
    let layers = launch::plan_layers(&features, a.allow_degraded).map_err(|e| {
        Fail::check_msg(format!(
            "{e}\nrun `cordon sandbox check` for details; `--allow-degraded` runs without them"
        ))
    })?;
    if !layers.degraded.is_empty() {
        eprintln!(
            "cordon: WARNING: running degraded, not enforced: {}",
            layers.degraded.join(", ")
        );
    }
    let FileRights {
        mut read,
        write,
        deny,
    } = paths(m, &ctx)?;
    let (exec, notes) = exec_rights(m)?;
    for n in &notes {
        eprintln!("cordon: note: {n}");
    }
    let (cmd, args) = a
        .command
        .split_first()
        .ok_or_else(|| Fail::input_msg("give the command to run after `--`"))?;
    let program = resolve_program(cmd)?;
    let cmd_line = scrubbing
        .join()
        .unwrap_or_else(|_| "[REDACTED:unscanned]".to_owned());
    let launch_event = || {
        Event::new(Activity::ProcessLaunch, trail::millis(now)).with(
            "process",
            ocsf::process(&cmd_line, &program.to_string_lossy(), &run_id, None),
        )
    };
    if !exec.execute.contains(&program) {
        trail.record([
            verify_event,
            launch_event().decided(Verdict::Deny, "exec_denied", None),
        ])?;
        return Err(Fail::check_msg(format!(
            "`{}` is not granted in `commandsAllowed` of `{}`; the agent's own program must be granted",
            program.display(),
            m.agent_name
        )));
    }
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME".into(), home.clone()),
        (
            "LANG".into(),
            std::env::var("LANG").unwrap_or_else(|_| "C.UTF-8".into()),
        ),
    ];
    if let Ok(term) = std::env::var("TERM") {
        env.push(("TERM".into(), term));
    }
    // The egress bridge is the only way out; clients that honour proxy variables find it.
    let proxy = format!("http://127.0.0.1:{}", a.proxy_port);
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        env.push((name.into(), proxy.clone()));
    }
    // With TLS inspection, the agent's TLS clients must trust the inspection CA: a bundle of the
    // system's roots and the CA, readable in the sandbox, named by the variables common clients
    // read.
    if let Some(ca) = &a.ca {
        let bundle = ca_bundle(ca, &state_dir(a.state_dir.as_deref(), &home))?;
        for name in [
            "SSL_CERT_FILE",
            "CURL_CA_BUNDLE",
            "REQUESTS_CA_BUNDLE",
            "NODE_EXTRA_CA_CERTS",
        ] {
            env.push((name.into(), bundle.to_string_lossy().into_owned()));
        }
        read.push(bundle);
    }
    for name in &m.env {
        if let Ok(v) = std::env::var(name) {
            env.retain(|(k, _)| k != name);
            env.push((name.clone(), v));
        }
    }
    let mib = |v: Option<u64>| v.map(|m| m.saturating_mul(1 << 20));
    let limits = m.limits.clone().unwrap_or_default();
    let spec = Spec {
        program: program.clone(),
        args: args.to_vec(),
        env,
        cwd: std::env::current_dir()
            .map_err(|e| Fail::input_msg(format!("current directory: {e}")))?,
        read,
        write,
        deny,
        exec,
        limits: Limits {
            processes: limits.processes.map(u64::from),
            memory_bytes: mib(limits.memory_mib),
            open_files: limits.open_files.map(u64::from),
            cpu_seconds: limits.cpu_seconds,
            file_size_bytes: mib(limits.file_size_mib),
        },
        bridge: Some(Bridge {
            port: a.proxy_port,
            socket: a.egress_socket.as_ref().map_or_else(
                || state_dir(a.state_dir.as_deref(), &home).join("egress.sock"),
                PathBuf::from,
            ),
        }),
    };
    let audit_key = trail.checkpoint_key(a.audit_key.as_ref());
    let signer = match &audit_key {
        Some(path) => Some(audit_signer(path, &spec)?),
        None => None,
    };
    let granted = Event::new(Activity::AssignPrivileges, trail::millis(now))
        .decided(Verdict::Allow, "manifest_verified", None)
        .with("user", json!({"name": user}))
        .with("session", json!({"uid": run_id}))
        .with("privileges", json!(privileges(&spec, m)));
    trail.record([
        verify_event,
        granted,
        launch_event()
            .decided(Verdict::Allow, "granted", None)
            .cordon(
                "sandbox",
                json!({"enforced": layers.enforced, "degraded": layers.degraded}),
            ),
    ])?;
    let proxy = match (&spec.bridge, a.external_proxy) {
        (Some(bridge), false) => Some(start_proxy(a, &state, &bridge.socket, &run_id)?),
        _ => None,
    };
    let result = launch::launch(&spec, &layers);
    if let Some(p) = proxy {
        stop_proxy(p);
    }
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let ended = Event::new(
        Activity::ProcessTerminate,
        trail::millis(time::OffsetDateTime::now_utc()),
    )
    .with(
        "process",
        ocsf::process(&cmd_line, &program.to_string_lossy(), &run_id, None),
    )
    .with("duration", elapsed.into());
    match result {
        Ok(exit) => {
            trail.record([ended.with("exit_code", exit.code().into())])?;
            if let Some(signer) = &signer {
                trail.checkpoint(signer)?;
            }
            Ok(u8::try_from(exit.code()).unwrap_or(u8::MAX))
        }
        Err(e) => {
            trail.record([ended.failed(e.to_string())])?;
            // Namespaces were taken as available without trying (a fork saved per launch):
            // when setting up failed, say which layer the kernel refuses, as a probe would.
            if !a.allow_degraded
                && let Err(missing) = launch::plan_layers(&probe(), false)
            {
                return Err(Fail::check_msg(format!(
                    "{missing}\nrun `cordon sandbox check` for details; `--allow-degraded` runs without them; the agent did not run"
                )));
            }
            Err(Fail::check_msg(format!("{e}; the agent did not run")))
        }
    }
}

/// The privileges a run grants the agent, as its Authorize Session event lists them:
/// `read:`, `write:`, `deny:` and `exec:` paths as the sandbox enforces them, and the manifest's
/// network and API scopes.
fn privileges(spec: &Spec, m: &Manifest) -> Vec<String> {
    fn paths<'a>(kind: &str, list: impl IntoIterator<Item = &'a PathBuf>) -> Vec<String> {
        list.into_iter()
            .map(|p| format!("{kind}:{}", p.display()))
            .collect()
    }
    let mut out = paths("read", &spec.read);
    out.extend(paths("write", &spec.write));
    out.extend(paths("deny", &spec.deny));
    out.extend(paths("exec", &spec.exec.execute));
    out.extend(m.network_scopes.iter().map(|s| format!("net:{s}")));
    out.extend(m.api_scopes.iter().map(|s| format!("api:{s}")));
    out
}

/// The checkpoint signer of the key file `path`, unless the sandbox would let the agent read
/// or write it (an agent holding the key could sign a rewritten log).
fn audit_signer(path: &str, spec: &Spec) -> Result<KeySigner, Fail> {
    let key = std::fs::canonicalize(path)
        .map_err(|e| Fail::input_msg(format!("`--audit-key {path}`: {e}")))?;
    let denied = spec.deny.iter().any(|d| key.starts_with(d));
    if let Some(grant) = spec
        .read
        .iter()
        .chain(&spec.write)
        .find(|g| key.starts_with(g))
        && !denied
    {
        return Err(Fail::check_msg(format!(
            "`--audit-key {path}` is inside `{}`, which the manifest lets the agent reach; keep the key outside every grant (or in `denyPaths`)",
            grant.display()
        )));
    }
    KeySigner::load(path)
}
