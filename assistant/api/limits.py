"""Backpressure, body limits, deadlines and per-client rate limits, on every door into the app.

* On every path (the API, the chat pages and their Gradio queue, the document pages, a path that
  answers 404), a request body must arrive whole within `body_timeout_seconds` (else 408) and
  within its size limit (else 413, whether announced by Content-Length, refused then before a byte
  of it is read, or sent chunked, refused as soon as it passes the limit). It is read here, before
  anything else happens, so a client that sends half a body holds no capacity.
* Under /api/, only then does the request take one of `max_concurrent_requests` slots; past that the API
  answers 503 with Retry-After instead of queueing without bound. The app then has
  `request_timeout_seconds` to start answering, and a client must take each part of the answer
  within that time (one that stops reading is cut off).
* /api/health takes no slot and is never rate limited: it must answer while the API is busy.
* An answer given before the body was read (413 by Content-Length, 429, 503 for Redis) closes the
  connection, so that the server does not go on reading, and discarding, the rest of the body.
* Per client (its address: the peer, or the forwarded address when `trust_proxy` is on, see
  app.py), questions (ask, chat stream, search) and reports (feedback, hand-off) are rate limited
  with a moving window (the `limits` library); over the limit: 429 with Retry-After. The counts
  are in this process's memory, or with `redis_url` in Redis (`limits`' RedisStorage), so that the
  rate holds for all workers together; Redis unreachable: 503 with Retry-After. One `RateLimits`
  per app holds them: the chat page's events count against the same budgets through it (a
  question asked in the chat is a question, a hand-off from the page a report: ui/guard.py).
* Other paths (the pages and their queue) take no slot: each page's Gradio queue is its own bound
  (ui/mount.py), and a long-lived page stream must not hold an API slot.
* Uploads stream their multipart body to the route (which checks the token first), under the
  same size limit and body timeout, outside the slots.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from assistant.settings import Settings

Scope = dict[str, Any]
HEALTH_PATH = "/api/health"
RATE_GROUPS = {("POST", "/api/ask"): "questions", ("POST", "/api/chat/stream"): "questions",
               ("GET", "/api/search"): "questions", ("POST", "/api/feedback"): "reports",
               ("POST", "/api/handoff"): "reports"}


class _TooLarge(Exception):
    pass


class _BodyTimeout(Exception):
    pass


class RateLimits:
    """The per-address budgets (`rate_limit_questions`, `rate_limit_reports`) and their counts, shared
    by every door of one app: the API's routes (LimitsMiddleware) and the pages' events (ui/guard.py)."""

    def __init__(self, settings: Settings) -> None:
        self._rates: dict[str, RateLimitItem] = {
            group: parse(rate) for group, rate in (("questions", settings.rate_limit_questions),
                                                   ("reports", settings.rate_limit_reports)) if rate.strip()}
        storage = rate_storage(settings)
        self._limiter = MovingWindowRateLimiter(storage)
        self.remote = not isinstance(storage, MemoryStorage)  # a network round trip: off the event loop

    def hit(self, group: str, client: str) -> int | None:
        """Count one `group` request from `client`: None when within its budget (or the group has
        none), else the seconds to wait; -1 when the shared counts cannot be read (Redis down)."""
        rate = self._rates.get(group)
        if rate is None:
            return None
        try:
            if self._limiter.hit(rate, group, client):
                return None
            reset = self._limiter.get_window_stats(rate, group, client).reset_time
        except StorageError:
            return -1
        return max(1, math.ceil(reset - time.time()))

    async def check(self, group: str, client: str) -> int | None:
        """`hit` from the event loop (a thread when the counts are in Redis)."""
        if self.remote:
            return await anyio.to_thread.run_sync(self.hit, group, client)
        return self.hit(group, client)


def client_address(scope: Mapping[str, Any]) -> str:
    """The address budgets are counted against: the peer, or the forwarded address that
    ProxyHeadersMiddleware put in its place when `trust_proxy` is on (app.py)."""
    return str((scope.get("client") or ("unknown", 0))[0])


class LimitsMiddleware:
    """Pure ASGI middleware (streams are counted until they end)."""

    def __init__(self, app: Any, settings: Settings, streamed_bodies: dict[str, int] | None = None,
                 retry_after: int = 2, rates: RateLimits | None = None) -> None:
        self.app = app
        self.streamed_bodies = streamed_bodies or {}  # path → its own body limit (uploads: not buffered)
        self.max_concurrent = settings.max_concurrent_requests
        self.max_body_bytes = settings.max_body_bytes
        self.body_timeout = settings.body_timeout_seconds
        self.request_timeout = settings.request_timeout_seconds
        self.retry_after = retry_after
        self.rates = rates or RateLimits(settings)
        self._active = 0
        self._lock = threading.Lock()

    async def _reply(self, send: Any, status: int, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()
                     ) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), *headers]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Pages, and /api/health (no slot, no rate limit: it must answer while the API is busy).
        if not scope["path"].startswith("/api/") or scope["path"] == HEALTH_PATH:
            await self._page(scope, receive, send)
            return
        group = RATE_GROUPS.get((scope["method"], scope["path"]))
        wait = await self.rates.check(group, client_address(scope)) if group else None
        # Refused before the body is read: the connection is closed after the answer, so that the
        # server does not go on reading (and discarding) whatever body the client sends.
        if wait == -1:
            await self._reply(send, 503, "rate limits cannot be checked just now (Redis is unreachable); retry shortly",
                              [(b"retry-after", str(self.retry_after).encode()), (b"connection", b"close")])
            return
        if wait is not None:
            await self._reply(send, 429, f"too many requests from this address; retry in {wait} s",
                              [(b"retry-after", str(wait).encode()), (b"connection", b"close")])
            return
        streamed = scope["path"] in self.streamed_bodies
        limit = self.streamed_bodies.get(scope["path"], self.max_body_bytes)
        if await self._announced_too_large(scope, send, limit):
            return
        if streamed:
            await self._streamed(scope, receive, send, limit)
            return
        body = await self._whole_body(receive, send, limit)
        if body is None:  # refused, or the client went away
            return
        with self._lock:
            busy = self._active >= self.max_concurrent
            if not busy:
                self._active += 1
        if busy:
            await self._reply(send, 503, "the server is busy; retry shortly",
                              [(b"retry-after", str(self.retry_after).encode())])
            return
        try:
            await self._run(scope, _replay(body, receive), send)
        finally:
            with self._lock:
                self._active -= 1

    async def _page(self, scope: Scope, receive: Any, send: Any) -> None:
        """Any other path (the pages, their Gradio queue, the document pages, unknown paths): the same
        body limit and body timeout, no slot. The page's events meet the rate limits in ui/guard.py."""
        if await self._announced_too_large(scope, send, self.max_body_bytes):
            return
        body = await self._whole_body(receive, send, self.max_body_bytes)
        if body is not None:
            await self.app(scope, _replay(body, receive), send)

    async def _announced_too_large(self, scope: Scope, send: Any, limit: int) -> bool:
        """413 at once, before a byte of the body is read, when Content-Length says it is too large."""
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._reply(send, 413, f"request body larger than {limit} bytes", [(b"connection", b"close")])
            return True
        return False

    async def _whole_body(self, receive: Any, send: Any, limit: int) -> bytes | None:
        """The body, read whole under the limit and the body timeout; None when refused (413, 408:
        answered here) or when the client went away."""
        try:
            return await self._read_body(receive, limit)
        except _TooLarge:
            await self._reply(send, 413, f"request body larger than {limit} bytes", [(b"connection", b"close")])
        except _BodyTimeout:
            await self._reply(send, 408, f"the request body did not arrive within {self.body_timeout:g} s",
                              [(b"connection", b"close")])
        return None

    async def _read_body(self, receive: Any, limit: int) -> bytes | None:
        chunks: list[bytes] = []
        received = 0
        with anyio.move_on_after(self.body_timeout) as deadline:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise _TooLarge
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
        assert deadline.cancelled_caught
        raise _BodyTimeout

    async def _run(self, scope: Scope, receive: Any, send: Any) -> None:
        """The app must start its answer within the request deadline (else 503); after that, every
        part of the answer must be taken by the client within the same time (else it is cut off),
        so a long export streams on while a client that stops reading frees its slot."""
        started = False
        with anyio.CancelScope(deadline=anyio.current_time() + self.request_timeout) as deadline:

            async def tracked_send(message: Any) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                    deadline.deadline = math.inf
                with anyio.fail_after(self.request_timeout):
                    await send(message)

            try:
                await self.app(scope, receive, tracked_send)
            except TimeoutError:  # the client stopped reading
                return
        if deadline.cancelled_caught and not started:
            await self._reply(send, 503, "the request took too long; retry shortly",
                              [(b"retry-after", str(self.retry_after).encode())])

    async def _streamed(self, scope: Scope, receive: Any, send: Any, limit: int) -> None:
        received = 0
        body_deadline = anyio.current_time() + self.body_timeout

        async def limited_receive() -> Any:
            nonlocal received
            with anyio.move_on_after(max(0.0, body_deadline - anyio.current_time())) as waited:
                message = await receive()
            if waited.cancelled_caught:
                raise _BodyTimeout
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        try:
            await self._run(scope, limited_receive, send)
        except _TooLarge:
            await self._reply(send, 413, f"request body larger than {limit} bytes")
        except _BodyTimeout:
            await self._reply(send, 408, f"the request body did not arrive within {self.body_timeout:g} s",
                              [(b"connection", b"close")])


def rate_storage(settings: Settings) -> Storage:
    """Where the rate counts live: this process's memory, or Redis shared by every worker."""
    if not settings.redis_url:
        return MemoryStorage()
    timeout = settings.state_timeout_seconds
    return RedisStorage(settings.redis_url, key_prefix="assistant:limits", wrap_exceptions=True,
                        socket_timeout=timeout, socket_connect_timeout=timeout)


def _replay(body: bytes, receive: Any) -> Any:
    """A receive that hands the app the body read already, then waits for the disconnect."""
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class SecurityHeadersMiddleware:
    """X-Frame-Options, a Content-Security-Policy and nosniff on every response (the chat page too).

    The policy allows what the Gradio page needs from its own origin (its inline scripts and
    styles, its server-sent events and websockets, data:/blob: images) and nothing from elsewhere;
    no other site may frame the page."""

    CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
           "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
           "media-src 'self' data: blob:; connect-src 'self' ws: wss:; worker-src 'self' blob:; "
           "frame-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'")
    HEADERS = ((b"x-frame-options", b"SAMEORIGIN"), (b"content-security-policy", CSP.encode()),
               (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"))

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
