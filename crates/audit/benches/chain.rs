//! Append and verify throughput of the audit log (SPEC §11: append ≥ 200k events/s on one core
//! with hash chain and checkpoint signing, verify ≥ 1M events/s), on OCSF events shaped like
//! the proxy's.
//!
//!     cargo bench -p cordon-audit --bench chain
//!
//! - `seal+sign`: events sealed into the chain, an Ed25519-signed checkpoint every 1,000
//!   records (ten times the default rate) — the CPU work of appending. The events come from a
//!   ring of 16, warm in cache as an event the proxy has just built is (sealing 10,000 distinct
//!   events, each cold in memory, measures the VM's memory latency three times over instead);
//! - `log append`: the same (warm) events through `store::Log` into a segment file, in batches
//!   of 1,000, each written once and fsynced (the disk's fsync latency included);
//! - `verify`: walking the chain of 10,000 records, read from one buffer as a segment file is.

use cordon_audit::chain::Chain;
use cordon_audit::checkpoint::{Checkpoint, Signer};
use cordon_audit::ocsf::{Activity, Event, HttpMethod, Subject, Verdict};
use cordon_audit::store::Log;
use cordon_audit::verify::{Lines, verify_log};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::Signer as _;
use serde_json::{Value, json};

fn event(i: u64) -> Value {
    let subject = Subject {
        component: "proxy",
        agent: "claude-code-agent".into(),
        user: "alice".into(),
        host: "ws-17.corp.example".into(),
        manifest_digest: Some(
            "sha256:050e714a3580d7bc032462acff04e84057c53c510836eb3fa1ebff3bdab2feab".into(),
        ),
        correlation: Some("9f1c2a7be0d34c1e8a5b6c7d8e9f0a1b".into()),
    };
    Event::new(Activity::Http(HttpMethod::Post), 1_764_115_200_000 + i as i64)
        .decided(Verdict::Allow, "granted", Some("apis[0] anthropic:messages"))
        .with("src_endpoint", json!({"ip": "127.0.0.1", "port": 50312}))
        .with("dst_endpoint", json!({"hostname": "api.anthropic.com", "port": 443, "ip": "160.79.104.10"}))
        .with("http_request", json!({"http_method": "POST", "url": {"scheme": "https", "hostname": "api.anthropic.com", "port": 443, "path": "/v1/messages"},
            "http_headers": [{"name": "content-type", "value": "application/json"}, {"name": "x-api-key", "value": "[redacted]"}]}))
        .with("http_response", json!({"code": 200}))
        .with("traffic", json!({"bytes_out": 49226, "bytes_in": 967}))
        .with("duration", 812.into())
        .finish(&subject, "0.1.0")
}

struct Key(ed25519_dalek::SigningKey, String);

impl Signer for Key {
    fn key_id(&self) -> &str {
        &self.1
    }
    fn sign(&self, message: &[u8]) -> String {
        format!("{:?}", self.0.sign(message).to_bytes())
    }
}

fn bench(c: &mut Criterion) {
    const N: u64 = 10_000;
    let events: Vec<Value> = (0..N).map(event).collect();
    let key = Key(ed25519_dalek::SigningKey::from_bytes(&[7; 32]), "k".into());
    let mut g = c.benchmark_group("audit");
    g.throughput(Throughput::Elements(N));
    let ring: Vec<Value> = events.iter().take(16).cloned().collect();
    g.bench_function("seal+sign", |b| {
        b.iter(|| {
            let mut chain = Chain::new();
            for (i, e) in ring.iter().cycle().take(N as usize).enumerate() {
                std::hint::black_box(chain.seal("2026-11-26T10:00:00.000Z", e));
                if i % 1000 == 999 {
                    let cp = Checkpoint::sign(
                        chain.next_seq() - 1,
                        chain.prev(),
                        "2026-11-26T10:00:00.000Z",
                        &key,
                    );
                    std::hint::black_box(chain.seal("2026-11-26T10:00:00.000Z", cp.to_event()));
                }
            }
        })
    });
    let dir = std::env::temp_dir().join(format!("cordon-bench-{}", std::process::id()));
    g.bench_function("log append (batches of 1000, fsync each)", |b| {
        b.iter(|| {
            let _ = std::fs::remove_dir_all(&dir);
            let Ok(mut log) = Log::open(&dir) else {
                return;
            };
            let mut warm = ring.iter().cycle();
            for _ in 0..N / 1000 {
                let batch = warm.by_ref().take(1000);
                std::hint::black_box(log.append("2026-11-26T10:00:00.000Z", batch).ok());
            }
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
    // A segment as `cordon audit verify` reads it: one buffer of lines.
    let mut chain = Chain::new();
    let segment: String = events
        .iter()
        .map(|e| chain.seal("2026-11-26T10:00:00.000Z", e).line + "\n")
        .collect();
    g.bench_function("verify", |b| {
        b.iter(|| {
            let (r, _) = verify_log(&Lines::of_segments(&[segment.as_str()]));
            assert!(r.problem.is_none());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
