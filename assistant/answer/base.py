"""The answerer seam: what any answerer (extractive, LLM) is given and returns.

An answerer gets the question, the resolved query and the retrieved passages, and yields its
answer as it produces it: text parts (`Delta`) and, last, the whole `ComposedAnswer` with the
passages it cites and the offsets of the cited parts. The facade (assistant/service.py) decides
whether to answer at all and what to log; the answerer only composes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from langchain_core.documents import Document


@dataclass
class AnswerRequest:
    question: str  # as the user typed it (cleaned)
    query: str  # what retrieval used: the question, or a follow-up resolved from the conversation
    passages: list[Document]  # ranked; their metadata is assistant.types.ChunkMeta
    article: str | None = None  # an article the question named by number; passages[0] holds it


@dataclass
class Delta:
    """A part of the answer text, in order; the parts joined are the answer."""

    text: str


@dataclass
class ComposedAnswer:
    text: str  # every part marked [n]; empty when nothing in the passages answers
    cited: list[int]  # passage indexes in citation order ([1] is cited[0])
    highlights: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # by passage index
    answerer: str = ""  # which answerer wrote it; empty: the one that was asked
    dropped: int = 0  # sentences left out because their citations did not back them
    fallback: str | None = None  # why another answerer's answer replaced the one asked for


class Answerer(Protocol):
    """Composes an answer from passages; `stream` yields `Delta`s, then one `ComposedAnswer`."""

    name: str

    def stream(self, request: AnswerRequest) -> Iterator[Delta | ComposedAnswer]: ...


@runtime_checkable
class ReportsHealth(Protocol):
    """An answerer that depends on something outside the process (an LLM endpoint) says how it is."""

    def health(self) -> dict[str, str | None]: ...


def compose(answerer: Answerer, request: AnswerRequest) -> ComposedAnswer:
    """Run an answerer to the end and return its composed answer."""
    for event in answerer.stream(request):
        if isinstance(event, ComposedAnswer):
            return event
    raise RuntimeError(f"answerer {answerer.name!r} ended without an answer")
