"""Passage search: what the retriever finds, shaped like citations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from assistant.api.deps import AssistantDep
from assistant.api.schemas import SearchResponse

router = APIRouter(prefix="/api", tags=["search"])


@router.get("/search", response_model=SearchResponse)
async def search(
    assistant: AssistantDep,
    q: Annotated[str, Query(min_length=1, max_length=20000, description="Query text")],
    k: Annotated[int, Query(ge=1, le=50)] = 5,
) -> SearchResponse:
    version, passages = await run_in_threadpool(assistant.search_with_version, q, k)
    return SearchResponse(passages=passages, index_version=version)
