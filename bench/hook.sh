#!/usr/bin/env bash
# What `cordon hook claude-code` costs per tool call, process start included (SPEC §11: ≤ 5 ms
# median, aiming within 1 ms of a no-op shell hook), beside the hooks it is compared with, in one
# run: a no-op shell hook (reads its input, prints `{}`) and a no-op Python hook, each with the
# event's JSON on stdin.
#
#   bench/hook.sh [RUNS]   # runs per command (default 300)
#
# Events: a `Read` of a granted file (a lookup and a decision), and a `Bash` pipeline (the
# command line parsed, each program found on PATH and decided, the line scanned by DLP).
# Builds cordon in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-300}"
source bench/lib.sh
bench_build
bench_work
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

# Each hook is started the way Claude Code starts it: cordon in exec form (`command` + `args`, as
# `cordon claude-code settings` writes it: no shell), a command-string hook through `/bin/sh -c`.
# One driver times them all interleaved, so drift on a busy machine falls on each alike.
python3 - "$runs" "$hook" <<'PY'
import statistics, subprocess, sys, time
runs, hook = int(sys.argv[1]), sys.argv[2].split()
events = {name: open(f"{name}.json", "rb").read() for name in ("read", "bash")}
cases = [
    ("start floor (true)", ["/usr/bin/true"], b""),
    ("cordon (Read)", hook, events["read"]),
    ("cordon (Bash pipeline)", hook, events["bash"]),
    ("no-op shell hook", ["/bin/sh", "-c", "./noop.sh"], events["read"]),
    ("no-op Python hook", ["/bin/sh", "-c", "python3 noop.py"], events["read"]),
]
times = {name: [] for name, _, _ in cases}
for i in range(runs + 10):
    for name, argv, data in cases:
        if name == "no-op Python hook" and i % 10:
            continue  # a tenth as many: it is slow
        t = time.perf_counter_ns()
        out = subprocess.run(argv, input=data, stdout=subprocess.PIPE, check=True).stdout
        elapsed = time.perf_counter_ns() - t
        if i >= 10 or name == "no-op Python hook":
            times[name].append(elapsed / 1e6)
        if not out.strip() and argv[0] != "/usr/bin/true":
            sys.exit(f"{name} answered nothing")
# The driver's own cost of starting any process (fork, exec, pipes) is in every row: the floor
# row measures it, and "own" is what the hook adds above it.
floor = statistics.median(times["start floor (true)"])
base = statistics.median(times["no-op shell hook"])
print(f"{'':24} {'median ms':>10} {'p95 ms':>8} {'own ms':>7} {'over no-op shell':>17}  runs")
for name, t in times.items():
    t.sort()
    med = statistics.median(t)
    print(f"{name:24} {med:10.2f} {t[int(len(t) * 0.95) - 1]:8.2f} {med - floor:7.2f} {med - base:+16.2f}  {len(t)}")
PY
echo "cordon recorded $(wc -l < "$work/state/audit/00000001.jsonl") hook decisions" >&2
