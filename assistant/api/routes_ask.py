"""Questions: one-shot answers and the streamed chat."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from sse_starlette.sse import EventSourceResponse

from assistant.api.deps import AssistantDep
from assistant.api.schemas import AskRequest, AskResponse
from assistant.errors import AssistantError

_CITED_PART = re.compile(r".+?(?:\[\d+\]|$)", re.S)
router = APIRouter(prefix="/api", tags=["ask"])


@router.post("/ask", response_model=AskResponse)
async def ask(body: AskRequest, assistant: AssistantDep) -> AskResponse:
    """Answer a question with cited passages; pass `conversation_id` back for follow-ups."""
    return await run_in_threadpool(assistant.ask, body.question, body.conversation_id, body.top_k)


@router.post("/chat/stream", response_class=EventSourceResponse,
             responses={200: {"content": {"text/event-stream": {}},
                                        "description": "Events: retrieval, delta…, final (an AskResponse)"}})
async def chat_stream(body: AskRequest, assistant: AssistantDep) -> EventSourceResponse:
    """Server-sent events: `retrieval` (passages found), `delta` (answer text as produced), `final`."""
    # Validate before the stream starts, so bad input gets a 4xx and not a broken stream.
    question = assistant.check_question(body.question)
    conversation = assistant.conversations.get(body.conversation_id)

    async def events() -> AsyncIterator[dict[str, str]]:
        try:
            response = await run_in_threadpool(assistant.answer, question, conversation, body.top_k)
        except AssistantError as err:
            yield {"event": "error", "data": json.dumps({"detail": str(err)}, ensure_ascii=False)}
            return
        preview = [{"n": c.n, "title": c.document.title, "locator": c.locator} for c in response.citations]
        yield {"event": "retrieval", "data": json.dumps({"query": response.query, "passages": preview},
                                                        ensure_ascii=False)}
        for part in _CITED_PART.findall(response.answer) or [response.answer]:
            yield {"event": "delta", "data": json.dumps({"text": part}, ensure_ascii=False)}
        yield {"event": "final", "data": response.model_dump_json()}

    return EventSourceResponse(events())
