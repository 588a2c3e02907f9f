#!/usr/bin/env bash
# Added latency and throughput of `cordon proxy` (SPEC §11: ≤ 200 µs median added on loopback
# HTTP with a 1 KiB body, throughput at 16 connections ≥ 80 % of direct), measured side by side in
# one run with the same load sent directly to the upstream server, through tinyproxy, and through
# HAProxy as a floor: an L7 proxy in HTTP mode that parses each request and forwards it to one
# fixed backend, with no decision, no DNS, no audit. It shows what any HTTP-parsing hop costs on
# this machine, so cordon's figure can be read against the best a proxy does here. `floor`
# (crates/proxy/examples/floor.rs) is a forward proxy built on cordon's own parts (tokio, hyper's
# server and client connections) that does nothing else: the difference between it and cordon is
# what cordon's own work per request costs.
#
#   bench/proxy.sh [SECONDS]   # seconds per wrk run (default 10)
#
# ROUNDS=N (default 3) repeats the whole set N times, the paths one after another in each round,
# and reports medians: this machine's throughput drifts by a fifth from one minute to the next,
# so each path's share of direct is taken against the direct run of the same round, and the
# median of those shares (with their range) is reported.
#
# The upstream is nginx serving a 1 KiB file on loopback; wrk sends absolute-form requests
# (`GET http://127.0.0.1:PORT/1k`) to the proxies through a small Lua script. Latency: one
# connection, one thread (wrk's p50 and p99); throughput: 16 connections, 2 threads. cordon's
# proxy runs with the default limits, a manifest granting the upstream, and audit events written
# to a temporary state directory (one JSON line per request, as in production).
# CPU µs/req is each proxy's CPU time (user and system, all its threads, from /proc/PID/stat; then
# each apart) over the throughput run, per request served. Where the proxy is the bottleneck it is
# the cost that sets the throughput, and it drifts far less than req/s from one minute to the next,
# so it is the figure to compare builds by.
# PIN=1 runs wrk and nginx on CPU 0 and the proxies on CPU 1 (taskset), to tell the proxy's own
# cost from its contention with the load generator and the upstream on a small machine.
# Busy is the share of each CPU's time not idle over the throughput run (/proc/stat): with PIN=1,
# `load` is CPU 0 (wrk and nginx) and `proxy` CPU 1; a path whose `load` core is busy all the
# time is held back by wrk and nginx, not by the proxy: a cheaper proxy would not go faster there.
# Installs wrk, nginx-light, tinyproxy and haproxy from Debian when missing; builds cordon in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
source bench/lib.sh

if ! command -v wrk >/dev/null || ! command -v tinyproxy >/dev/null || ! command -v nginx >/dev/null \
    || ! command -v haproxy >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk nginx-light tinyproxy haproxy
fi
bench_build
cargo build --release --locked -q -p cordon-proxy --example floor
floor_bin="$CARGO_TARGET_DIR/release/examples/floor"
bench_work

up="$(free_port)"; tiny="$(free_port)"; hap="$(free_port)"; cp="$(free_port)"; floor="$(free_port)"
# With PIN=1: load and upstream on CPU 0, proxies on CPU 1.
load=(); side=()
if [[ "${PIN:-0}" == 1 ]]; then load=(taskset -c 0); side=(taskset -c 1); fi
start_upstream "$up" "${load[@]}"

cat > "$work/tinyproxy.conf" <<CONF
Port $tiny
Listen 127.0.0.1
Timeout 60
MaxClients 256
Allow 127.0.0.1
LogLevel Critical
CONF
"${side[@]}" tinyproxy -d -c "$work/tinyproxy.conf" >/dev/null 2>&1 & pids+=($!); pid_tinyproxy=$!

# One process, one thread, like cordon's proxy pinned to its core; keep-alive on both sides.
cat > "$work/haproxy.cfg" <<CONF
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend floor
    bind 127.0.0.1:$hap
    default_backend upstream
backend upstream
    server nginx 127.0.0.1:$up
CONF
"${side[@]}" haproxy -db -f "$work/haproxy.cfg" >/dev/null 2>&1 & pids+=($!); pid_haproxy=$!
# The floor of a proxy built on cordon's parts (tokio and hyper), doing none of cordon's work.
"${side[@]}" "$floor_bin" "127.0.0.1:$floor" & pids+=($!); pid_floor=$!

