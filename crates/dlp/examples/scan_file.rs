//! Scan a file with the built-in rules a number of times and print the best throughput: the
//! probe behind `bench/dlp-instructions.sh` (which counts the instructions of one more scan)
//! and a quick check while changing the scanner.
//!
//! `cargo run --release -p cordon-dlp --example scan_file -- FILE [TIMES]`

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: scan_file FILE [TIMES]")?;
    let times: usize = match args.next() {
        Some(t) => t.parse().map_err(|e| format!("TIMES `{t}`: {e}"))?,
        None => 10,
    };
    let data = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    let scanner = cordon_dlp::scan::Scanner::builtin()?;
    let mut best = f64::INFINITY;
    let mut findings = 0;
    for _ in 0..times {
        let started = Instant::now();
        findings = scanner.scan(&data).len();
        best = best.min(started.elapsed().as_secs_f64());
    }
    if times > 0 {
        let mib = data.len() as f64 / f64::from(1 << 20);
        println!(
            "{path}: {} bytes, {findings} findings, best of {times}: {:.1} MiB/s",
            data.len(),
            mib / best
        );
    }
    Ok(())
}
