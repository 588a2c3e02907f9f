//! `cordon detect`: the shipped Sigma rules fire on crafted event streams and stay silent on
//! benign ones, correlations over their time window included; findings recorded in the log are
//! OCSF Detection Findings.

use serde_json::{Value, json};

use crate::audit::append;
use crate::{Sandbox, cordon};

/// 2025-06-16, a Monday, 00:00 UTC.
const MONDAY: i64 = 1_750_032_000_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;

/// An event as the enforcement points write them, with the fields the rules read.
fn ev(time: i64, class: u64, decision: &str, reason: &str, agent: &str, extra: Value) -> String {
    let mut e = json!({"class_uid": class, "activity_id": 1, "time": time, "status_id": 1, "severity_id": 1,
        "unmapped": {"cordon": {"decision": decision, "reason": reason, "agent": agent, "component": "proxy"}}});
    if let (Some(m), Value::Object(x)) = (e.as_object_mut(), extra) {
        m.extend(x);
    }
    e.to_string() + "\n"
}

/// The findings `cordon detect` reports over a log of `events`, as (rule id, group) pairs.
fn findings(events: &str, config: Option<&str>) -> Vec<(String, Value)> {
    let s = Sandbox::new();
    append(&s, events);
    let config_path = s.path("config.json");
    let state = s.path("state");
    let mut args: Vec<&str> = Vec::new();
    if let Some(c) = config {
        s.write("config.json", c);
        args.extend(["--config", &config_path]);
    }
    args.extend(["detect", "--json", "--state-dir", &state]);
    let out = s.expect(0, &args);
    out.lines()
        .map(|l| {
            let f: Value = serde_json::from_str(l).unwrap();
            (
                f["unmapped"]["cordon"]["rule"].as_str().unwrap().to_owned(),
                f["unmapped"]["cordon"]["group"].clone(),
            )
        })
        .collect()
}

fn ids(found: &[(String, Value)]) -> Vec<&str> {
    found.iter().map(|(id, _)| id.as_str()).collect()
}

const BULK: &str = "5d0b7a52-8f1e-4c2b-9a0e-1f6c3b2e4a02";
const RARE: &str = "5d0b7a52-8f1e-4c2b-9a0e-1f6c3b2e4a03";
const PROBING: &str = "5d0b7a52-8f1e-4c2b-9a0e-1f6c3b2e4a05";
const SECRET: &str = "5d0b7a52-8f1e-4c2b-9a0e-1f6c3b2e4a06";
const VERIFY: &str = "5d0b7a52-8f1e-4c2b-9a0e-1f6c3b2e4a07";

fn requests(start: i64, step: i64, n: i64, agent: &str) -> String {
    (0..n)
        .map(|i| ev(start + i * step, 4002, "allow", "granted", agent, json!({})))
        .collect()
}

#[test]
fn bulk_outbound_requests_outside_business_hours() {
    // 120 requests in 4 minutes at 22:00 UTC on a Monday: one finding, for that agent.
    let found = findings(&requests(MONDAY + 22 * HOUR, 2_000, 120, "coder"), None);
    assert_eq!(ids(&found), [BULK]);
    assert_eq!(found[0].1, json!({"unmapped.cordon.agent": "coder"}));
    // The same at 10:00: business hours.
    assert!(findings(&requests(MONDAY + 10 * HOUR, 2_000, 120, "coder"), None).is_empty());
    // Off hours but one a minute: never 100 within 10 minutes.
    assert!(findings(&requests(MONDAY + 20 * HOUR, MIN, 120, "coder"), None).is_empty());
    // Saturday at noon is off hours.
    assert_eq!(
        ids(&findings(
            &requests(MONDAY + 5 * 24 * HOUR + 12 * HOUR, 2_000, 120, "coder"),
            None
        )),
        [BULK]
    );
    // Hours and time zone are the organisation's: 10:00 UTC is 22:00 at +12:00.
    let tokyo_night = r#"{"detect": {"businessHours": "09-17", "timeZone": "+12:00"}}"#;
    assert_eq!(
        ids(&findings(
            &requests(MONDAY + 10 * HOUR, 2_000, 120, "coder"),
            Some(tokyo_night)
        )),
        [BULK]
    );
}

#[test]
fn rarely_used_sensitive_files() {
    let read = |t: i64, path: &str| {
        ev(
            t,
            1001,
            "allow",
            "granted",
            "coder",
            json!({"file": {"path": path, "name": "x", "type_id": 1}}),
        )
    };
    // The key read five times in a day: the first three are rare (fewer than 3 before them).
    let key: String = (0..5)
        .map(|i| read(MONDAY + 10 * HOUR + i * HOUR, "/home/alice/.ssh/id_rsa"))
        .collect();
    assert_eq!(ids(&findings(&key, None)), [RARE, RARE, RARE]);
    // Ordinary source files are not tagged sensitive.
    let src: String = (0..5)
        .map(|i| read(MONDAY + i * MIN, "/home/alice/src/main.rs"))
        .collect();
    assert!(findings(&src, None).is_empty());
    // The organisation's own tags.
    let tagged = r#"{"detect": {"sensitivePaths": ["/srv/payroll/**"]}}"#;
    assert_eq!(
        ids(&findings(
            &read(MONDAY, "/srv/payroll/2026/march.xlsx"),
            Some(tagged)
        )),
        [RARE]
    );
    assert!(findings(&read(MONDAY, "/home/alice/.ssh/id_rsa"), Some(tagged)).is_empty());
}

