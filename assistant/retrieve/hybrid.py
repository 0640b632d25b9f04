"""Hybrid retrieval: dense (Chroma) and keyword (BM25) candidates fused into one ranking.

Callers come through assistant/retrieve/retriever.py. Named articles come first, then passages
of a named document, then the fused ranking; documents in force rank above superseded or repealed
ones. Which document a question is about is a question about the whole document, and one
passage's wording is weak evidence of it: so besides each chunk's dense and BM25 ranks, the
fusion counts its document's BM25 rank over the whole text and a document prior (the question's
closeness to the document's centroid, its mean chunk vector).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from langchain_core.documents import Document

from assistant.indexing.snapshot import IndexSnapshot
from assistant.retrieve.query import ParsedQuery
from assistant.store.keyword import tokenize

# One configuration for statutes and policy texts, chosen by bench/crossval.py (run by
# `python -m bench.retrieval --parts sets`; bench/results/retrieval-sets.json) on 2026-11-29 over
# the full cache: 378 laws as 26,110 article chunks and 599 policy texts as 2,867 chunks, m3e-small.
# 5 folds dealt over the three dev sets together (consult-dev, scenario-dev, policyqa dev); each
# fold's choice is made on the other four by the mean over the sets of (R@10 + MRR@10) / 2 and
# doc@1, from a grid of 1,536 configurations; the constants are the choice on all five folds.
# On all rows: consult R@10 0.298 / MRR 0.133, scenario 0.639 / 0.491, policyqa doc@1 0.743
# (plain RRF k 60 of BM25 and dense: 0.295 / 0.136, 0.639 / 0.504, 0.667). The statute sets sit on a
# plateau where most configurations are within 0.01 of plain RRF; what the folds agree on is
# document BM25 (every fold, weight 1-3), a small k and no document prior (4 folds of 5 each).
RRF_K = 5  # chosen by 4 folds of 5 (60 in one) and on all folds
DENSE_WEIGHT = 1.0  # chosen on all folds (0.5 in two folds, 1 in three): chunk rank by cosine to the question
KEYWORD_WEIGHT = 1.0  # the scale the others are relative to: chunk rank by BM25 over title + heading path + text
DOC_KEYWORD_WEIGHT = 1.0  # chosen on all folds (1-3 in every fold): the document's BM25 rank over its whole text
# Document prior: the question's cosine to each document centroid, standardised over the documents;
# the closest document's passages would gain DOC_PRIOR_WEIGHT / (RRF_K + 1). 4 folds of 5 chose 0: the
# prior that doubled consult-dev on merged chunks (issue 4) costs the other kinds. The centroids
# still nominate candidate documents (DOC_CANDIDATES).
DOC_PRIOR_WEIGHT = 0.0
NAMED_WEIGHT = 3.0  # a rule, not tuned: × 1/(RRF_K+1) for the passages of a document the question names
NOT_IN_FORCE = 0.5  # a rule, not tuned: fused-score factor for superseded or repealed documents
DOC_CANDIDATES = 20  # documents (best by document BM25 and by prior) whose best chunks join the candidates
CHUNKS_PER_DOC = 3  # of those documents, chunks by BM25 score
# Measured and not kept: a lift for documents whose title names a place the question names (jieba
# `ns` tags) and BM25 over titles alone (weight 0 in every fold: the title is already in what BM25
# and the model see); the best dense rank of a chunk's neighbouring chunks (0.5 in 2 folds, 0 in 3
# and on all folds). A learned linear ranker (listwise softmax over 20 per-candidate features the
# product has at query time: these ranks at k 5 and 60, the cosine and its gap to the best, BM25 and
# document BM25 relative to the best, centroid closeness, the document's best dense rank, length;
# 5 folds, the three sets weighted alike), 2026-11-29: held out, consult R@10 / MRR 0.396 / 0.176
# (this fusion: 0.331 / 0.149), but scenario 0.742 / 0.584 (0.758 / 0.590) and policyqa doc@1
# 0.717 (0.743). Weighting policyqa x2-4, interactions with keyword confidence, or a penalised
# residual on top of this fusion moved along the same trade-off; none held on all three sets.
# BM25's k1 / b (bm25s; 1.2 / 0.75 in assistant/store/keyword.py): k1 0.8-1.8 x b 0.4-0.9 for the
# chunk index and k1 0.8-3 x b 0.5-1 for the document index, none above 1.2 / 0.75 on all sets.


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


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first (a partition, not a sort of all 26k)."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


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


def _document_ranks(snapshot: IndexSnapshot, tokens: list[str]) -> tuple[dict[str, int], list[str]]:
    """Rank (0 = best) of each document with a positive BM25 score over its whole text, and the order."""
    if snapshot.doc_keyword is None or not snapshot.doc_sources:
        return {}, []
    scores = snapshot.doc_keyword.scores(tokens)
    order = [snapshot.doc_sources[int(i)] for i in np.argsort(-scores) if scores[i] > 0]
    return {s: r for r, s in enumerate(order)}, order


def search_snapshot(snapshot: IndexSnapshot, embed_query: object, query: ParsedQuery, k: int,
                    candidates: int = 50) -> list[Hit]:
    """Rank the snapshot's chunks for a parsed query."""
    n = len(snapshot.chunks)
    if n == 0:
        return []
    tokens = tokenize(query.keyword_text or query.text)
    bm25 = snapshot.keyword.scores(tokens)
    top_kw = [int(i) for i in _top(bm25, min(candidates, n)) if bm25[i] > 0]
    vector = np.asarray(embed_query(query.text), dtype=np.float32)  # type: ignore[operator]
    dense_hits = snapshot.vectors.query(vector, min(candidates, n))
    dense_pos = [(snapshot.position[cid], sim) for cid, sim in dense_hits if cid in snapshot.position]
    dense_sim = dict(dense_pos)
    fused = rrf([[p for p, _ in dense_pos], top_kw], [DENSE_WEIGHT, KEYWORD_WEIGHT])

    doc_rank, doc_order = _document_ranks(snapshot, tokens)
    prior = document_prior(snapshot, vector)
    # The best chunks of the documents the document-level signals favour join the candidates.
    by_prior = sorted(prior, key=lambda s: -prior[s])[:DOC_CANDIDATES]
    for source in dict.fromkeys([*doc_order[:DOC_CANDIDATES], *by_prior, *([query.source] if query.source else [])]):
        rows = np.asarray(snapshot.by_source.get(source, []), dtype=np.int64)
        for idx in rows[np.argsort(-bm25[rows], kind="stable")[:CHUNKS_PER_DOC]]:
            fused.setdefault(int(idx), 0.0)

    unit = 1.0 / (RRF_K + 1)
    exact: list[int] = []
    if query.article and query.source:
        exact = snapshot.articles.get((query.source, query.article), [])
    hits: dict[int, Hit] = {}
    for idx, score in fused.items():
        meta = snapshot.chunks[idx].metadata
        source = meta["source"]
        if source in doc_rank:
            score += DOC_KEYWORD_WEIGHT / (RRF_K + doc_rank[source] + 1)
        lift = DOC_PRIOR_WEIGHT * prior.get(source, 0.0)
        if query.source is not None and source == query.source:
            lift += NAMED_WEIGHT  # a named document ranks its passages first
        factor = 1.0 if meta.get("in_force", True) else NOT_IN_FORCE
        hits[idx] = Hit(idx, (score + unit * lift) * factor, dense_sim.get(idx, 0.0), float(bm25[idx]))
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
