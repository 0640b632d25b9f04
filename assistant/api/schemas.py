"""Request and response models of the HTTP API (also what the CLI prints with --json)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DocumentInfo(BaseModel):
    title: str
    doc_number: str | None = None
    issuer: str | None = None
    date: str | None = None
    status: str | None = Field(None, description="As stated in the document, or 被替代 when superseded")
    in_force: bool = True
    source: str


class Citation(BaseModel):
    n: int
    document: DocumentInfo
    locator: str = Field(description="Heading path, e.g. 第二章 促进措施 > 第十条")
    text: str = Field(description="The passage")
    highlights: list[tuple[int, int]] = Field(default_factory=list,
                                              description="[start, end) offsets of cited sentences in text")
    score: float


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=20000)
    conversation_id: str | None = Field(None, max_length=128)
    top_k: int | None = Field(None, ge=1, le=20)


class AskResponse(BaseModel):
    answer: str
    citations: list[Citation]
    refused: bool
    conversation_id: str
    query: str = Field(description="The query actually used for retrieval (follow-ups resolved)")
    index_version: str
    reviewed: bool = Field(False, description="Served from an answer a liaison reviewed")
    answer_id: int | None = Field(None, description="This answer in the review log: pass it to POST /api/feedback "
                                                    "or POST /api/handoff (absent when not logged)")


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


class ErrorResponse(BaseModel):
    detail: str
