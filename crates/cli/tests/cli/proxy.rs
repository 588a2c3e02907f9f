//! `cordon proxy` with real clients (curl, Python's urllib and ssl) against real upstream servers
//! on loopback (Python's http.server, plain and TLS with a test CA made by openssl). Every
//! blocked case asserts both that the client saw the block and that the upstream saw nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Background, Sandbox, audit_events, cordon, json, wait_for_port, with_stdin};

/// An upstream HTTP server that logs each request (and, with TLS, each server name a ClientHello
/// carries) as a JSON line, and answers `hello from upstream` with a session cookie.
const UPSTREAM: &str = r#"
import http.server, json, os, ssl, sys
port_file, log, mode = sys.argv[1], sys.argv[2], sys.argv[3]
def note(entry):
    with open(log, "a") as f:
        f.write(json.dumps(entry) + "\n")
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.reply(b"")
    def do_POST(self):
        self.reply(self.rfile.read(int(self.headers.get("content-length", "0"))))
    def reply(self, body):
        note({"line": self.requestline, "headers": dict(self.headers), "hosts": self.headers.get_all("host"), "body": body.decode("utf-8", "replace"), "peer": self.client_address[1]})
        out = b"hello from upstream\n"
        self.send_response(200)
        self.send_header("content-length", str(len(out)))
        self.send_header("set-cookie", "sid=upstream-session-value")
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer((os.environ.get("UPSTREAM_BIND", "127.0.0.1"), 0), Handler)
if mode == "tls":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    ctx.sni_callback = lambda sock, name, c: note({"server_name": name})
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"#;

struct Upstream {
    _process: Background,
    port: u16,
    log: String,
}

impl Upstream {
    fn start(s: &Sandbox, name: &str, tls: bool) -> Self {
        Self::start_on(s, name, tls, "127.0.0.1")
    }

    fn start_on(s: &Sandbox, name: &str, tls: bool, bind: &str) -> Self {
        let script = s.write("upstream.py", UPSTREAM);
        let port_file = s.path(&format!("{name}.port"));
        let log = s.path(&format!("{name}.log"));
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.env("UPSTREAM_BIND", bind).args([
            script.as_str(),
            &port_file,
            &log,
            if tls { "tls" } else { "plain" },
        ]);
        if tls {
            cmd.args([s.path("srv.pem"), s.path("srv.key")]);
        }
        let process = Background(cmd.stdout(Stdio::null()).spawn().unwrap());
        let port = wait_for_port(&port_file, &format!("upstream {name}"), 20);
        Self {
            _process: process,
            port,
            log,
        }
    }

    /// What reached the upstream: one JSON value per request or ClientHello.
    fn seen(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(json)
            .collect()
    }
}

/// A test CA and a server certificate for `upstream.test` and `other.test`, made by openssl.
pub(crate) fn test_ca(s: &Sandbox) {
    s.write(
        "ext.cnf",
        "subjectAltName=DNS:upstream.test,DNS:other.test,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    );
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(s.path("."))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=cordon test CA",
        "-days",
        "2",
    ]);
    openssl(&ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=upstream.test",
    ]);
    openssl(&csr);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

/// `cordon proxy` in the sandbox, enforcing its signed manifest.
fn proxy_command(s: &Sandbox) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("cordon"));
    command.current_dir(s.path(".")).args([
        "proxy",
        "--manifest",
        "m.signed.json",
        "--trust",
        "trust.json",
    ]);
    command
}

/// A running `cordon proxy`.
struct Proxy {
    process: Background,
    port: u16,
    state: String,
}

impl Proxy {
    fn start(s: &Sandbox, manifest: &str, extra: &[&str]) -> Self {
        Self::start_with_env(s, manifest, extra, &[])
    }

