"""What is indexed, and whether the service is healthy."""

from __future__ import annotations

import contextlib
from collections import Counter

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from assistant.answer.base import ReportsHealth
from assistant.api.deps import AssistantDep
from assistant.api.schemas import DocumentInfo, DocumentsResponse, DocumentSummary, HealthResponse, LlmHealth
from assistant.errors import AssistantError, IndexNotBuiltError
from assistant.indexing.versions import VersionStore
from assistant.service import Assistant

router = APIRouter(prefix="/api", tags=["index"])


@router.get("/documents", response_model=DocumentsResponse)
def documents(assistant: AssistantDep) -> DocumentsResponse:
    snapshot = assistant.index.snapshot()
    counts = Counter(d.metadata["source"] for d in snapshot.chunks)
    items = []
    for source, meta in sorted(snapshot.documents.items()):
        items.append(DocumentSummary(document=DocumentInfo.of(meta), chunks=counts.get(source, 0),
                                     superseded_by=meta.superseded_by))
    return DocumentsResponse(documents=items, index_version=snapshot.version)


def _answerer(assistant: Assistant) -> dict[str, object]:
    """Which answerer answers and, for one that needs an endpoint, how the endpoint is."""
    answerer = assistant.answerer
    llm = LlmHealth(**answerer.health()) if isinstance(answerer, ReportsHealth) else None
    return {"answerer": answerer.name, "llm": llm}


@router.get("/health", response_model=HealthResponse)
def health(assistant: AssistantDep) -> HealthResponse | JSONResponse:
    """200 "ok" while the live version serves; 200 "no index" before the first build (no CURRENT);
    503 "unhealthy" with the reason when the live version cannot be served (damaged, CURRENT naming a
    missing version, built with another model). The LLM endpoint's state is reported beside it and
    never changes the status: answers fall back to the extractive answerer while it is down."""
    try:
        snapshot = assistant.index.snapshot()
    except IndexNotBuiltError:
        return HealthResponse(status="no index", index_version=None, model=assistant.settings.model,
                              documents=0, chunks=0, **_answerer(assistant))
    except AssistantError as err:
        version = None
        with contextlib.suppress(AssistantError):
            version = VersionStore(assistant.settings.index_dir).current_version()
        body = HealthResponse(status="unhealthy", index_version=version, model=assistant.settings.model,
                              documents=0, chunks=0, reason=str(err), **_answerer(assistant))
        return JSONResponse(body.model_dump(), status_code=503)
    return HealthResponse(status="ok", index_version=snapshot.version, model=snapshot.model,
                          documents=len(snapshot.documents), chunks=len(snapshot.chunks), **_answerer(assistant))
