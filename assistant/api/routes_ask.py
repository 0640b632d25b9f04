"""Questions: one-shot answers and the streamed chat."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter
from fastapi.concurrency import iterate_in_threadpool, run_in_threadpool
from sse_starlette.sse import EventSourceResponse

from assistant.answer.base import Delta
from assistant.api.deps import AssistantDep
from assistant.api.errors import public_detail
from assistant.api.schemas import AskRequest, AskResponse
from assistant.errors import AssistantError
from assistant.service import AnswerEvent, Retrieved

router = APIRouter(prefix="/api", tags=["ask"])


@router.post("/ask", response_model=AskResponse)
async def ask(body: AskRequest, assistant: AssistantDep) -> AskResponse:
    """Answer a question with cited passages; pass `conversation_id` back for follow-ups."""
    return await run_in_threadpool(assistant.ask, body.question, body.conversation_id, body.top_k)


def _sse(event: AnswerEvent) -> dict[str, str]:
    if isinstance(event, Retrieved):
        preview = [{"n": c.n, "title": c.document.title, "locator": c.locator} for c in event.passages]
        return {"event": "retrieval",
                "data": json.dumps({"query": event.query, "passages": preview}, ensure_ascii=False)}
    if isinstance(event, Delta):
        return {"event": "delta", "data": json.dumps({"text": event.text}, ensure_ascii=False)}
    return {"event": "final", "data": event.model_dump_json()}


@router.post("/chat/stream", response_class=EventSourceResponse,
             responses={200: {"content": {"text/event-stream": {}},
                                        "description": "Events: retrieval, delta…, final (an AskResponse)"}})
async def chat_stream(body: AskRequest, assistant: AssistantDep) -> EventSourceResponse:
    """Server-sent events as the answerer produces them: `retrieval` (the query used and the
    passages found), `delta` (answer text, in order), `final` (the whole answer), or `error`."""
    # Validate before the stream starts, so bad input gets a 4xx and not a broken stream.
    question = assistant.check_question(body.question)
    conversation = assistant.conversations.get(body.conversation_id)

    def produce() -> Iterator[dict[str, str]]:
        try:
            for event in assistant.answer_stream(question, conversation, body.top_k):
                yield _sse(event)
        except AssistantError as err:
            yield {"event": "error", "data": json.dumps({"detail": public_detail(str(err), assistant.settings)},
                                                       ensure_ascii=False)}

    async def events() -> AsyncIterator[dict[str, str]]:
        async for item in iterate_in_threadpool(produce()):
            yield item

    return EventSourceResponse(events())
