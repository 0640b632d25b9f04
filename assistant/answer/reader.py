"""The trained answer reader: which unit of the retrieved passages answers the question.

The extractive composer splits the top passages into units (a sentence, a numbered lead joined to
what it heads); the reader, a cross-encoder the project trains (`python -m training reader`), reads
the question with each unit and its context (title, heading path, the sentence before) and scores
how well the unit answers. The composer then builds the answer from the best unit as before (the
clause holding a figure, the items of a list, the sentence that completes a measure), so every
part stays a verbatim span of a cited passage. The model is served by ONNX Runtime through the same
class as the reranker (assistant/rerank/cross_encoder.py): one kind of file, two uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.documents import Document

from assistant.rerank import Reranker

if TYPE_CHECKING:
    from assistant.answer.extractive import Unit

BUNDLED = Path(__file__).resolve().parents[1] / "models" / "reader"


def unit_pair(text: str, context: str) -> str:
    """What the reader reads beside the question: the unit, then its context (truncation cuts the context)."""
    return f"{text}｜{context}"


class Reader:
    """Scores units for a question with a cross-encoder exported for serving."""

    def __init__(self, model: Reranker) -> None:
        self.model = model

    def scores(self, question: str, units: list[Unit]) -> list[float]:
        return [float(x) for x in self.model.score(question, [unit_pair(u.text, u.context) for u in units])]


def best_units(reader: Reader, question: str, passages: list[Document]) -> list[float]:
    """Each passage's best unit score: how well the passage answers, read sentence by sentence."""
    from assistant.answer.extractive import units_of

    units = [units_of(i, p) for i, p in enumerate(passages)]
    flat = [u for us in units for u in us]
    scores = iter(reader.scores(question, flat)) if flat else iter([])
    return [max((next(scores) for _ in us), default=float("-inf")) for us in units]


def reader_for(setting: str) -> Reader | None:
    """The reader a `reader` setting names: "off" none (the word counts choose), "bundled" the shipped
    model, else a folder."""
    from assistant.rerank.cross_encoder import model_for

    model = model_for(setting, BUNDLED, "reader", "ASSISTANT_READER", "python -m training reader")
    return None if model is None else Reader(model)
