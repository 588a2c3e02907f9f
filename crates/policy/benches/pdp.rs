//! PDP decision cost (SPEC §11: ≤ 1 µs median and ≤ 5 µs p99 with a 100-grant manifest;
//! ≤ 20 µs median with a Rego policy).
//!
//! Criterion measures the median of batched decisions; after it, a latency pass times 200,000
//! single decisions each (with `Instant`, whose own cost is included) and prints p50/p99/p99.9,
//! since criterion does not report tail percentiles.
//!
//! Run: `cargo bench -p cordon-policy --bench pdp`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use cordon_policy::manifest;
use cordon_policy::pdp::{Action, CompileOptions, Pdp, RegoPolicy, Request};
use criterion::{Criterion, criterion_group};
use time::macros::datetime;

/// A manifest with 100 grants: 40 read paths (8 of them globs), 20 write paths, 15 network
/// scopes, 10 API scopes, 10 commands, 5 deny paths, and 3 approval entries.
fn manifest_100() -> Vec<u8> {
    let mut read: Vec<String> = (0..32)
        .map(|i| format!("/home/user/Work/Project{i:02}/docs"))
        .collect();
    read.extend((0..8).map(|i| format!("/srv/data/team{i}/*/reports")));
    let write: Vec<String> = (0..20)
        .map(|i| format!("/home/user/Work/Project{i:02}/docs/out"))
        .collect();
    let net: Vec<String> = (0..15)
        .map(|i| format!("https://api{i}.corp.example.com/v1"))
        .collect();
    let api: Vec<String> = (0..10).map(|i| format!("svc{i}:read")).collect();
    let cmds: Vec<String> = (0..10).map(|i| format!("/usr/bin/tool{i}")).collect();
    let deny: Vec<String> = (0..5)
        .map(|i| format!("/home/user/Work/Project{i:02}/docs/private"))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "agentName": "bench", "version": "1.0.0", "expires": "2030-01-01T00:00:00Z",
        "readPaths": read, "writePaths": write, "networkScopes": net, "apiScopes": api,
        "commandsAllowed": cmds, "denyPaths": deny,
        "requiresApproval": ["svc9:read", "write:/home/user/Work/Project19/docs/out/final", "network:https://api14.corp.example.com/v1/pay"],
    }))
    .unwrap()
}

fn compile(policies: Vec<RegoPolicy>) -> Pdp {
    let m = manifest::parse(&manifest_100(), "bench.json").unwrap();
    Pdp::compile(
        &m,
        &CompileOptions {
            expansion: None,
            policies,
        },
    )
    .unwrap()
}

fn at(mut r: Request) -> Request {
    r.time = Some(datetime!(2026-11-25 12:00 UTC));
    r
}

fn requests() -> Vec<(&'static str, Request)> {
    vec![
        (
            "read allow (last plain grant)",
            at(Request::read("/home/user/Work/Project31/docs/a/b/report.xlsx").unwrap()),
        ),
        (
            "read allow (glob grant)",
            at(Request::read("/srv/data/team7/q3/reports/x.csv").unwrap()),
        ),
        (
            "read deny (no grant)",
            at(Request::read("/home/user/.ssh/id_rsa").unwrap()),
        ),
        (
            "read deny (denyPaths)",
            at(Request::read("/home/user/Work/Project04/docs/private/x").unwrap()),
        ),
        (
            "write approval_required",
            at(Request::write("/home/user/Work/Project19/docs/out/final/r.pdf").unwrap()),
        ),
        (
            "network allow",
            at(Request::network("https://api14.corp.example.com/v1/reports?q=1", "GET").unwrap()),
        ),
        (
            "exec allow",
            at(Request::exec("/usr/bin/tool9", vec!["--x".into()]).unwrap()),
        ),
        ("api allow", at(Request::api("svc5:read").unwrap())),
    ]
}

const PLAYBOOK_RULE: &str = include_str!("../../../examples/playbook-policy.rego");

fn rego_pdp() -> Pdp {
    let policy = RegoPolicy::load(
        "playbook-policy.rego",
        PLAYBOOK_RULE,
        Some(vec![Action::Write]),
    )
    .unwrap();
    compile(vec![policy])
}

fn rego_request() -> Request {
    let mut r = at(Request::write("/home/user/Work/Project03/docs/out/summary.pdf").unwrap());
    r.scopes = vec!["sensitive-write".into()];
    r
}

fn bench(c: &mut Criterion) {
    let pdp = compile(Vec::new());
    let mut g = c.benchmark_group("pdp/manifest-100");
    for (name, req) in requests() {
        g.bench_function(name, |b| b.iter(|| black_box(pdp.decide(black_box(&req)))));
    }
    g.finish();
    let pdp = rego_pdp();
    let req = rego_request();
    c.bench_function("pdp/manifest-100+rego/write allow", |b| {
        b.iter(|| black_box(pdp.decide(black_box(&req))))
    });
    c.bench_function("pdp/rego input document", |b| {
        b.iter(|| black_box(black_box(&req).to_rego_input()))
    });
}

fn percentiles(name: &str, pdp: &Pdp, reqs: &[Request], n: usize) {
    let mut samples: Vec<Duration> = Vec::with_capacity(n);
    for i in 0..n {
        let req = &reqs[i % reqs.len()];
        let start = Instant::now();
        black_box(pdp.decide(black_box(req)));
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    let q = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "latency {name}: n={n} p50={:?} p99={:?} p99.9={:?} max={:?}",
        q(0.50),
        q(0.99),
        q(0.999),
        samples[samples.len() - 1]
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    let pdp = compile(Vec::new());
    let reqs: Vec<Request> = requests().into_iter().map(|(_, r)| r).collect();
    // Warm up, then measure every request kind in rotation.
    percentiles("warm-up", &pdp, &reqs, 20_000);
    percentiles("manifest-100 (all request kinds)", &pdp, &reqs, 200_000);
    percentiles(
        "manifest-100+rego (write)",
        &rego_pdp(),
        &[rego_request()],
        50_000,
    );
    Criterion::default().configure_from_args().final_summary();
}
