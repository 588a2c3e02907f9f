//! `cordon audit ship`: the audit trail delivered to SIEM sinks — receivers that check each wire
//! format against its specification (`tests/support/sink_receiver.py`), a real rsyslog over TCP
//! and TLS — at least once, with durable cursors.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::audit::{append, event};
use crate::{Background, Sandbox, repo, wait_for_port};

/// A running receiver of one HTTP sink type.
struct Receiver {
    _process: Background,
    port: u16,
    log: String,
}

impl Receiver {
    fn start(s: &Sandbox, mode: &str, extra: &[&str]) -> Self {
        let port_file = s.path(&format!("{mode}.port"));
        let log = s.path(&format!("{mode}.log"));
        let script = repo("crates/cli/tests/support/sink_receiver.py");
        let process = Background(
            Command::new("python3")
                .arg(&script)
                .args([mode, &port_file, &log])
                .args(extra)
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let port = wait_for_port(&port_file, &format!("{mode} receiver"), 30);
        Self {
            _process: process,
            port,
            log,
        }
    }

    /// What it accepted, by sequence number (and every rejection, which fails the test).
    fn received(&self) -> BTreeMap<u64, Vec<Value>> {
        let mut out: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
        for line in std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
        {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(v.get("rejected").is_none(), "{}: {v}", self.log);
            out.entry(v["seq"].as_u64().unwrap())
                .or_default()
                .push(v["event"].clone());
        }
        out
    }
}

fn ship(s: &Sandbox, config: &str, env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args([
            "--config",
            config,
            "audit",
            "ship",
            "--once",
            "--deadline",
            "60",
        ])
        .args(["--state-dir", &s.path("state")])
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn http_and_file_sinks_get_every_event_once_and_secrets_stay_out() {
    let s = Sandbox::new();
    let events: String = (0..1200)
        .map(|n| {
            event(
                1_750_000_000_000 + n,
                if n % 2 == 0 { 4002 } else { 1001 },
                if n % 3 == 0 { "deny" } else { "allow" },
                "coder",
                "",
            )
        })
        .collect();
    append(&s, &events);
    let token = "hec-token-7f3a";
    let secret = "whsec-test-3c91";
    // HEC and OTLP start overloaded: the shipper backs off and delivers the same batch again.
    let hec = Receiver::start(&s, "hec", &["--token", token, "--fail-first", "2"]);
    let otlp = Receiver::start(&s, "otlp", &["--fail-first", "1"]);
    let hook = Receiver::start(&s, "webhook", &["--secret", secret]);
    let config = json!({"audit": {"sinks": [
        {"name": "archive", "type": "file", "path": s.path("archive.ndjson"), "format": "ecs"},
        {"name": "splunk", "type": "hec", "url": format!("http://127.0.0.1:{}/services/collector/event", hec.port),
         "token": {"env": "HEC_TOKEN"}, "sourcetype": "ocsf:cordon"},
        {"name": "otel", "type": "otlp", "url": format!("http://127.0.0.1:{}/v1/logs", otlp.port), "batch": 300},
        {"name": "soar", "type": "webhook", "url": format!("http://127.0.0.1:{}/hooks/cordon", hook.port),
         "secret": {"env": "HOOK_SECRET"}},
    ]}});
    s.write("config.json", &config.to_string());
    let env = [("HEC_TOKEN", token), ("HOOK_SECRET", secret)];
    let out = ship(&s, &s.path("config.json"), &env);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("sink `splunk`") && err.contains("503"),
        "the overload was reported: {err}"
    );
    assert!(!err.contains(token) && !err.contains(secret), "{err}");
    let all: Vec<u64> = (0..1200).collect();
    for r in [&hec, &otlp, &hook] {
        let got = r.received();
        assert_eq!(got.keys().copied().collect::<Vec<_>>(), all, "{}", r.log);
        assert!(
            got.values().all(|v| v.len() == 1),
            "{}: an event arrived twice",
            r.log
        );
    }
    // Each receiver got the event itself (OTLP rebuilds it from the key-value body).
    assert_eq!(
        hec.received()[&3][0]["unmapped"]["cordon"]["decision"],
        "deny"
    );
    assert_eq!(otlp.received()[&4][0]["class_uid"], 4002);
    assert_eq!(hook.received()[&5][0]["time"], 1_750_000_000_005i64);
    let archive = std::fs::read_to_string(s.path("archive.ndjson")).unwrap();
    assert_eq!(archive.lines().count(), 1200);
    let first: Value = serde_json::from_str(archive.lines().next().unwrap()).unwrap();
    assert_eq!(first["event"]["category"], json!(["network", "web"]));

    // The cursors hold: a second run delivers nothing again; new events go out once.
    assert!(ship(&s, &s.path("config.json"), &env).status.success());
    assert_eq!(hec.received().len(), 1200);
    append(
        &s,
        &(0..10)
            .map(|n| event(1_750_000_100_000 + n, 1007, "allow", "coder", ""))
            .collect::<String>(),
    );
    assert!(ship(&s, &s.path("config.json"), &env).status.success());
    for r in [&hec, &otlp, &hook] {
        let got = r.received();
        assert_eq!(got.len(), 1210, "{}", r.log);
        assert!(got.values().all(|v| v.len() == 1), "{}", r.log);
    }
    assert_eq!(
        std::fs::read_to_string(s.path("archive.ndjson"))
            .unwrap()
            .lines()
            .count(),
        1210
    );

    // A wrong token is HEC's 403; the shipper keeps the events and says so.
    let out = ship(
        &s,
        &s.path("config.json"),
        &[("HEC_TOKEN", "wrong"), ("HOOK_SECRET", secret)],
    );
    assert!(
        out.status.success(),
        "nothing new to send: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sink_configuration_errors_name_the_sink_and_field() {
    let s = Sandbox::new();
    append(&s, &event(1, 1001, "allow", "coder", ""));
    let cases = [
        (
            json!({"name": "a", "type": "hec", "url": "http://127.0.0.1:1/services/collector/event", "token": "inline"}),
            "sink `a`: `token` must not be written in the configuration",
        ),
        (
            json!({"name": "b", "type": "hec", "url": "http://127.0.0.1:1/x", "token": {"env": "CORDON_TEST_UNSET_VAR"}}),
            "sink `b`: `token`: the environment variable `CORDON_TEST_UNSET_VAR` is not set",
        ),
        (
            json!({"name": "c", "type": "syslog", "address": "127.0.0.1:1", "facility": 30}),
            "sink `c`: `facility` 30",
        ),
        (
            json!({"name": "d", "type": "kafka"}),
            "sink `d`: `type` `kafka`",
        ),
        (
            json!({"name": "e", "type": "otlp", "url": "ftp://x/v1/logs"}),
            "sink `e`: `url`: `ftp` is not http or https",
        ),
        (
            json!({"name": "f/g", "type": "file", "path": "x"}),
            "sink `f/g`: a name is letters",
        ),
    ];
    for (sink, want) in cases {
        s.write(
            "config.json",
            &json!({"audit": {"sinks": [sink]}}).to_string(),
        );
        let out = ship(&s, &s.path("config.json"), &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "wanted `{want}` in: {err}");
    }
    s.write(
        "config.json",
        r#"{"audit": {"sinks": [{"name": "x", "type": "file", "path": "p", "colour": "red"}]}}"#,
    );
    let err = String::from_utf8_lossy(&ship(&s, &s.path("config.json"), &[]).stderr).into_owned();
    assert!(err.contains("unknown field `colour`"), "{err}");
}

/// A free loopback port (the OS picks it; rsyslog is then told to listen there).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// rsyslogd in the foreground, listening for RFC 5424 over plain TCP and over TLS (the GnuTLS
/// driver, the sandbox's test CA), writing each message as received — `%rawmsg%`, framing
/// removed — behind the name of the input it came in on.
struct Rsyslog {
    process: Background,
    out: String,
}

impl Rsyslog {
    fn start(s: &Sandbox, plain: u16, tls: u16) -> Self {
        let work = s.path("rsyslog");
        std::fs::create_dir_all(&work).unwrap();
        let out = s.path("rsyslog/received.log");
        let conf = format!(
            r#"global(workDirectory="{work}" maxMessageSize="64k" processInternalMessages="on"
       defaultNetstreamDriverCAFile="{ca}" defaultNetstreamDriverCertFile="{cert}"
       defaultNetstreamDriverKeyFile="{key}")
module(load="imtcp")
template(name="Received" type="string" string="%inputname% %rawmsg%\n")
ruleset(name="audit") {{
  action(type="omfile" file="{out}" template="Received" flushOnTXEnd="on" asyncWriting="off")
}}
input(type="imtcp" name="plain" address="127.0.0.1" port="{plain}" ruleset="audit")
input(type="imtcp" name="tls" address="127.0.0.1" port="{tls}" ruleset="audit"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
action(type="omfile" file="{work}/internal.log")
"#,
            ca = s.path("ca.pem"),
            cert = s.path("srv.pem"),
            key = s.path("srv.key"),
        );
        s.write("rsyslog/rsyslog.conf", &conf);
        let process = Background(
            Command::new("/usr/sbin/rsyslogd")
                .args([
                    "-n",
                    "-f",
                    &s.path("rsyslog/rsyslog.conf"),
                    "-i",
                    &s.path("rsyslog/pid"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        for port in [plain, tls] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "rsyslogd did not listen on {port}"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        Self { process, out }
    }

    /// Sequence numbers received on each input, with how often each arrived.
    fn received(&self) -> BTreeMap<String, BTreeMap<u64, usize>> {
        let mut out: BTreeMap<String, BTreeMap<u64, usize>> = BTreeMap::new();
        for line in std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
        {
            let (input, msg) = line.split_once(' ').unwrap();
            let seq = msg
                .split_once("seq=\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .and_then(|(n, _)| n.parse().ok())
                .unwrap_or_else(|| panic!("no seq in {msg}"));
            *out.entry(input.to_owned())
                .or_default()
                .entry(seq)
                .or_default() += 1;
        }
        out
    }

    /// Wait until both inputs have every sequence number below `n`.
    fn wait_for(&self, n: u64) -> BTreeMap<String, BTreeMap<u64, usize>> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        loop {
            let got = self.received();
            let complete = ["plain", "tls"].iter().all(|i| {
                got.get(*i)
                    .is_some_and(|m| (0..n).all(|s| m.contains_key(&s)))
            });
            if complete {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "rsyslog did not receive all {n}: {got:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

#[test]
fn a_real_rsyslog_over_tcp_and_tls_misses_nothing_across_a_restart() {
    if !std::path::Path::new("/usr/sbin/rsyslogd").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "rsyslogd is missing (scripts/test-all installs it)"
        );
        eprintln!("skipped: rsyslogd is not installed");
        return;
    }
    let s = Sandbox::new();
    crate::proxy::test_ca(&s);
    let (plain, tls) = (free_port(), free_port());
    let mut rsyslog = Rsyslog::start(&s, plain, tls);
    let config = json!({"audit": {"sinks": [
        {"name": "siem-tcp", "type": "syslog", "address": format!("127.0.0.1:{plain}"), "batch": 50},
        {"name": "siem-tls", "type": "syslog", "address": format!("127.0.0.1:{tls}"), "batch": 50,
         "tls": {"ca": s.path("ca.pem"), "serverName": "upstream.test"}},
    ]}});
    s.write("config.json", &config.to_string());
    let batch = |from: i64, n: i64| -> String {
        (from..from + n)
            .map(|t| event(t, 4002, "deny", "coder", ""))
            .collect()
    };
    append(&s, &batch(0, 300));
    let shipper = Background(
        Command::new(env!("CARGO_BIN_EXE_cordon"))
            .args([
                "--config",
                &s.path("config.json"),
                "audit",
                "ship",
                "--state-dir",
                &s.path("state"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    rsyslog.wait_for(300);
    // The receiver goes away while events keep coming, and comes back.
    rsyslog.process.terminate();
    append(&s, &batch(300, 150));
    std::thread::sleep(std::time::Duration::from_millis(700));
    append(&s, &batch(450, 150));
    std::thread::sleep(std::time::Duration::from_millis(700));
    rsyslog = Rsyslog::start(&s, plain, tls);
    let got = rsyslog.wait_for(600);
    drop(shipper);
    for (input, seqs) in &got {
        // Every event arrived; at most the batches in flight when the receiver stopped came twice.
        assert_eq!(seqs.len(), 600, "{input}");
        let twice = seqs.values().filter(|&&n| n > 1).count();
        assert!(
            twice <= 2 * 50,
            "{input}: {twice} events arrived more than once"
        );
        assert!(seqs.values().all(|&n| n <= 2), "{input}");
    }
    // The message is RFC 5424 as sent: authpriv + informational (the events' severity), the
    // time of the event, the OCSF event after the BOM.
    let raw = std::fs::read_to_string(&rsyslog.out).unwrap();
    let line = raw.lines().find(|l| l.starts_with("tls ")).unwrap();
    assert!(
        line.starts_with("tls <86>1 1970-01-01T00:00:00.000Z "),
        "{line}"
    );
    let json_part = line.split_once('\u{feff}').unwrap().1;
    let event: Value = serde_json::from_str(json_part).unwrap();
    assert_eq!(event["class_uid"], 4002);
}
