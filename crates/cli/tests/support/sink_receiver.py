#!/usr/bin/env python3
"""Receivers for cordon's HTTP audit sinks, each checking the wire format against its
specification and answering as the real service does.

    sink_receiver.py MODE PORT_FILE LOG_FILE [--token T] [--secret S] [--fail-first N]

MODE is one of:

- `hec`: Splunk HTTP Event Collector, `POST /services/collector/event`. The `Authorization`
  header must be `Splunk <token>` (else 401 with HEC's code 2, 3 or 4). The body must be one or
  more JSON objects back to back (not an array); each must have `event`, and `time` (a number
  of epoch seconds), `host`, `source`, `sourcetype`, `index` where present must have the right
  types, and `fields` must be a flat object (else 400 `Invalid data format`, code 6, with
  `invalid-event-number`). Success is 200 `{"text":"Success","code":0}`.
- `otlp`: OTLP/HTTP logs, `POST /v1/logs` with `Content-Type: application/json`. The body is
  parsed with the official protobuf definitions (`opentelemetry-proto`) as an
  `ExportLogsServiceRequest`, unknown fields refused; beyond what the protobuf JSON parser
  accepts, OTLP's JSON encoding rules are checked: enums (`severityNumber`) are integers, 64-bit
  integers (`timeUnixNano`, `observedTimeUnixNano`, `intValue`) are decimal strings. Success is
  200 with an `ExportLogsServiceResponse`.
- `webhook`: Standard Webhooks. `webhook-id`, `webhook-timestamp` and `webhook-signature` must
  be present; the signature must be `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body` with
  the secret, and the timestamp within 5 minutes (else 401). Success is 204.

`--fail-first N` answers the first N requests as an overloaded service does (HEC: 503 code 9;
OTLP: 503 with `Retry-After: 1`; webhook: 503). Every accepted event is appended to LOG_FILE as
one JSON line: `{"seq": …, "event": {…}}` (`seq` from the sink's own field for it). Requests
that fail a check are appended as `{"rejected": "why"}` and fail the test that reads the log.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE, PORT_FILE, LOG_FILE = sys.argv[1], sys.argv[2], sys.argv[3]
OPTS = dict(zip(sys.argv[4::2], sys.argv[5::2]))
TOKEN = OPTS.get("--token", "")
SECRET = OPTS.get("--secret", "").encode()
FAIL_FIRST = int(OPTS.get("--fail-first", "0"))
requests_seen = 0


def log(entry):
    with open(LOG_FILE, "a") as f:
        f.write(json.dumps(entry) + "\n")


def check_hec(handler, body):
    if handler.path != "/services/collector/event":
        return 404, {"text": "The requested URL was not found on this server.", "code": 404}, None
    auth = handler.headers.get("Authorization")
    if auth is None:
        return 401, {"text": "Token is required", "code": 2}, None
    if not auth.startswith("Splunk "):
        return 401, {"text": "Invalid authorization", "code": 3}, None
    if auth[len("Splunk "):] != TOKEN:
        return 403, {"text": "Invalid token", "code": 4}, None
    text = body.decode("utf-8")
    decoder = json.JSONDecoder()
    at, events, n = 0, [], 0
    while True:
        while at < len(text) and text[at] in " \t\r\n":
            at += 1
        if at == len(text):
            break
        bad = {"text": "Invalid data format", "code": 6, "invalid-event-number": n}
        try:
            obj, at = decoder.raw_decode(text, at)
        except ValueError:
            return 400, bad, None
        if not isinstance(obj, dict) or "event" not in obj or obj["event"] in ("", None):
            return 400, {"text": "Event field is required", "code": 12, "invalid-event-number": n}, None
        if "time" in obj and not isinstance(obj["time"], (int, float)):
            return 400, bad, None
        for k in ("host", "source", "sourcetype", "index"):
            if k in obj and not isinstance(obj[k], str):
                return 400, bad, None
        fields = obj.get("fields", {})
        if not isinstance(fields, dict) or any(isinstance(v, dict) for v in fields.values()):
            return 400, bad, None
        events.append({"seq": fields.get("seq"), "event": obj["event"]})
        n += 1
    if not events:
        return 400, {"text": "No data", "code": 5}, None
    return 200, {"text": "Success", "code": 0}, events


def check_otlp(handler, body):
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    if handler.path != "/v1/logs":
        return 404, {"error": "not found"}, None
    if handler.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
        return 415, {"error": "Content-Type must be application/json"}, None
    raw = json.loads(body)
    try:
        json_format.Parse(body, logs_service_pb2.ExportLogsServiceRequest(), ignore_unknown_fields=False)
    except json_format.ParseError as e:
        return 400, {"error": f"not an ExportLogsServiceRequest: {e}"}, None

    def any_value(v, where):
        kinds = [k for k in v if k.endswith("Value")]
        if len(kinds) > 1:
            raise ValueError(f"{where}: more than one value")
        if "intValue" in v and not (isinstance(v["intValue"], str) and v["intValue"].lstrip("-").isdigit()):
            raise ValueError(f"{where}: intValue is not a decimal string")
        for item in v.get("arrayValue", {}).get("values", []):
            any_value(item, where)
        for kv in v.get("kvlistValue", {}).get("values", []):
            any_value(kv.get("value", {}), f"{where}.{kv.get('key')}")

    events = []
    try:
        for rl in raw["resourceLogs"]:
            for sl in rl["scopeLogs"]:
                for r in sl["logRecords"]:
                    for k in ("timeUnixNano", "observedTimeUnixNano"):
                        if not (isinstance(r.get(k), str) and r[k].isdigit()):
                            raise ValueError(f"{k} is not a decimal string")
                    if not isinstance(r.get("severityNumber"), int) or not 1 <= r["severityNumber"] <= 24:
                        raise ValueError("severityNumber is not an integer 1-24")
                    any_value(r["body"], "body")
                    attrs = {a["key"]: a["value"] for a in r.get("attributes", [])}
                    for a in r.get("attributes", []):
                        any_value(a["value"], a["key"])
                    event = {kv["key"]: plain(kv["value"]) for kv in r["body"]["kvlistValue"]["values"]}
                    events.append({"seq": int(attrs["cordon.seq"]["intValue"]), "event": event})
    except (KeyError, ValueError, TypeError) as e:
        return 400, {"error": f"OTLP JSON encoding: {e}"}, None
    return 200, {}, events


def plain(v):
    """An OTLP AnyValue back as plain JSON."""
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return v["doubleValue"]
    if "boolValue" in v:
        return v["boolValue"]
    if "arrayValue" in v:
        return [plain(x) for x in v["arrayValue"].get("values", [])]
    if "kvlistValue" in v:
        return {kv["key"]: plain(kv["value"]) for kv in v["kvlistValue"].get("values", [])}
    return None


def check_webhook(handler, body):
    msg_id = handler.headers.get("webhook-id")
    ts = handler.headers.get("webhook-timestamp")
    sigs = handler.headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return 400, {"error": "webhook-id, webhook-timestamp and webhook-signature are required"}, None
    if abs(time.time() - int(ts)) > 300:
        return 401, {"error": "timestamp outside the tolerance"}, None
    expected = base64.b64encode(
        hmac.new(SECRET, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    if not any(
        s.startswith("v1,") and hmac.compare_digest(s[3:], expected) for s in sigs.split(" ")
    ):
        return 401, {"error": "no signature verifies"}, None
    doc = json.loads(body)
    return 204, None, [{"seq": e["seq"], "event": e["event"], "id": msg_id} for e in doc["events"]]


CHECKS = {"hec": check_hec, "otlp": check_otlp, "webhook": check_webhook}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        global requests_seen
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        requests_seen += 1
        if requests_seen <= FAIL_FIRST:
            busy = {"hec": {"text": "Server is busy", "code": 9}}.get(MODE, {"error": "busy"})
            self.answer(503, busy, {"Retry-After": "1"})
            return
        try:
            status, answer, events = CHECKS[MODE](self, body)
        except Exception as e:  # a malformed request is a failure, not a crash
            status, answer, events = 400, {"error": repr(e)}, None
        if events is None:
            log({"rejected": f"{status} {answer}"})
        else:
            for e in events:
                log(e)
        self.answer(status, answer, {})

    def answer(self, status, body, headers):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
