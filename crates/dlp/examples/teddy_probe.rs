//! Research probe for the scanner's keyword stage, not part of a scan: what it costs to find every
//! keyword of the built-in rules (ASCII-caseless, overlapping occurrences included) with
//! Aho-Corasick's packed Teddy searchers, which use SIMD where the CPU has it, chosen at run
//! time. Teddy takes at most 64 patterns at a time, so the keywords (by length, shortest first)
//! are split into groups of `GROUP`, and each group searches an ASCII-lowercased copy of every
//! 64 KiB block, restarting one byte after each match so that overlapping keywords are seen.
//!
//! `cargo run --release -p cordon-dlp --example teddy_probe -- FILE [TIMES] [GROUP]`

use std::time::Instant;

use aho_corasick::Span;
use aho_corasick::packed::{Config, MatchKind, Searcher};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: teddy_probe FILE [TIMES] [GROUP]")?;
    let times: usize = args.next().map_or(Ok(10), |t| t.parse())?;
    let group: usize = args.next().map_or(Ok(64), |t| t.parse())?;
    let data = std::fs::read(&path)?;
    let set = cordon_dlp::rule::RuleSet::builtin()?;
    let mut keywords: Vec<Vec<u8>> = set
        .rules()
        .iter()
        .flat_map(|r| {
            r.spec
                .keywords
                .iter()
                .map(|k| k.to_ascii_lowercase().into_bytes())
        })
        .filter(|k| k.len() >= 2)
        .collect();
    keywords.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
    keywords.dedup();
    let searchers: Vec<Searcher> = keywords
        .chunks(group)
        .map(|g| {
            Config::new()
                .match_kind(MatchKind::LeftmostFirst)
                .heuristic_pattern_limits(false)
                .builder()
                .extend(g)
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
                let mut at = 0;
                while let Some(m) = searcher.find_in(&*buf, Span::from(at..buf.len())) {
                    hits += 1;
                    at = m.start() + 1;
                }
            }
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    let mib = data.len() as f64 / f64::from(1 << 20);
    println!(
        "{path}: {} keywords in {} groups, {} bytes, {hits} hits ({:.0} bytes apart), best of {times}: {:.0} MiB/s",
        keywords.len(),
        searchers.len(),
        data.len(),
        data.len() as f64 / hits.max(1) as f64,
        mib / best
    );
    Ok(())
}
