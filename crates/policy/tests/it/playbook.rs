//! The playbook's sample manifest and OPA rule, loaded unchanged.

use cordon_policy::manifest;
use cordon_policy::pdp::{
    Action, CompileOptions, Effect, Pdp, Reason, RegoPolicy, Request, Rule, VerifiedGrant,
};
use time::macros::datetime;

use crate::repo_file;

fn playbook_rule() -> String {
    String::from_utf8(repo_file("examples/playbook-policy.rego")).unwrap()
}

fn pdp(manifest_json: &[u8], bind_to_writes: bool) -> Pdp {
    let m = manifest::parse(manifest_json, "playbook.json").unwrap();
    let actions = bind_to_writes.then(|| vec![Action::Write]);
    let policy = RegoPolicy::load("playbook-policy.rego", &playbook_rule(), actions).unwrap();
    Pdp::compile(
        &m,
        &CompileOptions {
            expansion: None,
            policies: vec![policy],
        },
    )
    .unwrap()
}

/// The sample manifest with `/sensitive` granted for writing, so the rule is what decides.
fn with_sensitive_grant() -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&repo_file("examples/playbook-manifest.json")).unwrap();
    v["writePaths"]
        .as_array_mut()
        .unwrap()
        .push("/sensitive".into());
    v["readPaths"]
        .as_array_mut()
        .unwrap()
        .push("/sensitive".into());
    serde_json::to_vec(&v).unwrap()
}

fn write(path: &str, scopes: &[&str]) -> Request {
    let mut r = Request::write(path).unwrap();
    r.scopes = scopes.iter().map(|s| s.to_string()).collect();
    r.time = Some(datetime!(2026-11-25 12:00 UTC));
    r
}

#[test]
fn sample_manifest_parses_verbatim() {
    let m = manifest::parse(&repo_file("examples/playbook-manifest.json"), "m.json").unwrap();
    assert_eq!(m.agent_name, "cowork-lite");
    assert_eq!(m.requires_approval, ["sheets:write:restricted"]);
    // And the compact form printed in SPEC M-1, byte for byte.
    let spec = br#"{"agentName":"cowork-lite","version":"1.0.0",
   "readPaths":["/home/user/Work/Reports"],"writePaths":["/home/user/Work/Reports/outgoing"],
   "networkScopes":["https://internal-api.corp.example.com"],
   "apiScopes":["sheets:read","sheets:write:restricted"],
   "commandsAllowed":["/usr/bin/convert","/usr/bin/python3"],
   "requiresApproval":["sheets:write:restricted"]}"#;
    assert_eq!(manifest::parse(spec, "spec.json").unwrap(), m);
}

#[test]
fn sensitive_writes_need_the_scope() {
    let pdp = pdp(&with_sensitive_grant(), true);
    let d = pdp.decide(&write("/sensitive/payroll.csv", &[]));
    assert_eq!(
        (d.effect, d.reason, d.rule),
        (Effect::Deny, Reason::PolicyDenied, Some(Rule::Policy(0)))
    );
    let d = pdp.decide(&write("/sensitive/payroll.csv", &["sensitive-write"]));
    assert_eq!((d.effect, d.reason), (Effect::Allow, Reason::Granted));
    // Spellings that would dodge `startswith` in the rule are normalised before it runs.
    for sneaky in [
        "//sensitive/payroll.csv",
        "/./sensitive/payroll.csv",
        "/tmp/../sensitive/payroll.csv",
    ] {
        assert_eq!(
            pdp.decide(&write(sneaky, &[])).effect,
            Effect::Deny,
            "{sneaky}"
        );
    }
    // Writes elsewhere under a grant are allowed by the rule's first clause.
    let d = pdp.decide(&write("/home/user/Work/Reports/outgoing/q3.pdf", &[]));
    assert_eq!(d.effect, Effect::Allow);
}

#[test]
fn the_scope_does_not_replace_a_grant() {
    // The verbatim manifest does not grant /sensitive: the scope alone changes nothing.
    let pdp = pdp(&repo_file("examples/playbook-manifest.json"), true);
    let d = pdp.decide(&write("/sensitive/payroll.csv", &["sensitive-write"]));
    assert_eq!((d.effect, d.reason), (Effect::Deny, Reason::NoGrant));
}

