#!/usr/bin/env bash
# The deterministic cost of one proxied request: instructions per request of `cordon proxy`
# under valgrind's callgrind, and where they go. Throughput on this shared machine drifts by a
# fifth from one minute to the next (bench/proxy.sh); the count of instructions does not, so it
# is the figure that says whether a change made the proxy cheaper.
#
#   bench/proxy-instructions.sh [REQUESTS]   # requests counted (default 2000)
#
# nginx serves a 1 KiB file on loopback; cordon's proxy runs under callgrind with a manifest
# granting it and an audit event per request; Python's http.client sends 200 keep-alive
# requests to warm up, the counters are zeroed (`callgrind_control -z`), REQUESTS more are sent
# and counted. valgrind does not emulate the SHA instructions, so the audit writer's SHA-256
# runs sha2's software code under it (~50 instructions a byte instead of ~2): the script reports
# that part apart, and the total without it. The same requests are then counted through the floor
# (crates/proxy/examples/floor.rs: tokio and hyper forwarding, none of cordon's work), so the
# last line is what cordon's own work per request costs.
# Environment: CARGO_TARGET_DIR (default ~/.cache/cordon/target); PROFILE_DIR, a directory to
# keep callgrind's output in (cordon.out.dump for `callgrind_annotate --tree=caller`, its
# inclusive and exclusive listings, and the floor's), to see function by function where the
# instructions go. Installs valgrind and nginx-light from
# Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-2000}"
source bench/lib.sh

if ! command -v valgrind >/dev/null || ! command -v nginx >/dev/null; then
    apt-get update -qq && apt-get install -y -qq valgrind nginx-light
fi
bench_build
cargo build --release --locked -q -p cordon-proxy --example floor
floor_bin="$CARGO_TARGET_DIR/release/examples/floor"
bench_work

up="$(free_port)"; cp="$(free_port)"; floor="$(free_port)"
start_upstream "$up"

cd "$work"
sign_manifest_for "$up"
wait_port "$up"

send() { # requests, proxy port
    python3 - "$1" "$2" "$up" <<'PY'
import http.client, sys
n, proxy, up = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", proxy)
for _ in range(n):
    c.request("GET", f"http://127.0.0.1:{up}/1k", headers={"Host": f"127.0.0.1:{up}"})
    r = c.getresponse()
    body = r.read()
    if r.status != 200 or len(body) != 1024:
        sys.exit(f"the proxy answered {r.status} with {len(body)} bytes")
PY
}
# Count what PORT's proxy, started under callgrind writing to OUT (pid VG), runs for `$requests`
# requests after 200 to warm up; leaves OUT.inclusive and OUT.exclusive.
count() { # port, out, vg
    wait_port "$1" 60
    send 200 "$1"
    callgrind_control -z "$3" >/dev/null 2>&1
    send "$requests" "$1"
    callgrind_control -d "$3" >/dev/null 2>&1
    kill "$3"; wait "$3" 2>/dev/null || true
    # The dump made by `-d` (the one after zeroing), not the one written at exit.
    local dump
    dump="$(ls "$2".* | head -1)"
    cp "$dump" "$2.dump"
    callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$dump" > "$2.inclusive"
    callgrind_annotate --auto=no --threshold=100 "$dump" > "$2.exclusive"
}
valgrind --tool=callgrind --callgrind-out-file="$work/cordon.out" "$cordon" proxy \
    --manifest m.signed.json --trust trust.json --listen "127.0.0.1:$cp" --state-dir "$work/state" \
    --quiet 2>"$work/valgrind.log" & vg=$!; pids+=($vg)
count "$cp" "$work/cordon.out" "$vg"
# The floor: tokio and hyper forwarding the same requests, none of cordon's work.
valgrind --tool=callgrind --callgrind-out-file="$work/floor.out" "$floor_bin" "127.0.0.1:$floor" \
    2>>"$work/valgrind.log" & vg=$!; pids+=($vg)
count "$floor" "$work/floor.out" "$vg"

python3 - "$requests" <<'PY'
import re, sys
n = int(sys.argv[1])
def rows(path):
    for line in open(path):
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)$", line)
        if m:
            yield int(m[1].replace(",", "")), m[2]
total = next(c for c, name in rows("cordon.out.inclusive") if "PROGRAM TOTALS" in name)
# Exclusive counts of sha2's functions, whichever source file their inlined code is booked to.
sha = sum(c for c, name in rows("cordon.out.exclusive") if "sha2::" in name and "=>" not in name)
def inclusive(pattern):
    return max((c for c, name in rows("cordon.out.inclusive") if re.search(pattern, name) and "=>" not in name), default=0)
print(f"{'requests counted':34} {n:10,}")
print(f"{'instructions per request':34} {total / n:10,.0f}")
print(f"{'  software SHA-256 (valgrind only)':34} {sha / n:10,.0f}")
print(f"{'  without it':34} {(total - sha) / n:10,.0f}")
writer = inclusive(r"cordon_audit::writer::commit\b")
print(f"{'  the audit writer thread, less SHA':34} {(writer - sha) / n:10,.0f}")
for label, pattern in [
    ("    the event written (EventWriter)", r"layout::EventWriter::write\b"),
    ("  the event handed over (Sink)", r"Sink>::record"),
    ("  forwarding (decision, upstream)", r"forward::<impl cordon_proxy::server::Proxy>::forward::\{\{closure\}\}"),
    ("  target URL parsed in full", r"cordon_proxy::head::target\b"),
    ("  decision", r"cordon_proxy::gate::Gate::decide"),
]:
    print(f"{label:34} {inclusive(pattern) / n:10,.0f}")
floor = next(c for c, name in rows("floor.out.inclusive") if "PROGRAM TOTALS" in name)
print(f"{'the floor (tokio and hyper alone)':34} {floor / n:10,.0f}")
print(f"{'cordon above the floor':34} {(total - sha - floor) / n:10,.0f}")
PY
if [ -n "${PROFILE_DIR:-}" ]; then
    mkdir -p "$PROFILE_DIR"
    cp cordon.out.{dump,inclusive,exclusive} floor.out.{dump,inclusive,exclusive} "$PROFILE_DIR"/
fi
