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


class LlmHealth(BaseModel):
    """The LLM endpoint as last probed; its failure never fails the health check (answers fall back)."""

    state: str = Field(description="ok, unreachable, or error (it answered GET /models with an error)")
    model: str
    detail: str | None = None


class HealthResponse(BaseModel):
    status: str
    index_version: str | None
    model: str
    documents: int
    chunks: int
    reason: str | None = None  # why the service is unhealthy
    answerer: str = Field("extractive", description="The answerer the settings chose")
    llm: LlmHealth | None = Field(None, description="The LLM endpoint's state, when the answerer uses one")


class ErrorResponse(BaseModel):
    detail: str
