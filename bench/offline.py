"""Offline retrieval experiments over the cached artefacts of bench/evalcache.py (issue 11).

Every ranking is recomputed in numpy from the cached chunk vectors (exact cosine) and BM25 over
the cached chunk texts, so the baselines and a grid of fused variants cost seconds per set. The
same signals as the product (assistant/retrieve/hybrid.py): per chunk, the dense rank and the BM25
rank; per document, the BM25 rank of the whole text, the rank of its centroid, the agreement of
the places the question names with the document's title; a named document lifts its chunks.
"""

from __future__ import annotations

import json
import os
import pickle
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.evalcache import CORPUS_OF, OUT

CANDIDATES = 50  # per side, as the product's `candidates` setting
DOC_TOP = 20  # documents from the document-level signals whose chunks join the candidates
KS = (1, 5, 10)
SPARSE = "sparse"  # pseudo-model: keyword and document signals only (no vectors needed)
DOC_TOKENS = os.environ.get("H11_DOC_TOKENS", "chunks")  # "whole": BM25 over the loaded text instead


@dataclass
class Corpus:
    name: str
    units: list[dict[str, Any]]
    docs: list[dict[str, Any]]
    vectors: np.ndarray
    unit_doc: np.ndarray  # unit → document row
    doc_units: list[np.ndarray]
    centroids: np.ndarray
    bm25: Any
    doc_bm25: Any
    doc_bm25_whole: Any  # BM25 over each loaded document's title and text (the baseline)
    doc_places: list[set[str]] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    title_bm25: Any = None  # BM25 over the document titles alone


def _tokens(texts: list[str], path: Path) -> list[list[str]]:
    from assistant.store.keyword import tokenize

    if path.exists():
        return pickle.loads(path.read_bytes())  # type: ignore[no-any-return]
    toks = [tokenize(t) for t in texts]
    path.write_bytes(pickle.dumps(toks))
    return toks


def _bm25(token_lists: list[list[str]]) -> Any:
    from assistant.store.keyword import KeywordIndex

    return KeywordIndex.build(token_lists)


def usable_units(name: str, models: list[str], out: Path = OUT) -> int:
    """How many leading units every model has vectors for, cut back to whole laws (titles)."""
    from bench.evalcache import prefix_vectors

    folder = out / name
    units = [json.loads(x) for x in (folder / "units.jsonl").read_text(encoding="utf-8").splitlines()]
    counts = [len(v) if (v := prefix_vectors(folder, m)) is not None else 0 for m in models]
    return whole(units, min(counts) if counts else 0, name)


def whole(units: list[dict[str, Any]], n: int, name: str) -> int:
    """n cut back so that no law (statutes: all versions of a title) or text is split."""
    if n >= len(units):
        return len(units)
    key = "title" if name == "statutes" else "doc"
    cut = units[n][key] if n > 0 else None
    while n > 0 and units[n - 1][key] == cut:
        n -= 1
    return n


def load_corpus(name: str, model: str, n_units: int | None = None, out: Path = OUT) -> Corpus:
    from bench.evalcache import prefix_vectors

    folder = out / name
    all_units = [json.loads(x) for x in (folder / "units.jsonl").read_text(encoding="utf-8").splitlines()]
    all_tokens = _tokens([u["embed"] for u in all_units], folder / "tokens.pkl")
    n = len(all_units) if n_units is None else whole(all_units, n_units, name)
    units, unit_tokens = all_units[:n], all_tokens[:n]
    present = {u["doc"] for u in units}
    all_docs = [json.loads(x) for x in (folder / "docs.jsonl").read_text(encoding="utf-8").splitlines()]
    doc_tokens_all = _tokens([d["title"] + "\n" + d["text"] for d in all_docs], folder / "doc_tokens.pkl")
    keep = [i for i, d in enumerate(all_docs) if d["doc"] in present]
    docs = [all_docs[i] for i in keep]
    index = {d["doc"]: i for i, d in enumerate(docs)}
    unit_doc = np.array([index[u["doc"]] for u in units])
    doc_units = [np.flatnonzero(unit_doc == i) for i in range(len(docs))]
    if model == SPARSE:  # no vectors: the dense signals are constant, only BM25-side signals rank
        vectors = np.ones((n, 1), dtype=np.float32)
    else:
        found = prefix_vectors(folder, model)
        assert found is not None and len(found) >= n, f"{name}/{model}: vectors for {n} units needed"
        vectors = found[:n]
    cents = np.vstack([vectors[ix].mean(axis=0) if len(ix) else np.zeros(vectors.shape[1]) for ix in doc_units])
    cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-9)
    if DOC_TOKENS == "whole":
        doc_tokens = [doc_tokens_all[i] for i in keep]
    else:  # as the product builds it: each document's chunk tokens joined
        doc_tokens = [[] for _ in docs]
        for u, toks in zip(units, unit_tokens, strict=True):
            doc_tokens[index[u["doc"]]].extend(toks)
    corpus = Corpus(name, units, docs, vectors, unit_doc, doc_units, cents.astype(np.float32),
                    _bm25(unit_tokens), _bm25(doc_tokens), _bm25([doc_tokens_all[i] for i in keep]),
                    titles=[d["title"] for d in docs])
    from assistant.store.keyword import tokenize

    corpus.title_bm25 = _bm25([tokenize(d["title"]) for d in docs])
    corpus.doc_places = [places(d["title"] + " " + (units[ix[0]]["text"][:60] if len(ix) else ""))
                         for d, ix in zip(docs, doc_units, strict=True)]
    return corpus


