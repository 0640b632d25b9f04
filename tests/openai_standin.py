"""A stand-in OpenAI-compatible endpoint on loopback: a real HTTP server that streams what a test scripts.

At the protocol boundary (`POST /v1/chat/completions` with `stream: true`, `GET /v1/models`), so the
assistant's real client (LangChain's ChatOpenAI over httpx) talks to it as it would to vLLM or
llama.cpp. Each test sets `reply`: a list of (seconds to wait, text) sent as chunks, or one of the
faults: "hang" (headers never come), "garbage" (200 with a web page), "error" (500).
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


@dataclass
class Script:
    reply: list[tuple[float, str]] | str = field(default_factory=list)
    hang_seconds: float = 30.0
    requests: list[dict[str, Any]] = field(default_factory=list)  # the bodies received, in order
    finished_at: float = 0.0  # monotonic time the last chunk was sent


def _chunk(text: str | None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    body = {"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 0, "model": "standin",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_GET(self) -> None:
            body = json.dumps({"object": "list", "data": [{"id": "standin", "object": "model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            script.requests.append(json.loads(self.rfile.read(length) or b"{}"))
            reply = script.reply
            if reply == "hang":
                time.sleep(script.hang_seconds)
                return
            if reply in ("garbage", "error"):
                body = "<html><body>维护中</body></html>".encode()
                self.send_response(200 if reply == "garbage" else 500)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(_chunk(""))
            for wait, text in reply:
                time.sleep(wait)
                self.wfile.write(_chunk(text))
                self.wfile.flush()
            self.wfile.write(_chunk(None, "stop") + b"data: [DONE]\n\n")
            self.wfile.flush()
            script.finished_at = time.monotonic()
            self.close_connection = True

    return Handler


@contextmanager
def standin() -> Iterator[tuple[str, Script]]:
    """Yield (base URL ending in /v1, the script to set) while the endpoint serves."""
    script = Script()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="openai-standin", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", script
    finally:
        server.shutdown()
        server.server_close()
