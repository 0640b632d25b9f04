"""How uvicorn serves the app (`assistant serve`, and the tests that need a real server).

Idle keep-alive connections are closed after `server_keep_alive_seconds`; past
`server_max_connections` open connections uvicorn answers 503 at once. Proxy headers are left to
the app (`trust_proxy`), so uvicorn's own default of believing X-Forwarded-For from 127.0.0.1 is
off: a local client cannot pose as another address to the rate limits.
"""

from __future__ import annotations

from typing import Any

import uvicorn

from assistant.settings import Settings


def server_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "log_level": "warning",
        "timeout_keep_alive": settings.server_keep_alive_seconds,
        "limit_concurrency": settings.server_max_connections,
        "timeout_graceful_shutdown": 10, "proxy_headers": False,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)
