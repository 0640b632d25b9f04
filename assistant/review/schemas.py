"""Request and response models of the review API (and what the 审核 tab shows)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from assistant.types import Citation

Status = Literal["handoff", "stale", "unhelpful", "refused", "low_evidence", "new", "reviewed"]
StatusFilter = Literal["open", "all", "handoff", "stale", "unhelpful", "refused", "low_evidence", "new",
                       "reviewed"]
VerdictKind = Literal["correct", "incorrect", "needs_change"]
MAX_ID = 2**62


class DocumentVersion(BaseModel):
    source: str
    title: str
    sha256: str | None = Field(None, description="The document's content hash when the answer was given")


class QueueItem(BaseModel):
    id: int
    created_at: str
    status: Status
    needs_human: bool = Field(description="Hand-off, stale, unhelpful, refused or low evidence")
    waiting_since: str
    question: str
    answer: str
    refused: bool
    reviewed: bool = Field(description="Served from a curated answer")
    evidence: float | None = None
    min_support: float | None = None
    documents: list[str] = Field(default_factory=list, description="Titles of the cited documents")
    helpful: bool | None = Field(None, description="The latest feedback")
    verdicts: int = 0


class QueuePage(BaseModel):
    items: list[QueueItem]
    total: int
    limit: int
    offset: int


class PassageSupportView(BaseModel):
    n: int
    support: float
    token_share: float
    char_share: float
    highlights: list[tuple[int, int]]
    missing_figures: list[str] = Field(default_factory=list)


class SentenceView(BaseModel):
    text: str
    cites: list[int]
    support: float = Field(description="How much of the sentence its best cited passage contains (0..1)")
    weak: bool
    missing_figures: list[str] = Field(default_factory=list)
    passages: list[PassageSupportView]


class FeedbackView(BaseModel):
    id: int
    created_at: str
    helpful: bool
    comment: str


class VerdictView(BaseModel):
    id: int
    created_at: str
    reviewer: str
    role: str
    verdict: VerdictKind
    note: str
    corrected_answer: str | None = None
    corrected_citations: list[Citation] = Field(default_factory=list)
    corrected_sentences: list[SentenceView] = Field(default_factory=list)


class ReplyView(BaseModel):
    id: int
    created_at: str
    reviewer: str
    answer: str
    citations: list[Citation] = Field(default_factory=list)


class HandoffView(BaseModel):
    id: int
    created_at: str
    question: str
    contact: str
    replies: list[ReplyView] = Field(default_factory=list)


class CuratedView(BaseModel):
    id: int
    created_at: str
    verdict_id: int
    status: Literal["active", "stale", "retired"]
    reason: str = ""
    answer: str


class ItemDetail(BaseModel):
    item: QueueItem
    conversation_id: str
    query: str
    index_version: str | None
    origin: str
    citations: list[Citation]
    document_versions: list[DocumentVersion]
    sentences: list[SentenceView]
    feedback: list[FeedbackView]
    verdicts: list[VerdictView] = Field(description="Oldest first; every verdict is kept")
    handoffs: list[HandoffView]
    curated: list[CuratedView]


class CitationPick(BaseModel):
    n: int = Field(ge=1, le=50, description="The marker [n] used in the answer text")
    chunk_id: str = Field(min_length=1, max_length=300, description="A passage from GET /api/review/search")


class VerdictRequest(BaseModel):
    verdict: VerdictKind
    note: str = Field("", max_length=5000)
    corrected_answer: str | None = Field(None, max_length=20000,
                                         description="For incorrect / needs_change: sentences ending in [n]")
    citations: list[CitationPick] = Field(default_factory=list, max_length=20)
    reply: str | None = Field(None, max_length=20000,
                              description="Reply to the enterprise's open hand-off (default: the corrected "
                                          "answer, or the answer itself when correct)")


class VerdictResult(BaseModel):
    verdict_id: int
    curated_id: int | None = None
    curated_stale: str | None = Field(None, description="Why the new curated answer cannot be served")
    handoffs_answered: list[int] = Field(default_factory=list)
    handoffs_pending: list[int] = Field(default_factory=list, description="Hand-offs still without a reply: give "
                                                                            "`reply` (or a correction) to answer them")


class PassageHit(BaseModel):
    chunk_id: str
    citation: Citation


class PassageSearchResponse(BaseModel):
    passages: list[PassageHit]
    index_version: str


class FeedbackRequest(BaseModel):
    answer_id: int = Field(ge=1, le=MAX_ID)
    conversation_id: str | None = Field(None, min_length=1, max_length=128,
                                        description="When given, the answer must belong to this conversation")
    helpful: bool
    comment: str | None = Field(None, max_length=2000)


class FeedbackCreated(BaseModel):
    id: int


class HandoffRequest(BaseModel):
    answer_id: int | None = Field(None, ge=1, le=MAX_ID)
    conversation_id: str | None = Field(None, min_length=1, max_length=128)
    question: str | None = Field(None, min_length=1, max_length=2000)
    contact: str = Field(min_length=1, max_length=200, description="How the liaison can reach the enterprise")


class HandoffCreated(BaseModel):
    """No conversation id here: it is what shows the liaison's reply, so only its holder has it."""

    id: int
    answer_id: int


class HandoffReplyRequest(BaseModel):
    answer: str = Field(min_length=1, max_length=20000)
    citations: list[CitationPick] = Field(default_factory=list, max_length=20)


class PublicReply(BaseModel):
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    replied_at: str


class PublicHandoff(BaseModel):
    id: int
    created_at: str
    question: str
    status: Literal["open", "answered"]
    reply: PublicReply | None = None


class ConversationHandoffs(BaseModel):
    conversation_id: str
    handoffs: list[PublicHandoff]


class ReindexStatus(BaseModel):
    state: Literal["idle", "running", "done", "failed"]
    started_at: str | None = None
    finished_at: str | None = None
    started_by: str | None = None
    version: str | None = None
    detail: str | None = None
