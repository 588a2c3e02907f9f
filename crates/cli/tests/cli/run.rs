//! `cordon run`: real escape attempts inside the sandbox, each of which must be blocked, and
//! the usable side: granted reads, writes and commands work.

use std::net::TcpListener;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};

use crate::{Sandbox, assert_success, audit_events, command_lines, cordon, is_root, json, repo};

/// A signed manifest in the sandbox directory, trusted by `trust.json` (keys made on first use;
/// a second call re-signs with them).
pub(crate) fn signed(s: &Sandbox, manifest: &str) {
    if std::path::Path::new(&s.path("keys/a.key")).exists() {
        let _ = std::fs::remove_file(s.path("m.signed.json"));
    } else {
        s.keys_and_trust();
    }
    s.write("m.json", manifest);
    s.expect(
        0,
        &[
            "manifest",
            "sign",
            "m.json",
            "--key",
            "keys/a.key",
            "--allow-lint-errors",
        ],
    );
}

/// `cordon run` of `cmd` under the sandbox's signed manifest, with audit in `state`.
fn run_args<'a>(state: &'a str, cmd: &[&'a str]) -> Vec<&'a str> {
    run_args_with(state, &[], cmd)
}

/// As [`run_args`], with more options before `--`.
pub(crate) fn run_args_with<'a>(
    state: &'a str,
    options: &[&'a str],
    cmd: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "--manifest",
        "m.signed.json",
        "--trust",
        "trust.json",
        "--state-dir",
        state,
    ];
    args.extend_from_slice(options);
    args.push("--");
    args.extend_from_slice(cmd);
    args
}

