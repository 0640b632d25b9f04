"""The LLM answerer: the deployment's own model writes the answer, and only backed sentences pass.

The model is reached through LangChain's chat-model interface (`langchain-openai` ChatOpenAI) at any
OpenAI-compatible endpoint (`llm_base_url`: vLLM, Ollama, a llama.cpp server, a hosted Qwen or
DeepSeek API). Tokens are streamed from it; each sentence, once complete, is checked against the
passages it cites (assistant/answer/verify.py) and only then yielded, so nothing unverified reaches
the chat or the SSE stream. Weak sentences are dropped and counted.

The extractive answer is given instead, with `fallback` saying why and a warning in the log, when
no sentence was kept: the endpoint is down ("unreachable"), nothing verified arrived within
`llm_timeout` ("timeout"), it answered an error or something that is not a chat stream
("bad_response"), the model gave the fixed phrase for "not in the passages" ("not_found"), or every
sentence it wrote was dropped ("all_dropped"). Once a verified sentence is on screen it stays: a
timeout or error after it ends the answer there. An article asked for by number is quoted verbatim
by the extractive answerer: the text of the article is the answer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from assistant.answer.base import AnswerRequest, ComposedAnswer, Delta
from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.prompt import messages, passages_for
from assistant.answer.reader import reader_for
from assistant.answer.verify import SentenceStream, Verifier
from assistant.settings import Settings
from assistant.text import cited_parts

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel

log = logging.getLogger(__name__)

HEALTH_TTL = 15.0  # seconds a health probe of the endpoint is reused (health checks come often)


class LlmTimeout(Exception):
    """Nothing more arrived from the endpoint before the answer's deadline."""


def _reason(err: BaseException) -> str:
    """The fallback reason for an error raised by the OpenAI client while streaming."""
    import openai

    if isinstance(err, (openai.APITimeoutError, LlmTimeout, TimeoutError)):
        return "timeout"
    if isinstance(err, openai.APIConnectionError):
        return "unreachable"
    return "bad_response"


class LlmAnswerer:
    """Answers with the endpoint's model; every sentence it keeps is backed by a cited passage."""

    name = "llm"

    def __init__(self, settings: Settings, model: BaseChatModel | None = None) -> None:
        self.settings = settings
        self.model = model or self._chat_model(settings)
        self.extractive = ExtractiveAnswerer(reader_for(settings.reader))
        self._health: tuple[float, dict[str, str | None]] | None = None
        self._health_lock = threading.Lock()

    @staticmethod
    def _chat_model(settings: Settings) -> BaseChatModel:
        from langchain_openai import ChatOpenAI

        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
        # No retries: a retry would outlast the timeout that the extractive fallback promises.
        return ChatOpenAI(base_url=settings.llm_base_url, model=settings.llm_model, api_key=key,
                          timeout=settings.llm_timeout, max_retries=0, streaming=True,
                          temperature=settings.llm_temperature, max_tokens=settings.llm_max_tokens)

    # --- answering -------------------------------------------------------------------------------
    def stream(self, request: AnswerRequest) -> Iterator[Delta | ComposedAnswer]:
        if request.article and request.passages and request.passages[0].metadata.get("exact"):
            yield from self.extractive.stream(request)
            return
        passages = passages_for(request, self.settings.llm_passages)
        prompt = messages(request, passages, self.settings.llm_prompt_chars)
        verifier = Verifier(passages, self.settings.weak_support)
        splitter = SentenceStream()
        problem: str | None = None
        started = time.monotonic()
        try:
            for text in self._tokens(prompt, started + self.settings.llm_timeout):
                for piece in splitter.feed(text):
                    if (part := verifier.check(piece)) is not None:
                        yield Delta(part)
            for piece in splitter.close():
                if (part := verifier.check(piece, last=True)) is not None:
                    yield Delta(part)
        except Exception as err:  # the endpoint is outside the process: any failure falls back
            problem = _reason(err)
            log.warning("the LLM endpoint %s failed after %.1f s (%s): %s", self.settings.llm_base_url,
                        time.monotonic() - started, problem, str(err)[:300])
        if verifier.kept:
            if problem:
                log.warning("the LLM answer was cut short (%s) after %d verified sentences", problem, verifier.kept)
            yield verifier.composed(self.name)
            return
        reason = problem or ("not_found" if verifier.not_found else "all_dropped" if verifier.dropped
                             else "bad_response")
        if not problem:
            log.warning("the LLM answer was replaced by the extractive one (%s; %d sentences dropped)", reason,
                        verifier.dropped)
        composed = self.extractive.compose(request)
        for part in cited_parts(composed.text):
            yield Delta(part)
        yield replace(composed, answerer=self.extractive.name, dropped=verifier.dropped, fallback=reason)

    def _tokens(self, prompt: list[tuple[str, str]], deadline: float) -> Iterator[str]:
        """The model's text as it is generated, until `deadline` (then LlmTimeout).

        The HTTP stream is read in a thread so that a server that stops sending cannot hold the
        answer past the deadline; leaving this generator tells the thread to close the stream."""
        chunks: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                for chunk in self.model.stream(prompt):
                    if stop.is_set():
                        return
                    content = chunk.content
                    text = content if isinstance(content, str) else "".join(
                        c if isinstance(c, str) else str(c.get("text", "")) for c in content)
                    if text:
                        chunks.put(("text", text))
                chunks.put(("end", None))
            except Exception as err:  # handed to the reader, which decides
                chunks.put(("error", err))

        threading.Thread(target=produce, name="llm-stream", daemon=True).start()
        try:
            while True:
                remaining = deadline - time.monotonic()
                try:
                    kind, value = chunks.get(timeout=max(remaining, 0.0))
                except queue.Empty:
                    raise LlmTimeout(f"no answer within {self.settings.llm_timeout:g} s") from None
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            stop.set()

    # --- health ----------------------------------------------------------------------------------
    def health(self) -> dict[str, str | None]:
        """The endpoint's state ("ok", "unreachable", "error"), probed at most every HEALTH_TTL s."""
        with self._health_lock:
            if self._health and time.monotonic() - self._health[0] < HEALTH_TTL:
                return self._health[1]
            state = self._probe()
            self._health = (time.monotonic(), state)
            return state

    def _probe(self) -> dict[str, str | None]:
        import httpx

        url = self.settings.llm_base_url.rstrip("/") + "/models"
        key = self.settings.llm_api_key
        headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
        base = {"model": self.settings.llm_model}
        try:
            response = httpx.get(url, headers=headers, timeout=min(self.settings.llm_timeout, 3.0))
        except httpx.HTTPError as err:
            return {**base, "state": "unreachable", "detail": type(err).__name__}
        if response.status_code != 200:
            return {**base, "state": "error", "detail": f"GET /models answered {response.status_code}"}
        return {**base, "state": "ok", "detail": None}
