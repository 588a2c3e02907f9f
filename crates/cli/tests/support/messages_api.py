"""A scripted stand-in for the Anthropic Messages API, for driving the real Claude Code CLI
offline in cordon's tests.

    python3 messages_api.py PORT_FILE LOG SCRIPT

Answers `POST /v1/messages` from SCRIPT (a JSON list of steps, consumed in order by the
agent's own turns): `{"tool_use": {"name": ..., "input": {...}}}` makes the model call a tool,
`{"text": ...}` ends the turn. Requests without tools (the CLI's side calls: titles, topic
checks) get a short text and do not consume the script. Streaming (server-sent events) and
plain JSON replies follow the API reference; every request is checked against it — method and
path, `anthropic-version`, an API key, `model`, `max_tokens`, alternating roles, content
blocks of known types, and each `tool_result` answering a `tool_use` of the previous assistant
turn — and one that is not valid gets a 400 and is logged with `"invalid": reason`, so a test
can assert none was. Every request is appended to LOG as a JSON line.
"""
import json
import os
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, log_path, script_path = sys.argv[1], sys.argv[2], sys.argv[3]
with open(script_path) as f:
    script = json.load(f)
lock = threading.Lock()
step_at = [0]

BLOCK_TYPES = {"text", "image", "document", "tool_use", "tool_result", "thinking",
               "redacted_thinking", "server_tool_use", "web_search_tool_result"}


def note(entry):
    with lock, open(log_path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def invalid(headers, body):
    """Why a request is not a valid Messages API request, or None."""
    if "anthropic-version" not in headers:
        return "no anthropic-version header"
    if not (headers.get("x-api-key") or headers.get("authorization")):
        return "no API key"
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "no model"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens is not a positive integer"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "no messages"
    previous_tool_uses = set()
    last_role = None
    for i, m in enumerate(messages):
        # `system` messages between turns (instructions the CLI adds as the session goes on)
        # are part of the API the CLI speaks; they do not take a turn.
        if m.get("role") not in ("user", "assistant", "system"):
            return f"messages[{i}]: role {m.get('role')!r}"
        if m["role"] != "system":
            if last_role is None and m["role"] != "user":
                return "the first turn is not the user's"
            if last_role == m["role"] and m["role"] == "assistant":
                return f"messages[{i}]: two assistant turns in a row"
            last_role = m["role"]
        content = m.get("content")
        if isinstance(content, str):
            blocks = []
        elif isinstance(content, list):
            blocks = content
        else:
            return f"messages[{i}]: content is neither text nor blocks"
        uses = set()
        for j, b in enumerate(blocks):
            kind = b.get("type") if isinstance(b, dict) else None
            if kind not in BLOCK_TYPES:
                return f"messages[{i}].content[{j}]: block type {kind!r}"
            if kind == "tool_use":
                uses.add(b.get("id"))
            if kind == "tool_result":
                if m["role"] != "user":
                    return f"messages[{i}]: a tool_result outside a user turn"
                if b.get("tool_use_id") not in previous_tool_uses:
                    return f"messages[{i}]: tool_result for unknown tool_use {b.get('tool_use_id')!r}"
        previous_tool_uses = uses
    if "stream" in body and not isinstance(body["stream"], bool):
        return "stream is not a boolean"
    for t in body.get("tools") or []:
        if not isinstance(t, dict) or not t.get("name"):
            return "a tool without a name"
    return None


def reply_for(body):
    """The next step when the request is the agent's own turn, else a side reply."""
    if not body.get("tools"):
        return None, {"text": "ok"}
    with lock:
        i = step_at[0]
        step_at[0] += 1
    if i < len(script):
        return i, script[i]
    return i, {"text": "SCRIPT EXHAUSTED"}


def blocks_of(step):
    blocks = []
    if step.get("text") is not None:
        blocks.append({"type": "text", "text": step["text"]})
    if step.get("tool_use"):
        u = step["tool_use"]
        blocks.append({"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:20],
                       "name": u["name"], "input": u.get("input", {})})
    return blocks, ("tool_use" if step.get("tool_use") else "end_turn")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def json_reply(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def event(self, name, obj):
        data = f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def do_GET(self):
        note({"method": "GET", "path": self.path})
        self.json_reply(404, {"type": "error", "error": {"type": "not_found_error", "message": "not here"}})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        path = self.path.split("?")[0]
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        if path == "/v1/messages/count_tokens":
            note({"method": "POST", "path": path})
            return self.json_reply(200, {"input_tokens": 100})
        if path != "/v1/messages":
            note({"method": "POST", "path": path})
            return self.json_reply(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})
        why = invalid(headers, body)
        if why:
            note({"method": "POST", "path": path, "invalid": why, "body": body})
            return self.json_reply(400, {"type": "error", "error": {"type": "invalid_request_error", "message": why}})
        index, step = reply_for(body)
        note({"method": "POST", "path": path, "main": index is not None, "step": index, "body": body})
        blocks, stop = blocks_of(step)
        usage = {"input_tokens": 100, "output_tokens": 20}
        message = {"id": "msg_" + uuid.uuid4().hex[:20], "type": "message", "role": "assistant",
                   "model": body["model"], "content": blocks, "stop_reason": stop,
                   "stop_sequence": None, "usage": usage}
        if not body.get("stream"):
            return self.json_reply(200, message)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self.event("message_start", {"type": "message_start",
                                     "message": dict(message, content=[], stop_reason=None)})
        for i, b in enumerate(blocks):
            if b["type"] == "text":
                self.event("content_block_start", {"type": "content_block_start", "index": i,
                                                   "content_block": {"type": "text", "text": ""}})
                self.event("content_block_delta", {"type": "content_block_delta", "index": i,
                                                   "delta": {"type": "text_delta", "text": b["text"]}})
            else:
                self.event("content_block_start", {"type": "content_block_start", "index": i,
                                                   "content_block": dict(b, input={})})
                self.event("content_block_delta", {"type": "content_block_delta", "index": i,
                                                   "delta": {"type": "input_json_delta",
                                                             "partial_json": json.dumps(b["input"])}})
            self.event("content_block_stop", {"type": "content_block_stop", "index": i})
        self.event("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": stop, "stop_sequence": None},
                                     "usage": {"output_tokens": 20}})
        self.event("message_stop", {"type": "message_stop"})
        self.wfile.write(b"0\r\n\r\n")


server = ThreadingHTTPServer((os.environ.get("BIND", "127.0.0.1"), 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