#[test]
fn reads_follow_the_manifest() {
    let pdp = pdp(&repo_file("examples/playbook-manifest.json"), true);
    let mut ok = Request::read("/home/user/Work/Reports/q3.xlsx").unwrap();
    ok.time = Some(datetime!(2026-11-25 12:00 UTC));
    let d = pdp.decide(&ok);
    assert_eq!(
        (d.effect, d.rule),
        (Effect::Allow, Some(Rule::ReadPaths(0)))
    );
    let d = pdp.decide(&Request::read("/home/user/.ssh/id_rsa").unwrap());
    assert_eq!((d.effect, d.reason), (Effect::Deny, Reason::NoGrant));
}

#[test]
fn restricted_sheets_need_approval() {
    let pdp = pdp(&repo_file("examples/playbook-manifest.json"), true);
    let req = Request::api("sheets:write:restricted").unwrap();
    let d = pdp.decide(&req);
    assert_eq!(
        (d.effect, d.rule),
        (Effect::ApprovalRequired, Some(Rule::RequiresApproval(0)))
    );
    assert_eq!(
        pdp.approval_entry(d.rule.unwrap()),
        Some("sheets:write:restricted")
    );
    let mut approved = req.clone();
    approved.grants.push(VerifiedGrant::from_verified(
        "jit-1",
        vec!["sheets:write:restricted".into()],
    ));
    let d = pdp.decide(&approved);
    assert_eq!(
        (d.effect, d.reason, d.approval_id.as_deref()),
        (Effect::Allow, Reason::GrantedWithApproval, Some("jit-1"))
    );
    // A grant for something else does not help.
    let mut other = req.clone();
    other.grants.push(VerifiedGrant::from_verified(
        "jit-2",
        vec!["sheets:read".into()],
    ));
    assert_eq!(pdp.decide(&other).effect, Effect::ApprovalRequired);
    assert_eq!(
        pdp.decide(&Request::api("sheets:read").unwrap()).effect,
        Effect::Allow
    );
}

#[test]
fn an_unbound_rule_sees_every_action_and_deny_wins() {
    // Bound to nothing, `default allow = false` objects to every read: deny always wins.
    let pdp = pdp(&repo_file("examples/playbook-manifest.json"), false);
    let d = pdp.decide(&Request::read("/home/user/Work/Reports/q3.xlsx").unwrap());
    assert_eq!((d.effect, d.reason), (Effect::Deny, Reason::PolicyDenied));
    // A policy denial also beats an approval requirement.
    let d = pdp.decide(&Request::api("sheets:write:restricted").unwrap());
    assert_eq!(d.reason, Reason::PolicyDenied);
}

#[test]
fn explain_names_the_grant_or_why_none_matched() {
    let pdp = pdp(&repo_file("examples/playbook-manifest.json"), true);
    let (_, steps) = pdp.explain(&Request::read("/home/user/.ssh/id_rsa").unwrap());
    assert!(
        steps
            .iter()
            .any(|s| s.contains("no grant covers it") && s.contains("/home/user/Work/Reports")),
        "{steps:?}"
    );
    let (_, steps) = pdp.explain(&Request::read("/home/user/Work/Reports/q3.xlsx").unwrap());
    assert!(
        steps.iter().any(|s| s.contains("granted by readPaths[0]")),
        "{steps:?}"
    );
}

