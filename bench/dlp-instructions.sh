#!/usr/bin/env bash
# The deterministic cost of a DLP scan: instructions per byte of the library's `Scanner::scan`
# (valgrind's cachegrind) on the generated clean and dense corpora and on ordinary source code.
# Timings on a shared machine drift (this one's by ±30% from one minute to the next); the count
# of instructions does not, so it is the figure that says whether a change made scanning
# cheaper. Throughput in GB/s comes from the criterion bench and bench/dlp.sh.
#
#   bench/dlp-instructions.sh [MIB]   # MIB per corpus (default 8)
#
# Each corpus is scanned once and twice under cachegrind; the difference is one steady-state
# scan (rule loading and the patterns compiled on first use are left out). `code` is the first
# MIB of the Rust sources cargo downloaded (~/.cargo/registry/src), when present.
# Environment: CARGO_TARGET_DIR (default ~/.cache/cordon/target). Installs valgrind from Debian
# when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

mib="${1:-8}"
target="${CARGO_TARGET_DIR:-$HOME/.cache/cordon/target}"
if ! command -v valgrind >/dev/null; then
    apt-get update -qq && apt-get install -y -qq valgrind
fi
CARGO_TARGET_DIR="$target" cargo build --release --locked -q -p cordon-dlp \
    --example corpus --example scan_file
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$target/release/examples/corpus" "$work" "$mib"
registry="$HOME/.cargo/registry/src"
if [[ -d "$registry" ]]; then
    find "$registry" -type f -name '*.rs' -print0 | sort -z | xargs -0 cat 2>/dev/null \
        | head -c "$((mib << 20))" > "$work/code.txt" || true
fi

instructions() {
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        "$target/release/examples/scan_file" "$1" "$2" 2>&1 >/dev/null \
        | sed -n 's/.*I *refs: *//p' | tr -d ,
}

printf '%-8s %12s %16s %10s\n' corpus bytes instructions per-byte
for corpus in clean dense code; do
    file="$work/$corpus.txt"
    [[ -s "$file" ]] || continue
    one="$(instructions "$file" 1)"
    two="$(instructions "$file" 2)"
    bytes="$(stat -c %s "$file")"
    awk -v c="$corpus" -v b="$bytes" -v i="$((two - one))" \
        'BEGIN { printf "%-8s %12d %16d %10.2f\n", c, b, i, i / b }'
done
