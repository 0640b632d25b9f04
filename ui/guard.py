"""Gradio's side door, shut: a mounted page answers only the paths the page itself uses.

What a browser on these pages requests (recorded with Chromium on both pages, every control used):
the page, its config, its assets, static files and theme, and under /gradio_api only the queue
(`queue/join`, `queue/data`) and the heartbeat. Gradio also serves calls by API name (`/call`,
`/run`, `/api`), uploads, MCP, `info`, `openapi.json`, `runs`, `component_server`,
`process_recording`, files by path, a proxy, login, monitoring, vibe editing…: none of these is used
by the pages, so every path not on the list gets 404 before Gradio sees it, on every mounted page
(/ and /review). An allow-list, so a route a Gradio upgrade adds stays shut until it is listed.
"""

from __future__ import annotations

import json
import re

from fastapi import FastAPI
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

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
