"""Hand-offs: an enterprise passes a question to a liaison; the liaison's reply shows in its conversation."""

from __future__ import annotations

from assistant.review import repository
from assistant.review.errors import ReviewInputError, ReviewNotFoundError
from assistant.review.log import ReviewLog, now
from assistant.review.schemas import ConversationHandoffs, HandoffCreated, PublicHandoff, PublicReply
from assistant.types import Citation


def create(log: ReviewLog, contact: str, answer_id: int | None = None, conversation_id: str | None = None,
           question: str | None = None) -> HandoffCreated:
    """Pass a question to a liaison: an answer of the conversation by id, or a question in a
    conversation that has logged answers. The same answer (or question) handed off again while
    its hand-off is open returns that hand-off: one item for the liaison, not one per click."""
    contact = (contact or "").strip()
    if not contact:
        raise ReviewInputError("please give a contact line (phone or e-mail) for the liaison")
    if answer_id is not None:
        row = require_answer(log, answer_id, conversation_id)
        conversation_id = row.conversation_id
        question = (question or "").strip() or row.question
    else:
        question = (question or "").strip()
        if not conversation_id or not question:
            raise ReviewInputError("give the answer_id of the answer, or the conversation_id and the question")
        if not repository.conversation_logged(log, conversation_id):
            raise ReviewNotFoundError("no logged answers in this conversation")
    with log.transaction():
        duplicate = repository.open_handoff_like(log, conversation_id, answer_id, question)
        if duplicate is not None:
            return HandoffCreated(id=duplicate.id, answer_id=duplicate.answer_id)
        if answer_id is None:
            answer_id = repository.insert_answer(log, origin="handoff", conversation_id=conversation_id,
                                                 question=question, query=question, answer="", refused=False)
        handoff_id = repository.insert_handoff(log, answer_id=answer_id, conversation_id=conversation_id,
                                               question=question, contact=contact)
    return HandoffCreated(id=handoff_id, answer_id=answer_id)


def require_answer(log: ReviewLog, answer_id: int, conversation_id: str | None) -> repository.AnswerRow:
    """The logged answer, if it belongs to this conversation: whoever does not hold the
    conversation id gets the same 404 as for an answer that does not exist."""
    row = repository.answer(log, answer_id)
    if row is None or conversation_id != row.conversation_id:
        raise ReviewNotFoundError(f"no logged answer with id {answer_id} in this conversation")
    return row


def of_conversation(log: ReviewLog, conversation_id: str) -> ConversationHandoffs:
    """What a conversation passed to liaisons, and their latest replies."""
    out = []
    for handoff in repository.handoffs_of_conversation(log, conversation_id):
        reply = repository.latest_reply(log, handoff.id)
        public = None if reply is None else PublicReply(
            answer=reply.answer, citations=[Citation(**c) for c in reply.citations], replied_at=reply.created_at)
        out.append(PublicHandoff(id=handoff.id, created_at=handoff.created_at, question=handoff.question,
                                 status="answered" if reply else "open", reply=public))
    return ConversationHandoffs(conversation_id=conversation_id, handoffs=out)


def require(log: ReviewLog, handoff_id: int) -> repository.HandoffRow:
    found = repository.handoff(log, handoff_id)
    if found is None:
        raise ReviewNotFoundError(f"no hand-off with id {handoff_id}")
    return found


def reply(log: ReviewLog, handoff_id: int, reviewer: str, answer: str, citations: list[Citation]) -> int:
    """A liaison's answer to one hand-off (shown to that conversation)."""
    return repository.insert_reply(log, handoff_id=handoff_id, reviewer=reviewer, answer=answer,
                                   citations=[c.model_dump(mode="json") for c in citations])


def reply_open(log: ReviewLog, answer_id: int, reviewer: str, answer: str, citations: list[dict[str, object]],
               verdict_id: int, at: str | None = None) -> list[int]:
    """Reply to every open hand-off of an answer (with a verdict); the ids answered."""
    answered = []
    for handoff in repository.open_handoffs(log, answer_id):
        repository.insert_reply(log, handoff_id=handoff.id, reviewer=reviewer, answer=answer, citations=citations,
                                verdict_id=verdict_id, created_at=at or now())
        answered.append(handoff.id)
    return answered