#[test]
fn escape_attempts_are_blocked() {
    let s = Sandbox::new();
    let root = s.dir.path();
    let writable = root.join("work");
    let outside = root.join("outside");
    std::fs::create_dir_all(&writable).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let secret = outside.join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    let escapes = repo("tests/escapes");
    let escapes = std::fs::canonicalize(escapes).unwrap();
    signed(
        &s,
        &format!(
            r#"{{"agentName":"escape-test","version":"1.0.0","readPaths":["{w}","{e}"],"writePaths":["{w}"],"commandsAllowed":["/usr/bin/python3"]}}"#,
            w = writable.display(),
            e = escapes.display()
        ),
    );
    // Host-side things the agent must not reach.
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port().to_string();
    let abstract_name = format!("cordon-escape-test-{}", std::process::id());
    let _abstract =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap())
            .unwrap();
    let host_pid = std::process::id().to_string();
    // A host daemon's socket under /run (where container engines and buses keep theirs).
    let run_socket = format!("/run/cordon-escape-test-{}.sock", std::process::id());
    let _ = std::fs::remove_file(&run_socket);
    let run_listener = UnixListener::bind(&run_socket).ok();
    // Host processes' sockets inside the granted directory (a stream and a datagram one).
    let granted_stream = writable.join("host-stream.sock");
    let _granted_stream = UnixListener::bind(&granted_stream).unwrap();
    let granted_dgram = writable.join("host-dgram.sock");
    let host_dgram = std::os::unix::net::UnixDatagram::bind(&granted_dgram).unwrap();
    host_dgram.set_nonblocking(true).unwrap();
    let script = escapes.join("attempts.py");
    let (script, secret_s, outside_s, writable_s) = (
        script.to_string_lossy().into_owned(),
        secret.to_string_lossy().into_owned(),
        outside.to_string_lossy().into_owned(),
        writable.to_string_lossy().into_owned(),
    );
    let state = s.path("state");
    let out = s.run(&run_args(
        &state,
        &[
            "/usr/bin/python3",
            &script,
            &secret_s,
            &outside_s,
            &writable_s,
            &port,
            &host_pid,
            &abstract_name,
            if run_listener.is_some() {
                &run_socket
            } else {
                ""
            },
            &granted_stream.to_string_lossy(),
            &granted_dgram.to_string_lossy(),
        ],
    ));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the attempts script failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("DONE"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("WORKS exec-granted: ran"),
        "the granted program must still run:\n{stdout}"
    );
    assert!(
        stdout.contains("WORKS unix-socketpair: True"),
        "socket pairs must still work:\n{stdout}"
    );
    assert!(
        host_dgram.recv(&mut [0u8; 8]).is_err(),
        "a datagram reached the host socket"
    );
    let blocked = stdout.lines().filter(|l| l.starts_with("BLOCKED ")).count();
    let escaped: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("ESCAPED "))
        .collect();
    assert!(
        escaped.is_empty(),
        "escapes:\n{}\n\nfull output:\n{stdout}",
        escaped.join("\n")
    );
    if run_listener.is_some() {
        let _ = std::fs::remove_file(&run_socket);
    }
    assert!(
        blocked >= 36 + 2 * usize::from(run_listener.is_some()),
        "only {blocked} attempts ran:\n{stdout}"
    );
    // Nothing outside changed.
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "top secret");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    // The child that tried to outlive the agent died with it.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let survivors = command_lines(|c| {
        let c = String::from_utf8_lossy(c);
        c.contains("attempts.py") && c.contains(&writable_s)
    });
    assert!(
        survivors.is_empty(),
        "processes outlived the agent: {survivors:?}"
    );
    // The verified manifest, the privileges it grants, the launch and the exit were recorded,
    // all under one run id.
    let (events, proxy): (Vec<_>, Vec<_>) = audit_events(&state)
        .into_iter()
        .partition(|e| cordon(e)["component"] == "run");
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["type_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "Application Lifecycle: Other",
            "Authorize Session: Assign Privileges",
            "Process Activity: Launch",
            "Process Activity: Terminate",
        ]
    );
    assert_eq!(events[0]["activity_name"], "Verify");
    assert_eq!(cordon(&events[0])["decision"], "allow");
    assert_eq!(events[0]["app"]["name"], "escape-test");
    assert!(
        events[0]["policy"]["uid"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let privileges = events[1]["privileges"].as_array().unwrap();
    assert!(
        privileges.contains(&serde_json::json!(format!("write:{writable_s}"))),
        "{privileges:?}"
    );
    assert_eq!(events[2]["actor"]["app_name"], "escape-test");
    assert_eq!(events[3]["exit_code"], 0);
    let run_id = &events[0]["metadata"]["correlation_uid"];
    assert!(run_id.is_string());
    assert!(
        events
            .iter()
            .all(|e| &e["metadata"]["correlation_uid"] == run_id)
    );
    // The run's proxy records only requests (the run's events cover its start and end), under
    // the same id.
    assert!(proxy.iter().all(|e| e["category_uid"] == 4), "{proxy:#?}");
    assert!(
        proxy
            .iter()
            .all(|e| &e["metadata"]["correlation_uid"] == run_id)
    );
    assert_eq!(events[2]["process"]["uid"], *run_id);
}

#[test]
fn granted_work_gets_done() {
    let s = Sandbox::new();
    let work = s.dir.path().join("work");
    std::fs::create_dir_all(work.join("out")).unwrap();
    std::fs::write(work.join("in.txt"), "b\na\nc\n").unwrap();
    let w = work.to_string_lossy().into_owned();
    signed(
        &s,
        &format!(
            r#"{{"agentName":"usable","version":"1.0.0","readPaths":["{w}"],"writePaths":["{w}/out"],"commandsAllowed":["/bin/sh","/usr/bin/sort","/usr/bin/tr","/bin/cat","/usr/bin/python3"],"env":["CORDON_TEST_VISIBLE"]}}"#
        ),
    );
    let state = s.path("state");
    // A shell pipeline of granted tools, writing into the write path.
    let pipeline = format!("cat {w}/in.txt | sort | tr a-z A-Z > {w}/out/sorted.txt");
    let out = s.run(&run_args(&state, &["/bin/sh", "-c", &pipeline]));
    assert_success(&out);
    assert_eq!(
        std::fs::read_to_string(work.join("out/sorted.txt")).unwrap(),
        "A\nB\nC\n"
    );
    // A python3 script: reads, writes, and sees only the environment it was given.
    let script = format!(
        "import os\nopen('{w}/out/py.txt','w').write(open('{w}/in.txt').read().upper())\nprint(sorted(k for k in os.environ))"
    );
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("cordon"))
        .current_dir(s.dir.path())
        .env("CORDON_TEST_VISIBLE", "1")
        .env("CORDON_TEST_SECRET", "must-not-pass")
        .args(run_args(&state, &["/usr/bin/python3", "-c", &script]))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_success(&out);
    assert_eq!(
        std::fs::read_to_string(work.join("out/py.txt")).unwrap(),
        "B\nA\nC\n"
    );
    assert!(
        stdout.contains("CORDON_TEST_VISIBLE") && !stdout.contains("CORDON_TEST_SECRET"),
        "{stdout}"
    );
    // The agent's exit status is cordon's.
    let out = s.run(&run_args(&state, &["/bin/sh", "-c", "exit 7"]));
    assert_eq!(out.status.code(), Some(7));
    // A program that is not granted is refused before anything runs.
    let out = s.run(&run_args(&state, &["/usr/bin/id"]));
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not granted in `commandsAllowed`"));
    let refused = audit_events(&state).pop().unwrap();
    assert_eq!(refused["type_name"], "Process Activity: Launch");
    assert_eq!(cordon(&refused)["reason"], "exec_denied");
    assert_eq!(refused["process"]["path"], "/usr/bin/id");

    // With an audit key the run signs a checkpoint over everything when the agent ends; a key
    // the agent could read is refused.
    s.audit_signer();
    let key = s.path("keys/audit.key");
    let out = s.run(&run_args_with(
        &state,
        &["--audit-key", &key],
        &["/bin/sh", "-c", "exit 0"],
    ));
    assert_success(&out);
    let verified = s.expect(
        0,
        &[
            "audit",
            "verify",
            "--state-dir",
            &state,
            "--trust",
            "trust.json",
        ],
    );
    assert!(verified.contains("every record is covered"), "{verified}");
    std::fs::copy(&key, work.join("audit.key")).unwrap();
    let inside = format!("{w}/audit.key");
    let out = s.run(&run_args_with(
        &state,
        &["--audit-key", &inside],
        &["/bin/sh", "-c", "exit 0"],
    ));
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("which the manifest lets the agent reach"),
        "{err}"
    );
}

