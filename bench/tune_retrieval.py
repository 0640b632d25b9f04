"""Issue 4 experiments: ranking variants on the dev questions, chosen on one half, reported on the other.

    python -m bench.tune_retrieval                       # statute index of bench/ingest.py
    python -m bench.tune_retrieval --index bench/.cache/dev-index --grid

Everything is recomputed offline from one snapshot: chunk vectors come from the index's content
cache (exact cosine, no HNSW), BM25 from the snapshot (or rebuilt in memory for tokenizer
variants), so dozens of variants cost seconds. Half A (even lines of the file) chooses, half B (odd
lines) reports; a variant is kept only when it helps on both.

Result on the statute index (378 laws, 11,452 chunks), all 146 + 146 questions per half:

    variant                                  A MRR@10 / R@10   B MRR@10 / R@10   verified MRR / R@10
    before: RRF 1:1, k=60                    0.175 / 0.390     0.235 / 0.432     0.225 / 0.450
    RRF dense 2 : BM25 1, k=10               0.200 / 0.425     0.227 / 0.493     0.234 / 0.500
    chosen: + document centroid prior 3      0.212 / 0.432     0.279 / 0.541     0.271 / 0.531
    dense side on the cleaned question       0.218 / 0.404     0.292 / 0.527     0.280 / 0.508  (R@ drop)
    tokenizer + domain vocabulary            0.213 / 0.438     0.276 / 0.541     0.269 / 0.535  (no change)
    tokenizer + char bigrams                 0.214 / 0.425     0.280 / 0.534     0.273 / 0.523  (no change)
    doc aggregate of passage scores (w 4)    0.208 / 0.445     0.250 / 0.534     0.252 / 0.535  (< centroid)
    title words in the question (w 1)        0.201 / 0.425     0.236 / 0.507     0.240 / 0.508  (no change)

Kept: dense weight 2 and RRF k 10 (both halves, R@10 +0.035 / +0.061), the document centroid
prior (both halves; weights 2–6 all help, 3 chosen in the flat middle). Dropped: dense on the
cleaned question (MRR up, R@5/R@10 down on A), a mined domain vocabulary for jieba (titles and
本法所称…是指 terms: search-mode jieba already emits their parts, so BM25 barely moves, and it would
tie the tokenizer to the corpus), character bigrams (no gain, would need a new tokenizer id and
BM25 rebuild), aggregating passage scores per document and title-word boosts (weaker than the
centroid prior, no gain over it). BM25 on the raw vs the scaffolding-stripped question gives the
same figures; stripping stays because it normalises article numbers for lookups. On the 76-law dev
index the fusion change helped the same way; the centroid prior matters more with more laws.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import pickle
import re
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.helpers import CACHE, write_results
from bench.retrieval import (
    fmt_metrics,
    gold_pairs,
    load_rows,
    metrics,
    passage_articles,
)


@dataclass(frozen=True)
class Variant:
    name: str = "baseline"
    w_dense: float = 1.0
    w_kw: float = 1.0
    rrf_k: int = 60
    candidates: int = 50
    dense_clean: bool = False  # embed the scaffolding-stripped question instead of the raw one
    kw_clean: bool = True  # BM25 on the scaffolding-stripped question (what the product does)
    doc_agg: float = 0.0  # weight of the document's aggregated passage score
    doc_agg_top: int = 3  # passages per document summed
    title_boost: float = 0.0  # weight of title words found in the question
    centroid: float = 0.0  # weight of the question's similarity to the document centroid
    tokenizer: str = "base"
    fusion: str = "rrf"  # rrf | convex (alpha * min-max dense + (1 - alpha) * BM25 / max)
    alpha: float = 0.7
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


class Bench:
    def __init__(self, index_dir: Path, rows: list[dict[str, Any]]) -> None:
        from assistant.indexing.snapshot import LiveIndex
        from assistant.retrieve.query import clean_for_keywords, parse_query
        from assistant.settings import Settings

        self.settings = Settings(index_dir=index_dir, review_log=False)
        self.live = LiveIndex(self.settings)
        snap = self.snapshot = self.live.snapshot()
        self.rows = rows
        self.parsed = [parse_query(r["question"], snap) for r in rows]
        self.clean = [clean_for_keywords(r["question"]) for r in rows]
        chunks = snap.chunks
        self.n = len(chunks)
        self.titles = [c.metadata["title"] for c in chunks]
        self.sources = [c.metadata["source"] for c in chunks]
        self.in_force = np.array([bool(c.metadata.get("in_force", True)) for c in chunks])
        self.articles = [passage_articles(c.metadata) for c in chunks]
        self.golds = [gold_pairs(r) for r in rows]
        doc_ids = {s: i for i, s in enumerate(sorted(set(self.sources)))}
        self.doc_of = np.array([doc_ids[s] for s in self.sources])
        self.doc_sources = sorted(doc_ids, key=doc_ids.get)
        self.n_docs = len(doc_ids)
        self._load_vectors(index_dir)
        self._keyword: dict[str, Any] = {"base": snap.keyword}
        self._bm25_cache: dict[tuple[str, bool], np.ndarray] = {}

    # -- cached inputs ------------------------------------------------------------------------------
    def _load_vectors(self, index_dir: Path) -> None:
        hashes = [c.metadata["embed_hash"] for c in self.snapshot.chunks]
        db = sqlite3.connect(index_dir / "cache.sqlite")
        found = {}
        for i in range(0, len(hashes), 500):
            batch = hashes[i : i + 500]
            for h, blob in db.execute(f"SELECT hash, vec FROM vectors WHERE model=? AND hash IN "
                                      f"({','.join('?' * len(batch))})", [self.settings.model, *batch]):
                found[h] = np.frombuffer(blob, dtype=np.float32)
        db.close()
        self.matrix = np.stack([found[h] for h in hashes])
        # Document centroids (normalised mean of the document's chunk vectors).
        cent = np.zeros((self.n_docs, self.matrix.shape[1]), dtype=np.float32)
        np.add.at(cent, self.doc_of, self.matrix)
        self.centroids = cent / np.linalg.norm(cent, axis=1, keepdims=True)

        key = hashlib.sha1(("\n".join(r["question"] for r in self.rows) + self.snapshot.version +
                            str(index_dir)).encode()).hexdigest()[:16]
        path = index_dir.parent / f"tune-queries-{key}.pkl"
        if path.exists():
            self.qraw, self.qclean = pickle.loads(path.read_bytes())
            return
        embed = self.live.embedder.encode
        t0 = time.perf_counter()
        self.qraw = embed([r["question"] for r in self.rows])
        self.qclean = embed([c or r["question"] for c, r in zip(self.clean, self.rows, strict=True)])
        print(f"(embedded {2 * len(self.rows)} questions in {time.perf_counter() - t0:.0f} s)")
        path.write_bytes(pickle.dumps((self.qraw, self.qclean)))

    def keyword_index(self, tokenizer: str) -> Any:
        if tokenizer not in self._keyword:
            from assistant.chunk import embed_text
            from assistant.store.keyword import KeywordIndex

            tok = TOKENIZERS[tokenizer]
            texts = [embed_text(c.metadata["title"], c.metadata["locator"], c.page_content)
                     for c in self.snapshot.chunks]
            self._keyword[tokenizer] = KeywordIndex.build([tok(t) for t in texts])
        return self._keyword[tokenizer]

    def bm25(self, qi: int, v: Variant) -> np.ndarray:
        key = (v.tokenizer, v.kw_clean, qi)
        if key not in self._bm25_cache:
            text = (self.clean[qi] or self.rows[qi]["question"]) if v.kw_clean else self.rows[qi]["question"]
            tok = TOKENIZERS[v.tokenizer]
            self._bm25_cache[key] = self.keyword_index(v.tokenizer).scores(tok(text))
        return self._bm25_cache[key]

    # -- ranking ------------------------------------------------------------------------------------
    def rank(self, qi: int, v: Variant, k: int = 10) -> list[int]:
        qv = self.qclean[qi] if v.dense_clean else self.qraw[qi]
        sims = self.matrix @ qv
        c = min(v.candidates, self.n)
        dense = list(np.argsort(-sims)[:c])
        bm = self.bm25(qi, v)
        kw = [int(i) for i in np.argsort(-bm)[:c] if bm[i] > 0]
        fused: dict[int, float] = defaultdict(float)
        for rank, i in enumerate(dense):
            fused[int(i)] += v.w_dense / (v.rrf_k + rank + 1)
        for rank, i in enumerate(kw):
            fused[i] += v.w_kw / (v.rrf_k + rank + 1)
        idx = np.fromiter(fused, dtype=np.int64)
        score = np.fromiter(fused.values(), dtype=np.float64)
        unit = 1.0 / (v.rrf_k + 1)  # the largest single-list contribution, for scale
        if v.fusion == "convex":
            d = sims[idx].astype(np.float64)
            d = (d - d.min()) / max(d.max() - d.min(), 1e-9)
            b = bm[idx].astype(np.float64) / max(float(bm.max()), 1e-9)
            score = v.alpha * d + (1 - v.alpha) * b
            unit = 0.1
        if v.doc_agg:
            per_doc: dict[int, list[float]] = defaultdict(list)
            for i, s in zip(idx, score, strict=True):
                per_doc[int(self.doc_of[i])].append(s)
            agg = {d: sum(sorted(s, reverse=True)[: v.doc_agg_top]) for d, s in per_doc.items()}
            top = max(agg.values())
            score = score + v.doc_agg * unit * np.array([agg[int(self.doc_of[i])] / top for i in idx])
        if v.title_boost:
            tb = self.title_scores(qi)
            score = score + v.title_boost * unit * tb[self.doc_of[idx]]
        if v.centroid:
            cs = self.centroids @ qv
            cs = (cs - cs.mean()) / (cs.std() + 1e-9)
            score = score + v.centroid * unit * np.maximum(cs[self.doc_of[idx]], 0) / max(cs.max(), 1e-9)
        source = self.parsed[qi].source
        if source is not None:  # as the product: half the best score a passage can reach otherwise
            named = (v.w_dense + v.w_kw + v.centroid) / (2 * (v.rrf_k + 1))
            score = score + named * np.array([self.sources[i] == source for i in idx])
        score = np.where(self.in_force[idx], score, score * 0.5)
        order = np.argsort(-score)[:k]
        return [int(idx[o]) for o in order]

    def title_scores(self, qi: int) -> np.ndarray:
        """Per document: IDF-weighted share of its title's words that the question contains."""
        if not hasattr(self, "_title_tokens"):
            from assistant.store.keyword import tokenize

            titles = {self.sources[i]: self.titles[i] for i in range(self.n)}
            self._title_tokens = []
            df: dict[str, int] = defaultdict(int)
            for s in self.doc_sources:
                t = titles[s]
                t = t[7:] if t.startswith("中华人民共和国") else t
                toks = {x for x in tokenize(t) if x not in ("法", "条例", "规定", "办法", "决定")}
                self._title_tokens.append(toks)
                for x in toks:
                    df[x] += 1
            self._title_idf = {x: np.log(1 + self.n_docs / d) for x, d in df.items()}
            self._title_cache: dict[int, np.ndarray] = {}
        if qi not in self._title_cache:
            q = self.rows[qi]["question"]
            out = np.zeros(self.n_docs)
            for d, toks in enumerate(self._title_tokens):
                total = sum(self._title_idf[x] for x in toks)
                if total:
                    out[d] = sum(self._title_idf[x] for x in toks if x in q) / total
            self._title_cache[qi] = out
        return self._title_cache[qi]

    def ranks(self, v: Variant, subset: list[int]) -> list[int | None]:
        out: list[int | None] = []
        for qi in subset:
            gold = self.golds[qi]
            found = None
            for r, i in enumerate(self.rank(qi, v), start=1):
                if any((self.titles[i], a) in gold for a in self.articles[i]):
                    found = r
                    break
            out.append(found)
        return out