#[test]
fn expired_manifests_grant_nothing() {
    let m = manifest::parse(br#"{"agentName":"a","version":"1.0.0","expires":"2026-01-01T00:00:00Z","readPaths":["/srv"]}"#, "m").unwrap();
    let pdp = Pdp::compile(&m, &CompileOptions::default()).unwrap();
    let mut r = Request::read("/srv/x").unwrap();
    assert_eq!(
        pdp.decide(&r).reason,
        Reason::InvalidRequest,
        "no time, expiring manifest"
    );
    r.time = Some(datetime!(2025-12-31 23:59 UTC));
    assert_eq!(pdp.decide(&r).effect, Effect::Allow);
    r.time = Some(datetime!(2026-01-01 00:00 UTC));
    assert_eq!(pdp.decide(&r).reason, Reason::ManifestExpired);
}

#[test]
fn commands_and_arguments() {
    let m = manifest::parse(
        br#"{"agentName":"a","version":"1.0.0","commandsAllowed":["/usr/bin/convert",{"path":"/usr/bin/git","args":["status","**"]}],"denyPaths":["/usr/bin/convert"]}"#,
        "m",
    )
    .unwrap();
    let pdp = Pdp::compile(&m, &CompileOptions::default()).unwrap();
    let exec = |c: &str, a: &[&str]| {
        pdp.decide(&Request::exec(c, a.iter().map(|s| s.to_string()).collect()).unwrap())
    };
    assert_eq!(
        exec("/usr/bin/git", &["status", "-s"]).effect,
        Effect::Allow
    );
    assert_eq!(
        exec("/usr/bin/git", &["push"]).reason,
        Reason::ArgsNotAllowed
    );
    assert_eq!(exec("/usr/bin/convert", &[]).reason, Reason::DeniedPath);
    assert_eq!(
        exec("/usr/bin/./git/../git", &["status"]).effect,
        Effect::Allow
    );
    assert_eq!(exec("/bin/sh", &[]).reason, Reason::NoGrant);
}

#[test]
fn network_apis_and_mcp() {
    let m = manifest::parse(
        br#"{"agentName":"a","version":"1.0.0",
        "networkScopes":["https://internal.example.com/v1"],
        "apiScopes":["gh:read","gh:pr","mail:*"],
        "apis":{
          "gh:read":{"endpoints":[{"url":"https://api.github.com/repos","methods":["GET"]}],"credential":{"env":"GH_TOKEN"}},
          "gh:pr":{"endpoints":[{"url":"https://api.github.com","methods":["POST"],"paths":["/repos/*/*/pulls"]}]},
          "mail:send":{"mcpTools":[{"server":"outlook","tool":"send_mail"}]},
          "cal:write":{"mcpTools":[{"server":"outlook","tool":"create_event"}]}
        },
        "requiresApproval":["gh:pr","network:https://internal.example.com/v1/admin"],
        "dlp":{"block":["secret"]}}"#,
        "m",
    )
    .unwrap();
    let pdp = Pdp::compile(&m, &CompileOptions::default()).unwrap();
    let net = |u: &str, method: &str| pdp.decide(&Request::network(u, method).unwrap());
    assert_eq!(
        net("https://internal.example.com/v1/reports", "GET").effect,
        Effect::Allow
    );
    assert_eq!(
        net("https://internal.example.com/v2/reports", "GET").effect,
        Effect::Deny
    );
    assert_eq!(
        net("https://internal.example.com/v1/admin/users", "GET").effect,
        Effect::ApprovalRequired
    );
    let d = net("https://api.github.com/repos/a/b", "GET");
    assert_eq!(d.effect, Effect::Allow);
    assert!(
        d.obligations
            .iter()
            .any(|o| matches!(o, cordon_policy::pdp::Obligation::InjectCredential { .. }))
    );
    assert!(
        d.obligations
            .contains(&cordon_policy::pdp::Obligation::InspectContent)
    );
    assert_eq!(
        net("https://api.github.com/repos/a/b", "DELETE").effect,
        Effect::Deny
    );
    assert_eq!(
        net("https://api.github.com/repos/a/b/pulls", "POST").effect,
        Effect::ApprovalRequired
    );
    assert_eq!(
        net("https://api.github.com/repos/a/b/issues", "POST").effect,
        Effect::Deny
    );
    let mcp = |s: &str, t: &str| pdp.decide(&Request::mcp(s, t).unwrap());
    assert_eq!(mcp("outlook", "send_mail").effect, Effect::Allow);
    assert_eq!(
        mcp("outlook", "create_event").effect,
        Effect::Deny,
        "cal:write is not in apiScopes"
    );
    assert_eq!(mcp("other", "send_mail").effect, Effect::Deny);
}

#[test]
fn credentials_are_injected_whichever_grant_allows() {
    // `networkScopes` covers the API host too: the credential of the matching `apis` entry is
    // still an obligation, so the proxy never forwards without it.
    let m = manifest::parse(
        br#"{"agentName":"a","version":"1.0.0","networkScopes":["https://api.github.com"],"apiScopes":["gh:read"],
        "apis":{"gh:read":{"endpoints":[{"url":"https://api.github.com/repos","methods":["GET"]}],"credential":{"env":"GH_TOKEN"}}}}"#,
        "m",
    )
    .unwrap();
    let pdp = Pdp::compile(&m, &CompileOptions::default()).unwrap();
    let d = pdp.decide(&Request::network("https://api.github.com/repos/a/b", "GET").unwrap());
    assert_eq!(d.rule, Some(Rule::NetworkScopes(0)));
    assert_eq!(
        d.obligations,
        [cordon_policy::pdp::Obligation::InjectCredential { api: 0 }]
    );
    let d = pdp.decide(&Request::network("https://api.github.com/users/a", "GET").unwrap());
    assert!(d.obligations.is_empty());
}