cd "$work"
sign_manifest_for "$up"
"${side[@]}" "$cordon" proxy --manifest m.signed.json --trust trust.json --listen "127.0.0.1:$cp" \
    --state-dir "$work/state" --quiet & pids+=($!); pid_cordon=$!
wait_port "$up"; wait_port "$tiny"; wait_port "$hap"; wait_port "$floor"; wait_port "$cp"

# Host names the target, as real clients send it (HAProxy refuses a request whose Host and URL
# disagree, RFC 9112 §3.2.2).
cat > abs.lua <<LUA
wrk.path = "http://127.0.0.1:$up/1k"
wrk.headers["Host"] = "127.0.0.1:$up"
LUA
# Every path must answer 200 with the body before anything is measured.
for via in "" "--proxy http://127.0.0.1:$tiny" "--proxy http://127.0.0.1:$hap" "--proxy http://127.0.0.1:$floor" "--proxy http://127.0.0.1:$cp"; do
    # shellcheck disable=SC2086
    n="$(curl -sf $via "http://127.0.0.1:$up/1k" | wc -c)"
    [[ "$n" == 1024 ]] || { echo "a path does not serve the file (${via:-direct}): $n bytes" >&2; exit 1; }
done

# CPU time (user and system, all threads, in clock ticks) a process has used so far.
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
# Busy and idle ticks of CPU 0 and CPU 1 so far (idle counts iowait).
cores() { awk '/^cpu[01] /{printf "%d %d ", $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat; }
run() { # name, target, proxy pid (or ""), extra wrk args...
    local name="$1" target="$2" pid="$3" before; shift 3
    local user system
    [[ -z "$pid" ]] || read -r user system < <(ticks "$pid")
    before="$(cores)"
    "${load[@]}" wrk --latency -d "${seconds}s" "$@" "$target" > "wrk-$name.txt"
    echo "$before $(cores)" > "cores-$name.txt"
    if [[ -n "$pid" ]]; then
        local user2 system2
        read -r user2 system2 < <(ticks "$pid")
        echo "$(( user2 - user )) $(( system2 - system ))" > "cpu-$name.txt"
    fi
}
rounds="${ROUNDS:-3}"
for round in $(seq "$rounds"); do
    echo "== round $round of $rounds: latency (1 connection, 1 thread), then throughput (16 connections, 2 threads), ${seconds}s each" >&2
    run "lat-direct-$round" "http://127.0.0.1:$up/1k" "" -t1 -c1
    run "lat-tinyproxy-$round" "http://127.0.0.1:$tiny" "$pid_tinyproxy" -t1 -c1 -s abs.lua
    run "lat-haproxy-$round" "http://127.0.0.1:$hap" "$pid_haproxy" -t1 -c1 -s abs.lua
    run "lat-floor-$round" "http://127.0.0.1:$floor" "$pid_floor" -t1 -c1 -s abs.lua
    run "lat-cordon-$round" "http://127.0.0.1:$cp" "$pid_cordon" -t1 -c1 -s abs.lua
    run "tp-direct-$round" "http://127.0.0.1:$up/1k" "" -t2 -c16
    run "tp-tinyproxy-$round" "http://127.0.0.1:$tiny" "$pid_tinyproxy" -t2 -c16 -s abs.lua
    run "tp-haproxy-$round" "http://127.0.0.1:$hap" "$pid_haproxy" -t2 -c16 -s abs.lua
    run "tp-floor-$round" "http://127.0.0.1:$floor" "$pid_floor" -t2 -c16 -s abs.lua
    run "tp-cordon-$round" "http://127.0.0.1:$cp" "$pid_cordon" -t2 -c16 -s abs.lua
done

python3 - "$work" "$rounds" "${PIN:-0}" <<'PY'
import re, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def parse(name):
    text = open(f"{work}/wrk-{name}.txt").read()
    unit = {"us": 1, "ms": 1000, "s": 1e6}
    lat = {p: float(v) * unit[u] for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", text, re.M)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    count = int(re.search(r"(\d+) requests in", text).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", text)
    return lat, rps, count, errors.group(0) if errors else ""
def cpu_us(name, count):
    # The proxy's CPU time over the throughput run (clock ticks of 10 ms) per request served:
    # user and system.
    try:
        user, system = map(int, open(f"{work}/cpu-{name}.txt").read().split())
    except FileNotFoundError:
        return None
    return user * 10_000 / max(count, 1), system * 10_000 / max(count, 1)
def busy(name):
    # The share of CPU 0's and CPU 1's time spent busy over the run.
    b0, i0, b1, i1, b0_, i0_, b1_, i1_ = map(int, open(f"{work}/cores-{name}.txt").read().split())
    share = lambda b, i: b / max(b + i, 1)
    return share(b0_ - b0, i0_ - i0), share(b1_ - b1, i1_ - i1)
who = ("direct", "tinyproxy", "haproxy", "floor", "cordon")
runs = {w: [] for w in who}
for r in range(1, rounds + 1):
    for w in who:
        lat, _, _, e1 = parse(f"lat-{w}-{r}")
        _, rps, count, e2 = parse(f"tp-{w}-{r}")
        runs[w].append({"p50": lat["50"], "p99": lat["99"], "rps": rps, "cpu": cpu_us(f"tp-{w}-{r}", count),
                        "busy": busy(f"tp-{w}-{r}"), "errors": (e1 + " " + e2).strip()})
med = statistics.median
print(f"{rounds} round(s); medians, and the range of each path's share of the direct run of the same round")
pinned = sys.argv[3] == "1"
cores = ("load", "proxy") if pinned else ("cpu0", "cpu1")
print(f"{'':10} {'p50 µs':>8} {'p99 µs':>8} {'added p50 µs':>13} {'req/s @16':>10} {'of direct':>9} {'range':>11} "
      f"{'CPU µs/req':>10} {'user':>5} {'sys':>5} {cores[0] + ' busy':>10} {cores[1] + ' busy':>10}  errors")
for w in who:
    shares = [x["rps"] / d["rps"] for x, d in zip(runs[w], runs["direct"])]
    added = [x["p50"] - d["p50"] for x, d in zip(runs[w], runs["direct"])]
    errors = "; ".join(sorted({x["errors"] for x in runs[w] if x["errors"]}))
    span = f"{min(shares):.0%}–{max(shares):.0%}"
    cpus = [x["cpu"] for x in runs[w] if x["cpu"] is not None]
    cpu = (f"{med(u + s for u, s in cpus):10.1f} {med(u for u, _ in cpus):5.1f} {med(s for _, s in cpus):5.1f}"
           if cpus else f"{'–':>10} {'':5} {'':5}")
    load, proxy = (med(x["busy"][i] for x in runs[w]) for i in (0, 1))
    print(f"{w:10} {med(x['p50'] for x in runs[w]):8.0f} {med(x['p99'] for x in runs[w]):8.0f} "
          f"{med(added):13.0f} {med(x['rps'] for x in runs[w]):10.0f} {med(shares):9.0%} {span:>11} {cpu} "
          f"{load:10.0%} {proxy:10.0%}  {errors[:80]}")
# cordon against HAProxy in the same rounds, and, with PIN=1, whether HAProxy was held back by the
# load core rather than by itself: then its share is bounded by the load side, not by HAProxy.
def ratio(w, key):
    return med(x[key] / h[key] for x, h in zip(runs[w], runs["haproxy"]))
per_request = lambda x: sum(x["cpu"]) if x["cpu"] else float("nan")
print(f"cordon against HAProxy: {ratio('cordon', 'rps'):.0%} of its requests per second, "
      f"{med(per_request(c) / per_request(h) for c, h in zip(runs['cordon'], runs['haproxy'])):.2f}x "
      f"its CPU per request")
if pinned:
    load = med(x["busy"][0] for x in runs["haproxy"])
    share = med(x["rps"] / d["rps"] for x, d in zip(runs["haproxy"], runs["direct"]))
    if load >= 0.97:
        print(f"with HAProxy in the path the load core (wrk, nginx) was {load:.0%} busy: its "
              f"{share:.0%} of direct is bounded by wrk and nginx, not by the proxy")
PY
lines="$(cat "$work"/state/audit/*.jsonl | wc -l)"
echo "cordon recorded $lines audit events" >&2