def places(text: str) -> set[str]:
    """Place names (jieba's `ns` tag) of two or more characters."""
    import jieba.posseg as pseg

    return {w for w, flag in pseg.lcut(text) if flag == "ns" and len(w) >= 2}


# --- per-question signals -----------------------------------------------------------------------------


@dataclass
class Signals:
    """Ranks (0-based, large = absent) of the candidate chunks under each signal."""

    cand: np.ndarray  # unit rows
    dense_rank: np.ndarray
    bm25_rank: np.ndarray
    doc_bm25_rank: np.ndarray
    centroid_z: np.ndarray  # the document's standardised centroid similarity / max (0..1, 0 below mean)
    centroid_rank: np.ndarray
    place: np.ndarray  # 1 when the document's title names a place the question names
    named: np.ndarray  # 1 when the question names the chunk's document
    title_rank: np.ndarray  # the document's rank by BM25 over titles alone
    neighbour_rank: np.ndarray  # the best dense rank of the chunk before or after it in its document
    in_force: np.ndarray
    whole_top: list[str]  # ids of the 10 best documents by BM25 over the loaded text (the baseline)


ABSENT = 10**6


def signals(corpus: Corpus, question: str, qvec: np.ndarray, named_docs: set[int]) -> Signals:
    from assistant.retrieve.query import clean_for_keywords
    from assistant.store.keyword import tokenize

    tokens = tokenize(clean_for_keywords(question) or question)
    sims = corpus.vectors @ qvec
    dense_top = np.argsort(-sims)[:CANDIDATES]
    bm = corpus.bm25.scores(tokens)
    bm_top = [i for i in np.argsort(-bm)[:CANDIDATES] if bm[i] > 0]
    dbm = corpus.doc_bm25.scores(tokens)
    doc_order = [i for i in np.argsort(-dbm) if dbm[i] > 0]
    doc_bm_rank = np.full(len(corpus.docs), ABSENT)
    doc_bm_rank[doc_order] = np.arange(len(doc_order))
    whole = corpus.doc_bm25_whole.scores(tokens)
    whole_order = [i for i in np.argsort(-whole) if whole[i] > 0]
    csim = corpus.centroids @ qvec
    z = (csim - csim.mean()) / max(float(csim.std()), 1e-9)
    zc = np.clip(z / max(float(z.max()), 1e-9), 0, None)
    cent_order = np.argsort(-csim)
    cent_rank = np.empty(len(corpus.docs), dtype=int)
    cent_rank[cent_order] = np.arange(len(cent_order))
    qplaces = places(question)
    place_doc = np.array([1.0 if qplaces & p else 0.0 for p in corpus.doc_places]) if qplaces else \
        np.zeros(len(corpus.docs))
    cand = set(int(i) for i in dense_top) | set(int(i) for i in bm_top)
    by_prior = [int(i) for i in cent_order[:DOC_TOP] if zc[i] > 0]
    top_docs = set(doc_order[:DOC_TOP]) | set(by_prior) | named_docs
    for d in top_docs:  # as the product: each such document's best chunks by BM25 join the candidates
        ix = corpus.doc_units[d]
        if len(ix):
            cand.update(int(i) for i in ix[np.argsort(-bm[ix], kind="stable")[:3]])
    c = np.array(sorted(cand))
    dr = np.full(len(corpus.units), ABSENT)
    dr[dense_top] = np.arange(len(dense_top))
    br = np.full(len(corpus.units), ABSENT)
    br[bm_top] = np.arange(len(bm_top))
    docs = corpus.unit_doc[c]
    named = np.array([1.0 if d in named_docs else 0.0 for d in docs])
    in_force = np.array([1.0 if corpus.units[i]["in_force"] else 0.0 for i in c])
    tb = corpus.title_bm25.scores(tokens)
    title_order = [i for i in np.argsort(-tb) if tb[i] > 0]
    title_rank = np.full(len(corpus.docs), ABSENT)
    title_rank[title_order] = np.arange(len(title_order))
    nb = np.full(len(c), ABSENT)
    for j, i in enumerate(c):
        for n in (i - 1, i + 1):
            if 0 <= n < len(corpus.units) and corpus.unit_doc[n] == corpus.unit_doc[i]:
                nb[j] = min(nb[j], dr[n])
    return Signals(c, dr[c], br[c], doc_bm_rank[docs], zc[docs], cent_rank[docs], place_doc[docs], named,
                   title_rank[docs], nb, in_force, [corpus.docs[i]["doc"] for i in whole_order[:10]])


