"""What is indexed, and whether the service is healthy."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter

from assistant.api.deps import AssistantDep
from assistant.api.schemas import DocumentInfo, DocumentsResponse, DocumentSummary, HealthResponse
from assistant.errors import AssistantError

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


@router.get("/health", response_model=HealthResponse)
def health(assistant: AssistantDep) -> HealthResponse:
    try:
        snapshot = assistant.index.snapshot()
    except AssistantError:
        return HealthResponse(status="no index", index_version=None, model=assistant.settings.model,
                              documents=0, chunks=0)
    return HealthResponse(status="ok", index_version=snapshot.version, model=snapshot.model,
                          documents=len(snapshot.documents), chunks=len(snapshot.chunks))
