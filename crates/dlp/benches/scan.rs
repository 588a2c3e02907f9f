//! Scan throughput of the built-in rules on clean text that is full of the words scanners key on
//! (token, key, password, secret, card, ssn, @) without values, and on text dense with findings.
//! `cargo bench -p cordon-dlp --bench scan`; the corpus generator is shared with `bench/dlp.sh`.

#![allow(clippy::expect_used, clippy::panic)]

use cordon_dlp::scan::Scanner;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "support/corpus.rs"]
mod corpus;

fn scan(c: &mut Criterion) {
    let scanner = Scanner::builtin().expect("built-in rules compile");
    let clean = corpus::clean(8 << 20);
    let dense = corpus::dense(8 << 20);
    assert!(
        scanner.scan(&clean).is_empty(),
        "the clean corpus must have no findings"
    );
    assert!(!scanner.scan(&dense).is_empty());
    let mut g = c.benchmark_group("dlp");
    g.sample_size(10);
    for (name, data) in [("clean", &clean), ("dense", &dense)] {
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(name, |b| b.iter(|| scanner.scan(data).len()));
    }
    g.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
