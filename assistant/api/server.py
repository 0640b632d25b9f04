"""How uvicorn serves the app (`assistant serve`, and the tests that need a real server).

uvicorn has no time limit on a request's headers, and its `limit_concurrency` counts every open
connection, so 520 connections that each send half a request line and stall made every route
answer 503 for as long as they were held (issue 24). uvicorn takes its HTTP protocol as a class
(`Config(http=...)`, `uvicorn --http module:Class`), so the server's doors are kept by
`GuardedHttpProtocol`, uvicorn's httptools protocol with three rules added (settings in
assistant/settings.py):

* Headers in time: a connection's request line and headers must all arrive within
  `server_header_timeout_seconds` of the connection opening, or of the first byte of its next
  request; else it is answered 408 and closed. A connection that opens and sends nothing is closed
  the same way. (Between requests, uvicorn's keep-alive timeout, `server_keep_alive_seconds`,
  closes an idle connection; the body has its own timeout in assistant/api/limits.py.)
* Per address: one peer address holds at most `server_connections_per_address` open connections
  (with `trust_proxy` on, the trusted proxies are exempt: every client comes through them).
* In all: at most `server_max_connections` open connections.

Past either cap, room is made by closing the connection that has waited longest without a request
in progress (stalled in its headers, or idle between requests), of that address or of all; only
when every one has a request in progress is the new connection answered 503 and closed. uvicorn's
own `limit_concurrency` is not used (the protocol ignores it): connections still waiting for their
headers no longer make other clients get 503. The process's open-file limit is raised to fit the
connections (`server_config`).

Proxy headers are left to the app (`trust_proxy`), so uvicorn's own default of believing
X-Forwarded-For from 127.0.0.1 is off: a local client cannot pose as another address to the rate
limits.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from assistant.settings import Settings, get_settings

log = logging.getLogger(__name__)

HEADERS_LATE = b"the request headers did not arrive in time"
TOO_MANY = b"too many open connections; retry shortly"


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    per_address: int
    max_connections: int
    exempt: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    exempt_all: bool = False

    @classmethod
    def of(cls, settings: Settings) -> ConnectionLimits:
        exempt: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        exempt_all = False
        for entry in settings.trusted_proxies if settings.trust_proxy else []:
            if entry.strip() == "*":
                exempt_all = True
                continue
            try:
                exempt.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                log.warning("trusted proxy %r is not an address or network: not exempt from the per-address cap",
                            entry)
        return cls(settings.server_header_timeout_seconds, settings.server_connections_per_address,
                   settings.server_max_connections, tuple(exempt), exempt_all)

    def capped(self, host: str) -> bool:
        """Whether connections from `host` count against the per-address cap."""
        if self.exempt_all:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return True
        return not any(address in network for network in self.exempt)


def _response(status: bytes, message: bytes, extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: "
            + str(len(message)).encode() + b"\r\nconnection: close\r\n" + extra + b"\r\n" + message)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline and connection caps (module docstring).
    `limits` None: from the environment's settings (for `uvicorn --http assistant.api.server:GuardedHttpProtocol`);
    `protocol_class(settings)` makes a subclass bound to given settings."""

    limits: ClassVar[ConnectionLimits | None] = None

    def __init__(self, config: uvicorn.Config, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limit_concurrency = None  # it counts stalled connections: these caps replace it
        cls = type(self)
        if cls.limits is None:
            cls.limits = ConnectionLimits.of(get_settings())
        self.caps: ConnectionLimits = cls.limits
        self.header_timer: asyncio.TimerHandle | None = None
        self.waiting_since = time.monotonic()

    # --- the caps, when a connection opens -----------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()
        host = self.client[0] if self.client else ""
        others = [c for c in self.connections if c is not self and not _closing(c)]
        if self.caps.capped(host):
            mine = [c for c in others if _host(c) == host]
            if len(mine) >= self.caps.per_address and not _make_room(mine):
                self._refuse()
                return
            others = [c for c in others if not _closing(c)]
        if len(others) >= self.caps.max_connections and not _make_room(others):
            self._refuse()

    def _refuse(self) -> None:
        self._cancel_header_timer()
        self.transport.write(_response(b"503 Service Unavailable", TOO_MANY, b"retry-after: 2\r\n"))
        self.transport.close()

    def idle(self) -> bool:
        """No request in progress: waiting for headers, or between requests."""
        return self.cycle is None or self.cycle.response_complete

    # --- the header deadline -------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.header_timer is None and self.idle():  # the first bytes of a new request
            self._await_headers()
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before:  # a request's headers are all in
            self._cancel_header_timer()

    def handle_websocket_upgrade(self) -> None:
        self._cancel_header_timer()
        super().handle_websocket_upgrade()

    def on_response_complete(self) -> None:
        self.waiting_since = time.monotonic()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self._cancel_header_timer()
        self.header_timer = self.loop.call_later(self.caps.header_timeout, self._headers_late)

    def _cancel_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_late(self) -> None:
        self.header_timer = None
        if self.transport.is_closing() or not self.idle():
            return
        self.transport.write(_response(b"408 Request Timeout", HEADERS_LATE))
        self.transport.close()


def _closing(connection: Any) -> bool:
    transport = getattr(connection, "transport", None)
    return transport is None or transport.is_closing()


def _host(connection: Any) -> str:
    client = getattr(connection, "client", None)
    return str(client[0]) if client else ""


def _make_room(candidates: list[Any]) -> bool:
    """Close the connection of `candidates` that has waited longest without a request in progress;
    False when every one has a request in progress."""
    idle = [c for c in candidates if isinstance(c, GuardedHttpProtocol) and c.idle()]
    if not idle:
        return False
    victim = min(idle, key=lambda c: c.waiting_since)
    victim._cancel_header_timer()
    victim.transport.close()
    return True


def protocol_class(settings: Settings) -> type[GuardedHttpProtocol]:
    """A GuardedHttpProtocol bound to `settings` (one class per server)."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"limits": ConnectionLimits.of(settings)})


def raise_open_files_limit(needed: int) -> int:
    """Raise this process's soft limit on open files to at least `needed` (up to the hard limit), so
    that the connection caps, not the file-descriptor limit, decide; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        if target > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return int(soft)


def server_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    # Each connection is one file; the app's own (index, log, model, Gradio's files) need more besides.
    raise_open_files_limit(settings.server_max_connections + 512)
    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "log_level": "warning",
        "http": protocol_class(settings), "limit_concurrency": None,
        "timeout_keep_alive": settings.server_keep_alive_seconds,
        "timeout_graceful_shutdown": 10, "proxy_headers": False,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)
