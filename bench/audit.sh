#!/usr/bin/env bash
# Whole-program throughput of the audit log (SPEC §11: append ≥ 200k events/s, verify ≥ 1M
# events/s; `cargo bench -p cordon-audit --bench chain` measures the same work in process):
#
# - `cordon audit append`: events as JSON lines on stdin, parsed, sealed into the hash chain and
#   written durably in batches (one fsync per batch of up to 1 000);
# - `cordon audit verify`: the whole log read, every record's hash and link checked;
#
# beside `openssl dgst -sha256` over the same bytes in the same run: one pass of SHA-256 (with
# the CPU's SHA instructions) over the files on one core — what hashing every record costs on
# one core, before any parsing, linking or checkpoint checking.
#
#   bench/audit.sh [EVENTS]   # events in the log (default 200000, about 360 MB of log)
#
# The events are shaped like the proxy's HTTP Activity events (about 1.6 KB each). Builds cordon
# in release mode; needs python3, openssl and hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-200000}"
source bench/lib.sh
bench_build
bench_work
cd "$work"
python3 - "$events" > events.jsonl <<'PY'
import json, sys
n = int(sys.argv[1])
for i in range(n):
    e = {
        "class_uid": 4002, "class_name": "HTTP Activity", "category_uid": 4,
        "category_name": "Network Activity", "activity_id": 3, "activity_name": "Post",
        "type_uid": 400203, "type_name": "HTTP Activity: Post", "time": 1764115200000 + i,
        "severity_id": 1, "severity": "Informational", "status_id": 1, "status": "Success",
        "metadata": {"version": "1.8.0", "log_name": "cordon", "correlation_uid": "9f1c2a7be0d34c1e8a5b6c7d8e9f0a1b",
                     "product": {"name": "cordon", "vendor_name": "cordon", "version": "0.1.0",
                                 "feature": {"name": "proxy"}},
                     "profiles": ["host", "security_control"]},
        "actor": {"user": {"name": "alice"}, "app_name": "claude-code-agent"},
        "device": {"hostname": "ws-17.corp.example", "name": "ws-17.corp.example", "type_id": 0, "type": "Unknown"},
        "action_id": 1, "action": "Allowed", "disposition_id": 1, "disposition": "Allowed",
        "policy": {"uid": "sha256:050e714a3580d7bc032462acff04e84057c53c510836eb3fa1ebff3bdab2feab",
                   "type": "cordon manifest", "name": "claude-code-agent"},
        "src_endpoint": {"ip": "127.0.0.1", "port": 40000 + i % 20000},
        "dst_endpoint": {"hostname": "api.anthropic.com", "port": 443, "ip": "160.79.104.10"},
        "http_request": {"http_method": "POST",
                         "url": {"scheme": "https", "hostname": "api.anthropic.com", "port": 443,
                                 "path": "/v1/messages/%d" % i},
                         "http_headers": [{"name": "content-type", "value": "application/json"},
                                          {"name": "x-api-key", "value": "[redacted]"}]},
        "http_response": {"code": 200}, "traffic": {"bytes_out": 49226, "bytes_in": 967},
        "duration": 812,
        "unmapped": {"cordon": {"component": "proxy", "decision": "allow", "reason": "granted",
                                "rule": "apis[0] anthropic:messages", "agent": "claude-code-agent",
                                "manifest_digest": "sha256:050e714a3580d7bc032462acff04e84057c53c510836eb3fa1ebff3bdab2feab"}},
    }
    print(json.dumps(e, separators=(",", ":")))
PY
echo "events: $events, $(du -m events.jsonl | cut -f1) MB of JSON lines"

hyperfine --style basic --runs 3 --prepare 'rm -rf state' \
  --export-json append.json \
  -n 'cordon audit append' "$cordon audit append --state-dir state < events.jsonl > /dev/null" \
  -n 'openssl sha256 (the input)' 'openssl dgst -sha256 events.jsonl'
rm -rf state
"$cordon" audit append --state-dir state < events.jsonl > /dev/null
log_mb="$(du -cm state/audit/*.jsonl | tail -1 | cut -f1)"
echo "log: $log_mb MB in $(ls state/audit/*.jsonl | wc -l) segment(s)"
hyperfine --style basic --warmup 1 --runs 5 --export-json verify.json \
  -n 'cordon audit verify' "$cordon audit verify --state-dir state" \
  -n 'openssl sha256 (the log)' 'openssl dgst -sha256 state/audit/*.jsonl'

python3 - "$events" <<'PY'
import json, sys
n = int(sys.argv[1])
for name in ("append", "verify"):
    rs = {r["command"]: r["median"] for r in json.load(open(f"{name}.json"))["results"]}
    (ours, t), (floor, f) = rs.items()
    print(f"{ours}: {n / t / 1e3:,.0f}k events/s (median {t * 1e3:.0f} ms); "
          f"{floor}: {f * 1e3:.0f} ms; cordon / openssl time = {t / f:.2f}")
PY
