#!/usr/bin/env bash
# CPU time per proxied request of two or more builds of `cordon proxy`, compared side by side:
# the figure to judge a change to the proxy by. This machine's throughput drifts by a fifth from
# one minute to the next, so the builds run together and short wrk runs alternate between them
# (the order reversed every other round); each run's CPU time (user and system, all of the
# proxy's threads, from /proc/PID/stat) is divided by the requests it served.
#
#   bench/proxy-ab.sh SECONDS ROUNDS BINARY...   # e.g. bench/proxy-ab.sh 2 8 /tmp/old /tmp/new
#
# wrk (16 connections, 2 threads) and nginx (1 KiB, keep-alive) run on CPU 0, every proxy on
# CPU 1, as `PIN=1 bench/proxy.sh` does. A BINARY whose name contains `floor` is run as
# crates/proxy/examples/floor.rs is (`FLOOR_SPIN_NS` passes through). Prints, per binary, the
# median of its runs, and for two binaries the median of their paired differences.
# Installs wrk and nginx-light from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if (( $# < 3 )); then
    echo "usage: bench/proxy-ab.sh SECONDS ROUNDS BINARY..." >&2
    exit 2
fi
seconds="$1"; rounds="$2"; shift 2
source bench/lib.sh
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk nginx-light
fi
# The manifest is signed with the first cordon binary given (the floor needs none).
for b in "$@"; do
    if [[ "$(basename "$b")" != *floor* ]]; then cordon="$b"; break; fi
done
bench_work
up="$(free_port)"
start_upstream "$up" taskset -c 0
cd "$work"
[[ -z "${cordon:-}" ]] || sign_manifest_for "$up"
ports=(); proxies=(); names=()
i=0
for b in "$@"; do
    port="$(free_port)"
    if [[ "$(basename "$b")" == *floor* ]]; then
        taskset -c 1 "$b" "127.0.0.1:$port" &
    else
        mkdir -p "$work/state$i"
        taskset -c 1 "$b" proxy --manifest m.signed.json --trust trust.json \
            --listen "127.0.0.1:$port" --state-dir "$work/state$i" --quiet &
    fi
    pids+=($!); proxies+=($!); ports+=("$port"); names+=("$(basename "$b")")
    i=$((i + 1))
done
wait_port "$up"; for port in "${ports[@]}"; do wait_port "$port"; done
cat > abs.lua <<LUA
wrk.path = "http://127.0.0.1:$up/1k"
wrk.headers["Host"] = "127.0.0.1:$up"
LUA
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
: > runs.txt
for round in $(seq "$rounds"); do
    order=("${!ports[@]}")
    if (( round % 2 == 0 )); then mapfile -t order < <(printf '%s\n' "${order[@]}" | tac); fi
    for j in "${order[@]}"; do
        read -r u0 s0 < <(ticks "${proxies[$j]}")
        out="$(taskset -c 0 wrk -d "${seconds}s" -t2 -c16 -s abs.lua "http://127.0.0.1:${ports[$j]}")"
        read -r u1 s1 < <(ticks "${proxies[$j]}")
        n="$(awk '/requests in/{print $1}' <<<"$out")"
        echo "$j $n $((u1 - u0)) $((s1 - s0))" >> runs.txt
    done
    echo "round $round of $rounds done" >&2
done
python3 - "${names[@]}" <<'PY'
import statistics as st, sys
names = sys.argv[1:]
runs = {}
for line in open("runs.txt"):
    j, n, u, s = map(int, line.split())
    # Clock ticks of 10 ms, per request, in µs.
    runs.setdefault(j, []).append((n, u * 1e4 / n, s * 1e4 / n))
print(f"{'':20} {'requests/run':>12} {'CPU µs/req':>10} {'(min–max)':>13} {'user':>6} {'sys':>6}")
for j, xs in sorted(runs.items()):
    total = [u + s for _, u, s in xs]
    print(f"{names[j][:20]:20} {st.median(n for n, _, _ in xs):12.0f} {st.median(total):10.2f} "
          f"{min(total):6.2f}–{max(total):<6.2f} {st.median(u for _, u, _ in xs):6.2f} {st.median(s for _, _, s in xs):6.2f}")
if len(runs) == 2:
    d = [(b[1] + b[2]) - (a[1] + a[2]) for a, b in zip(runs[0], runs[1])]
    print(f"{names[1]} - {names[0]}: median {st.median(d):+.2f} µs per request, lower in {sum(x < 0 for x in d)} of {len(d)} rounds")
PY
