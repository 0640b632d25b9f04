"""Review over HTTP: the liaisons' queue and verdicts (token), the enterprises' feedback and
hand-offs (no token), and re-indexing (maintainer token).

Tokens come as `Authorization: Bearer <token>`. Every route of `review` and `maintenance` checks
the token as a router dependency, before its own parameters are looked at, so no route can be
added without it; a missing or wrong token gets 401 {"detail": "unauthorized"} and nothing else.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from assistant.api.deps import AssistantDep, LiaisonDep, MaintainerDep, require_liaison, require_maintainer
from assistant.api.schemas_review import (
    CONVERSATION_ID,
    MAX_ID,
    FeedbackCreated,
    FeedbackRequest,
    HandoffReplyRequest,
    HandoffRequest,
    VerdictRequest,
)
from assistant.indexing.service import run_index
from assistant.review.queue import QueueFilter
from assistant.review.reindex import ReindexJob
from assistant.review.schemas import (
    ConversationHandoffs,
    HandoffCreated,
    ItemDetail,
    PassageSearchResponse,
    QueuePage,
    ReindexStatus,
    StatusFilter,
    VerdictResult,
)

DATE = r"^\d{4}-\d{2}-\d{2}$"


ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]

public = APIRouter(prefix="/api", tags=["feedback"])
review = APIRouter(prefix="/api/review", tags=["review"], dependencies=[Depends(require_liaison)])
maintenance = APIRouter(prefix="/api/index", tags=["maintenance"], dependencies=[Depends(require_maintainer)])
routers = (public, review, maintenance)


# --- enterprises (no token) ------------------------------------------------------------------------

@public.post("/feedback", response_model=FeedbackCreated)
def feedback(body: FeedbackRequest, assistant: AssistantDep) -> FeedbackCreated:
    """Helpful or not, with an optional comment, on an answer (its `answer_id` and `conversation_id`
    from /api/ask; an answer of another conversation is 404)."""
    return FeedbackCreated(id=assistant.review.feedback(body.answer_id, body.helpful, body.comment,
                                                        body.conversation_id))


@public.post("/handoff", response_model=HandoffCreated)
def handoff(body: HandoffRequest, assistant: AssistantDep) -> HandoffCreated:
    """Pass a question to a liaison (`conversation_id` with the `answer_id` of one of its answers, or with
    a `question`) and a contact line. Handing off the same answer again returns the open hand-off."""
    return assistant.review.handoff(body.contact, body.answer_id, body.conversation_id, body.question)


@public.get("/conversations/{conversation_id}/handoffs", response_model=ConversationHandoffs)
def conversation_handoffs(conversation_id: Annotated[str, Path(pattern=CONVERSATION_ID)],
                          assistant: AssistantDep) -> ConversationHandoffs:
    """The questions this conversation passed to liaisons, and the liaisons' answers."""
    return assistant.review.conversation_handoffs(conversation_id)


# --- liaisons --------------------------------------------------------------------------------------

@review.get("/queue", response_model=QueuePage)
def queue(
    assistant: AssistantDep,
    status: StatusFilter = "open",
    date_from: Annotated[str | None, Query(pattern=DATE, description="YYYY-MM-DD (China time)")] = None,
    date_to: Annotated[str | None, Query(pattern=DATE)] = None,
    document: Annotated[str | None, Query(max_length=300, description="Source file or part of a title")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Words the question contains")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> QueuePage:
    """Items needing a human first (hand-offs, stale, unhelpful, refused, low evidence), then the rest."""
    flt = QueueFilter(status=status, date_from=date_from, date_to=date_to, document=document, q=q)
    return assistant.review.queue(flt, limit, offset)


@review.get("/items/{answer_id}", response_model=ItemDetail)
def item(answer_id: ItemId, assistant: AssistantDep) -> ItemDetail:
    """One answer: its sentences beside the passages they cite, with support scores; feedback,
    verdict history, hand-offs and curated answers."""
    return assistant.review.item(answer_id)


@review.post("/items/{answer_id}/verdict", response_model=VerdictResult)
async def verdict(answer_id: ItemId, body: VerdictRequest, principal: LiaisonDep,
                  assistant: AssistantDep) -> VerdictResult:
    """correct / incorrect / needs_change, a note, and for the latter two a corrected answer whose
    sentences end in [n], each n picked from GET /api/review/search."""
    return await run_in_threadpool(assistant.review.verdict, answer_id, principal, body)


@review.get("/search", response_model=PassageSearchResponse)
async def search(
    assistant: AssistantDep,
    q: Annotated[str, Query(min_length=1, max_length=1000)],
    k: Annotated[int, Query(ge=1, le=30)] = 8,
) -> PassageSearchResponse:
    """Passages of the live index to cite in a correction (with their chunk ids)."""
    return await run_in_threadpool(assistant.review.search, q, k)


@review.post("/handoffs/{handoff_id}/answer", response_model=FeedbackCreated)
async def answer_handoff(handoff_id: ItemId, body: HandoffReplyRequest, principal: LiaisonDep,
                         assistant: AssistantDep) -> FeedbackCreated:
    """Answer a hand-off; the enterprise sees it in its conversation."""
    reply_id = await run_in_threadpool(assistant.review.reply_handoff, handoff_id, principal, body.answer,
                                       body.citations)
    return FeedbackCreated(id=reply_id)


@review.get("/export", response_model=None,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}},
                                         "application/x-ndjson": {"schema": {"type": "string"}}},
                             "description": "The rows, as CSV (UTF-8 with BOM) or JSON lines"}})
def export(
    assistant: AssistantDep,
    format: Literal["csv", "jsonl"] = "csv",
    table: Literal["answers", "verdicts"] = "answers",
    status: StatusFilter = "all",
    date_from: Annotated[str | None, Query(pattern=DATE)] = None,
    date_to: Annotated[str | None, Query(pattern=DATE)] = None,
    document: Annotated[str | None, Query(max_length=300)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The log (`table=answers`, one row per answer with its latest feedback and verdict) or the
    verdict history (`table=verdicts`), for reporting."""
    flt = QueueFilter(status=status, date_from=date_from, date_to=date_to, document=document, q=q)
    chunks = assistant.review.export(table, format, flt)  # read from the log while it is sent
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson; charset=utf-8"
    filename = f"review-{table}.{format}"
    return StreamingResponse(chunks, media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- maintainers -----------------------------------------------------------------------------------

def _job(request: Request) -> ReindexJob:
    job: ReindexJob | None = getattr(request.app.state, "reindex_job", None)
    if job is None:
        job = request.app.state.reindex_job = ReindexJob()
    return job


@maintenance.post("/reindex", response_model=ReindexStatus, status_code=202)
def reindex(request: Request, principal: MaintainerDep, assistant: AssistantDep) -> ReindexStatus:
    """Bring the index up to date with the corpus folder, in the background (poll GET /api/index/reindex)."""
    settings = assistant.settings
    return _job(request).start(lambda: run_index(settings), principal.name, after=assistant.review.sync)


@maintenance.get("/reindex", response_model=ReindexStatus)
def reindex_status(request: Request) -> ReindexStatus:
    """The latest re-index started through the API: running, done or failed."""
    return _job(request).status
