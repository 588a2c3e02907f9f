//! Rego policies using the constructs admins write: sets of messages, `some … in`, `every`,
//! `else`, string built-ins; and conflicts between complete rules, which must deny.

use cordon_policy::pdp::{RegoPolicy, RegoVerdict, Request};

const POLICIES: &[(&str, &str)] = &[
    (
        "playbook.rego",
        include_str!("../../../../examples/playbook-policy.rego"),
    ),
    (
        "deny-set.rego",
        r#"package cordon.guard
import rego.v1

sensitive := {"/srv/hr", "/srv/finance/payroll"}

deny contains msg if {
    input.action == "write"
    some prefix in sensitive
    startswith(input.path, prefix)
    not "hr-write" in input.scopes
    msg := sprintf("writes under %s need hr-write", [prefix])
}

deny contains "no agent named" if {
    not input.agent
}

deny contains msg if {
    input.action == "network"
    not endswith(input.host, ".corp.example.com")
    count(input.scopes) < 2
    msg := concat(" ", ["external host", input.host])
}
"#,
    ),
    (
        "allow-else.rego",
        r#"package cordon.hours
import rego.v1

default allow := false

hour := to_number(substring(input.time, 11, 2))

allow if {
    input.action in {"read", "api"}
}

allow if {
    input.action == "write"
    hour >= 8
    hour < 18
} else := false

allow if {
    every s in input.scopes { regex.match(`^[a-z-]+$`, s) }
    input.principal.user == "admin"
}
"#,
    ),
];

#[test]
fn policies_deny_what_they_should() {
    let p = RegoPolicy::load("deny-set.rego", POLICIES[1].1, None).unwrap();
    let mut r = Request::write("/srv/hr/x").unwrap();
    r.agent = Some("a".into());
    let v = p.evaluate(&regorus::Value::from(r.to_input())).unwrap();
    assert_eq!(
        v,
        RegoVerdict::Deny(vec!["writes under /srv/hr need hr-write".into()])
    );
    r.scopes = vec!["hr-write".into()];
    assert_eq!(
        p.evaluate(&regorus::Value::from(r.to_input())).unwrap(),
        RegoVerdict::Pass
    );
}

#[test]
fn conflicting_complete_rules_are_an_error_not_a_value() {
    // For a read, `allow` is both true (first rule) and false (the `else`): OPA reports a
    // conflict. A VM that picked one value here was the reason regorus's RVM is not used.
    let p = RegoPolicy::load("allow-else.rego", POLICIES[2].1, None).unwrap();
    let mut r = Request::read("/srv/x").unwrap();
    r.time = Some(time::macros::datetime!(2026-11-25 12:00 UTC));
    let v = p.evaluate(&regorus::Value::from(r.to_input()));
    assert!(v.unwrap_err().contains("conflict"));
}

#[test]
fn policies_allow_what_they_should() {
    let p = RegoPolicy::load("allow-else.rego", POLICIES[2].1, None).unwrap();
    let mut r = Request::write("/srv/x").unwrap();
    r.principal.user = Some("admin".into());
    r.time = Some(time::macros::datetime!(2026-11-25 12:00 UTC));
    // During business hours: the write rule holds and nothing conflicts.
    assert_eq!(
        p.evaluate(&regorus::Value::from(r.to_input())).unwrap(),
        RegoVerdict::Pass
    );
}

#[test]
fn the_rego_input_is_the_json_input() {
    let mut r = Request::network("https://API.example.com:8443/a/../b?q=1", "post").unwrap();
    r.scopes = vec!["x".into()];
    r.principal.user = Some("alice".into());
    r.principal.groups = vec!["finance".into()];
    r.agent = Some("cowork-lite".into());
    r.time = Some(time::macros::datetime!(2026-11-25 12:00 UTC));
    assert_eq!(r.to_rego_input(), regorus::Value::from(r.to_input()));
    let e = Request::exec("/usr/bin/git", vec!["status".into()]).unwrap();
    assert_eq!(e.to_rego_input(), regorus::Value::from(e.to_input()));
}
