"""Gradio's side door, shut: only what the pages themselves use is reachable under /gradio_api.

The pages talk to the server through the queue (`queue/join`, `queue/data`) with event indexes;
Gradio also answers calls by API name (`/call/<name>`, `/run/<name>`, `/api/<name>`) whatever an
event's visibility, takes uploads for file components (these pages have none) and offers MCP.
Those paths get 404 here, for every mounted page (/ and /review).
"""

from __future__ import annotations

import json
import re
from typing import Any

CLOSED = re.compile(r"/gradio_api/(?:call|run|api|upload|mcp|info)(?:/|$|\?)|/gradio_api/upload_progress")


class GradioGuard:
    """Pure ASGI middleware in front of the mounted Gradio apps."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and CLOSED.search(scope.get("path", "")):
            body = json.dumps({"detail": "该接口未开放。"}, ensure_ascii=False).encode()
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