# Tokenizer variants (the product's tokenize, and with a mined domain vocabulary).
def _base(text: str) -> list[str]:
    from assistant.store.keyword import tokenize

    return tokenize(text)


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"base": _base}

_DEFINED = re.compile(r"(?:本法|本条例|本规定|本办法|本编|本章|本节)(?:所称|中的|所指的?)"
                      r"([^，,。；：:“”、]{2,12}?)(?:，|,)?(?:是指|指|包括)")


def domain_vocabulary(bench: Bench) -> set[str]:
    """Words mined from the index: titles (without 中华人民共和国 and 法/条例), defined terms (本法所称…是指)."""
    words = set()
    for title in set(bench.titles):
        short = re.sub(r"[（(].*?[)）]", "", title.removeprefix("中华人民共和国"))
        words.add(short)
        core = re.sub(r"(法|条例|规定|办法)$", "", short)
        if len(core) >= 2:
            words.add(core)
    for chunk in bench.snapshot.chunks:
        words.update(m.group(1).lstrip("的") for m in _DEFINED.finditer(chunk.page_content))
    return {w for w in words if len(w) >= 2}


def with_vocabulary(words: set[str]) -> Callable[[str], list[str]]:
    """The product's tokenize with extra jieba words (a private jieba instance, global one untouched)."""
    import jieba

    from assistant.numerals import normalize_units
    from assistant.store.keyword import _KEEP, STOPWORDS

    tk = jieba.Tokenizer()
    tk.initialize()
    for word in words:
        tk.add_word(word.lower())

    def tokenize(text: str) -> list[str]:
        text = normalize_units(text).lower()
        return [t for t in tk.lcut_for_search(text) if _KEEP.search(t) and t not in STOPWORDS]

    return tokenize


