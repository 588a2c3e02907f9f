//! Research probe for the scanner's next design, not part of a scan: how fast a small set of
//! caseless keywords (the generic-credential words and the few other rules whose trigger is an
//! ordinary word; `@` left to `memchr`) is found by Aho-Corasick's packed Teddy searcher (SIMD
//! where the CPU has it; it refuses one-byte patterns) over an ASCII-lowercased copy of each
//! 64 KiB block. See docs/benchmarks.md, "Where the budget could come from".
//!
//! `cargo run --release -p cordon-dlp --example filter_probe -- FILE [TIMES]`

use std::time::Instant;

use aho_corasick::packed::{Config, MatchKind};

const WORDS: &[&str] = &[
    "_key",
    "-key",
    ".key",
    "apikey",
    "accesskey",
    "privatekey",
    "signingkey",
    "masterkey",
    "authkey",
    "token",
    "secret",
    "passwd",
    "password",
    "pwd",
    "passphrase",
    "credential",
    "bearer",
    "basic",
    "ssn",
    "social security",
    "://",
    "authorization",
    "private key",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: filter_probe FILE [TIMES]")?;
    let times: usize = args.next().map_or(Ok(10), |t| t.parse())?;
    let data = std::fs::read(&path)?;
    let searcher = Config::new()
        .match_kind(MatchKind::LeftmostFirst)
        .builder()
        .extend(WORDS)
        .build()
        .ok_or("Teddy is not available on this CPU")?;
    let mut lower = vec![0u8; 64 << 10];
    let mut best = f64::INFINITY;
    let mut hits = 0usize;
    for _ in 0..times {
        let started = Instant::now();
        hits = 0;
        for block in data.chunks(64 << 10) {
            let buf = lower
                .get_mut(..block.len())
                .ok_or("block larger than its buffer")?;
            for (l, &b) in buf.iter_mut().zip(block) {
                *l = b.to_ascii_lowercase();
            }
            hits += searcher.find_iter(&*buf).count();
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    let mib = data.len() as f64 / f64::from(1 << 20);
    println!(
        "{path}: {} bytes, {hits} keyword hits ({:.0} bytes apart), best of {times}: {:.0} MiB/s",
        data.len(),
        data.len() as f64 / hits.max(1) as f64,
        mib / best
    );
    Ok(())
}
