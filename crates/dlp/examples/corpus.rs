//! Write the benchmark corpora to files: `cargo run --release -p cordon-dlp --example corpus --
//! DIR MIB` writes `DIR/clean.txt` and `DIR/dense.txt` of MIB mebibytes each.

#[path = "../benches/support/corpus.rs"]
mod corpus;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| ".".into());
    let mib: usize = args.next().and_then(|m| m.parse().ok()).unwrap_or(64);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(format!("{dir}/clean.txt"), corpus::clean(mib << 20))?;
    std::fs::write(format!("{dir}/dense.txt"), corpus::dense(mib << 20))?;
    Ok(())
}
