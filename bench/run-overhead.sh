#!/usr/bin/env bash
# Start-up overhead of `cordon run` (SPEC §11: ≤ 10 ms over bare exec), measured side by side
# in one hyperfine run with bare /usr/bin/true and with bubblewrap under a comparable policy
# (all namespaces, read-only root, fresh /proc and /dev, dies with its parent).
#
#   bench/run-overhead.sh            # prints hyperfine's table and the overheads
#
# Installs hyperfine and bubblewrap from Debian when missing; builds cordon in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cordon/target}"

if ! command -v hyperfine >/dev/null || ! command -v bwrap >/dev/null; then
    apt-get update -qq && apt-get install -y -qq hyperfine bubblewrap
fi
cargo build --release --locked -p cordon
cordon="$CARGO_TARGET_DIR/release/cordon"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$cordon" keys generate --out key >/dev/null
"$cordon" trust init --out trust.json >/dev/null
"$cordon" trust add --trust trust.json --key key.pub --role manifest-signer >/dev/null
mkdir -p data
cat > m.json <<JSON
{"agentName":"bench","version":"1.0.0","readPaths":["$work/data"],"writePaths":["$work/data"],
 "commandsAllowed":["/usr/bin/true"]}
JSON
"$cordon" manifest sign m.json --key key.key --allow-lint-errors 2>/dev/null

hyperfine --warmup 20 --runs 300 -N --export-json results.json \
    -n bare '/usr/bin/true' \
    -n cordon "$cordon run --manifest m.signed.json --trust trust.json --state-dir $work/state -- /usr/bin/true" \
    -n bwrap "bwrap --unshare-all --die-with-parent --ro-bind / / --proc /proc --dev /dev --bind $work/data $work/data /usr/bin/true"

python3 - results.json <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
bare = r["bare"]["median"]
for name in ("cordon", "bwrap"):
    m = r[name]["median"]
    print(f"{name}: median {m*1e3:.2f} ms, overhead over bare {(m-bare)*1e3:.2f} ms ({m/bare:.1f}x)")
print(f"bare: median {bare*1e3:.2f} ms")
PY
