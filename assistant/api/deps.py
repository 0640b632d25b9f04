"""`Annotated` dependencies: the assistant and the token checks. `create_app` puts both on
`app.state`; tests override `get_assistant` to point at their own index."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from assistant.review.auth import Principal, Role, TokenChecker, bearer
from assistant.service import Assistant


def get_assistant(request: Request) -> Assistant:
    assistant: Assistant = request.app.state.assistant
    return assistant


def root_path(request: Request) -> str:
    """The app's root path behind a proxy prefix ("" or "/prefix"): links in answers start with it."""
    return str(request.scope.get("root_path") or "").rstrip("/")


def get_token_checker(request: Request) -> TokenChecker:
    checker: TokenChecker = request.app.state.token_checker
    return checker


def require_liaison(checker: Annotated[TokenChecker, Depends(get_token_checker)],
                    authorization: Annotated[str | None, Header()] = None) -> Principal:
    return checker.require(bearer(authorization), Role.LIAISON)


def require_maintainer(checker: Annotated[TokenChecker, Depends(get_token_checker)],
                       authorization: Annotated[str | None, Header()] = None) -> Principal:
    return checker.require(bearer(authorization), Role.MAINTAINER)


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
LiaisonDep = Annotated[Principal, Depends(require_liaison)]
MaintainerDep = Annotated[Principal, Depends(require_maintainer)]