def with_bigrams(text: str) -> list[str]:
    """The product's tokens plus every character bigram of the Chinese runs."""
    from assistant.numerals import normalize_units

    runs = re.findall(r"[\u4e00-\u9fff]+", normalize_units(text).lower())
    return _base(text) + [run[i : i + 2] for run in runs for i in range(len(run) - 1)]


def evaluate(bench: Bench, variants: list[Variant], halves: dict[str, list[int]]) -> list[tuple[Variant, dict]]:
    out = []
    for v in variants:
        res = {}
        for half, subset in halves.items():
            ranks = bench.ranks(v, subset)
            ver = [r for qi, r in zip(subset, ranks, strict=True) if bench.rows[qi]["verified"]]
            res[half] = {"all": metrics(ranks), "verified": metrics(ver)}
        out.append((v, res))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=CACHE / "statutes-index")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--grid", action="store_true", help="also the full fusion grid")
    args = parser.parse_args()
    rows = load_rows(limit=args.limit)
    bench = Bench(args.index.resolve(), rows)
    halves = {"A": list(range(0, len(rows), 2)), "B": list(range(1, len(rows), 2)), "all": list(range(len(rows)))}
    print(f"index {args.index}: {bench.n} chunks, {bench.n_docs} documents; choose on A ({len(halves['A'])} "
          f"questions), report on B ({len(halves['B'])}); 'verified' = verified rows of both halves")
    TOKENIZERS["domain vocabulary"] = with_vocabulary(domain_vocabulary(bench))
    TOKENIZERS["+ char bigrams"] = with_bigrams

    old = Variant(name="before: RRF 1:1, k=60")
    fusion = replace(old, name="RRF dense 2 : BM25 1, k=10", w_dense=2.0, rrf_k=10)
    chosen = replace(fusion, name="chosen: fusion + centroid prior 3", centroid=3.0)
    variants = [old, fusion, chosen]
    if args.grid:
        variants += [replace(old, name=f"RRF {wd}:1 k={k} c={c}", w_dense=wd, rrf_k=k, candidates=c)
                     for wd, k, c in itertools.product((1.0, 1.5, 2.0, 3.0), (10, 30, 60), (50, 100))]
    variants += [
        replace(fusion, name="score fusion 0.8 dense + 0.2 BM25", fusion="convex", alpha=0.8),
        replace(chosen, name="  dense side on the cleaned question", dense_clean=True),
        replace(chosen, name="  BM25 on the raw question (no cleaning)", kw_clean=False),
        replace(chosen, name="  tokenizer + domain vocabulary", tokenizer="domain vocabulary"),
        replace(chosen, name="  tokenizer + char bigrams", tokenizer="+ char bigrams"),
        replace(fusion, name="fusion + doc aggregate (top 3, w 4)", doc_agg=4.0, doc_agg_top=3),
        replace(fusion, name="fusion + title words in question (w 1)", title_boost=1.0),
        replace(chosen, name="  + title words in question (w 1)", title_boost=1.0),
        *[replace(fusion, name=f"fusion + centroid prior {w}", centroid=w) for w in (1.0, 2.0, 4.0, 6.0)],
    ]
    figures = {}
    for v, res in evaluate(bench, variants, halves):
        print(f"{v.name:<42} A {fmt_metrics(res['A']['all'])}")
        print(f"{'':<42} B {fmt_metrics(res['B']['all'])}")
        print(f"{'':<42} verified {fmt_metrics(res['all']['verified'])}")
        figures[v.name] = res
    write_results("tune_retrieval", {"variants": figures})


if __name__ == "__main__":
    main()
