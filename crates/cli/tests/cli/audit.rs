//! `cordon audit`: the hash-chained log survives its writer being killed at any point, and
//! `verify` names tampering.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::{Sandbox, with_stdin};

fn verify_json(s: &Sandbox) -> (i32, Value) {
    let out = s.run(&["audit", "verify", "--state-dir", &s.path("state"), "--json"]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report)
}

#[test]
fn killing_the_writer_at_any_point_loses_no_acknowledged_event() {
    let s = Sandbox::new();
    let mut random: u64 = 0x2545_f491_4f6c_dd1d;
    let mut acknowledged: Option<u64> = None;
    let mut batches = 0usize;
    for round in 0..30 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cordon"))
            .args(["audit", "append", "--state-dir", &s.path("state")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.strip_prefix("ack ")?.parse::<u64>().ok())
                .collect::<Vec<u64>>()
        });
        let writer = std::thread::spawn(move || {
            for n in 0..3_000 {
                let event = format!("{{\"class_uid\":3001,\"round\":{round},\"n\":{n}}}\n");
                if stdin.write_all(event.as_bytes()).is_err() {
                    break;
                }
            }
        });
        // A kill at a point chosen afresh each round: before the first batch, between a write
        // and its fsync, after an acknowledgement. (A kill cannot cut a `write` to a regular
        // file short, so a torn last line — a power loss — is the store's unit test's to
        // cover; here each new writer must continue the chain exactly where the killed one
        // stopped.)
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        std::thread::sleep(Duration::from_micros(500 + random % 250_000));
        child.kill().unwrap();
        child.wait().unwrap();
        writer.join().unwrap();
        let acks = reader.join().unwrap();
        batches += acks.len();
        if let Some(&last) = acks.last() {
            acknowledged = Some(acknowledged.map_or(last, |a| a.max(last)));
        }
        let (code, report) = verify_json(&s);
        assert_eq!(code, 0, "round {round}: {report}");
        if let Some(a) = acknowledged {
            let records = report["records"].as_u64().unwrap();
            assert!(
                records > a,
                "round {round}: event {a} was acknowledged, the log has {records}"
            );
        }
    }
    // The rounds did write: most kills landed while batches were being acknowledged.
    assert!(
        batches > 40,
        "only {batches} batches were acknowledged in 30 rounds"
    );
}

#[test]
fn verify_names_the_first_tampered_record() {
    let s = Sandbox::new();
    let events: String = (0..20)
        .map(|n| format!("{{\"class_uid\":3001,\"n\":{n}}}\n"))
        .collect();
    let out = append_with(&s, &[], &events);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ack 19"));
    let log = s.path("state/audit/00000001.jsonl");
    let original = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let cases: Vec<(String, &str)> = vec![
        (
            original.replacen("\"n\":7}", "\"n\":70}", 1),
            "line 8 (record 7): edited",
        ),
        (
            [&lines[..5], &lines[6..]].concat().join("\n") + "\n",
            "line 6 (record 6): deleted",
        ),
        (
            [&lines[..9], &[lines[3]], &lines[9..]].concat().join("\n") + "\n",
            "line 10 (record 3): inserted",
        ),
        (
            [&lines[..4], &[lines[5], lines[4]], &lines[6..]]
                .concat()
                .join("\n")
                + "\n",
            "line 5 (record 5): reordered",
        ),
    ];
    for (tampered, want) in cases {
        std::fs::write(&log, tampered).unwrap();
        let err = s.stderr_of(1, &["audit", "verify", "--state-dir", &s.path("state")]);
        assert!(err.contains(want), "wanted `{want}` in: {err}");
    }
    std::fs::write(&log, &original).unwrap();
    let out = s.expect(0, &["audit", "verify", "--state-dir", &s.path("state")]);
    assert!(out.contains("20 records verified"), "{out}");
}

