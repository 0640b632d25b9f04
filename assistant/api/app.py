"""The FastAPI application: API routers, error mapping, offline /docs, and the Gradio pages
(enquiry at /, liaisons' workspace at /review)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from assistant import __version__
from assistant.api import (
    routes_ask,
    routes_documents,
    routes_index,
    routes_review,
    routes_search,
    routes_upload,
)
from assistant.api.errors import public_detail
from assistant.api.limits import LimitsMiddleware, RateLimits, SecurityHeadersMiddleware
from assistant.api.schemas import ErrorResponse
from assistant.errors import AssistantError
from assistant.review.auth import TokenChecker
from assistant.service import Assistant
from assistant.settings import Settings

_ERRORS = {
    400: "Bad input (empty question, too long, unusable text)",
    401: "Missing or wrong token (protected routes)",
    403: "The token's role may not do this",
    404: "Unknown conversation or item",
    408: "The request body did not arrive in time",
    409: "Conflict: a re-index is running, or the file exists",
    413: "Request body too large",
    422: "Request does not match the schema",
    429: "Too many requests",
    503: "Busy (see Retry-After) or no index yet",
}


# Every API route documents the error answers it can give, so clients (and fuzzers) can rely on them.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": description} for code, description in _ERRORS.items()
}


def create_app(settings: Settings | None = None, assistant: Assistant | None = None, ui: bool = True) -> FastAPI:
    settings = settings or Settings()
    # /docs and /redoc with their assets served from the installed fastapi-offline (no CDN).
    app = FastAPIOffline(title="Policy enquiry assistant", version=__version__,
                         description="Answers questions about indexed policy texts, citing the passages it relied on.")
    app.state.assistant = assistant or Assistant(settings)
    app.state.settings = settings
    app.state.token_checker = TokenChecker(app.state.assistant.settings)

    @app.exception_handler(AssistantError)
    async def assistant_error(request: Request, err: AssistantError) -> JSONResponse:
        # Each error knows its status; its text is the user's, without server paths. A 503 (no index,
        # PostgreSQL or Redis unreachable) is temporary: say when to try again.
        headers = {"Retry-After": "2"} if err.status == 503 else None
        return JSONResponse({"detail": public_detail(str(err), settings)}, status_code=err.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        messages = []
        for item in err.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            messages.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
        return JSONResponse({"detail": "; ".join(messages) or "invalid request"}, status_code=422)

    for module in (routes_ask, routes_search, routes_index):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.include_router(routes_documents.api, responses=ERROR_RESPONSES)
    app.include_router(routes_documents.pages)
    for router in (*routes_review.routers, routes_upload.router):  # tokens: routes_review.py
        app.include_router(router, responses=ERROR_RESPONSES)
    # Outermost last: security headers on every answer, then the client address, then the limits.
    # One set of per-address budgets for the API and the pages' events (ui/guard.py).
    app.state.rates = rates = RateLimits(settings)
    app.add_middleware(LimitsMiddleware, settings=settings, rates=rates,
                       streamed_bodies={routes_upload.UPLOAD_PATH: settings.max_upload_bytes + 64 * 1024})
    if settings.trust_proxy:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_middleware(SecurityHeadersMiddleware)

    if ui:
        try:
            from ui.mount import mount_pages
        except ImportError:  # the API works without the UI package
            return app
        app = mount_pages(app, app.state.assistant, rates)
    return app


def create_api() -> FastAPI:
    """Factory for `uvicorn --factory assistant.api.app:create_api` (several workers, settings from env)."""
    return create_app(Settings(), ui=False)
