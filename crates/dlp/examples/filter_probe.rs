//! Research probe for the scanner's next design, not part of a scan: how fast a small set of
//! caseless keywords (the generic-credential words and the few other rules whose trigger is an
//! ordinary word; `@` left to `memchr`) is found by Aho-Corasick's packed Teddy searcher (SIMD
//! where the CPU has it; it refuses one-byte patterns) over an ASCII-lowercased copy of each
//! 64 KiB block. See docs/benchmarks.md, "Where the budget could come from".
//!
//! With `all`, every keyword of the built-in rules (two bytes or more) instead: Teddy takes at
//! most 64 patterns at a time, so they are split by length into groups of 64, each group searches
//! every block, and each search restarts one byte after a match so that overlapping keywords are
//! all seen, as the scanner's own keyword filter sees them (docs/benchmarks.md, "Session 11").
//!
//! `cargo run --release -p cordon-dlp --example filter_probe -- FILE [TIMES] [all]`

use std::time::Instant;

use aho_corasick::Span;
use aho_corasick::packed::{Config, MatchKind, Searcher};

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
    let path = args
        .next()
        .ok_or("usage: filter_probe FILE [TIMES] [all]")?;
    let times: usize = args.next().map_or(Ok(10), |t| t.parse())?;
    let every_keyword = args.next().is_some_and(|a| a == "all");
    let data = std::fs::read(&path)?;
    let keywords: Vec<Vec<u8>> = if every_keyword {
        let set = cordon_dlp::rule::RuleSet::builtin()?;
        let mut all: Vec<Vec<u8>> = set
            .rules()
            .iter()
            .flat_map(|r| r.spec.keywords.iter())
            .map(|k| k.to_ascii_lowercase().into_bytes())
            .filter(|k| k.len() >= 2)
            .collect();
        all.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
        all.dedup();
        all
    } else {
        WORDS.iter().map(|w| w.as_bytes().to_vec()).collect()
    };
    let searchers: Vec<Searcher> = keywords
        .chunks(64)
        .map(|group| {
            Config::new()
                .match_kind(MatchKind::LeftmostFirst)
                .builder()
                .extend(group)
                .build()
                .ok_or("Teddy is not available on this CPU")
        })
        .collect::<Result<_, _>>()?;
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
            for searcher in &searchers {
                if every_keyword {
                    let mut at = 0;
                    while let Some(m) = searcher.find_in(&*buf, Span::from(at..buf.len())) {
                        hits += 1;
                        at = m.start() + 1;
                    }
                } else {
                    hits += searcher.find_iter(&*buf).count();
                }
            }
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    let mib = data.len() as f64 / f64::from(1 << 20);
    println!(
        "{path}: {} keywords in {} groups, {} bytes, {hits} keyword hits ({:.0} bytes apart), best of {times}: {:.0} MiB/s",
        keywords.len(),
        searchers.len(),
        data.len(),
        data.len() as f64 / hits.max(1) as f64,
        mib / best
    );
    Ok(())
}
