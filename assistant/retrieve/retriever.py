"""The one way into retrieval: every caller (the assistant, review, LangChain apps) comes through here.

`Retriever.retrieve` takes one snapshot of the live index for the whole call, parses the question
(named document, named article), ranks passages (hybrid, assistant/retrieve/hybrid.py) and, with a
reranker, lets the cross-encoder reorder the first `rerank_candidates` of them; the returned
`Retrieval` keeps snapshot, parse and passages so the answerer, the evidence check and the log see
the same version. Reranking never moves a passage across the ranking's rules: an article asked for
by number stays first, then the passages of a document the question names, then the rest; the
cross-encoder reorders inside each of those tiers.
"""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.indexing.snapshot import IndexSnapshot, LiveIndex
from assistant.rerank import Reranker
from assistant.rerank.cross_encoder import passage_of
from assistant.rerank.fusion import fuse_orders
from assistant.retrieve.hybrid import RRF_K, hit_document, search_snapshot
from assistant.retrieve.query import ParsedQuery, parse_query
from assistant.settings import Settings


@dataclass
class Retrieval:
    snapshot: IndexSnapshot  # the version every passage comes from
    parsed: ParsedQuery
    docs: list[Document]  # ranked passages; metadata carries score, dense, keyword, exact


class Retriever:
    """Hybrid retrieval over the live index (follows re-index publications), optionally reranked."""

    def __init__(self, index: LiveIndex, candidates: int = 50, reranker: Reranker | None = None,
                 rerank_candidates: int = 20, rerank_weight: float = 1.0) -> None:
        self.index = index
        self.candidates = candidates
        self.reranker = reranker
        self.rerank_candidates = rerank_candidates
        self.rerank_weight = rerank_weight

    def retrieve(self, query: str, k: int, context_source: str | None = None) -> Retrieval:
        """The k best passages for `query`; `context_source` is the document a conversation is about
        (an article named without a law is looked up there)."""
        snapshot = self.index.snapshot()
        parsed = parse_query(query, snapshot, context_source)
        depth = max(k, self.rerank_candidates) if self.reranker is not None else k
        hits = search_snapshot(snapshot, self.index.embedder.embed_query, parsed, depth, self.candidates)
        docs = [hit_document(snapshot, h) for h in hits]
        if self.reranker is not None and len(docs) > 1:
            docs = self.rerank(parsed, docs)
        return Retrieval(snapshot, parsed, docs[:k])

    def rerank(self, parsed: ParsedQuery, docs: list[Document]) -> list[Document]:
        """Reorder inside each tier (named article, named document, the rest) by the fused orders."""
        head = docs[: self.rerank_candidates]
        scores = self.reranker.score(parsed.text, [passage_of(d) for d in head])  # type: ignore[union-attr]
        for doc, score in zip(head, scores, strict=True):
            doc.metadata["rerank"] = round(float(score), 4)

        def tier(doc: Document) -> int:
            if doc.metadata.get("exact"):
                return 0
            return 1 if parsed.source is not None and doc.metadata.get("source") == parsed.source else 2

        out: list[Document] = []
        for t in (0, 1, 2):
            members = [i for i, d in enumerate(head) if tier(d) == t]
            order = fuse_orders(len(members), scores[members], self.rerank_weight, RRF_K)
            out.extend(head[members[i]] for i in order)
        return out + docs[self.rerank_candidates :]


def make_retriever(settings: Settings, index: LiveIndex) -> Retriever:
    """The retriever the settings describe (candidates, reranker)."""
    from assistant.rerank.cross_encoder import reranker_for

    return Retriever(index, settings.candidates, reranker_for(settings.reranker), settings.rerank_candidates,
                     settings.rerank_weight)


class HybridRetriever(BaseRetriever):
    """LangChain `BaseRetriever` over the assistant's retrieval, for other LangChain apps."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    k: int = 5

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                ) -> list[Document]:
        return self.retriever.retrieve(query, self.k).docs
