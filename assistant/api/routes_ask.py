"""Questions: one-shot answers and the streamed chat."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter, Request
from fastapi.concurrency import iterate_in_threadpool, run_in_threadpool
from sse_starlette.sse import EventSourceResponse

from assistant.answer.base import Delta
from assistant.api.deps import AssistantDep, root_path
from assistant.api.errors import public_detail
from assistant.api.schemas import AskRequest, AskResponse
from assistant.catalog import link_answer, with_links
from assistant.errors import AssistantError
from assistant.service import AnswerEvent, Assistant, Retrieved

router = APIRouter(prefix="/api", tags=["ask"])


@router.post("/ask", response_model=AskResponse)
async def ask(request: Request, body: AskRequest, assistant: AssistantDep) -> AskResponse:
    """Answer a question with cited passages; pass `conversation_id` back for follow-ups. Each citation
    carries its document's id (`document.id`), its page (`url`) and its original file (`original_url`)."""
    return await run_in_threadpool(_ask, assistant, body, root_path(request))


def _ask(assistant: Assistant, body: AskRequest, root: str) -> AskResponse:
    return link_answer(assistant, assistant.ask(body.question, body.conversation_id, body.top_k), root)


def _sse(event: AnswerEvent, assistant: Assistant, root: str) -> dict[str, str]:
    if isinstance(event, Retrieved):
        preview = [{"n": c.n, "title": c.document.title, "locator": c.locator, "document_id": c.document.id,
                    "url": c.url} for c in with_links(assistant, event.passages, root)]
        return {"event": "retrieval",
                "data": json.dumps({"query": event.query, "passages": preview}, ensure_ascii=False)}
    if isinstance(event, Delta):
        return {"event": "delta", "data": json.dumps({"text": event.text}, ensure_ascii=False)}
    return {"event": "final", "data": link_answer(assistant, event, root).model_dump_json()}


@router.post("/chat/stream", response_class=EventSourceResponse,
             responses={200: {"content": {"text/event-stream": {}},
                                        "description": "Events: retrieval, delta…, final (an AskResponse)"}})
async def chat_stream(request: Request, body: AskRequest, assistant: AssistantDep) -> EventSourceResponse:
    """Server-sent events as the answerer produces them: `retrieval` (the query used and the
    passages found), `delta` (answer text, in order), `final` (the whole answer), or `error`."""
    # Validate before the stream starts, so bad input gets a 4xx and not a broken stream.
    question = assistant.check_question(body.question)
    conversation = assistant.conversations.get(body.conversation_id)
    root = root_path(request)

    def produce() -> Iterator[dict[str, str]]:
        try:
            for event in assistant.answer_stream(question, conversation, body.top_k):
                yield _sse(event, assistant, root)
        except AssistantError as err:
            yield {"event": "error", "data": json.dumps({"detail": public_detail(str(err), assistant.settings)},
                                                       ensure_ascii=False)}

    async def events() -> AsyncIterator[dict[str, str]]:
        async for item in iterate_in_threadpool(produce()):
            yield item

    return EventSourceResponse(events())