#[test]
fn segments_rotate_and_retention_is_told_from_deletion() {
    let s = Sandbox::new();
    s.write(
        "config.json",
        r#"{"audit": {"segmentMiB": 1, "retainMiB": 2}}"#,
    );
    let config = s.path("config.json");
    // About 4 MiB of events: four segments or more, the oldest removed by retention.
    let pad = "x".repeat(400);
    let events: String = (0..10_000)
        .map(|n| format!("{{\"class_uid\":3001,\"n\":{n},\"pad\":\"{pad}\"}}\n"))
        .collect();
    let out = append_with(&s, &["--config", &config], &events);
    // Retention records take sequence numbers too: the last acknowledged is past 9999.
    let last_ack: u64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("ack "))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(last_ack > 9_999, "no retention record: {out:?}");
    let segments = |s: &Sandbox| {
        let mut names: Vec<String> = std::fs::read_dir(s.path("state/audit"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".jsonl"))
            .collect();
        names.sort();
        names
    };
    let names = segments(&s);
    assert!(
        names.len() >= 2 && names[0] != "00000001.jsonl",
        "{names:?}"
    );
    let (code, report) = verify_json(&s);
    assert_eq!(code, 0, "{report}");
    let first = report["firstSeq"].as_u64().unwrap();
    assert!(first > 0, "{report}");
    // Every record from `first` to the last acknowledged one verifies.
    assert_eq!(report["records"].as_u64().unwrap() + first, last_ack + 1);
    assert!(retention_records(&s) >= 1);
    // Removing the oldest kept segment by hand is not retention: verify says deleted.
    std::fs::remove_file(s.path(&format!("state/audit/{}", names[0]))).unwrap();
    let (code, report) = verify_json(&s);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["problem"]["kind"], "deleted", "{report}");
}

