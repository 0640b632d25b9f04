"""What the review service returns (the views the API and the 审核 tab show) and the verdict it takes.

HTTP request bodies are in assistant/api/schemas_review.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from assistant.answer.support import answer_support, context_text
from assistant.review.queue import NEEDS_HUMAN
from assistant.types import Citation

if TYPE_CHECKING:
    from assistant.review.repository import CuratedStatusRow, FeedbackRow, QueueRow, ReplyRow

Status = Literal["handoff", "stale", "unhelpful", "refused", "low_evidence", "new", "reviewed"]
StatusFilter = Literal["open", "all", "handoff", "stale", "unhelpful", "refused", "low_evidence", "new",
                       "reviewed"]
VerdictKind = Literal["correct", "incorrect", "needs_change"]


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
    answerer: str | None = Field(None, description="What wrote the answer (extractive, llm, curated, refusal)")
    dropped_sentences: int = Field(0, description="LLM sentences left out: their citations did not back them")
    fallback: str | None = Field(None, description="Why the LLM's answer was replaced by the extractive one")

    @classmethod
    def of(cls, row: QueueRow) -> QueueItem:
        a = row.answer
        return cls(id=a.id, created_at=a.created_at, status=row.status,
                   needs_human=row.status in NEEDS_HUMAN, waiting_since=row.waiting_since, question=a.question,
                   answer=a.answer, refused=a.refused, reviewed=a.reviewed, evidence=a.evidence,
                   min_support=a.min_support, documents=row.documents, helpful=row.helpful, verdicts=row.verdicts,
                   answerer=a.answerer, dropped_sentences=a.dropped, fallback=a.fallback)


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
    missing_bodies: list[str] = Field(default_factory=list)


class SentenceView(BaseModel):
    text: str
    cites: list[int]
    support: float = Field(description="How much of the sentence its best cited passage contains (0..1)")
    weak: bool
    missing_figures: list[str] = Field(default_factory=list)
    missing_bodies: list[str] = Field(default_factory=list, description="Named bodies none of its passages names")
    unknown_cites: list[int] = Field(default_factory=list, description="[n] that name no cited passage")
    passages: list[PassageSupportView]


def citation_contexts(citations: list[Citation]) -> dict[int, str]:
    """What the support rule searches besides each passage: its document's title, 文号, issuer, date."""
    return {c.n: context_text(c.document.title, c.document.doc_number, c.document.issuer, c.document.date,
                              c.locator) for c in citations}


def sentence_views(answer: str, citations: list[Citation], weak_support: float) -> list[SentenceView]:
    """The answer sentence by sentence, each with its support by the passages it cites."""
    scored = answer_support(answer, {c.n: c.text for c in citations}, weak_support, citation_contexts(citations))
    return [SentenceView(text=s.text, cites=s.cites, support=s.support, weak=s.weak,
                         missing_figures=s.missing_figures, missing_bodies=s.missing_bodies,
                         unknown_cites=s.unknown_cites,
                         passages=[PassageSupportView(**vars(p)) for p in s.passages]) for s in scored]


class FeedbackView(BaseModel):
    id: int
    created_at: str
    helpful: bool
    comment: str

    @classmethod
    def of(cls, row: FeedbackRow) -> FeedbackView:
        return cls(id=row.id, created_at=row.created_at, helpful=row.helpful, comment=row.comment)


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

    @classmethod
    def of(cls, row: ReplyRow) -> ReplyView:
        return cls(id=row.id, created_at=row.created_at, reviewer=row.reviewer, answer=row.answer,
                   citations=[Citation(**c) for c in row.citations])


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

    @classmethod
    def of(cls, row: CuratedStatusRow) -> CuratedView:
        return cls(id=row.id, created_at=row.created_at, verdict_id=row.verdict_id,
                   status=row.event or "active", reason=row.reason, answer=row.answer)


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


class Verdict(BaseModel):
    """A liaison's verdict as given (by the API's request body or the 审核 tab's form)."""

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


# The name ui/review.py still imports; the API's request model is assistant.api.schemas_review.VerdictRequest.
VerdictRequest = Verdict


class PassageHit(BaseModel):
    chunk_id: str
    citation: Citation


class PassageSearchResponse(BaseModel):
    passages: list[PassageHit]
    index_version: str


class HandoffCreated(BaseModel):
    """No conversation id here: it is what shows the liaison's reply, so only its holder has it."""

    id: int
    answer_id: int


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
