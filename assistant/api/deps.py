"""`Annotated` dependencies; tests override `get_assistant` to point at their own index."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assistant.service import Assistant


def get_assistant(request: Request) -> Assistant:
    assistant: Assistant = request.app.state.assistant
    return assistant


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