    fn start_with_env(s: &Sandbox, manifest: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        crate::run::signed(s, manifest);
        let state = s.path("state");
        let _ = std::fs::remove_dir_all(&state);
        let mut child = proxy_command(s)
            .args(["--listen", "127.0.0.1:0", "--state-dir", &state])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let process = Background(child);
        let port = line
            .split_once("listening on 127.0.0.1:")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in `{line}`"));
        // Keep draining stderr so the proxy never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Self {
            process,
            port,
            state,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The audit log, after checking that none of `values` is in it.
    fn audit_lacks(&self, values: &[&str]) -> String {
        let audit =
            std::fs::read_to_string(format!("{}/audit/00000001.jsonl", self.state)).unwrap();
        for value in values {
            assert!(!audit.contains(value), "`{value}` reached the audit log");
        }
        audit
    }

    /// The audit events so far (waiting briefly for the one an exchange records as it ends).
    fn events(&self, at_least: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let events = egress(&self.state);
            if events.len() >= at_least || Instant::now() > deadline {
                return events;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Seal `lines` (records of a log) again from the start with `edit` applied to each event, as
/// someone who can write the whole log would: an independent implementation (Python), so the
/// forged chain itself verifies.
fn reseal(lines: &[&str], edit: &str) -> String {
    const RESEAL: &str = r#"
import hashlib, json, sys
edit = sys.argv[1]
prev, seq, out = "0" * 64, 0, []
for line in sys.stdin.read().splitlines():
    r = json.loads(line)
    event = r["event"]
    if edit == "drop-checkpoints" and list(event) == ["checkpoint"]:
        continue
    if edit == "repoint-checkpoints" and list(event) == ["checkpoint"]:
        event["checkpoint"]["hash"] = prev
        event["checkpoint"]["seq"] = seq - 1
    if event.get("unmapped", {}).get("cordon", {}).get("decision") == "deny":
        event["unmapped"]["cordon"]["decision"] = "allow"
    rec = {"event": event, "prev": prev, "seq": seq, "time": r["time"]}
    canon = lambda v: json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    rec["hash"] = hashlib.sha256(canon(rec).encode()).hexdigest()
    out.append(canon(rec))
    prev, seq = rec["hash"], seq + 1
print("\n".join(out))
"#;
    let out = with_stdin(
        Command::new("python3").args(["-c", RESEAL, edit]),
        lines.join("\n").as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The proxy's request and tunnel events in the audit log of `state` (HTTP and Network
/// Activity; not its own start and stop), checked as `audit_events` checks them.
fn egress(state: &str) -> Vec<Value> {
    audit_events(state)
        .into_iter()
        .filter(|e| e["category_uid"] == 4)
        .collect()
}

/// curl through the proxy: (exit code, stdout, stderr).
fn curl(proxy: &Proxy, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-x", &proxy.url()])
        .args(args)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Python's urllib through the proxy (trusting `cafile` for HTTPS): what it printed of the
/// answer's body.
fn python_fetch(proxy: &Proxy, url: &str, cafile: Option<&str>, data: Option<&str>) -> String {
    let context = cafile.map_or(String::new(), |ca| {
        format!(", urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile='{ca}'))")
    });
    let request = match data {
        Some(d) => format!("urllib.request.Request('{url}', data=b'{d}', method='POST')"),
        None => format!("'{url}'"),
    };
    let script = format!(
        "import ssl, urllib.request\n\
         opener = urllib.request.build_opener(urllib.request.ProxyHandler({{'http': '{p}', 'https': '{p}'}}){context})\n\
         print(opener.open({request}, timeout=20).read().decode(), end='')",
        p = proxy.url()
    );
    let out = Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn manifest(scopes: &[String], extra: &str) -> String {
    format!(
        r#"{{"agentName":"net","version":"1.0.0","networkScopes":{}{extra}}}"#,
        serde_json::to_string(scopes).unwrap()
    )
}

/// The upstream server is sent the path that was decided on: the client's own text when the URL
/// parser kept it as it was, the parsed form when it did not (dot segments resolved, characters
/// encoded), never a spelling the decision did not see.
#[test]
fn the_upstream_is_sent_the_path_that_was_decided() {
    let s = Sandbox::new();
    let up = Upstream::start(&s, "granted", false);
    let proxy = Proxy::start(
        &s,
        &manifest(&[format!("http://127.0.0.1:{}/api", up.port)], ""),
        &[],
    );
    let authority = format!("127.0.0.1:{}", up.port);
    let send_with = |target: &str, hosts: &[&str]| {
        let mut raw = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
        let hosts: String = hosts.iter().map(|h| format!("Host: {h}\r\n")).collect();
        let head =
            format!("GET http://{authority}{target} HTTP/1.1\r\n{hosts}Connection: close\r\n\r\n");
        raw.write_all(head.as_bytes()).unwrap();
        let mut answer = String::new();
        raw.read_to_string(&mut answer).unwrap();
        answer
    };
    let send = |target: &str| send_with(target, &[&authority]);
    for (target, sent) in [
        ("/api/items?page=2", "/api/items?page=2"),
        ("/api/x/../items?q=1", "/api/items?q=1"),
        ("/api/./items", "/api/items"),
        ("/api/a\"b", "/api/a%22b"),
    ] {
        let answer = send(target);
        assert!(answer.starts_with("HTTP/1.1 200"), "{target}: {answer}");
        let seen = up.seen();
        assert_eq!(
            seen.last().unwrap()["line"],
            format!("GET {sent} HTTP/1.1"),
            "{target}"
        );
    }
    // Resolved, this one leaves the grant: refused, and nothing is sent.
    let before = up.seen().len();
    let answer = send("/api/../admin");
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert_eq!(up.seen().len(), before);
    // The upstream is told the host that was decided on, whatever `Host` the client sent: one
    // that names another server, none, or the right one followed by another.
    for hosts in [
        &["other.example"][..],
        &[],
        &[authority.as_str(), "other.example"],
        &["other.example", authority.as_str()],
    ] {
        let before = up.seen().len();
        let answer = send_with("/api/items", hosts);
        let seen = up.seen();
        if answer.starts_with("HTTP/1.1 200") {
            assert_eq!(
                seen.last().unwrap()["hosts"],
                serde_json::json!([authority]),
                "{hosts:?}"
            );
        } else {
            // Refused as malformed: then nothing reached the upstream.
            assert!(answer.starts_with("HTTP/1.1 400"), "{hosts:?}: {answer}");
            assert_eq!(seen.len(), before, "{hosts:?}");
        }
    }
}

#[test]
fn plain_http_goes_only_to_granted_destinations() {
    let s = Sandbox::new();
    let up = Upstream::start(&s, "granted", false);
    let other = Upstream::start(&s, "other", false);
    let proxy = Proxy::start(
        &s,
        &manifest(
            &[
                format!("http://127.0.0.1:{}/api", up.port),
                format!("http://localhost:{}", other.port),
            ],
            "",
        ),
        &[],
    );
    let granted = format!("http://127.0.0.1:{}/api/items?page=2", up.port);

    // Granted: the request arrives in origin form, hop-by-hop and proxy headers removed, and the
    // answer comes back.
    let (code, body, err) = curl(
        &proxy,
        &[
            "-H",
            "Authorization: Bearer agent-held-secret",
            "-H",
            "X-Api-Key: agent-key-value",
            "-H",
            "Proxy-Authorization: Basic Zm9vOmJhcg==",
            &granted,
        ],
    );
    assert_eq!((code, body.as_str()), (0, "hello from upstream\n"), "{err}");
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["line"], "GET /api/items?page=2 HTTP/1.1");
    let headers = seen[0]["headers"].as_object().unwrap();
    let host = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .unwrap()
        .1;
    assert_eq!(host, &format!("127.0.0.1:{}", up.port));
    assert!(
        !headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("proxy-authorization"))
    );
    assert!(
        !headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("proxy-connection"))
    );

    // Python's urllib through the proxy, with a body.
    assert_eq!(
        python_fetch(&proxy, &granted, None, Some("x=1")),
        "hello from upstream\n"
    );
    assert_eq!(up.seen()[1]["body"], "x=1");
    // The second request reused the upstream connection the first one opened and finished.
    assert_eq!(up.seen()[0]["peer"], up.seen()[1]["peer"]);

    // Refused: a path outside the grant, a port not granted, a name that resolves to loopback
    // (granted by name, not by address), a method the proxy does not forward in plain HTTP.
    for (url, reason) in [
        (format!("http://127.0.0.1:{}/admin", up.port), "no_grant"),
        (format!("http://127.0.0.1:{}/api", other.port), "no_grant"),
        (
            format!("http://localhost:{}/", other.port),
            "address_not_allowed",
        ),
    ] {
        let (code, body, _) = curl(&proxy, &["-i", &url]);
        assert_eq!(code, 0);
        assert!(body.starts_with("HTTP/1.1 403"), "{url}: {body}");
        assert!(
            body.contains(&format!("x-cordon-reason: {reason}")),
            "{url}: {body}"
        );
        let reply = json(body.split("\r\n\r\n").nth(1).unwrap());
        assert_eq!(reply["error"], "denied");
        assert_eq!(reply["reason"], reason);
    }
    assert_eq!(up.seen().len(), 2, "a refused request reached the upstream");
    assert!(
        other.seen().is_empty(),
        "a refused request reached the other upstream"
    );

    // A request sent as if to a server (origin form) is refused as such.
    let mut raw = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    raw.write_all(b"GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("absolute-form"), "{answer}");

    // Every request is an event; credentials never are.
    let events = proxy.events(6);
    assert_eq!(events.len(), 6, "{events:#?}");
    let first = &events[0];
    assert_eq!(cordon(first)["decision"], "allow");
    assert_eq!(first["http_request"]["http_method"], "GET");
    assert_eq!(first["http_request"]["url"]["path"], "/api/items");
    assert_eq!(first["http_response"]["code"], 200);
    assert_eq!(first["traffic"]["bytes_in"], 20);
    assert!(
        cordon(first)["rule"]
            .as_str()
            .unwrap()
            .starts_with("networkScopes[0]")
    );
    assert_eq!(events[1]["traffic"]["bytes_out"], 3);
    let reasons: Vec<&str> = events
        .iter()
        .map(|e| cordon(e)["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "granted",
            "granted",
            "no_grant",
            "no_grant",
            "address_not_allowed",
            "bad_request"
        ]
    );
    let audit = proxy.audit_lacks(&[
        "agent-held-secret",
        "agent-key-value",
        "Zm9vOmJhcg",
        "upstream-session-value",
        "page=2",
    ]);
    assert!(audit.contains("[redacted]"));
}

#[test]
fn tunnels_carry_tls_only_to_the_granted_server_name() {
    let s = Sandbox::new();
    test_ca(&s);
    let up = Upstream::start(&s, "tls", true);
    let port = up.port;
    let proxy = Proxy::start(
        &s,
        &manifest(&[format!("https://upstream.test:{port}")], ""),
        &[
            "--resolve",
            "upstream.test=127.0.0.1",
            "--resolve",
            "other.test=127.0.0.1",
        ],
    );
    let ca = s.path("ca.pem");
    let granted = format!("https://upstream.test:{port}/hello");

    // curl: CONNECT, then TLS end to end with the upstream (verified against the test CA).
    let (code, body, err) = curl(&proxy, &["--cacert", &ca, &granted]);
    assert_eq!((code, body.as_str()), (0, "hello from upstream\n"), "{err}");
    assert_eq!(up.seen().len(), 2, "{:?}", up.seen());

    // Python's urllib, the same way.
    assert_eq!(
        python_fetch(&proxy, &granted, Some(&ca), None),
        "hello from upstream\n"
    );
    let before = up.seen().len();
    assert_eq!(before, 4);

    // A CONNECT to a host that is not granted is refused before any tunnel opens.
    let (code, _, err) = curl(
        &proxy,
        &["--cacert", &ca, &format!("https://other.test:{port}/")],
    );
    assert_ne!(code, 0);
    assert!(err.contains("403"), "{err}");

    // Domain fronting: CONNECT names the granted host, the ClientHello another. curl's
    // --connect-to sends `CONNECT upstream.test` while its TLS names other.test.
    let (code, _, err) = curl(
        &proxy,
        &[
            "--cacert",
            &ca,
            "--connect-to",
            &format!("other.test:{port}:upstream.test:{port}"),
            &format!("https://other.test:{port}/"),
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("alert access denied") || err.contains("access denied"),
        "{err}"
    );

    // A ClientHello without a server name, and bytes that are not TLS at all.
    let tunnel = || {
        let mut sock = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        write!(
            sock,
            "CONNECT upstream.test:{port} HTTP/1.1\r\nHost: upstream.test:{port}\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            sock.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        sock
    };
    let no_sni = format!(
        "import socket, ssl\nctx = ssl.create_default_context(cafile='{ca}')\nctx.check_hostname = False\n\
         s = socket.create_connection(('127.0.0.1', {}))\n\
         s.sendall(b'CONNECT upstream.test:{port} HTTP/1.1\\r\\nHost: upstream.test:{port}\\r\\n\\r\\n')\n\
         assert s.recv(4096).startswith(b'HTTP/1.1 200')\n\
         try:\n    ctx.wrap_socket(s, server_hostname=None)\n    print('handshake completed')\nexcept ssl.SSLError as e:\n    print('refused:', e.reason)",
        proxy.port
    );
    let out = Command::new("/usr/bin/python3")
        .args(["-c", &no_sni])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("refused") && said.contains("ACCESS_DENIED"),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sock = tunnel();
    sock.write_all(b"GET / HTTP/1.1\r\nHost: upstream.test\r\n\r\n")
        .unwrap();
    let mut rest = Vec::new();
    let _ = sock.read_to_end(&mut rest);
    assert_eq!(rest, [21, 3, 3, 0, 2, 2, 49], "a TLS access_denied alert");
    assert_eq!(
        up.seen().len(),
        before,
        "a refused tunnel reached the upstream: {:?}",
        up.seen()
    );

    let events = proxy.events(6);
    let reasons: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                cordon(e)["decision"].as_str().unwrap(),
                cordon(e)["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("allow", "granted"),
            ("allow", "granted"),
            ("deny", "no_grant"),
            ("deny", "server_name_mismatch"),
            ("deny", "no_server_name"),
            ("deny", "not_tls"),
        ],
        "{events:#?}"
    );
    assert_eq!(cordon(&events[0])["server_name"], "upstream.test");
    assert_eq!(cordon(&events[0])["address"], format!("127.0.0.1:{port}"));
    assert!(events[0]["traffic"]["bytes_out"].as_u64().unwrap() > 200);
    assert!(events[0]["traffic"]["bytes_in"].as_u64().unwrap() > 500);
    assert_eq!(cordon(&events[3])["server_name"], "other.test");
}

/// Send raw bytes to the proxy and read until it closes (or `wait` passes): what came back.
fn exchange(proxy: &Proxy, bytes: &[u8], wait: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut sock = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    sock.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let _ = sock.read_to_end(&mut got);
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn limits_hold_against_slow_large_and_many_clients() {
    let s = Sandbox::new();
    let up = Upstream::start(&s, "plain", false);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let (mut conn, _) = silent.accept().unwrap();
        let mut buf = [0u8; 1024];
        let n = conn.read(&mut buf).unwrap();
        std::thread::sleep(Duration::from_secs(4));
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let proxy = Proxy::start(
        &s,
        &manifest(
            &[
                format!("http://127.0.0.1:{}", up.port),
                format!("http://127.0.0.1:{silent_port}"),
            ],
            "",
        ),
        &[
            "--header-timeout",
            "1",
            "--idle-timeout",
            "2",
            "--max-connections",
            "2",
        ],
    );
    let url = format!("http://127.0.0.1:{}/", up.port);

    // A head larger than the limit is refused.
    let big = format!(
        "GET {url} HTTP/1.1\r\nHost: x\r\nX-Fill: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    let (answer, _) = exchange(&proxy, big.as_bytes(), Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // A client that never finishes its head is cut off after the header timeout.
    let (answer, took) = exchange(
        &proxy,
        format!("GET {url} HTTP/1.1\r\nHost: x\r\n").as_bytes(),
        Duration::from_secs(15),
    );
    assert!(
        took < Duration::from_secs(10),
        "slow client held for {took:?}: {answer}"
    );

    // A kept-alive connection that goes quiet is closed once the next head is overdue.
    let (answer, took) = exchange(
        &proxy,
        format!("GET {url} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        Duration::from_secs(15),
    );
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello from upstream\n"),
        "{answer}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "{took:?}"
    );

    // An upstream server that takes the request and never answers: 504 after the idle timeout.
    let started = Instant::now();
    let (_, body, _) = curl(
        &proxy,
        &["-i", &format!("http://127.0.0.1:{silent_port}/slow")],
    );
    assert!(
        body.starts_with("HTTP/1.1 504") && body.contains("upstream_timeout"),
        "{body}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    assert!(held.join().unwrap().starts_with("GET /slow HTTP/1.1"));

    // Two silent connections fill the proxy; a third client is told so at once.
    let hold: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(("127.0.0.1", proxy.port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let (code, body, err) = curl(&proxy, &["-i", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(
        body.starts_with("HTTP/1.1 503") && body.contains("overloaded"),
        "{body}"
    );
    drop(hold);
    // Once they are gone (closed by the header timeout at the latest), service resumes.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body, _) = curl(&proxy, &[&url]);
        if body == "hello from upstream\n" {
            break;
        }
        assert!(Instant::now() < deadline, "service did not resume: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A connection busy with one request after another still ends at its time limit in all
/// (`--total-timeout`), and a new one is served.
#[test]
fn a_busy_connection_ends_at_its_time_limit() {
    let s = Sandbox::new();
    let up = Upstream::start(&s, "plain", false);
    let proxy = Proxy::start(
        &s,
        &manifest(&[format!("http://127.0.0.1:{}", up.port)], ""),
        &[
            "--total-timeout",
            "2",
            "--idle-timeout",
            "30",
            "--header-timeout",
            "30",
        ],
    );
    let request = format!(
        "GET http://127.0.0.1:{0}/ HTTP/1.1\r\nHost: 127.0.0.1:{0}\r\n\r\n",
        up.port
    );
    let sock = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let mut writer = sock;
    let started = Instant::now();
    let mut answered = 0;
    // A request every 200 ms, each answer read whole, until the proxy closes the connection.
    let ended = loop {
        assert!(started.elapsed() < Duration::from_secs(10), "never closed");
        if writer.write_all(request.as_bytes()).is_err() {
            break started.elapsed();
        }
        let mut status = String::new();
        match reader.read_line(&mut status) {
            Ok(0) | Err(_) => break started.elapsed(),
            Ok(_) => assert!(status.starts_with("HTTP/1.1 200"), "{status}"),
        }
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        answered += 1;
        std::thread::sleep(Duration::from_millis(200));
    };
    // Kept alive for a while (one request every ~200 ms), then closed at about two seconds
    // (the proxy's clock starts when it accepts, a moment before or after this one's).
    assert!(answered >= 3, "only {answered} answered");
    assert!(
        ended >= Duration::from_millis(1900) && ended < Duration::from_secs(6),
        "closed after {ended:?}"
    );
    let (code, body, err) = curl(&proxy, &[&format!("http://127.0.0.1:{}/", up.port)]);
    assert_eq!((code, body.as_str()), (0, "hello from upstream\n"), "{err}");
}

/// Threads of `pid` that its runtime started (named `cordon-proxy`): the workers of a
/// multi-threaded runtime, and blocking threads (none here: no name is looked up).
fn runtime_workers(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter(|task| {
            let comm = std::fs::read_to_string(task.as_ref().unwrap().path().join("comm"));
            comm.unwrap().trim() == "cordon-proxy"
        })
        .count()
}

#[test]
fn connections_are_served_on_the_threads_asked_for() {
    let s = Sandbox::new();
    let up = Upstream::start(&s, "plain", false);
    let scopes = [format!("http://127.0.0.1:{}", up.port)];
    let granted = format!("http://127.0.0.1:{}/", up.port);

    // By default, one thread serves every connection: no workers of a multi-threaded runtime.
    let one = Proxy::start(&s, &manifest(&scopes, ""), &[]);
    let (code, body, err) = curl(&one, &[&granted]);
    assert_eq!((code, body.as_str()), (0, "hello from upstream\n"), "{err}");
    assert_eq!(runtime_workers(one.process.0.id()), 0);
    drop(one);

    // `--threads 3`: three workers, and clients served side by side through them, each
    // request decided, forwarded and recorded once.
    let three = Proxy::start(&s, &manifest(&scopes, ""), &["--threads", "3"]);
    assert_eq!(runtime_workers(three.process.0.id()), 3);
    let before = up.seen().len();
    let answers: Vec<_> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| curl(&three, &[&granted, &granted])))
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for (code, body, err) in answers {
        assert_eq!(
            (code, body.as_str()),
            (0, "hello from upstream\nhello from upstream\n"),
            "{err}"
        );
    }
    assert_eq!(up.seen().len() - before, 12);
    let events = three.events(12);
    assert_eq!(events.len(), 12, "{events:?}");
    let (code, body, err) = curl(&three, &["-i", "http://127.0.0.1:9/"]);
    assert_eq!(code, 0, "{err}");
    assert!(body.starts_with("HTTP/1.1 403"), "{body}");
    assert!(body.contains("x-cordon-reason: no_grant"), "{body}");

    // Not a count from 1 to 256: refused before anything starts, naming the option.
    for threads in ["0", "257", "many"] {
        let out = proxy_command(&s)
            .args(["--listen", "127.0.0.1:0", "--threads", threads])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("--threads"), "{err}");
    }
}

#[test]
fn addresses_approvals_and_inspection_are_enforced() {
    // `*` grants every host by name, yet no address that is not public: metadata services and
    // loopback in any spelling stay out of reach.
    let s = Sandbox::new();
    let up = Upstream::start_on(&s, "plain", false, "127.0.0.2");
    let port = up.port;
    let proxy = Proxy::start(
        &s,
        &manifest(
            &[
                "http://*".to_owned(),
                format!("http://*:{port}"),
                format!("http://127.0.0.2:{port}"),
            ],
            &format!(r#","requiresApproval":["network:http://127.0.0.2:{port}/pay"]"#),
        ),
        &[],
    );
    for url in [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://0x7f.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::1]:{port}/"),
    ] {
        let (code, body, err) = curl(&proxy, &["-i", "--globoff", &url]);
        assert_eq!(code, 0, "{url}: {err}");
        assert!(
            body.contains("x-cordon-reason: address_not_allowed"),
            "{url}: {body}"
        );
    }
    // A grant that names the address reaches it; a path under `requiresApproval` waits for an
    // approval.
    let (_, body, _) = curl(&proxy, &[&format!("http://127.0.0.2:{port}/ok")]);
    assert_eq!(body, "hello from upstream\n");
    let (_, body, _) = curl(&proxy, &["-i", &format!("http://127.0.0.2:{port}/pay/now")]);
    assert!(
        body.starts_with("HTTP/1.1 403") && body.contains("approval_required"),
        "{body}"
    );
    assert_eq!(up.seen().len(), 1, "{:?}", up.seen());
    let events = proxy.events(7);
    assert_eq!(
        events[0]["status_detail"].as_str().unwrap(),
        "`169.254.169.254` is 169.254.169.254, a cloud metadata address; a grant must name that address literally to reach it"
    );

    // A manifest that asks for content inspection: a tunnel the proxy cannot see into (no
    // `--ca`) is not opened.
    let s = Sandbox::new();
    let proxy = Proxy::start(
        &s,
        &manifest(
            &[format!("https://127.0.0.2:{port}")],
            r#","dlp":{"block":["secret"]}"#,
        ),
        &[],
    );
    let (code, _, err) = curl(&proxy, &["-k", &format!("https://127.0.0.2:{port}/")]);
    assert_ne!(code, 0);
    assert!(err.contains("403"), "{err}");
    assert_eq!(
        cordon(&proxy.events(1)[0])["reason"],
        "inspection_unavailable"
    );
    assert_eq!(up.seen().len(), 1);
}

#[test]
fn dlp_blocks_redacts_and_reports_request_bodies() {
    let s = Sandbox::new();
    test_ca(&s);
    let plain = Upstream::start(&s, "plain", false);
    let tls = Upstream::start(&s, "tls", true);
    s.expect(0, &["ca", "init", "--out", "inspect"]);
    let upstream_ca = s.path("ca.pem");
    let inspect_ca = s.path("inspect/ca.pem");
    let proxy = Proxy::start(
        &s,
        &manifest(
            &[
                format!("http://127.0.0.1:{}", plain.port),
                format!("https://upstream.test:{}", tls.port),
            ],
            r#","dlp":{"block":["secret"],"redact":["pii"],"alert":["pii:email"]}"#,
        ),
        &[
            "--resolve",
            "upstream.test=127.0.0.1",
            "--ca",
            "inspect",
            "--upstream-ca",
            &upstream_ca,
            "--inspect-bytes",
            "4096",
        ],
    );
    let post = |url: &str, body: &str, extra: &[&str]| {
        let mut args = vec![
            "-w",
            "\n%{http_code}",
            "--data-binary",
            body,
            "-H",
            "content-type: application/json",
        ];
        args.extend_from_slice(extra);
        args.push(url);
        let (_, out, err) = curl(&proxy, &args);
        let (body, status) = out
            .rsplit_once('\n')
            .unwrap_or_else(|| panic!("{out} {err}"));
        (status.to_owned(), body.to_owned())
    };
    let plain_url = format!("http://127.0.0.1:{}/upload", plain.port);
    let tls_url = format!("https://upstream.test:{}/upload", tls.port);

    // A secret is blocked, over plain HTTP and inside inspected TLS; the upstream sees nothing.
    for (url, extra) in [
        (&plain_url, &[][..]),
        (&tls_url, &["--cacert", inspect_ca.as_str()][..]),
    ] {
        let (status, body) = post(
            url,
            r#"{"config": "aws_access_key_id = AKIAQYLPMN5HHHFPZAM2"}"#,
            extra,
        );
        assert_eq!(status, "403", "{url}: {body}");
        assert_eq!(json(&body)["reason"], "dlp_blocked");
        assert!(!body.contains("AKIAQYLPMN5HHHFPZAM2"), "{body}");
    }
    assert!(plain.seen().is_empty(), "{:?}", plain.seen());
    assert!(
        tls.seen().iter().all(|e| e.get("line").is_none()),
        "{:?}",
        tls.seen()
    );

    // In a URL too: a query cannot be partly sent, so it is refused.
    let (_, out, _) = curl(
        &proxy,
        &[
            "-w",
            "\n%{http_code}",
            &format!("{plain_url}?key=AKIAQYLPMN5HHHFPZAM2"),
        ],
    );
    assert!(
        out.ends_with("\n403") && out.contains("dlp_blocked") && !out.contains("AKIAQY"),
        "{out}"
    );
    let (_, out, _) = curl(
        &proxy,
        &[
            "-w",
            "\n%{http_code}",
            &format!("{plain_url}?card=4111%201111%201111%201111"),
        ],
    );
    assert!(out.ends_with("\n403") && out.contains("pii:card"), "{out}");
    assert!(plain.seen().is_empty());

    // Personal data is replaced before it leaves; an e-mail address is let through and reported.
    let (status, _) = post(
        &plain_url,
        r#"{"card": "4111 1111 1111 1111", "mail": "alice.smith@northwind-traders.com"}"#,
        &[],
    );
    assert_eq!(status, "200");
    let sent = plain.seen()[0]["body"].as_str().unwrap().to_owned();
    assert!(
        !sent.contains("4111") && sent.contains("[REDACTED:") && sent.contains("alice.smith@"),
        "{sent}"
    );
    let (status, _) = post(
        &tls_url,
        r#"{"iban": "GB82 WEST 1234 5698 7654 32"}"#,
        &["--cacert", &inspect_ca],
    );
    assert_eq!(status, "200");
    let sent = tls
        .seen()
        .iter()
        .find_map(|e| e["body"].as_str().map(str::to_owned))
        .unwrap();
    assert!(
        !sent.contains("WEST 1234") && sent.contains("[REDACTED:"),
        "{sent}"
    );

    // A clean body goes as it was; a body larger than the inspection limit is refused.
    let (status, _) = post(&plain_url, r#"{"note": "quarterly numbers"}"#, &[]);
    assert_eq!(status, "200");
    assert_eq!(plain.seen()[1]["body"], r#"{"note": "quarterly numbers"}"#);
    let (status, body) = post(&plain_url, &"x".repeat(5000), &[]);
    assert_eq!(status, "413", "{body}");
    assert_eq!(json(&body)["reason"], "body_too_large");
    assert_eq!(plain.seen().len(), 2);

    // Events name the rules and counts, never the values.
    let events = proxy.events(10);
    let blocked = events
        .iter()
        .find(|e| cordon(e)["reason"] == "dlp_blocked")
        .unwrap();
    assert_eq!(cordon(blocked)["dlp"][0]["classification"], "secret");
    assert_eq!(cordon(blocked)["dlp"][0]["action"], "block");
    let redacted = events
        .iter()
        .find(|e| cordon(e)["dlp"].as_array().is_some_and(|d| d.len() == 2))
        .unwrap();
    assert_eq!(cordon(redacted)["decision"], "redact");
    proxy.audit_lacks(&[
        "AKIAQYLPMN5HHHFPZAM2",
        "4111 1111",
        "WEST 1234",
        "alice.smith@",
    ]);
}

#[test]
fn cordon_run_sends_the_agent_through_its_own_proxy() {
    let s = Sandbox::new();
    let up = Upstream::start(&s, "plain", false);
    let other = Upstream::start(&s, "other", false);
    crate::run::signed(
        &s,
        &format!(
            r#"{{"agentName":"net","version":"1.0.0","commandsAllowed":["/usr/bin/curl","/usr/bin/python3"],
                "networkScopes":["http://127.0.0.1:{}"]}}"#,
            up.port
        ),
    );
    let state = s.path("state");
    let run = |cmd: &[&str]| s.run(&crate::run::run_args_with(&state, &[], cmd));

    // curl with no proxy flag: the sandbox's proxy variables lead it to cordon's proxy.
    let out = run(&[
        "/usr/bin/curl",
        "-sS",
        "--max-time",
        "20",
        &format!("http://127.0.0.1:{}/x", up.port),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from upstream\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "/usr/bin/curl",
        "-sS",
        "--max-time",
        "20",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://127.0.0.1:{}/x", other.port),
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");
    // A program that ignores the proxy variables has no network at all.
    let script = format!(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {}), timeout=5)\n    print('connected')\nexcept OSError as e:\n    print('no network:', e)",
        up.port
    );
    let out = run(&["/usr/bin/python3", "-c", &script]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("no network"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(up.seen().len(), 1);
    assert!(other.seen().is_empty());

    // The proxy's events sit beside the launch and exit events, and it is gone with the agent.
    let egress = egress(&state);
    assert_eq!(egress.len(), 2, "{egress:#?}");
    assert_eq!(
        (
            cordon(&egress[0])["decision"].as_str(),
            cordon(&egress[1])["reason"].as_str()
        ),
        (Some("allow"), Some("no_grant"))
    );
    let marker = format!("--state-dir\0{state}\0--listen\0stdin");
    let proxies = crate::command_lines(|c| c.windows(marker.len()).any(|w| w == marker.as_bytes()));
    assert!(proxies.is_empty(), "proxy left running: {proxies:?}");
}

#[test]
fn inspection_decides_each_request_inside_tls() {
    let s = Sandbox::new();
    test_ca(&s);
    let up = Upstream::start(&s, "tls", true);
    let port = up.port;
    s.expect(0, &["ca", "init", "--out", "inspect"]);
    let inspect_ca = s.path("inspect/ca.pem");
    let key_mode = std::fs::metadata(s.path("inspect/ca.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key_mode.permissions()) & 0o777,
        0o600
    );
    // The whole host is not granted: only `/api`, and `/v2` for GET through an API scope.
    let manifest = manifest(
        &[format!("https://upstream.test:{port}/api")],
        &format!(
            r#","apiScopes":["files:read"],"apis":{{"files:read":{{"endpoints":[{{"url":"https://upstream.test:{port}/v2","methods":["GET"]}}]}}}}"#
        ),
    );
    let pins = ["--resolve", "upstream.test=127.0.0.1"];

    // Without a CA, such a tunnel cannot be opened: its requests would be invisible.
    let proxy = Proxy::start(&s, &manifest, &pins);
    let (code, _, err) = curl(
        &proxy,
        &[
            "--cacert",
            &inspect_ca,
            &format!("https://upstream.test:{port}/api/x"),
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("403"), "{err}");
    assert!(up.seen().is_empty());
    drop(proxy);

    let upstream_ca = s.path("ca.pem");
    let proxy = Proxy::start(
        &s,
        &manifest,
        &[
            &pins[..],
            &["--ca", "inspect", "--upstream-ca", &upstream_ca],
        ]
        .concat(),
    );
    let get = |path: &str, extra: &[&str]| {
        let url = format!("https://upstream.test:{port}{path}");
        let mut args = vec!["--cacert", inspect_ca.as_str(), "-w", "\n%{http_code}"];
        args.extend_from_slice(extra);
        args.push(&url);
        curl(&proxy, &args)
    };
    let (code, out, err) = get("/api/items?q=1", &[]);
    assert_eq!(
        (code, out.as_str()),
        (0, "hello from upstream\n\n200"),
        "{err}"
    );
    let (_, out, _) = get("/v2/files", &[]);
    assert_eq!(out, "hello from upstream\n\n200");
    // Outside the granted paths, or another method: refused inside the tunnel, with a reason.
    for (path, extra) in [
        ("/admin", &[][..]),
        ("/v2/files", &["-X", "POST", "-d", "x"][..]),
    ] {
        let (_, out, _) = get(path, extra);
        let (body, status) = out.rsplit_once('\n').unwrap();
        assert_eq!(status, "403", "{path}: {out}");
        assert_eq!(json(body)["reason"], "no_grant");
    }
    let lines: Vec<String> = up
        .seen()
        .iter()
        .filter_map(|e| e["line"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        lines,
        ["GET /api/items?q=1 HTTP/1.1", "GET /v2/files HTTP/1.1"]
    );

    // Python's urllib trusting the inspection CA, the same way.
    let url = format!("https://upstream.test:{port}/api/py");
    assert_eq!(
        python_fetch(&proxy, &url, Some(&inspect_ca), None),
        "hello from upstream\n"
    );

    // A client that does not trust the inspection CA gets nothing through.
    let before = up.seen().len();
    let (code, _, err) = curl(&proxy, &[&format!("https://upstream.test:{port}/api/x")]);
    assert_ne!(code, 0);
    assert!(err.contains("certificate"), "{err}");
    assert_eq!(up.seen().len(), before);

    // Five tunnels with a request each, and the tunnel whose client refused the certificate.
    let events = proxy.events(11);
    let inner: Vec<(String, String, bool)> = events
        .iter()
        .filter(|e| e["class_uid"] == 4002)
        .map(|e| {
            (
                e["http_request"]["url"]["path"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                cordon(e)["reason"].as_str().unwrap().to_owned(),
                cordon(e)["inspected"] == true,
            )
        })
        .collect();
    assert_eq!(
        inner,
        [
            ("/api/items".into(), "granted".into(), true),
            ("/v2/files".into(), "granted".into(), true),
            ("/admin".into(), "no_grant".into(), true),
            ("/v2/files".into(), "no_grant".into(), true),
            ("/api/py".into(), "granted".into(), true),
        ]
    );
    assert!(
        events
            .iter()
            .any(|e| cordon(e)["reason"] == "certificate_rejected"),
        "{events:#?}"
    );
    let tunnel = events.iter().find(|e| e["class_uid"] == 4001).unwrap();
    assert_eq!(
        (
            cordon(tunnel)["decision"].as_str(),
            cordon(tunnel)["reason"].as_str()
        ),
        (Some("allow"), Some("partial_grant"))
    );
}

/// A stand-in for HashiCorp Vault's KV v2 read endpoint that checks the request against the API
/// (`GET /v1/<mount>/data/<path>`, `X-Vault-Token`), answers in its response format, and logs
/// what it was asked.
const VAULT: &str = r#"
import http.server, json, os, sys
port_file, log = sys.argv[1], sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        with open(log, "a") as f:
            f.write(json.dumps({"path": self.path, "token": self.headers.get("X-Vault-Token")}) + "\n")
        if self.headers.get("X-Vault-Token") != "vault-root-token":
            return self.answer(403, {"errors": ["permission denied"]})
        if self.path != "/v1/secret/data/crm":
            return self.answer(404, {"errors": []})
        self.answer(200, {"request_id": "1", "lease_id": "", "renewable": False, "lease_duration": 0,
                          "data": {"data": {"token": "vault-held-value"},
                                   "metadata": {"created_time": "2026-11-01T00:00:00Z", "version": 3}}})
    def answer(self, status, body):
        out = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"#;

#[test]
fn credentials_are_added_by_the_proxy_never_held_by_the_agent() {
    let s = Sandbox::new();
    test_ca(&s);
    let plain = Upstream::start(&s, "plain", false);
    let tls = Upstream::start(&s, "tls", true);
    s.expect(0, &["ca", "init", "--out", "inspect"]);
    let token_file = s.write("mail.token", "file-held-value\n");
    let vault_script = s.write("vault.py", VAULT);
    let vault_log = s.path("vault.log");
    let _vault = Background(
        Command::new("/usr/bin/python3")
            .args([&vault_script, &s.path("vault.port"), &vault_log])
            .spawn()
            .unwrap(),
    );
    let vault_port = wait_for_port(&s.path("vault.port"), "the Vault stand-in", 20);
    let (p, t) = (plain.port, tls.port);
    let manifest = format!(
        r#"{{"agentName":"net","version":"1.0.0","apiScopes":["crm:read","mail:send","vault:read","gone:read"],
            "apis":{{
              "crm:read":{{"endpoints":[{{"url":"http://127.0.0.1:{p}/crm","methods":["GET"]}}],"credential":{{"env":"CRM_TOKEN"}}}},
              "gone:read":{{"endpoints":[{{"url":"http://127.0.0.1:{p}/gone","methods":["GET"]}}],"credential":{{"env":"UNSET_TOKEN"}}}},
              "mail:send":{{"endpoints":[{{"url":"https://upstream.test:{t}/mail","methods":["POST"]}}],"credential":{{"file":"{token_file}","header":"X-Api-Key"}}}},
              "vault:read":{{"endpoints":[{{"url":"http://127.0.0.1:{p}/vault","methods":["GET"]}}],"credential":{{"vault":"secret/crm#token"}}}}}}}}"#
    );
    let upstream_ca = s.path("ca.pem");
    let vault_addr = format!("http://127.0.0.1:{vault_port}");
    let proxy = Proxy::start_with_env(
        &s,
        &manifest,
        &[
            "--resolve",
            "upstream.test=127.0.0.1",
            "--ca",
            "inspect",
            "--upstream-ca",
            &upstream_ca,
            "--vault-addr",
            &vault_addr,
        ],
        &[
            ("CRM_TOKEN", "env-held-value"),
            ("VAULT_TOKEN", "vault-root-token"),
        ],
    );
    let inspect_ca = s.path("inspect/ca.pem");
    let header = |seen: &Value, name: &str| {
        seen["headers"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str().unwrap().to_owned())
    };

    // From the proxy's environment, replacing what the agent sent in that header.
    let (_, body, err) = curl(
        &proxy,
        &[
            "-H",
            "Authorization: Bearer agent-guess",
            &format!("http://127.0.0.1:{p}/crm/accounts"),
        ],
    );
    assert_eq!(body, "hello from upstream\n", "{err}");
    assert_eq!(
        header(&plain.seen()[0], "authorization").as_deref(),
        Some("Bearer env-held-value")
    );
    // From a file, in its own header, inside inspected TLS.
    let (_, body, err) = curl(
        &proxy,
        &[
            "--cacert",
            &inspect_ca,
            "-d",
            "hi",
            "-H",
            "X-Api-Key: agent-guess",
            &format!("https://upstream.test:{t}/mail/send"),
        ],
    );
    assert_eq!(body, "hello from upstream\n", "{err}");
    let mail = tls
        .seen()
        .into_iter()
        .find(|e| e.get("line").is_some())
        .unwrap();
    assert_eq!(
        header(&mail, "x-api-key").as_deref(),
        Some("file-held-value")
    );
    // From Vault (read once, then cached).
    for _ in 0..2 {
        let (_, body, _) = curl(&proxy, &[&format!("http://127.0.0.1:{p}/vault/x")]);
        assert_eq!(body, "hello from upstream\n");
    }
    assert_eq!(
        header(&plain.seen()[1], "authorization").as_deref(),
        Some("Bearer vault-held-value")
    );
    let asked: Vec<Value> = std::fs::read_to_string(&vault_log)
        .unwrap()
        .lines()
        .map(json)
        .collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["path"], "/v1/secret/data/crm");
    // A credential that cannot be read refuses the request rather than sending it without.
    let (_, body, _) = curl(&proxy, &["-i", &format!("http://127.0.0.1:{p}/gone/x")]);
    assert!(
        body.starts_with("HTTP/1.1 503") && body.contains("credential_unavailable"),
        "{body}"
    );
    assert!(body.contains("UNSET_TOKEN"), "{body}");
    assert_eq!(plain.seen().len(), 3);

    let events = proxy.events(6);
    let crm = events
        .iter()
        .find(|e| e["http_request"]["url"]["path"] == "/crm/accounts")
        .unwrap();
    assert_eq!(cordon(crm)["credential_header"], "authorization");
    proxy.audit_lacks(&[
        "env-held-value",
        "file-held-value",
        "vault-held-value",
        "vault-root-token",
        "agent-guess",
    ]);
}

#[test]
fn cordon_run_inspects_tls_with_the_ca_it_is_given() {
    let s = Sandbox::new();
    test_ca(&s);
    let up = Upstream::start(&s, "tls", true);
    s.expect(0, &["ca", "init", "--out", "inspect"]);
    crate::run::signed(
        &s,
        &format!(
            r#"{{"agentName":"net","version":"1.0.0","commandsAllowed":["/usr/bin/curl"],
                "networkScopes":["https://127.0.0.1:{}/api"]}}"#,
            up.port
        ),
    );
    let state = s.path("state");
    let (ca, upstream_ca) = (s.path("inspect"), s.path("ca.pem"));
    let options = ["--ca", ca.as_str(), "--upstream-ca", upstream_ca.as_str()];
    let curl = |path: &str| {
        let url = format!("https://127.0.0.1:{}{path}", up.port);
        let cmd = [
            "/usr/bin/curl",
            "-sS",
            "--max-time",
            "20",
            "-w",
            "\n%{http_code}",
            url.as_str(),
        ];
        let out = s.run(&crate::run::run_args_with(&state, &options, &cmd));
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    // The agent's curl trusts the inspection CA through the bundle cordon hands it, with no flag;
    // the proxy sees each request and lets only the granted path through.
    assert_eq!(curl("/api/x"), "hello from upstream\n\n200");
    let refused = curl("/admin");
    assert!(
        refused.ends_with("\n403") && refused.contains("no_grant"),
        "{refused}"
    );
    let lines: Vec<Value> = up
        .seen()
        .into_iter()
        .filter(|e| e.get("line").is_some())
        .collect();
    assert_eq!(lines.len(), 1);
    let inner: Vec<Value> = egress(&state)
        .into_iter()
        .filter(|e| e["http_request"]["http_method"] == "GET")
        .collect();
    assert_eq!(inner.len(), 2, "{inner:#?}");
    assert!(inner.iter().all(|e| cordon(e)["inspected"] == true));
}

#[test]
fn ca_init_keeps_an_existing_key_unless_forced() {
    let s = Sandbox::new();
    s.expect(
        0,
        &[
            "ca",
            "init",
            "--out",
            "ca",
            "--name",
            "Example Corp inspection",
        ],
    );
    let key = s.read("ca/ca.key");
    let err = s.stderr_of(2, &["ca", "init", "--out", "ca"]);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(s.read("ca/ca.key"), key);
    s.expect(0, &["ca", "init", "--out", "ca", "--force"]);
    assert_ne!(s.read("ca/ca.key"), key);
    // The certificate is a CA limited to signing leaves, named as asked.
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in", &s.path("ca/ca.pem")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(text.contains("Certificate Sign"), "{text}");
    let err = s.stderr_of(2, &["ca", "init", "--out", "ca2", "--days", "0"]);
    assert!(err.contains("--days"), "{err}");
}

#[test]
fn signed_checkpoints_anchor_the_log_against_truncation_and_rewrites() {
    let s = Sandbox::new();
    let up = Upstream::start(&s, "up", false);
    let manifest = format!(
        r#"{{"agentName":"net","version":"1.0.0","networkScopes":["http://127.0.0.1:{}/api"]}}"#,
        up.port
    );
    crate::run::signed(&s, &manifest);
    s.audit_signer();
    let mut proxy = Proxy::start(
        &s,
        &manifest,
        &["--audit-key", "keys/audit.key", "--checkpoint-records", "2"],
    );
    for path in ["api/a", "api/b", "other", "api/c", "nope"] {
        let (code, _, err) = curl(&proxy, &[&format!("http://127.0.0.1:{}/{path}", up.port)]);
        assert_eq!(code, 0, "{err}");
    }
    // A clean stop signs what came since the last checkpoint.
    proxy.process.terminate();
    let verify = |trust: &str| {
        let out = s.run(&[
            "audit",
            "verify",
            "--state-dir",
            &s.path("state"),
            "--trust",
            trust,
            "--json",
        ]);
        (
            out.status.code(),
            serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null),
        )
    };
    let (code, report) = verify("trust.json");
    assert_eq!(code, Some(0), "{report}");
    let records = report["records"].as_u64().unwrap();
    // Verify, start, 5 requests, stop: 8 events, and checkpoints between them and at the end.
    let checkpoints = report["checkpoints"].as_u64().unwrap();
    assert!(checkpoints >= 2, "{report}");
    assert_eq!(records, 8 + checkpoints, "{report}");
    assert_eq!(report["anchoredThrough"], records - 2, "{report}");
    let human = s.expect(
        0,
        &[
            "audit",
            "verify",
            "--state-dir",
            &s.path("state"),
            "--trust",
            "trust.json",
        ],
    );
    assert!(human.contains("every record is covered"), "{human}");

    let log = s.path("state/audit/00000001.jsonl");
    let original = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let kind = |tampered: String, trust: &str| {
        std::fs::write(&log, tampered).unwrap();
        let (code, report) = verify(trust);
        assert_eq!(code, Some(1), "{report}");
        report["problem"]["kind"].as_str().unwrap().to_owned()
    };
    // The end cut off: the chain that is left verifies, the kept checkpoint says it was longer.
    let cut = lines[..lines.len() - 3].join("\n") + "\n";
    assert_eq!(kind(cut, "trust.json"), "truncated");
    let err = s.stderr_of(
        1,
        &[
            "audit",
            "verify",
            "--state-dir",
            &s.path("state"),
            "--trust",
            "trust.json",
        ],
    );
    assert!(err.contains("truncated after a checkpoint"), "{err}");
    // The whole log rewritten (a denial turned into an allow) and sealed again: checkpoint
    // records cannot be signed again; without them the forged log is shorter than the kept
    // checkpoint proves it was.
    assert_eq!(
        kind(reseal(&lines, "repoint-checkpoints"), "trust.json"),
        "forged-checkpoint"
    );
    assert_eq!(
        kind(reseal(&lines, "drop-checkpoints"), "trust.json"),
        "truncated"
    );
    // A trust store without the audit key fails every checkpoint: nothing unverifiable passes.
    std::fs::write(&log, &original).unwrap();
    s.expect(0, &["trust", "init", "--out", "other-trust.json"]);
    assert_eq!(
        verify("other-trust.json").1["problem"]["kind"],
        "forged-checkpoint"
    );
    assert_eq!(
        verify("missing.json").1["problem"]["kind"],
        "forged-checkpoint"
    );
    assert_eq!(verify("trust.json").0, Some(0));
}
