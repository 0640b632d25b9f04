"""The one way into retrieval: every caller (the assistant, review, LangChain apps) comes through here.

`Retriever.retrieve` takes one snapshot of the live index for the whole call, parses the question
(named document, named article) and ranks passages; the returned `Retrieval` keeps all three so
the answerer, the evidence check and the log see the same version.
"""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.indexing.snapshot import IndexSnapshot, LiveIndex
from assistant.retrieve.hybrid import hit_document, search_snapshot
from assistant.retrieve.query import ParsedQuery, parse_query


@dataclass
class Retrieval:
    snapshot: IndexSnapshot  # the version every passage comes from
    parsed: ParsedQuery
    docs: list[Document]  # ranked passages; metadata carries score, dense, keyword, exact


class Retriever:
    """Hybrid retrieval over the live index (follows re-index publications)."""

    def __init__(self, index: LiveIndex, candidates: int = 50) -> None:
        self.index = index
        self.candidates = candidates

    def retrieve(self, query: str, k: int, context_source: str | None = None) -> Retrieval:
        """The k best passages for `query`; `context_source` is the document a conversation is about
        (an article named without a law is looked up there)."""
        snapshot = self.index.snapshot()
        parsed = parse_query(query, snapshot, context_source)
        hits = search_snapshot(snapshot, self.index.embedder.embed_query, parsed, k, self.candidates)
        return Retrieval(snapshot, parsed, [hit_document(snapshot, h) for h in hits])


class HybridRetriever(BaseRetriever):
    """LangChain `BaseRetriever` over the assistant's retrieval, for other LangChain apps."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    k: int = 5

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                ) -> list[Document]:
        return self.retriever.retrieve(query, self.k).docs
