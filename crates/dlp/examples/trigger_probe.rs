//! Research probe for the scanner's next design, not part of a scan: what the token-shape
//! trigger would cost. That trigger would replace the keyword filter for rules whose keyword is
//! a case-sensitive token prefix (`ghp_`, `AKIA`, `xoxb-`). The probe finds every run of token
//! bytes (`A-Z a-z 0-9 _ -`) at least `MIN_RUN` long, eight bytes at a time. At each position in
//! such a run, it looks the next two bytes up in a bitmap of the prefixes' first two bytes, and
//! confirms a hit against the prefixes themselves. It reports the time of that pass alone next to
//! the count of candidates it leaves, so the cost can be set beside the keyword filter's (see
//! docs/benchmarks.md, "Where the budget could come from").
//!
//! `cargo run --release -p cordon-dlp --example trigger_probe -- FILE [TIMES]`

use std::time::Instant;

/// The shortest run a prefix rule's match fits in: a literal and a counted run of at least
/// sixteen bytes, with few exceptions.
const MIN_RUN: usize = 16;

/// The high bit of each byte of `w` that is a token byte: ASCII letter, digit, `_` or `-`.
fn token_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = ONES * 0x80;
    // High bit set where the byte (below 0x80) is at least `lo`.
    let at_least = |lo: u8| ((w & !HIGHS) + ONES * u64::from(0x80 - lo)) & !w & HIGHS;
    let in_range = |lo: u8, hi: u8| at_least(lo) & !at_least(hi + 1);
    let eq = |b: u8| {
        let x = w ^ (ONES * u64::from(b));
        !(((x & !HIGHS) + !HIGHS) | x) & HIGHS
    };
    in_range(b'0', b'9') | in_range(b'A', b'Z') | in_range(b'a', b'z') | eq(b'_') | eq(b'-')
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: trigger_probe FILE [TIMES]")?;
    let times: usize = args.next().map_or(Ok(10), |t| t.parse())?;
    let data = std::fs::read(&path)?;
    // The keywords of rules whose patterns are case-sensitive, as written: the token prefixes.
    let set = cordon_dlp::rule::RuleSet::builtin()?;
    let prefixes: Vec<Vec<u8>> = set
        .rules()
        .iter()
        .filter(|r| !r.spec.pattern.contains("(?i"))
        .flat_map(|r| r.spec.keywords.iter().map(|k| k.as_bytes().to_vec()))
        .filter(|k| k.len() >= 2 && k.iter().all(|&b| token_mask(u64::from(b)) != 0))
        .collect();
    let mut heads = vec![0u64; 1024];
    let mut by_head: std::collections::HashMap<usize, Vec<&[u8]>> = Default::default();
    for p in &prefixes {
        if let [a, b, ..] = p[..] {
            let i = usize::from(a) << 8 | usize::from(b);
            if let Some(word) = heads.get_mut(i / 64) {
                *word |= 1 << (i % 64);
            }
            by_head.entry(i).or_default().push(p);
        }
    }
    let mut best = f64::INFINITY;
    let (mut runs, mut candidates, mut confirmed) = (0usize, 0usize, 0usize);
    for _ in 0..times {
        let started = Instant::now();
        (runs, candidates, confirmed) = (0, 0, 0);
        let mut run_start = 0usize;
        let mut at = 0usize;
        let mut check_run = |from: usize, to: usize| {
            if to - from < MIN_RUN {
                return;
            }
            runs += 1;
            for i in from..to - MIN_RUN + 2 {
                let (Some(&a), Some(&b)) = (data.get(i), data.get(i + 1)) else {
                    break;
                };
                let h = usize::from(a) << 8 | usize::from(b);
                if heads.get(h / 64).is_some_and(|w| w >> (h % 64) & 1 == 1) {
                    candidates += 1;
                    confirmed += by_head.get(&h).map_or(0, |ps| {
                        ps.iter()
                            .filter(|p| data.get(i..i + p.len()) == Some(&p[..]))
                            .count()
                    });
                }
            }
        };
        while let Some(word) = data.get(at..at + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            let mask = token_mask(u64::from_le_bytes(w));
            if mask == 0x8080_8080_8080_8080 {
                at += 8;
                continue;
            }
            // Each byte of the word that is not a token byte ends a run, and the next starts one:
            // only the last such byte matters unless a run before it is long enough.
            let mut breaks = !mask & 0x8080_8080_8080_8080;
            while breaks != 0 {
                let j = breaks.trailing_zeros() as usize / 8;
                breaks &= breaks - 1;
                if at + j - run_start >= MIN_RUN {
                    check_run(run_start, at + j);
                }
                run_start = at + j + 1;
            }
            at += 8;
        }
        check_run(run_start, data.len());
        best = best.min(started.elapsed().as_secs_f64());
    }
    let mib = data.len() as f64 / f64::from(1 << 20);
    println!(
        "{path}: {} bytes, {} prefixes, {runs} runs of {MIN_RUN}+ token bytes, {candidates} two-byte hits, {confirmed} prefixes found; best of {times}: {:.0} MiB/s",
        data.len(),
        prefixes.len(),
        mib / best
    );
    Ok(())
}
