"""Passage search: what the retriever finds, shaped like citations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from assistant.api.deps import AssistantDep, root_path
from assistant.api.schemas import SearchResponse
from assistant.catalog import with_links
from assistant.service import Assistant

router = APIRouter(prefix="/api", tags=["search"])


@router.get("/search", response_model=SearchResponse)
async def search(
    request: Request,
    assistant: AssistantDep,
    q: Annotated[str, Query(min_length=1, max_length=20000, description="Query text")],
    k: Annotated[int, Query(ge=1, le=50)] = 5,
) -> SearchResponse:
    """Passages for a query, each with its document's id and page and original URLs."""
    return await run_in_threadpool(_search, assistant, q, k, root_path(request))


def _search(assistant: Assistant, q: str, k: int, root: str) -> SearchResponse:
    version, passages = assistant.search_with_version(q, k)
    return SearchResponse(passages=with_links(assistant, passages, root), index_version=version)
