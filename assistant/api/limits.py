"""Backpressure and body limits: past a set concurrency the API answers 503 with Retry-After
instead of queueing without bound; oversized bodies get 413 before they are read whole."""

from __future__ import annotations

import json
import threading
from typing import Any

Scope = dict[str, Any]


class LimitsMiddleware:
    """Pure ASGI middleware (streams are counted until they end)."""

    def __init__(self, app: Any, max_concurrent: int, max_body_bytes: int, retry_after: int = 2,
                 large_bodies: dict[str, int] | None = None) -> None:
        self.app = app
        self.large_bodies = large_bodies or {}  # path → its own body limit (uploads)
        self.max_concurrent = max_concurrent
        self.max_body_bytes = max_body_bytes
        self.retry_after = retry_after
        self._active = 0
        self._lock = threading.Lock()

    async def _reply(self, send: Any, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), *headers]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        limit = self.large_bodies.get(scope["path"], self.max_body_bytes)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._reply(send, 413, f"request body larger than {limit} bytes", [])
            return
        with self._lock:
            busy = self._active >= self.max_concurrent
            if not busy:
                self._active += 1
        if busy:
            await self._reply(send, 503, "the server is busy; retry shortly",
                              [(b"retry-after", str(self.retry_after).encode())])
            return
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._reply(send, 413, f"request body larger than {limit} bytes", [])
        finally:
            with self._lock:
                self._active -= 1


class _TooLarge(Exception):
    pass
