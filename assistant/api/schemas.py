"""Request and response models of the HTTP API; the answer and passage types come from assistant.types."""

from __future__ import annotations

from pydantic import BaseModel, Field

from assistant.types import Answer, Citation, DocumentInfo

# The answer object is the domain's; the API serves it as it is.
AskResponse = Answer
__all__ = ["Answer", "AskResponse", "Citation", "DocumentInfo"]


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=20000)
    conversation_id: str | None = Field(None, max_length=128)
    top_k: int | None = Field(None, ge=1, le=20)


class SearchResponse(BaseModel):
    passages: list[Citation]
    index_version: str


class DocumentSummary(BaseModel):
    document: DocumentInfo
    chunks: int
    superseded_by: str | None = None


class DocumentsResponse(BaseModel):
    documents: list[DocumentSummary]
    index_version: str


class HealthResponse(BaseModel):
    status: str
    index_version: str | None
    model: str
    documents: int
    chunks: int
    reason: str | None = None  # why the service is unhealthy


class ErrorResponse(BaseModel):
    detail: str