#[test]
fn repeated_denials_from_one_agent() {
    let deny = |t: i64, agent: &str| {
        ev(
            t,
            1001,
            "deny",
            "path_denied",
            agent,
            json!({"file": {"path": "/etc/x", "name": "x", "type_id": 1}}),
        )
    };
    let burst: String = (0..5)
        .map(|i| deny(MONDAY + 10 * HOUR + i * MIN, "coder"))
        .collect();
    let found = findings(&burst, None);
    assert_eq!(
        ids(&found),
        [PROBING],
        "the denials themselves raise nothing on their own"
    );
    let four: String = (0..4)
        .map(|i| deny(MONDAY + 10 * HOUR + i * MIN, "coder"))
        .collect();
    assert!(findings(&four, None).is_empty());
    let slow: String = (0..5)
        .map(|i| deny(MONDAY + 10 * HOUR + i * 15 * MIN, "coder"))
        .collect();
    assert!(
        findings(&slow, None).is_empty(),
        "five denials over an hour are not probing"
    );
    let many_agents: String = (0..5)
        .map(|i| deny(MONDAY + 10 * HOUR + i * MIN, &format!("agent-{i}")))
        .collect();
    assert!(findings(&many_agents, None).is_empty());
}

#[test]
fn blocked_secret_egress_and_manifest_verification_failures() {
    let blocked = ev(
        MONDAY + 10 * HOUR,
        4002,
        "deny",
        "dlp_blocked",
        "coder",
        json!({}),
    );
    assert_eq!(ids(&findings(&blocked, None)), [SECRET]);
    assert!(
        findings(
            &ev(
                MONDAY + 10 * HOUR,
                4002,
                "deny",
                "no_grant",
                "coder",
                json!({})
            ),
            None
        )
        .is_empty()
    );
    let verify = |status: u64| {
        json!({"class_uid": 6002, "activity_id": 99, "activity_name": "Verify", "time": MONDAY, "status_id": status,
               "severity_id": 3, "unmapped": {"cordon": {"decision": if status == 2 { "deny" } else { "allow" }, "reason": "revoked-manifest", "component": "run"}}})
        .to_string() + "\n"
    };
    assert_eq!(ids(&findings(&verify(2), None)), [VERIFY]);
    assert!(findings(&verify(1), None).is_empty());
}

#[test]
fn findings_are_recorded_as_ocsf_and_rules_are_checked() {
    let s = Sandbox::new();
    append(
        &s,
        &ev(MONDAY, 4002, "deny", "dlp_blocked", "coder", json!({})),
    );
    let state = s.path("state");
    s.expect(0, &["detect", "--record", "--state-dir", &state]);
    // Recorded once; a second run does not take its own findings as evidence.
    s.expect(0, &["detect", "--record", "--state-dir", &state]);
    // The crafted input event is not a whole OCSF event; the findings are, and are checked.
    let lines =
        cordon_audit::store::read_lines(&std::path::Path::new(&state).join("audit")).unwrap();
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].clone())
        .collect();
    let findings: Vec<&Value> = events.iter().filter(|e| e["class_uid"] == 2004).collect();
    for f in &findings {
        assert_eq!(
            cordon_audit::ocsf::schema::check(f),
            Vec::<String>::new(),
            "{f:#}"
        );
    }
    assert_eq!(
        findings.len(),
        2,
        "one per run: the same finding, the same uid"
    );
    assert_eq!(
        findings[0]["finding_info"]["uid"],
        findings[1]["finding_info"]["uid"]
    );
    assert_eq!(cordon(findings[0])["component"], "detect");
    assert_eq!(findings[0]["severity"], "High");
    s.expect(0, &["audit", "verify", "--state-dir", &state]);

    let out = s.expect(0, &["detect", "--check"]);
    assert!(
        out.contains("5 detection rule(s) and 2 correlation(s)"),
        "{out}"
    );
    let repo_rules = crate::repo("rules");
    s.expect(
        0,
        &["detect", "--check", "--rules", repo_rules.to_str().unwrap()],
    );
    std::fs::create_dir_all(s.path("bad")).unwrap();
    s.write(
        "bad/rule.yml",
        "title: Bad\nid: b\ndetection:\n  sel: {a|expand: '%x%'}\n  condition: sel\n",
    );
    let err = s.stderr_of(2, &["detect", "--check", "--rules", &s.path("bad")]);
    assert!(
        err.contains("rule.yml") && err.contains("`expand` is not supported"),
        "{err}"
    );
}
