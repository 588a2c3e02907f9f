#!/usr/bin/env bash
# What `cordon hook claude-code` costs per tool call, process start included (SPEC §11: ≤ 5 ms
# median, aiming within 1 ms of a no-op shell hook), beside the hooks it is compared with, in one
# run: a no-op shell hook (reads its input, prints `{}`) and a no-op Python hook. Each is started
# the way Claude Code starts a command hook: by `/bin/sh -c` with the event's JSON on stdin.
#
#   bench/hook.sh [RUNS]   # runs per command (default 300)
#
# Events: a `Read` of a granted file (a lookup and a decision), and a `Bash` pipeline (the
# command line parsed, each program found on PATH and decided, the line scanned by DLP).
# Installs hyperfine from Debian when missing; builds cordon in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-300}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cordon/target}"
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
cargo build --release --locked -q -p cordon
cordon="$CARGO_TARGET_DIR/release/cordon"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p project/src
echo 'fn main() {}' > project/src/main.rs
"$cordon" keys generate --out key >/dev/null
"$cordon" trust init --out trust.json >/dev/null
"$cordon" trust add --trust trust.json --key key.pub --role manifest-signer >/dev/null
cat > m.json <<JSON
{"agentName":"bench","version":"1.0.0","readPaths":["$work/project"],"writePaths":["$work/project/src"],
 "commandsAllowed":["/usr/bin/ls","/usr/bin/cat","/usr/bin/grep","/usr/bin/wc"]}
JSON
"$cordon" manifest sign m.json --key key.key --allow-lint-errors >/dev/null 2>&1
cat > read.json <<JSON
{"hook_event_name":"PreToolUse","session_id":"b","cwd":"$work/project","tool_name":"Read","tool_input":{"file_path":"src/main.rs"}}
JSON
cat > bash.json <<JSON
{"hook_event_name":"PreToolUse","session_id":"b","cwd":"$work/project","tool_name":"Bash","tool_input":{"command":"ls -la src | grep main | wc -l && cat src/main.rs 2>/dev/null"}}
JSON
printf '#!/bin/sh\ncat >/dev/null\necho "{}"\n' > noop.sh
printf 'import json, sys\njson.load(sys.stdin)\nprint("{}")\n' > noop.py
chmod +x noop.sh
hook="$cordon hook claude-code --manifest m.signed.json --trust trust.json --state-dir $work/state"
# Every hook must answer before anything is timed.
for event in read bash; do
    $hook < "$event.json" | grep -q '"permissionDecision":"allow"' \
        || { echo "cordon did not allow the $event event" >&2; $hook < "$event.json"; exit 1; }
done

hyperfine -N --warmup 10 --runs "$runs" --export-json times.json \
    -n "cordon (Read)" "/bin/sh -c '$hook < read.json'" \
    -n "cordon (Bash pipeline)" "/bin/sh -c '$hook < bash.json'" \
    -n "no-op shell hook" "/bin/sh -c './noop.sh < read.json'" \
    -n "no-op Python hook" "/bin/sh -c 'python3 noop.py < read.json'" >/dev/null

python3 - "$work/times.json" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
noop = next(r for r in results if r["command"] == "no-op shell hook")
base = statistics.median(noop["times"]) * 1000
print(f"{'':24} {'median ms':>10} {'p95 ms':>8} {'over no-op shell':>17}")
for r in results:
    t = sorted(r["times"])
    med = statistics.median(t) * 1000
    p95 = t[int(len(t) * 0.95) - 1] * 1000
    print(f"{r['command']:24} {med:10.2f} {p95:8.2f} {med - base:+16.2f}")
PY
echo "cordon recorded $(wc -l < "$work/state/audit.jsonl") hook decisions" >&2
