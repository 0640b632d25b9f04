"""The two pages on the FastAPI app: the enquiry page at / and the liaisons' workspace at /review.

Each is its own Blocks with its own bounded queue; neither shows Gradio's footer (API link,
branding, settings). Each mounted page answers only the paths it uses (ui/guard.py: an allow-list);
uploads are capped anyway, and Gradio's file cache is cleaned hourly. Each page's queue has a door
(ui/guard.py QueueDoor): the chat's questions, hand-offs and ratings count against the API's
per-address budgets (the same `RateLimits`), and one address may have at most
`ui_queue_per_address` events waiting in a page's queue.
"""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from assistant.api.limits import RateLimits
from assistant.service import Assistant
from ui.app import PAGE_CSS, RATE_GROUPS, build_ui
from ui.guard import QueueDoor, guard_mounts
from ui.i18n import chinese
from ui.review import build_review_page

MAX_FILE = "1kb"  # no component takes files; anything posted as one is refused


def mount_pages(app: FastAPI, assistant: Assistant, rates: RateLimits | None = None) -> FastAPI:
    """Mount both pages on `app`. `rates`: the budgets the API counts against (create_app passes its
    own, so that a question is one question whichever door it comes through)."""
    settings = assistant.settings
    rates = rates or RateLimits(settings)
    size = settings.ui_queue_size  # events waiting per page beyond those running
    enquiry = build_ui(assistant).queue(max_size=size, api_open=False, default_concurrency_limit=4)
    review = build_review_page(assistant).queue(max_size=size, api_open=False, default_concurrency_limit=4)
    QueueDoor(enquiry, rates, RATE_GROUPS, settings.ui_queue_per_address)
    QueueDoor(review, rates, {}, settings.ui_queue_per_address)  # the liaisons' events: no API budget either
    options = {"footer_links": [], "max_file_size": MAX_FILE, "css": PAGE_CSS, "show_error": False,
               "enable_monitoring": False, "pwa": False, "mcp_server": False, "ssr_mode": False,
               "i18n": chinese()}

    @app.get("/review", include_in_schema=False)
    def review_slash(request: Request) -> RedirectResponse:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/review/", status_code=307)

    # /review first: the page at / would otherwise take every path.
    app = gr.mount_gradio_app(app, review, path="/review", **options)
    app = gr.mount_gradio_app(app, enquiry, path="/", **options)
    if guard_mounts(app) != 2:  # fail at start, not open: a Gradio upgrade that mounts differently
        raise RuntimeError("the Gradio pages could not be guarded (ui/guard.py): refusing to serve them")
    return app