#[test]
fn a_configuration_with_a_typo_is_refused_naming_the_field() {
    let s = Sandbox::new();
    let append =
        |config: &str| append_with(&s, &["--config", &s.path(config)], "{\"class_uid\":3001}\n");
    s.write("bad.json", r#"{"audit": {"retainDay": 30}}"#);
    let out = append("bad.json");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("unknown field `retainDay`") && err.contains("bad.json"),
        "{err}"
    );
    s.write("zero.json", r#"{"audit": {"segmentMiB": 0}}"#);
    let out = append("zero.json");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`audit.segmentMiB` must be at least 1"));
    // Nothing was written under a configuration that did not load.
    assert!(!std::path::Path::new(&s.path("state/audit")).exists());
}

/// How many retention records the log in the sandbox's state holds.
fn retention_records(s: &Sandbox) -> u64 {
    std::fs::read_dir(s.path("state/audit"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .map(|t| t.matches("{\"event\":{\"retention\":").count() as u64)
        .sum()
}

/// Append `events` (JSON lines) to the sandbox's log.
pub(crate) fn append(s: &Sandbox, events: &str) {
    let out = append_with(s, &[], events);
    assert!(out.status.success(), "{out:?}");
}

/// `cordon [OPTIONS] audit append` of `events` into the sandbox's log: its whole output.
fn append_with(s: &Sandbox, options: &[&str], events: &str) -> std::process::Output {
    with_stdin(
        Command::new(env!("CARGO_BIN_EXE_cordon"))
            .args(options)
            .args(["audit", "append", "--state-dir", &s.path("state")]),
        events.as_bytes(),
    )
}

/// An OCSF-shaped event as the enforcement points write them (the fields queries read).
pub(crate) fn event(time: i64, class: u64, decision: &str, agent: &str, extra: &str) -> String {
    format!(
        r#"{{"class_uid":{class},"activity_id":2,"time":{time},"type_name":"T","status_id":1,"severity_id":1,{extra}"unmapped":{{"cordon":{{"decision":"{decision}","agent":"{agent}","component":"test","reason":"r"}}}}}}"#
    ) + "\n"
}

#[test]
fn query_tail_and_export_select_and_shape_events() {
    let s = Sandbox::new();
    let now = 1_750_000_000_000i64;
    let events = [
        event(now - 7_200_000, 1001, "deny", "coder", r#""file":{"path":"/home/alice/.ssh/id_rsa","name":"id_rsa","type_id":1},"#),
        event(now - 3_600_000, 4002, "allow", "coder", r#""http_request":{"http_method":"GET","url":{"hostname":"API.example.com","path":"/v1/x"}},"dst_endpoint":{"hostname":"api.example.com","port":443},"#),
        event(now - 60_000, 4002, "deny", "other", r#""http_request":{"http_method":"POST","url":{"hostname":"evil.test","path":"/"}},"#),
        event(now - 1_000, 1007, "allow", "coder", r#""process":{"cmd_line":"ls -la","name":"ls","uid":"u"},"#),
    ]
    .concat();
    append(&s, &events);
    let state = s.path("state");
    let at = "2025-06-15T15:06:40Z"; // `now`
    let q = |args: &[&str]| -> Vec<Value> {
        let mut all = vec!["audit", "query", "--state-dir", &state, "--json"];
        all.extend_from_slice(args);
        s.expect(0, &all)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert_eq!(q(&[]).len(), 4);
    assert_eq!(q(&["--decision", "deny"]).len(), 2);
    assert_eq!(q(&["--agent", "other"]).len(), 1);
    assert_eq!(q(&["--class", "http"]).len(), 2);
    assert_eq!(q(&["--class", "4002", "--class", "file"]).len(), 3);
    assert_eq!(q(&["--path-prefix", "/home/alice"]).len(), 1);
    assert_eq!(q(&["--path-prefix", "/v1/"]).len(), 1);
    assert_eq!(q(&["--host", "api.example.com"]).len(), 1);
    assert_eq!(
        q(&["--since", "2025-06-15T14:36:40Z"]).len(),
        2,
        "the last 30 minutes of `now`"
    );
    assert_eq!(
        q(&["--until", at, "--since", "2025-06-15T13:06:40Z"]).len(),
        4
    );
    assert_eq!(q(&["--limit", "1"]).len(), 1);
    // An age counts back from the clock: these events are from 2025.
    assert_eq!(q(&["--since", "1h"]).len(), 0);
    let human = s.expect(
        0,
        &[
            "audit",
            "query",
            "--state-dir",
            &state,
            "--decision",
            "deny",
        ],
    );
    assert!(
        human.contains("deny   T: /home/alice/.ssh/id_rsa [r] agent=coder"),
        "{human}"
    );
    let err = s.stderr_of(
        2,
        &["audit", "query", "--state-dir", &state, "--class", "nope"],
    );
    assert!(err.contains("`--class nope`: not a class"), "{err}");
    let err = s.stderr_of(
        2,
        &[
            "audit",
            "query",
            "--state-dir",
            &state,
            "--since",
            "yesterday",
        ],
    );
    assert!(err.contains("or an age such as"), "{err}");

    // tail: the last N.
    let tail = s.expect(
        0,
        &["audit", "tail", "--state-dir", &state, "-n", "2", "--json"],
    );
    let kinds: Vec<u64> = tail
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["class_uid"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(kinds, [4002, 1007]);

    // export: OCSF, ECS and the raw records, which still verify as a chain.
    let ocsf = s.expect(
        0,
        &[
            "audit",
            "export",
            "--state-dir",
            &state,
            "--format",
            "ocsf",
            "--decision",
            "deny",
        ],
    );
    assert_eq!(ocsf.lines().count(), 2);
    let ecs = s.expect(
        0,
        &["audit", "export", "--state-dir", &state, "--format", "ecs"],
    );
    let docs: Vec<Value> = ecs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs[0]["@timestamp"], "2025-06-15T13:06:40.000Z");
    assert_eq!(docs[0]["file"]["path"], "/home/alice/.ssh/id_rsa");
    assert_eq!(
        docs[2]["event"]["type"],
        serde_json::json!(["access", "denied"])
    );
    assert_eq!(docs[3]["process"]["command_line"], "ls -la");
    std::fs::create_dir_all(s.path("copy/audit")).unwrap();
    s.expect(
        0,
        &[
            "audit",
            "export",
            "--state-dir",
            &state,
            "--format",
            "jsonl",
            "--out",
            &s.path("copy/audit/00000001.jsonl.out"),
        ],
    );
    std::fs::rename(
        s.path("copy/audit/00000001.jsonl.out"),
        s.path("copy/audit/00000001.jsonl"),
    )
    .unwrap();
    let out = s.expect(0, &["audit", "verify", "--state-dir", &s.path("copy")]);
    assert!(out.contains("4 records verified"), "{out}");
}

#[test]
fn tail_follows_new_events() {
    let s = Sandbox::new();
    append(&s, &event(1, 1001, "allow", "coder", ""));
    let mut child = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args([
            "audit",
            "tail",
            "-f",
            "-n",
            "1",
            "--json",
            "--state-dir",
            &s.path("state"),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let first: Value = serde_json::from_str(&next()).unwrap();
    assert_eq!(first["time"], 1);
    append(&s, &event(2, 4002, "deny", "coder", ""));
    let second: Value = serde_json::from_str(&next()).unwrap();
    assert_eq!(second["time"], 2);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn stats_count_what_the_kpis_need_in_prometheus_format() {
    let s = Sandbox::new();
    let ev = |class: u64, activity: &str, decision: &str, reason: &str, status: u64| {
        serde_json::json!({"class_uid": class, "activity_name": activity, "status_id": status, "time": 1_750_000_000_000i64,
            "unmapped": {"cordon": {"component": "proxy", "decision": decision, "reason": reason, "agent": "coder"}}})
        .to_string()
            + "\n"
    };
    let events = [
        ev(4002, "Post", "deny", "dlp_blocked", 2),
        ev(4002, "Get", "deny", "no_grant", 2),
        ev(4002, "Get", "allow", "granted", 1),
        ev(4001, "Refuse", "deny", "server_name_mismatch", 2),
        ev(1001, "Read", "deny", "path_denied", 2),
        ev(6002, "Verify", "deny", "revoked-manifest", 2),
        ev(6002, "Verify", "deny", "signature", 2),
    ]
    .concat();
    append(&s, &events);
    let prom = s.expect(
        0,
        &[
            "audit",
            "stats",
            "--format",
            "prometheus",
            "--state-dir",
            &s.path("state"),
        ],
    );
    // Parsed by the Prometheus project's own Python client, which refuses malformed exposition.
    const PARSE: &str = "import json,sys\nfrom prometheus_client.parser import text_string_to_metric_families as f\nprint(json.dumps({s.name + json.dumps(s.labels, sort_keys=True): s.value for fam in f(sys.stdin.read()) for s in fam.samples}))";
    let out = with_stdin(Command::new("python3").args(["-c", PARSE]), prom.as_bytes());
    assert!(
        out.status.success(),
        "{}\n{prom}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Value = serde_json::from_slice(&out.stdout).unwrap();
    let get = |k: &str| {
        samples[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} in {samples}"))
    };
    assert_eq!(
        get(r#"cordon_egress_blocked_total{"reason": "dlp_blocked"}"#),
        1.0
    );
    assert_eq!(
        get(r#"cordon_egress_blocked_total{"reason": "server_name_mismatch"}"#),
        1.0
    );
    assert_eq!(get(r#"cordon_dlp_blocks_total{"component": "proxy"}"#), 1.0);
    assert_eq!(get(r#"cordon_denials_total{"action": "file_read"}"#), 1.0);
    assert_eq!(
        get(r#"cordon_manifest_verification_failures_total{"reason": "revoked-manifest"}"#),
        1.0
    );
    assert_eq!(get("cordon_revoked_manifest_refusals_total{}"), 1.0);
    let text = s.expect(0, &["audit", "stats", "--state-dir", &s.path("state")]);
    assert!(
        text.contains("7 events") && text.contains("blocked egress attempts: 3"),
        "{text}"
    );
}
