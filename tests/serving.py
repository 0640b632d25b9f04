"""Serve an ASGI app on a free loopback port for the length of a test (uvicorn in a thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.helpers import free_port, wait_healthy

__all__ = ["serve_in_thread", "wait_healthy"]


@contextmanager
def serve_in_thread(app: Any, timeout: float = 60, settings: Any = None) -> Iterator[str]:
    """Yield the base URL (with a trailing slash) while the app serves; stop it afterwards. With
    `settings`, uvicorn is configured as `assistant serve` configures it."""
    import uvicorn

    from assistant.api.server import server_config

    port = free_port()
    config = (server_config(app, settings, host="127.0.0.1", port=port) if settings is not None
              else uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"test-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
