"""A local fake of the OpenAI chat completions API for client tests: stdlib ``http.server`` on 127.0.0.1 (random
port) in a daemon thread, so the real ``openai`` client and the instrumentations wrapping it run unmodified without
network.

``POST {base}/chat/completions`` answers deterministically:

* with ``tools`` in the request and a user message last, a call of the first tool with :attr:`FakeOpenAI.tool_arguments`
  (``finish_reason: tool_calls``, no text);
* otherwise ``Answer: <last user text>`` (after a tool result: ``Answer: <tool result>``).

Usage is ``prompt_tokens = 7 * len(messages)``, ``completion_tokens = number of words of the reply`` (5 for a tool
call); every answered request is recorded in :attr:`FakeOpenAI.calls` so tests can sum the usage they expect.
``"stream": true`` answers as server-sent events, with a final usage chunk when ``stream_options.include_usage``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOOL_CALL_TOKENS = 5


@dataclass
class Call:
    """One answered request: the request body and the reply's text, tool call and usage."""

    request: dict[str, Any]
    text: str
    tool_call: dict[str, Any] | None
    prompt_tokens: int
    completion_tokens: int


@dataclass
class FakeOpenAI:
    """The running fake: ``base_url`` for ``openai.OpenAI(base_url=...)``, the answered ``calls``."""

    base_url: str = ""
    calls: list[Call] = field(default_factory=list)
    tool_arguments: dict[str, Any] = field(default_factory=lambda: {"city": "Paris"})

    def answer(self, request: dict[str, Any]) -> Call:
        """The reply to a chat completions request (see the module docstring)."""
        messages = request.get("messages") or []
        last = messages[-1] if messages else {}
        tools = request.get("tools") or []
        tool_call = None
        if tools and last.get("role") == "user":
            name = tools[0]["function"]["name"]
            tool_call = {"id": f"call_{len(self.calls)}", "type": "function",
                         "function": {"name": name, "arguments": json.dumps(self.tool_arguments)}}
            text = ""
        else:
            user = next((m for m in reversed(messages) if m.get("role") in ("user", "tool")), {})
            content = user.get("content", "")
            if isinstance(content, list):
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            text = f"Answer: {content}"
        call = Call(request, text, tool_call, 7 * len(messages),
                    TOOL_CALL_TOKENS if tool_call else len(text.split()))
        self.calls.append(call)
        return call


def _completion(call: Call, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": call.text or None}
    if call.tool_call:
        message["tool_calls"] = [call.tool_call]
    return {
        "id": f"chatcmpl-{id(call):x}", "object": "chat.completion", "created": int(time.time()), "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": "tool_calls" if call.tool_call else "stop"}],
        "usage": _usage(call),
    }


def _usage(call: Call) -> dict[str, int]:
    return {"prompt_tokens": call.prompt_tokens, "completion_tokens": call.completion_tokens,
            "total_tokens": call.prompt_tokens + call.completion_tokens}


def _chunks(call: Call, model: str, include_usage: bool) -> Iterator[dict[str, Any]]:
    base = {"id": f"chatcmpl-{id(call):x}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "system_fingerprint": "fp_fake"}
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    if call.tool_call:
        delta = {"tool_calls": [{"index": 0, **call.tool_call}]}
        yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    for word in call.text.split(" ") if call.text else []:
        piece = word if word == call.text.split(" ")[0] else " " + word
        yield {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
    finish = "tool_calls" if call.tool_call else "stop"
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    if include_usage:
        yield {**base, "choices": [], "usage": _usage(call)}


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._send(400, b'{"error": {"message": "body is not JSON", "type": "invalid_request_error"}}')
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())
                return
            call = fake.answer(request)
            model = request.get("model", "fake-model")
            if not request.get("stream"):
                self._send(200, json.dumps(_completion(call, model)).encode())
                return
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n"
                            for c in _chunks(call, model, include_usage)) + b"data: [DONE]\n\n"
            self._send(200, body, "text/event-stream")

    return Handler


@contextmanager
def fake_openai() -> Iterator[FakeOpenAI]:
    """Serve a :class:`FakeOpenAI` on 127.0.0.1 (random port) for the ``with`` block."""
    fake = FakeOpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
