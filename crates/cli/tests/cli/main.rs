//! Drives the real `cordon` binary: the main job, signing and every verification refusal,
//! lint, templates, decisions, Rego tests, malformed input, and interoperability with an
//! independent DSSE implementation (Python `cryptography`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod audit;
mod claude;
mod detect;
mod dlp;
mod hook;
mod proxy;
mod run;
mod ship;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Self::in_dir(tempfile::tempdir().unwrap())
    }

    fn in_dir(dir: tempfile::TempDir) -> Self {
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    fn write(&self, name: &str, contents: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    /// Run cordon in the sandbox directory.
    fn run(&self, args: &[&str]) -> Output {
        Command::cargo_bin("cordon")
            .unwrap()
            .current_dir(self.dir.path())
            .env("HOME", "/home/alice")
            .env("USER", "alice")
            .args(args)
            .output()
            .unwrap()
    }

    /// Run and require an exit code; return stdout.
    fn expect(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "cordon {args:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn stderr_of(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "cordon {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// A copy of `trust.json` named `out` in which key `a` (the manifest signer) is revoked.
    fn trust_with_signer_revoked(&self, out: &str) {
        std::fs::copy(self.path("trust.json"), self.path(out)).unwrap();
        let keyid = self.expect(0, &["keys", "id", "keys/a.pub"]);
        let keyid = &keyid.trim()[..12];
        self.expect(
            0,
            &[
                "trust",
                "revoke-key",
                "--trust",
                out,
                "--keyid",
                keyid,
                "--reason",
                "laptop lost",
            ],
        );
    }

    /// An audit checkpoint key, `keys/audit.key`, trusted as `audit-signer` in `trust.json`.
    fn audit_signer(&self) {
        self.expect(0, &["keys", "generate", "--out", "keys/audit"]);
        self.trust("keys/audit.pub", "audit-signer", &[]);
    }

    /// Add the public key `key` to `trust.json` with `role` (and `extra` options).
    fn trust(&self, key: &str, role: &str, extra: &[&str]) {
        let mut args = vec![
            "trust",
            "add",
            "--trust",
            "trust.json",
            "--key",
            key,
            "--role",
            role,
        ];
        args.extend_from_slice(extra);
        self.expect(0, &args);
    }

    /// Keys `a`, `b`, `c`, and a trust store trusting `a` as manifest signer.
    fn keys_and_trust(&self) {
        for k in ["a", "b", "c"] {
            self.expect(0, &["keys", "generate", "--out", &format!("keys/{k}")]);
        }
        self.expect(0, &["trust", "init", "--out", "trust.json"]);
        self.trust("keys/a.pub", "manifest-signer", &["--name", "team-a"]);
    }
}

/// A child process killed when dropped.
struct Background(std::process::Child);

impl Background {
    /// Ask the process to stop (SIGTERM) and wait for it, at most 20 seconds.
    fn terminate(&mut self) {
        let pid = self.0.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("process {pid} did not stop on SIGTERM");
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The port a test server wrote to `port_file` once it listens (it writes the file whole, by
/// renaming it into place); fails after `seconds`.
fn wait_for_port(port_file: &str, what: &str, seconds: u64) -> u16 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if let Ok(p) = std::fs::read_to_string(port_file) {
            return p.trim().parse().unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Require a successful exit, showing stderr otherwise.
/// Run `cmd` with `input` on its standard input (written whole before its output is read):
/// its status and what it printed.
fn with_stdin(cmd: &mut std::process::Command, input: &[u8]) -> Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Err(e) = child.stdin.take().unwrap().write_all(input) {
        // A command that refuses its arguments may exit before it reads its input.
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether the tests run as uid 0 (only root can switch to another user with setpriv).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// Command lines (NUL separators as spaces) of the processes running now that match `keep`.
fn command_lines(keep: impl Fn(&[u8]) -> bool) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| keep(c))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect()
}

fn playbook_manifest() -> String {
    std::fs::read_to_string(repo("examples/playbook-manifest.json")).unwrap()
}

/// The events of the audit log in `state` (a state directory), after checking that the hash
/// chain verifies and that every event meets the OCSF 1.8 schema.
fn audit_events(state: impl AsRef<Path>) -> Vec<Value> {
    let dir = state.as_ref().join("audit");
    let lines = cordon_audit::store::read_lines(&dir).unwrap_or_default();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (report, _) =
        cordon_audit::verify::verify_log(&cordon_audit::verify::Lines::from_lines(refs.clone()));
    assert_eq!(report.problem, None, "{}", dir.display());
    refs.iter()
        .map(|l| json(l)["event"].clone())
        // Records of the log itself (checkpoints, retention) are not OCSF events.
        .filter(|e| e.get("class_uid").is_some())
        .map(|event| {
            let problems = cordon_audit::ocsf::schema::check(&event);
            assert!(problems.is_empty(), "{problems:#?}\nin {event:#}");
            event
        })
        .collect()
}

/// cordon's own fields of an OCSF event.
fn cordon(event: &Value) -> &Value {
    &event["unmapped"]["cordon"]
}

fn json(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn quickstart_runs_the_main_job() {
    let s = Sandbox::new();
    let out = s.expect(0, &["quickstart", "--dir", &s.path("q")]);
    for needle in [
        "verified `finance-analyst-agent`",
        "ALLOW",
        "DENY",
        "APPROVAL",
        "refused as it should be (revoked-manifest)",
        "allowed  write",
        "DENIED   run /usr/bin/id (not granted)",
        "DENIED   copy cat into out/ and run the copy",
        "the agent exited with status 0",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    // A second run into the same directory refuses rather than mixing state.
    s.expect(2, &["quickstart", "--dir", &s.path("q")]);
}

#[test]
fn private_keys_are_private() {
    let s = Sandbox::new();
    let out = s.expect(0, &["keys", "generate", "--out", "k/admin", "--json"]);
    let v = json(&out);
    assert_eq!(v["keyid"].as_str().unwrap().len(), 64);
    let mode = std::fs::metadata(s.path("k/admin.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        s.expect(0, &["keys", "id", "k/admin.pub"]).trim(),
        v["keyid"].as_str().unwrap()
    );
    // Never overwrite a key by accident.
    s.expect(2, &["keys", "generate", "--out", "k/admin"]);
}

#[test]
fn sign_and_verify() {
    let s = Sandbox::new();
    s.keys_and_trust();
    s.write("m.json", &playbook_manifest());
    s.expect(0, &["manifest", "sign", "m.json", "--key", "keys/a.key"]);
    let out = s.expect(
        0,
        &[
            "manifest",
            "verify",
            "m.signed.json",
            "--trust",
            "trust.json",
            "--format",
            "json",
        ],
    );
    let v = json(&out);
    assert_eq!(v["verified"], true);
    assert_eq!(v["agentName"], "cowork-lite");
    let digest = s.expect(0, &["manifest", "digest", "m.json"]);
    assert_eq!(v["digest"].as_str().unwrap(), digest.trim());
    assert_eq!(
        s.expect(0, &["manifest", "digest", "m.signed.json"]).trim(),
        digest.trim()
    );
    // Signing refuses manifests with lint errors.
    s.write(
        "broad.json",
        r#"{"agentName":"x","version":"1.0.0","readPaths":["/"]}"#,
    );
    s.expect(
        1,
        &["manifest", "sign", "broad.json", "--key", "keys/a.key"],
    );
}

/// Verify `file` and return the refusal kind (JSON) and the human message.
fn refusal(s: &Sandbox, file: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["manifest", "verify", file, "--format", "json"];
    args.extend_from_slice(extra);
    let out = s.run(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?} should be refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["verified"], false);
    (
        v["kind"].as_str().unwrap().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verify_refuses_each_kind_of_bad_manifest() {
    let s = Sandbox::new();
    s.keys_and_trust();
    s.write("m.json", &playbook_manifest());
    s.expect(0, &["manifest", "sign", "m.json", "--key", "keys/a.key"]);
    let trust = ["--trust", "trust.json"];
    let mut seen = Vec::new();

    // Tampered payload: a wider grant slipped into the signed envelope.
    let mut env = json(&s.read("m.signed.json"));
    let widened = playbook_manifest().replace("/home/user/Work/Reports\"", "/home/user\"");
    env["payload"] = Value::String(STANDARD.encode(widened));
    s.write("tampered.json", &env.to_string());
    seen.push(refusal(&s, "tampered.json", &trust));

    // Wrong payload type.
    let mut env = json(&s.read("m.signed.json"));
    env["payloadType"] = Value::String("application/json".into());
    s.write("wrongtype.json", &env.to_string());
    seen.push(refusal(&s, "wrongtype.json", &trust));

    // Unknown key.
    s.expect(
        0,
        &[
            "manifest",
            "sign",
            "m.json",
            "--key",
            "keys/b.key",
            "--out",
            "by-b.json",
        ],
    );
    seen.push(refusal(&s, "by-b.json", &trust));

    // Revoked key.
    s.trust_with_signer_revoked("trust-revoked.json");
    seen.push(refusal(
        &s,
        "m.signed.json",
        &["--trust", "trust-revoked.json"],
    ));

    // Key outside its validity window.
    s.expect(0, &["trust", "init", "--out", "trust-old.json"]);
    s.expect(
        0,
        &[
            "trust",
            "add",
            "--trust",
            "trust-old.json",
            "--key",
            "keys/a.pub",
            "--role",
            "manifest-signer",
            "--not-after",
            "2020-01-01T00:00:00Z",
        ],
    );
    seen.push(refusal(&s, "m.signed.json", &["--trust", "trust-old.json"]));

    // Below threshold: two of a and c required, only a signed.
    std::fs::copy(s.path("trust.json"), s.path("trust-2.json")).unwrap();
    s.expect(
        0,
        &[
            "trust",
            "add",
            "--trust",
            "trust-2.json",
            "--key",
            "keys/c.pub",
            "--role",
            "manifest-signer",
        ],
    );
    s.expect(
        0,
        &[
            "trust",
            "threshold",
            "--trust",
            "trust-2.json",
            "--role",
            "manifest-signer",
            "--count",
            "2",
        ],
    );
    seen.push(refusal(&s, "m.signed.json", &["--trust", "trust-2.json"]));
    s.expect(
        0,
        &[
            "manifest",
            "cosign",
            "m.signed.json",
            "--key",
            "keys/c.key",
            "--out",
            "m2.signed.json",
        ],
    );
    s.expect(
        0,
        &[
            "manifest",
            "verify",
            "m2.signed.json",
            "--trust",
            "trust-2.json",
        ],
    );
    // The same key twice is still one signer.
    s.expect(
        2,
        &[
            "manifest",
            "cosign",
            "m.signed.json",
            "--key",
            "keys/a.key",
            "--out",
            "dup.json",
        ],
    );

    // Revoked manifest.
    s.expect(
        0,
        &[
            "manifest",
            "revoke",
            "m.signed.json",
            "--list",
            "revoked.json",
            "--key",
            "keys/a.key",
            "--trust",
            "trust.json",
            "--reason",
            "left the team",
        ],
    );
    seen.push(refusal(
        &s,
        "m.signed.json",
        &["--trust", "trust.json", "--revocations", "revoked.json"],
    ));
    // A list signed by an untrusted key is refused rather than ignored.
    s.expect(0, &["trust", "init", "--out", "trust-b.json"]);
    s.expect(
        0,
        &[
            "trust",
            "add",
            "--trust",
            "trust-b.json",
            "--key",
            "keys/b.pub",
            "--role",
            "manifest-signer",
        ],
    );
    let digest = s.expect(0, &["manifest", "digest", "m.signed.json"]);
    s.expect(
        0,
        &[
            "manifest",
            "revoke",
            "--digest",
            digest.trim(),
            "--list",
            "rogue.json",
            "--key",
            "keys/b.key",
            "--trust",
            "trust-b.json",
        ],
    );
    // And cordon will not write a list that its own trust store would refuse.
    s.expect(
        1,
        &[
            "manifest",
            "revoke",
            "m.signed.json",
            "--list",
            "rogue2.json",
            "--key",
            "keys/b.key",
            "--trust",
            "trust.json",
        ],
    );
    let rogue = s.run(&[
        "manifest",
        "verify",
        "m.signed.json",
        "--trust",
        "trust.json",
        "--revocations",
        "rogue.json",
    ]);
    assert_eq!(rogue.status.code(), Some(1));

    // Expired manifest.
    s.write(
        "old.json",
        &playbook_manifest().replace(
            "\"version\": \"1.0.0\",",
            "\"version\": \"1.0.0\", \"expires\": \"2026-01-01T00:00:00Z\",",
        ),
    );
    s.expect(0, &["manifest", "sign", "old.json", "--key", "keys/a.key"]);
    seen.push(refusal(&s, "old.signed.json", &trust));
    s.expect(
        0,
        &[
            "manifest",
            "verify",
            "old.signed.json",
            "--trust",
            "trust.json",
            "--time",
            "2025-12-01T00:00:00Z",
        ],
    );

    let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "bad-signature",
            "payload-type",
            "unknown-key",
            "revoked-key",
            "key-validity",
            "below-threshold",
            "revoked-manifest",
            "expired-manifest"
        ]
    );
    let needles = [
        "changed after signing",
        "payload type is `application/json`",
        "does not list",
        "revoked at",
        "valid from the start to 2020-01-01",
        "1 valid signature(s) of 2",
        "is revoked",
        "expired at 2026-01-01",
    ];
    for ((kind, msg), needle) in seen.iter().zip(needles) {
        assert!(msg.contains(needle), "{kind}: {needle:?} not in {msg}");
    }
}

#[test]
fn lint_gates_ci() {
    let s = Sandbox::new();
    s.write("m.json", &playbook_manifest());
    let out = s.expect(0, &["manifest", "lint", "m.json"]);
    assert!(out.contains("warning[L005 interpreter]"), "{out}");
    assert!(
        out.contains("m.json:8:43:"),
        "line and column of /usr/bin/python3: {out}"
    );
    s.expect(1, &["manifest", "lint", "m.json", "--deny", "warnings"]);
    let v = json(
        &s.run(&[
            "manifest", "lint", "m.json", "--format", "json", "--deny", "warnings",
        ])
        .stdout
        .iter()
        .map(|&b| b as char)
        .collect::<String>(),
    );
    assert_eq!(v["passed"], false);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "L005" && f["field"] == "/commandsAllowed/1")
    );
    s.write(
        "bad.json",
        r#"{"agentName":"x","version":"1.0.0","readPaths":["~"],"networkScopes":["https://*"]}"#,
    );
    let out = s.expect(1, &["manifest", "lint", "bad.json"]);
    assert!(
        out.contains("L006 credential-store") && out.contains("L002 wildcard-host"),
        "{out}"
    );
    let rules = s.expect(0, &["manifest", "lint", "--list-rules"]);
    assert!(rules.lines().count() >= 14);
}

#[test]
fn templates_render_clean_and_check_group_entitlement() {
    let s = Sandbox::new();
    for (group, template) in [
        ("finance", "finance-analyst-agent"),
        ("legal", "legal-drafting-agent"),
        ("engineering", "developer-agent"),
    ] {
        let out = format!("{template}.json");
        s.expect(
            0,
            &[
                "manifest", "render", "--user", "alice", "--groups", group, "--out", &out,
            ],
        );
        let m = json(&s.read(&out));
        assert_eq!(m["agentName"], template);
        assert!(m["expires"].is_string());
        s.expect(
            0,
            &[
                "manifest",
                "lint",
                &out,
                "--deny",
                "warnings",
                "--home",
                "/home/alice",
            ],
        );
    }
    let err = s.stderr_of(
        1,
        &[
            "manifest",
            "render",
            "--template",
            "legal-drafting-agent",
            "--user",
            "bob",
            "--groups",
            "finance",
        ],
    );
    assert!(
        err.contains("not mapped to template `legal-drafting-agent`"),
        "{err}"
    );
    let err = s.stderr_of(
        1,
        &[
            "manifest",
            "render",
            "--user",
            "bob",
            "--groups",
            "finance,legal",
        ],
    );
    assert!(err.contains("several templates"), "{err}");
    let err = s.stderr_of(
        2,
        &[
            "manifest",
            "render",
            "--template",
            "developer-agent",
            "--user",
            "../../root",
        ],
    );
    assert!(err.contains("not a valid name"), "{err}");
    let list = s.expect(0, &["manifest", "templates"]);
    assert_eq!(list.lines().filter(|l| !l.starts_with(' ')).count(), 5);
}

#[test]
fn policy_eval_explains_the_playbook() {
    let s = Sandbox::new();
    s.write("m.json", &playbook_manifest());
    let mut v = json(&playbook_manifest());
    v["writePaths"]
        .as_array_mut()
        .unwrap()
        .push("/sensitive".into());
    s.write("m-sensitive.json", &v.to_string());
    let rule = repo("examples/playbook-policy.rego");
    let policy = format!("write={}", rule.display());
    let base = [
        "policy",
        "eval",
        "--unsigned",
        "m.json",
        "--policy",
        &policy,
    ];
    let run = |code: i32, extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        s.expect(code, &args)
    };
    let out = run(0, &["--read", "/home/user/Work/Reports/q3.xlsx"]);
    assert!(out.contains("granted by readPaths[0]"), "{out}");
    let out = run(1, &["--read", "/home/user/.ssh/id_rsa"]);
    assert!(out.contains("no grant covers it"), "{out}");
    let out = run(3, &["--api", "sheets:write:restricted", "--format", "json"]);
    let v = json(&out);
    assert_eq!(
        (v["effect"].as_str(), v["approval"].as_str()),
        (Some("approval_required"), Some("sheets:write:restricted"))
    );
    run(
        0,
        &[
            "--api",
            "sheets:write:restricted",
            "--assume-grant",
            "sheets:write:restricted",
        ],
    );

    let sens = [
        "policy",
        "eval",
        "--unsigned",
        "m-sensitive.json",
        "--policy",
        &policy,
        "--write",
        "/sensitive/payroll.csv",
    ];
    let out = s.expect(1, &sens);
    assert!(out.contains("policy_denied"), "{out}");
    let mut with_scope = sens.to_vec();
    with_scope.extend(["--with-scope", "sensitive-write"]);
    s.expect(0, &with_scope);

    // The same decision from a signed manifest, and from a JSON request on stdin.
    s.keys_and_trust();
    s.expect(0, &["manifest", "sign", "m.json", "--key", "keys/a.key"]);
    let out = Command::cargo_bin("cordon")
        .unwrap()
        .current_dir(s.dir.path())
        .args([
            "policy",
            "eval",
            "--manifest",
            "m.signed.json",
            "--trust",
            "trust.json",
            "--request",
            "-",
            "--format",
            "json",
        ])
        .write_stdin(r#"{"action":"read","path":"/home/user/Work/Reports/../../.ssh/id_rsa"}"#)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["request"]["path"], "/home/user/.ssh/id_rsa");
    assert_eq!(v["manifest"]["signed"], true);
}

#[test]
fn policy_test_runs_rego_tests() {
    let s = Sandbox::new();
    let out = s.expect(0, &["policy", "test", repo("examples").to_str().unwrap()]);
    assert!(out.contains("PASS: 3/3"), "{out}");
    s.write(
        "t.rego",
        "package t\ntest_ok { true }\ntest_broken { 1 == 2 }\n",
    );
    let out = s.expect(1, &["policy", "test", "t.rego"]);
    assert!(out.contains("data.t.test_broken: FAIL"), "{out}");
    s.write("none.rego", "package n\nallow { true }\n");
    s.expect(1, &["policy", "test", "none.rego"]);
    s.write("syntax.rego", "package s\nallow {\n");
    s.expect(2, &["policy", "test", "syntax.rego"]);
}

#[test]
fn malformed_input_is_a_located_error() {
    let s = Sandbox::new();
    s.write("m.json", "{\n  \"agentName\": \"a\",\n  \"version\": \"1.0.0\",\n  \"readPaths\": [\"relative/dir\"]\n}\n");
    let err = s.stderr_of(2, &["manifest", "lint", "m.json"]);
    assert!(
        err.contains("manifest::path") && err.contains("line 4, column 17"),
        "{err}"
    );
    let err = s.stderr_of(2, &["--error-format", "json", "manifest", "lint", "m.json"]);
    let v = json(&err);
    assert_eq!(v["code"], "manifest::path");
    s.write("trunc.json", "{\"agentName\": \"a\", \"vers");
    s.stderr_of(2, &["manifest", "lint", "trunc.json"]);
    std::fs::write(s.path("bin.json"), b"\xff\xfe\x00garbage").unwrap();
    s.stderr_of(2, &["manifest", "lint", "bin.json"]);
    s.write("empty.json", "");
    let err = s.stderr_of(2, &["manifest", "lint", "empty.json"]);
    assert!(err.contains("manifest is empty"), "{err}");
    s.stderr_of(2, &["manifest", "lint", "missing.json"]);
    s.keys_and_trust();
    s.write("env.json", "{\"payload\": 3}");
    s.stderr_of(
        1,
        &["manifest", "verify", "env.json", "--trust", "trust.json"],
    );
}

#[test]
fn every_command_teaches_with_an_example() {
    let s = Sandbox::new();
    let commands: &[&[&str]] = &[
        &["quickstart"],
        &["run"],
        &["keys", "generate"],
        &["keys", "id"],
        &["trust", "init"],
        &["trust", "add"],
        &["trust", "revoke-key"],
        &["trust", "threshold"],
        &["trust", "show"],
        &["manifest", "lint"],
        &["manifest", "render"],
        &["manifest", "templates"],
        &["manifest", "schema"],
        &["manifest", "sign"],
        &["manifest", "cosign"],
        &["manifest", "verify"],
        &["manifest", "revoke"],
        &["manifest", "digest"],
        &["policy", "eval"],
        &["policy", "test"],
        &["sandbox", "check"],
        &["audit", "verify"],
        &["audit", "checkpoint"],
        &["audit", "tail"],
        &["audit", "query"],
        &["audit", "export"],
        &["audit", "ship"],
        &["audit", "stats"],
        &["detect"],
        &["hook", "claude-code"],
    ];
    for c in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let out = s.expect(0, &args);
        assert!(
            out.contains("Example"),
            "`cordon {}` --help has no example:\n{out}",
            c.join(" ")
        );
    }
}

fn python() -> std::process::Command {
    let mut c = std::process::Command::new("python3");
    c.arg(repo("tests/interop/dsse_interop.py"));
    c
}

#[test]
fn dsse_interoperates_with_python_cryptography() {
    let s = Sandbox::new();
    s.keys_and_trust();
    s.write("m.json", &playbook_manifest());
    s.expect(0, &["manifest", "sign", "m.json", "--key", "keys/a.key"]);

    // cordon's envelope verifies with an independent implementation.
    let out = python()
        .args([s.path("m.signed.json"), s.path("keys/a.pub")])
        .arg("x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "usage check");
    let out = python()
        .arg("verify")
        .args([s.path("m.signed.json"), s.path("keys/a.pub")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = s.expect(0, &["manifest", "digest", "m.json"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(digest.trim()));
    // ... and not with another key.
    let out = python()
        .arg("verify")
        .args([s.path("m.signed.json"), s.path("keys/b.pub")])
        .output()
        .unwrap();
    assert!(!out.status.success());

    // An envelope made by the independent implementation verifies in cordon.
    let out = python()
        .arg("sign")
        .args([s.path("m.json"), s.path("py")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.expect(
        0,
        &[
            "trust",
            "add",
            "--trust",
            "trust.json",
            "--key",
            "py.pub",
            "--role",
            "manifest-signer",
        ],
    );
    s.expect(
        0,
        &[
            "manifest",
            "verify",
            "py.envelope.json",
            "--trust",
            "trust.json",
        ],
    );
    // Tampering with it is caught.
    let mut env = json(&s.read("py.envelope.json"));
    env["payload"] =
        Value::String(STANDARD.encode(playbook_manifest().replace("cowork-lite", "cowork-full")));
    s.write("py-tampered.json", &env.to_string());
    assert_eq!(
        refusal(&s, "py-tampered.json", &["--trust", "trust.json"]).0,
        "bad-signature"
    );
}

/// What a person sees for a broken manifest, and what a machine gets for lint: reviewed
/// snapshots, so a change in wording or shape is a visible diff.
#[test]
fn diagnostics_and_lint_output_snapshots() {
    let s = Sandbox::new();
    s.write(
        "m.json",
        "{\n  \"agentName\": \"cowork-lite\",\n  \"version\": \"1.0.0\",\n  \"readPaths\": [\"/home/user/Work/Reports\", \"Work/../.ssh\"],\n  \"networkScopes\": [\"https://*.corp.*.com\"]\n}\n",
    );
    insta::assert_snapshot!(
        "manifest_problems_human",
        s.stderr_of(2, &["manifest", "lint", "m.json"])
    );
    let json_err = s.stderr_of(2, &["--error-format", "json", "manifest", "lint", "m.json"]);
    insta::assert_json_snapshot!("manifest_problems_json", json(&json_err));
    s.write("p.json", &playbook_manifest());
    let out = s.expect(
        1,
        &[
            "manifest", "lint", "p.json", "--deny", "warnings", "--format", "json",
        ],
    );
    insta::assert_json_snapshot!("lint_playbook_json", json(&out));
}

#[test]
fn policy_test_checks_template_examples() {
    let s = Sandbox::new();
    let out = s.expect(
        0,
        &[
            "policy",
            "test",
            repo("templates").to_str().unwrap(),
            repo("examples").to_str().unwrap(),
        ],
    );
    assert!(
        out.contains("template finance-analyst-agent example 0: read"),
        "{out}"
    );
    let total: usize = out.lines().filter(|l| l.ends_with(": PASS")).count();
    assert_eq!(total, 11 + 9 + 10 + 12 + 4 + 3, "{out}");
    // A template whose example expects the wrong decision fails the run.
    let broken = std::fs::read_to_string(repo("templates/developer-agent.json"))
        .unwrap()
        .replace(
            r#""path": "{{projectsDir}}/cordon/.env" }, "expect": "deny""#,
            r#""path": "{{projectsDir}}/cordon/.env" }, "expect": "allow""#,
        );
    s.write("broken.json", &broken);
    let out = s.expect(1, &["policy", "test", "broken.json"]);
    assert!(
        out.contains("expects `allow` but the manifest decides `deny` (denied_path)"),
        "{out}"
    );
    s.write("groups.json", r#"{"version":1,"mappings":[]}"#);
    s.expect(2, &["policy", "test", "groups.json"]);
}

#[test]
fn sandbox_check_reports_kernel_features_and_the_exec_plan() {
    let s = Sandbox::new();
    let script = s.write("tool.sh", "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    s.write(
        "m.json",
        &format!(r#"{{"agentName":"a","version":"1.0.0","readPaths":["~/Work"],"commandsAllowed":["/bin/ls","{script}","/usr/bin/no-such-tool"]}}"#),
    );
    let out = s.run(&[
        "sandbox",
        "check",
        "--unsigned",
        "m.json",
        "--format",
        "json",
    ]);
    let v = json(&String::from_utf8_lossy(&out.stdout));
    let ready = v["ready"].as_bool().unwrap();
    assert_eq!(out.status.code(), Some(if ready { 0 } else { 1 }));
    assert_eq!(ready, v["missingRequired"].as_array().unwrap().is_empty());
    // Landlock shows in the LSM list exactly when the probe finds an ABI.
    let lsm = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    if lsm.split(',').any(|l| l.trim() == "landlock") {
        assert!(v["features"]["landlockAbi"].as_u64().unwrap() >= 1, "{v}");
    }
    let plan = &v["plan"];
    assert_eq!(plan["readPaths"], serde_json::json!(["/home/alice/Work"]));
    let programs = plan["programs"].as_array().unwrap();
    let ls = &programs[0]["needs"];
    assert_eq!(ls["kind"], "dynamic-elf");
    assert!(
        ls["interpreter"].as_str().unwrap().contains("ld-linux"),
        "{ls}"
    );
    assert!(
        ls["libraries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("libc.so"))
    );
    assert_eq!(programs[1]["needs"]["kind"], "script");
    assert!(
        programs[1]["needs"]["widens"]
            .as_str()
            .unwrap()
            .contains("interpreter")
    );
    assert!(
        programs[2]["error"]
            .as_str()
            .unwrap()
            .contains("No such file")
    );
}

#[test]
fn sandbox_check_works_as_an_ordinary_user() {
    // Only root can switch to another user for this test.
    let root = is_root();
    let setpriv = Path::new("/usr/bin/setpriv");
    let s = Sandbox::new();
    let bin = assert_cmd::cargo::cargo_bin("cordon");
    let mut cmd = if root && setpriv.exists() {
        // A copy the unprivileged user can reach (the build directory may be private).
        std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let copy = s.path("cordon");
        std::fs::copy(&bin, &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut c = std::process::Command::new(setpriv);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", &copy]);
        c
    } else {
        std::process::Command::new(bin)
    };
    let out = cmd
        .args(["sandbox", "check", "--format", "json"])
        .current_dir("/")
        .output()
        .unwrap();
    let v = json(&String::from_utf8_lossy(&out.stdout));
    if root && setpriv.exists() {
        assert_eq!(v["features"]["root"], false, "{v}");
    }
    assert_eq!(
        out.status.code(),
        Some(if v["ready"] == true { 0 } else { 1 }),
        "{v}"
    );
}
