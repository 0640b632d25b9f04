"""The passages an answer written by a liaison cites: each [n] picked from the live index."""

from __future__ import annotations

from langchain_core.documents import Document

from assistant.answer.support import citation_highlights, split_answer
from assistant.indexing.snapshot import IndexSnapshot
from assistant.review.errors import ReviewInputError
from assistant.review.schemas import CitationPick
from assistant.types import Citation, citation


def resolve_citations(text: str, picks: list[CitationPick], snapshot: IndexSnapshot, every_sentence: bool
                      ) -> tuple[list[Citation], list[dict[str, str]]]:
    """The citations of `text` and their documents' versions. Every [n] must be picked; with
    `every_sentence`, every sentence cites."""
    by_n: dict[int, CitationPick] = {}
    for pick in picks:
        if pick.n in by_n and by_n[pick.n].chunk_id != pick.chunk_id:
            raise ReviewInputError(f"[{pick.n}] is given two different passages")
        by_n[pick.n] = pick
    sentences = split_answer(text)
    if not sentences:
        raise ReviewInputError("the answer has no sentences")
    used: list[int] = []
    for sentence, cites in sentences:
        if every_sentence and not cites:
            raise ReviewInputError(f"every sentence must cite a passage with [n]; this one does not: {sentence}")
        for n in cites:
            if n not in by_n:
                raise ReviewInputError(f"[{n}] is used in the answer but no passage is picked for it")
            if n not in used:
                used.append(n)
    documents_meta = snapshot.manifest.get("documents", {})
    docs: dict[int, Document] = {}
    for n in used:
        position = snapshot.position.get(by_n[n].chunk_id)
        if position is None:
            raise ReviewInputError(f"the passage picked for [{n}] is not in the live index (re-indexed since?); "
                                   "search again and pick it anew")
        docs[n] = snapshot.chunks[position]
    highlights = citation_highlights(text, {n: d.page_content for n, d in docs.items()})
    citations = [citation(n, docs[n], highlights.get(n)) for n in sorted(docs)]
    documents: dict[str, dict[str, str]] = {}
    for n in sorted(docs):
        source = docs[n].metadata["source"]
        documents.setdefault(source, {"source": source, "title": str(docs[n].metadata.get("title", source)),
                                      "sha256": str(documents_meta.get(source, {}).get("sha256", ""))})
    return citations, list(documents.values())


def cites_any(text: str) -> bool:
    return any(c for _, c in split_answer(text))