#[test]
fn unverifiable_manifests_never_run() {
    let s = Sandbox::new();
    signed(
        &s,
        r#"{"agentName":"x","version":"1.0.0","commandsAllowed":["/bin/sh"]}"#,
    );
    let mut env = json(&s.read("m.signed.json"));
    env["payload"] = serde_json::Value::String(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        r#"{"agentName":"x","version":"1.0.0","commandsAllowed":["/bin/sh"],"readPaths":["/"]}"#,
    ));
    s.write("m.signed.json", &env.to_string());
    let marker = s.path("ran");
    let out = s.run(&run_args(
        &s.path("state"),
        &["/bin/sh", "-c", &format!(": > {marker}")],
    ));
    assert_eq!(out.status.code(), Some(125));
    assert!(!std::path::Path::new(&marker).exists());
}

#[test]
fn runs_as_an_ordinary_user() {
    use std::os::unix::fs::PermissionsExt;
    let root = is_root();
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    if !(root && setpriv.exists()) {
        // Not root: every other test here already runs cordon as an ordinary user.
        return;
    }
    let s = Sandbox::new();
    let work = s.dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let w = work.to_string_lossy().into_owned();
    signed(
        &s,
        &format!(
            r#"{{"agentName":"unprivileged","version":"1.0.0","readPaths":["{w}"],"writePaths":["{w}"],"commandsAllowed":["/bin/sh","/bin/cat","/usr/bin/python3"]}}"#
        ),
    );
    // Everything the unprivileged user needs must be reachable by it.
    let copy = s.path("cordon");
    std::fs::copy(assert_cmd::cargo::cargo_bin("cordon"), &copy).unwrap();
    for entry in walk(s.dir.path()) {
        let mode = if entry.is_dir() || entry == std::path::Path::new(&copy) {
            0o777
        } else {
            0o666
        };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = format!(
        "echo hi > {w}/x && cat {w}/x && python3 -c \"print(open('/proc/self/status').read().count('CapEff:\\t0000000000000000'))\" && cat /etc/shadow"
    );
    let out = std::process::Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", &copy])
        .args([
            "run",
            "--manifest",
            &s.path("m.signed.json"),
            "--trust",
            &s.path("trust.json"),
            "--state-dir",
            &s.path("state"),
            "--",
        ])
        .args(["/bin/sh", "-c", &script])
        .env("HOME", s.dir.path())
        .current_dir(&work)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout, "hi\n1\n", "stderr: {stderr}");
    assert!(
        stderr.contains("/etc/shadow: Permission denied"),
        "{stderr}"
    );
    assert_ne!(out.status.code(), Some(0));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn network_leaves_only_through_the_egress_bridge() {
    use std::io::{BufRead, BufReader, Write};
    let s = Sandbox::new();
    signed(
        &s,
        r#"{"agentName":"net","version":"1.0.0","commandsAllowed":["/usr/bin/python3"]}"#,
    );
    // A stand-in for the egress proxy on the host side of the bridge: it records the request
    // line and answers once.
    let socket = s.path("egress.sock");
    let proxy = UnixListener::bind(&socket).unwrap();
    let server = std::thread::spawn(move || {
        let (conn, _) = proxy.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        (&conn)
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nthrough")
            .unwrap();
        // Close gracefully: end our side, then wait for the client to end its side.
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        request_line
    });
    let script = "import urllib.request\nprint(urllib.request.urlopen('http://api.example.com/v1/x', timeout=10).read().decode())";
    let state = s.path("state");
    let args = run_args_with(
        &state,
        &["--egress-socket", &socket, "--external-proxy"],
        &["/usr/bin/python3", "-c", script],
    );
    let out = s.run(&args);
    assert_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "through");
    assert_eq!(
        server.join().unwrap().trim(),
        "GET http://api.example.com/v1/x HTTP/1.1"
    );
    // With nothing listening on the host socket, nothing gets out.
    std::fs::remove_file(&socket).unwrap();
    let out = s.run(&args);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The request itself failed (reset or closed without a response, depending on timing),
    // not the sandbox setup.
    assert!(stderr.contains("urllib"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("through"));
}

#[test]
fn the_agent_dies_with_its_launcher() {
    let s = Sandbox::new();
    signed(
        &s,
        r#"{"agentName":"orphan","version":"1.0.0","commandsAllowed":["/usr/bin/python3"]}"#,
    );
    let marker = format!("cordon-orphan-test-{}", std::process::id());
    // The agent and a child of it both sleep; the launcher is then killed outright.
    let script = format!("import os, time\nos.fork()\ntime.sleep(120)  # {marker}");
    let state = s.path("state");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("cordon"))
        .current_dir(s.dir.path())
        .args(run_args(&state, &["/usr/bin/python3", "-c", &script]))
        .spawn()
        .unwrap();
    // The python processes only (the launcher's own command line names the marker too).
    let running = |m: &str| {
        command_lines(|c| {
            c.starts_with(b"/usr/bin/python3") && String::from_utf8_lossy(c).contains(m)
        })
        .len()
    };
    let mut seen = 0;
    for _ in 0..100 {
        seen = running(&marker);
        if seen >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        seen >= 2,
        "the agent and its child did not start ({seen} seen)"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let mut left = seen;
    for _ in 0..40 {
        left = running(&marker);
        if left == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(left, 0, "agent processes outlived the killed launcher");
}

#[test]
fn sockets_in_temporary_directories_are_hidden() {
    // Work outside /tmp, so that /tmp is not granted and gets hidden.
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let s = Sandbox::in_dir(tempfile::tempdir_in(base).unwrap());
    let work = s.dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let w = work.to_string_lossy().into_owned();
    signed(
        &s,
        &format!(
            r#"{{"agentName":"tmp","version":"1.0.0","readPaths":["{w}"],"commandsAllowed":["/usr/bin/python3"]}}"#
        ),
    );
    // What a tmux server or an ssh-agent keeps in /tmp.
    let sock = format!("/tmp/cordon-hidden-test-{}.sock", std::process::id());
    let _ = std::fs::remove_file(&sock);
    let _listener = UnixListener::bind(&sock).unwrap();
    // Hidden, not merely unreachable (connecting is refused by another layer too).
    let script = format!("import os\nprint('VISIBLE' if os.path.lexists('{sock}') else 'BLOCKED')");
    let state = s.path("state");
    let out = s.run(&run_args(&state, &["/usr/bin/python3", "-c", &script]));
    let _ = std::fs::remove_file(&sock);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("BLOCKED"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `cordon` run inside a user namespace whose owner has set the limit of nested user
/// namespaces to zero: a kernel where creating user namespaces is disabled, for real.
fn without_user_namespaces(s: &Sandbox, args: &[&str]) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("cordon");
    let mut script = String::from("echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\"");
    for i in 1..=args.len() {
        script.push_str(&format!(" \"${{{i}}}\""));
    }
    std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c", &script])
        .arg(&bin)
        .args(args)
        .current_dir(s.dir.path())
        .output()
        .unwrap()
}

#[test]
fn a_missing_layer_refuses_unless_degraded_running_is_allowed() {
    let s = Sandbox::new();
    let work = s.dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let secret = s.write("secret.txt", "top secret");
    let w = work.to_string_lossy().into_owned();
    signed(
        &s,
        &format!(
            r#"{{"agentName":"degraded","version":"1.0.0","readPaths":["{w}"],"writePaths":["{w}"],"commandsAllowed":["/bin/cat"]}}"#
        ),
    );
    let state = s.path("state");
    let args = run_args(&state, &["/bin/cat", &secret]);
    let out = without_user_namespaces(&s, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains("user-namespace") && stderr.contains("--allow-degraded"),
        "{stderr}"
    );
    let ended = audit_events(&state).pop().unwrap();
    assert_eq!(ended["type_name"], "Process Activity: Terminate");
    assert_eq!(ended["status"], "Failure");
    assert!(
        ended["status_detail"]
            .as_str()
            .unwrap()
            .contains("sandbox setup failed"),
        "{ended}"
    );

    // Told to run degraded: it says so loudly, records it, and every other layer still holds.
    let state = s.path("state-degraded");
    let args = run_args_with(&state, &["--allow-degraded"], &["/bin/cat", &secret]);
    let out = without_user_namespaces(&s, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "cat must fail to read: {stderr}"
    );
    assert!(
        stderr.contains("WARNING: running degraded, not enforced: user-namespace"),
        "{stderr}"
    );
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("top secret"));
    let launch = audit_events(&state)
        .into_iter()
        .find(|e| e["type_name"] == "Process Activity: Launch")
        .unwrap();
    let sandbox = &cordon(&launch)["sandbox"];
    assert_eq!(sandbox["degraded"], serde_json::json!(["user-namespace"]));
    assert!(
        sandbox["enforced"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("landlock-fs"))
    );
}
