"""Request bodies of the review API and the enterprises' feedback and hand-off routes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from assistant.review.schemas import CitationPick, Verdict

MAX_ID = 2**62
# Conversation ids are uuid4 hex (assistant/answer/conversation.py): unguessable, so holding one
# is what shows an answer is yours to rate or hand off, and a hand-off's reply yours to read.
CONVERSATION_ID = r"^[0-9a-f]{32}$"


class VerdictRequest(Verdict):
    """correct / incorrect / needs_change, a note, and for the latter two a corrected answer."""


class FeedbackRequest(BaseModel):
    answer_id: int = Field(ge=1, le=MAX_ID)
    conversation_id: str = Field(pattern=CONVERSATION_ID, description="The conversation the answer belongs to")
    helpful: bool
    comment: str | None = Field(None, max_length=2000)


class FeedbackCreated(BaseModel):
    id: int


class HandoffRequest(BaseModel):
    answer_id: int | None = Field(None, ge=1, le=MAX_ID)
    conversation_id: str = Field(pattern=CONVERSATION_ID, description="The conversation the answer belongs to")
    question: str | None = Field(None, min_length=1, max_length=2000)
    contact: str = Field(min_length=1, max_length=200, description="How the liaison can reach the enterprise")


class HandoffReplyRequest(BaseModel):
    answer: str = Field(min_length=1, max_length=20000)
    citations: list[CitationPick] = Field(default_factory=list, max_length=20)