@dataclass(frozen=True)
class Config:
    """A fused ranking: weighted RRF of chunk and document signals (0 switches a signal off)."""

    k: float = 60
    dense: float = 1.0
    bm25: float = 1.0
    doc_bm25: float = 0.0
    centroid: float = 0.0  # prior: weight × standardised centroid similarity / (k + 1)
    place: float = 0.0
    named: float = 0.0  # named-document lift, in units of 1 / (k + 1)
    not_in_force: float = 1.0  # factor for superseded or repealed documents
    title: float = 0.0  # RRF weight of the document's rank by BM25 over titles
    neighbour: float = 0.0  # RRF weight of the best dense rank of the chunk's neighbours

    def label(self) -> str:
        return (f"k={self.k:g} dense={self.dense:g} bm25={self.bm25:g} docbm25={self.doc_bm25:g} "
                f"centroid={self.centroid:g} place={self.place:g} named={self.named:g} title={self.title:g} "
                f"neighbour={self.neighbour:g}")


def fuse(s: Signals, cfg: Config) -> np.ndarray:
    """Candidate unit rows, best first."""
    score = cfg.dense / (cfg.k + 1 + s.dense_rank) + cfg.bm25 / (cfg.k + 1 + s.bm25_rank)
    if cfg.doc_bm25:
        score = score + cfg.doc_bm25 / (cfg.k + 1 + s.doc_bm25_rank)
    if cfg.title:
        score = score + cfg.title / (cfg.k + 1 + s.title_rank)
    if cfg.neighbour:
        score = score + cfg.neighbour / (cfg.k + 1 + s.neighbour_rank)
    unit = 1.0 / (cfg.k + 1)
    score = score + unit * (cfg.centroid * s.centroid_z + cfg.place * s.place + cfg.named * s.named)
    if cfg.not_in_force != 1.0:
        score = score * np.where(s.in_force > 0, 1.0, cfg.not_in_force)
    return s.cand[np.argsort(-score, kind="stable")]


# --- judging ---------------------------------------------------------------------------------------


def gold_of(row: dict[str, Any]) -> Any:
    from assistant.numerals import canonical_article

    if "docid" in row:
        return row["docid"]
    return {(g["document"], canonical_article(g["article"]) or g["article"]) for g in row["gold"]}


def statute_rank(corpus: Corpus, order: Iterable[int], gold: set[tuple[str, str]], k: int = 10) -> int | None:
    for rank, i in enumerate(order, start=1):
        if rank > k:
            return None
        u = corpus.units[i]
        if any((u["title"], a) in gold for a in u["articles"].split("、") if a):
            return rank
    return None


def doc_rank(corpus: Corpus, order: Iterable[int], gold: str, k: int = 10) -> int | None:
    seen: list[str] = []
    for i in order:
        d = corpus.units[i]["doc"]
        if d not in seen:
            seen.append(d)
            if d == gold:
                return len(seen)
            if len(seen) >= k:
                return None
    return None


def rank_of(corpus: Corpus, order: Iterable[int], gold: Any) -> int | None:
    return doc_rank(corpus, order, gold) if isinstance(gold, str) else statute_rank(corpus, order, gold)


def metrics(ranks: list[int | None], policy: bool) -> dict[str, float]:
    n = len(ranks) or 1
    if policy:
        return {"doc@1": sum(r == 1 for r in ranks) / n, "doc@5": sum(r is not None and r <= 5 for r in ranks) / n}
    out = {f"R@{k}": sum(1 for r in ranks if r is not None and r <= k) / n for k in KS}
    out["MRR@10"] = sum(1.0 / r for r in ranks if r is not None and r <= 10) / n
    return out


def folds(rows: list[dict[str, Any]], n: int = 5, seed: int = 11) -> list[int]:
    """Fold of each row: a seeded shuffle dealt round-robin, so each fold has a fifth of each set."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    fold = [0] * len(rows)
    for j, i in enumerate(order):
        fold[i] = j % n
    return fold


def set_names() -> list[str]:
    return list(CORPUS_OF)
