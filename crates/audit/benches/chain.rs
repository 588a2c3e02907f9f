//! Append and verify throughput of the hash chain (SPEC §11: append ≥ 200k events/s on one core,
//! verify ≥ 1M events/s), on events shaped like the proxy's and the hook's records.
//!
//!     cargo bench -p cordon-audit --bench chain

use cordon_audit::chain::Chain;
use cordon_audit::verify::verify;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

fn event(i: u64) -> Value {
    json!({
        "class_uid": 4002, "activity_id": 1, "severity_id": 1, "time": 1_764_115_200_000u64 + i,
        "actor": {"user": {"name": "alice"}, "process": {"name": "claude"}},
        "http_request": {"http_method": "POST", "url": {"hostname": "api.anthropic.com", "path": "/v1/messages", "port": 443}},
        "cordon": {"agent": "claude-code-agent", "decision": "allow", "rule": "apis[0] anthropic:messages",
                   "manifest_digest": "sha256:050e714a3580d7bc032462acff04e84057c53c510836eb3fa1ebff3bdab2feab"},
        "traffic": {"bytes_out": 49226, "bytes_in": 967},
    })
}

fn bench(c: &mut Criterion) {
    const N: u64 = 10_000;
    let events: Vec<Value> = (0..N).map(event).collect();
    let mut g = c.benchmark_group("chain");
    g.throughput(Throughput::Elements(N));
    g.bench_function("append", |b| {
        b.iter(|| {
            let mut chain = Chain::new();
            for e in &events {
                std::hint::black_box(chain.seal("2026-11-26T10:00:00.000Z", e.clone()));
            }
        })
    });
    let mut chain = Chain::new();
    let lines: Vec<String> = events
        .iter()
        .map(|e| chain.seal("2026-11-26T10:00:00.000Z", e.clone()).line)
        .collect();
    g.bench_function("verify", |b| {
        b.iter(|| {
            let r = verify(lines.iter().map(String::as_str));
            assert!(r.problem.is_none());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
