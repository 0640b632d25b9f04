"""Hybrid retrieval: dense (Chroma) and keyword (BM25) candidates fused into one ranking.

Callers come through assistant/retrieve/retriever.py. Named articles come first,
then passages of a named document, then the fused ranking; documents in force rank above
superseded or repealed ones. A document prior lifts the passages of the documents whose centroid
(mean chunk vector) the question resembles most: which law a question is about is a question
about the whole law, and one passage's wording is weak evidence of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from langchain_core.documents import Document

from assistant.indexing.snapshot import IndexSnapshot
from assistant.retrieve.query import ParsedQuery
from assistant.store.keyword import tokenize

# Fusion and document prior, chosen with bench/tune_retrieval.py on half of the consultation dev
# set and checked on the other half (figures in that script's docstring; on 378 laws, verified
# questions: MRR@10 0.225 → 0.271, R@10 0.450 → 0.531). The dense side carries colloquial questions
# better than BM25 over statute wording, so it weighs double; a small RRF constant keeps the top of
# each list distinct instead of flattening the first 50 ranks.
RRF_K = 10
DENSE_WEIGHT = 2.0
KEYWORD_WEIGHT = 1.0
# Document prior: the question's cosine to each document centroid, standardised over the documents;
# the closest document's passages gain DOC_PRIOR_WEIGHT / (RRF_K + 1), the others in proportion,
# documents at or below the mean nothing.
DOC_PRIOR_WEIGHT = 3.0
NAMED_BOOST = (DENSE_WEIGHT + KEYWORD_WEIGHT + DOC_PRIOR_WEIGHT) / (2 * (RRF_K + 1))  # half the best
NOT_IN_FORCE = 0.5  # fused-score factor for superseded or repealed documents


@dataclass
class Hit:
    index: int  # position in the snapshot's chunk list
    score: float  # fused score, higher is better
    dense: float  # cosine similarity (0 when not a dense candidate)
    keyword: float  # BM25 score (0 when not a keyword candidate)
    exact: bool = False  # an article the question named


def rrf(rankings: list[list[int]], weights: list[float], k: int = RRF_K) -> dict[int, float]:
    """Weighted reciprocal-rank fusion of several rankings of chunk positions."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, idx in enumerate(ranking):
            fused[idx] = fused.get(idx, 0.0) + weight / (k + rank + 1)
    return fused


def document_prior(snapshot: IndexSnapshot, vector: np.ndarray) -> dict[str, float]:
    """Per document source, 0..1: how much more than average the question resembles it."""
    if snapshot.centroids is None or len(snapshot.centroid_sources) < 2:
        return {}
    sims = snapshot.centroids @ vector
    spread = float(sims.std())
    if spread <= 1e-9:
        return {}
    z = (sims - sims.mean()) / spread
    top = float(z.max())
    return {s: float(v) / top for s, v in zip(snapshot.centroid_sources, z, strict=True) if v > 0}


def search_snapshot(snapshot: IndexSnapshot, embed_query: object, query: ParsedQuery, k: int,
                    candidates: int = 50) -> list[Hit]:
    """Rank the snapshot's chunks for a parsed query."""
    n = len(snapshot.chunks)
    if n == 0:
        return []
    tokens = tokenize(query.keyword_text or query.text)
    bm25 = snapshot.keyword.scores(tokens)
    top_kw = [int(i) for i in np.argsort(-bm25)[: min(candidates, n)] if bm25[i] > 0]
    vector = np.asarray(embed_query(query.text), dtype=np.float32)  # type: ignore[operator]
    dense_hits = snapshot.vectors.query(vector, min(candidates, n))
    dense_pos = [(snapshot.position[cid], sim) for cid, sim in dense_hits if cid in snapshot.position]
    dense_sim = dict(dense_pos)
    fused = rrf([[p for p, _ in dense_pos], top_kw], [DENSE_WEIGHT, KEYWORD_WEIGHT])

    boost: dict[int, float] = {}
    if query.source is not None:
        for idx in fused:
            if snapshot.chunks[idx].metadata["source"] == query.source:
                boost[idx] = NAMED_BOOST  # a named document ranks its passages first
    exact: list[int] = []
    if query.article and query.source:
        exact = snapshot.articles.get((query.source, query.article), [])

    prior = document_prior(snapshot, vector)
    unit = DOC_PRIOR_WEIGHT / (RRF_K + 1)
    hits: dict[int, Hit] = {}
    for idx, score in fused.items():
        meta = snapshot.chunks[idx].metadata
        factor = 1.0 if meta.get("in_force", True) else NOT_IN_FORCE
        lift = boost.get(idx, 0.0) + unit * prior.get(meta["source"], 0.0)
        hits[idx] = Hit(idx, (score + lift) * factor, dense_sim.get(idx, 0.0), float(bm25[idx]))
    for rank, idx in enumerate(exact):
        top = max((h.score for h in hits.values()), default=0.0)
        hits[idx] = Hit(idx, top + 1.0 - rank * 1e-3, dense_sim.get(idx, 0.0), float(bm25[idx]), exact=True)
    ranked = sorted(hits.values(), key=lambda h: -h.score)
    return ranked[:k]


def hit_document(snapshot: IndexSnapshot, hit: Hit) -> Document:
    base = snapshot.chunks[hit.index]
    meta = dict(base.metadata)
    meta.update(score=hit.score, dense=hit.dense, keyword=hit.keyword, exact=hit.exact,
                index_version=snapshot.version)
    return Document(id=base.id, page_content=base.page_content, metadata=meta)
