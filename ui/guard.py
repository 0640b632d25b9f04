"""Gradio's side door, shut: a mounted page answers only the paths the page itself uses.

What a browser on these pages requests (recorded with Chromium on both pages, every control used):
the page, its config, its assets, static files and theme, and under /gradio_api only the queue
(`queue/join`, `queue/data`) and the heartbeat. Gradio also serves calls by API name (`/call`,
`/run`, `/api`), uploads, MCP, `info`, `openapi.json`, `runs`, `component_server`,
`process_recording`, files by path, a proxy, login, monitoring, vibe editing…: none of these is used
by the pages, so every path not on the list gets 404 before Gradio sees it, on every mounted page
(/ and /review). An allow-list, so a route a Gradio upgrade adds stays shut until it is listed.

The queue's own door (`QueueDoor`, around each page's `Queue.push`, which `queue/join` calls): an
event the page starts meets the API's per-address budgets, counted by the same `RateLimits` (an
answer asked for in the chat is a question as `/api/ask` is one, a hand-off or a rating from the
page is a report as `/api/handoff` is one; over budget: 429 with Retry-After, which the page shows),
and one client address may have at most `ui_queue_per_address` events waiting in a page's queue
(429 past it), so that one address cannot fill the queue (`ui_queue_size`) that everybody shares.
The address is the one the API's limits use: the peer, or the forwarded one with `trust_proxy`.
An unknown event index gets 404 (Gradio itself would fail with 500).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.api.limits import RateLimits, client_address

if TYPE_CHECKING:
    import gradio as gr

# Paths inside one mounted page (after its mount prefix); anything else is 404.
OPEN = re.compile(
    r"(?:/?|/config/?|/theme\.css|/favicon\.ico|/robots\.txt"
    r"|/(?:assets|static)/[^?#]+"
    r"|/gradio_api/queue/(?:join|data)|/gradio_api/heartbeat/[A-Za-z0-9_-]{1,64})"
)
CLOSED_BODY = json.dumps({"detail": "该接口未开放。"}, ensure_ascii=False).encode()


def route_path(scope: Scope) -> str:
    """The path inside the mounted app (Starlette keeps the full path and grows root_path)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root):]
    return path


class GradioGuard:
    """Pure ASGI wrapper around one mounted Gradio app: allow-listed paths pass, the rest is 404."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not OPEN.fullmatch(route_path(scope)):
            if scope["type"] == "websocket":  # no page uses one: refuse the handshake
                await send({"type": "websocket.close", "code": 1008})
                return
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json; charset=utf-8"),
                                    (b"content-length", str(len(CLOSED_BODY)).encode())]})
            await send({"type": "http.response.body", "body": CLOSED_BODY})
            return
        await self.app(scope, receive, send)


def guard_mounts(app: FastAPI) -> int:
    """Wrap every Gradio app mounted on `app` in a GradioGuard; return how many were wrapped."""
    import gradio.routes

    wrapped = 0
    for route in app.router.routes:
        if isinstance(route, Mount) and isinstance(route.app, gradio.routes.App):
            route.app = GradioGuard(route.app)
            wrapped += 1
    return wrapped


OVER_BUDGET = {"questions": "提问过于频繁，请 {wait} 秒后再试。", "reports": "提交过于频繁，请 {wait} 秒后再试。"}
TOO_MANY_WAITING = "您有太多请求正在排队，请等前面的完成后再试。"
UNCHECKED = "暂时无法核对访问频率，请稍后再试。"
RETRY_AFTER = 2


class QueueDoor:
    """Wraps one page's `Queue.push` (called by `queue/join`): the rate budget of the event's group,
    then at most `per_address` events waiting per client address, then Gradio's own queue."""

    def __init__(self, blocks: gr.Blocks, rates: RateLimits, groups: Mapping[str, str], per_address: int) -> None:
        names = {fn.name for fn in blocks.fns.values()}
        if missing := set(groups) - names:  # fail at start, not open: an event renamed in ui/app.py
            raise RuntimeError(f"rate-limited page events not found on the page: {sorted(missing)}")
        self.blocks = blocks
        self.queue = blocks._queue
        self.push = self.queue.push
        self.rates = rates
        self.groups = dict(groups)
        self.per_address = per_address
        self.lock = asyncio.Lock()  # counting the waiting events and adding one is one step
        setattr(self.queue, "push", self.__call__)  # noqa: B010 (a method replaced on one instance)

    def waiting(self, address: str) -> int:
        """Events from `address` waiting in this page's queue (not those already running)."""
        return sum(1 for events in self.queue.event_queue_per_concurrency_id.values() for event in events.queue
                   if client_address(event.request.scope) == address)

    async def __call__(self, body: Any, request: Request, username: str | None) -> Any:
        fn = self.blocks.fns.get(body.fn_index) if isinstance(body.fn_index, int) else None
        if fn is None:
            raise HTTPException(status_code=404, detail="该事件不存在。")
        address = client_address(request.scope)
        group = self.groups.get(fn.name or "")
        wait = await self.rates.check(group, address) if group else None
        if wait == -1:
            raise HTTPException(status_code=503, detail=UNCHECKED, headers={"Retry-After": str(RETRY_AFTER)})
        if group and wait is not None:
            raise HTTPException(status_code=429, detail=OVER_BUDGET[group].format(wait=wait),
                                headers={"Retry-After": str(wait)})
        async with self.lock:
            if self.waiting(address) >= self.per_address:
                raise HTTPException(status_code=429, detail=TOO_MANY_WAITING,
                                    headers={"Retry-After": str(RETRY_AFTER)})
            return await self.push(body=body, request=request, username=username)
