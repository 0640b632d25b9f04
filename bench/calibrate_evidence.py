"""Calibrate `min_evidence`, the evidence below which the assistant refuses, on real questions.

    python -m bench.calibrate_evidence                                  # statute index of bench/ingest.py
    python -m bench.calibrate_evidence --index bench/.cache/dev-index --limit 100

In scope: the consultation questions of ../shared/eval/consult-dev.jsonl asked against the statute
index, kept when the gold article is among the first 5 passages (the passages an answer draws on):
these deserve an answer. Out of scope: the same questions asked against an index of the seed
policy document alone (corpus/tianjin-pilot-platform-reply-2024-04-25.txt, a reply on pilot-scale
platforms): no passage there is about labour contracts or traffic accidents, so every answer would
be unsupported. Same questions on both sides, so the threshold separates "the passages are about
this" from "they are not", not one kind of wording from another.

Evidence is computed as `Assistant.answer` does: `Assistant.evidence` over the top-k passages of
the served retrieval, on the scaffolding-stripped question. Prints both distributions, the
threshold of best balanced accuracy and the lowest threshold that refuses >= 95 % of out-of-scope
questions.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.helpers import CACHE, ROOT, write_results
from bench.retrieval import first_hit, gold_pairs, load_rows, passage_articles

SEED = "tianjin-pilot-platform-reply-2024-04-25"
CACHE = CACHE


def seed_index(folder: Path) -> Path:
    """An index of the seed document alone (built once, reused)."""
    from assistant.indexing.service import run_index
    from assistant.settings import Settings

    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for suffix in (".txt", ".meta.yaml"):
        shutil.copy(ROOT / "corpus" / f"{SEED}{suffix}", corpus / f"{SEED}{suffix}")
    settings = Settings(corpus_dir=corpus, index_dir=folder / "index", data_dir=folder / "data", review_log=False)
    run_index(settings)
    return folder / "index"


def evidences(index_dir: Path, rows: list[dict[str, Any]], data_dir: Path) -> list[tuple[float, int | None]]:
    """(evidence, rank of the gold article within the top k or None) per question."""
    from assistant.service import Assistant
    from assistant.service import evidence as service_evidence
    from assistant.settings import Settings

    settings = Settings(index_dir=index_dir, corpus_dir=data_dir / "corpus", data_dir=data_dir, review_log=False)
    assistant = Assistant(settings)
    out = []
    for row in rows:
        question = assistant.check_question(row["question"])
        found = assistant.retriever.retrieve(question, settings.top_k)
        docs = found.docs
        evidence = service_evidence(question, found)  # exactly the gate Assistant.answer applies
        rank = first_hit(((d.metadata["title"], passage_articles(d.metadata)) for d in docs), gold_pairs(row),
                         k=settings.top_k)
        out.append((evidence, rank))
    return out


def describe(name: str, values: np.ndarray) -> None:
    qs = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95]) if len(values) else [float("nan")] * 5
    print(f"{name:<28} n={len(values):<4} mean={values.mean():.3f}  p5={qs[0]:.3f} p25={qs[1]:.3f} "
          f"median={qs[2]:.3f} p75={qs[3]:.3f} p95={qs[4]:.3f}")


def histogram(inside: np.ndarray, outside: np.ndarray, step: float = 0.05, width: int = 30) -> None:
    """Counts per evidence bin; bars are shares of each side (# in scope, o out of scope)."""
    print(f"{'evidence':>12} {'in scope':>9} {'out of scope':>13}")
    edges = np.round(np.arange(0.0, 1.0 + step, step), 4)
    for lo, hi in itertools.pairwise(edges):
        last = hi >= 1.0
        a = int(((inside >= lo) & ((inside <= hi) if last else (inside < hi))).sum())
        b = int(((outside >= lo) & ((outside <= hi) if last else (outside < hi))).sum())
        bar_a = "#" * round(width * a / max(len(inside), 1))
        bar_b = "o" * round(width * b / max(len(outside), 1))
        print(f"  {lo:.2f}-{hi:.2f} {a:>9} {b:>13}  {bar_a:<{width}} {bar_b}")


def sweep(inside: np.ndarray, outside: np.ndarray) -> list[tuple[float, float, float, float]]:
    """(threshold, share of in-scope answered, share of out-of-scope refused, balanced accuracy)."""
    rows = []
    for t in np.round(np.arange(0.0, 1.0001, 0.01), 2):
        answered = float((inside >= t).mean())
        refused = float((outside < t).mean())
        rows.append((float(t), answered, refused, (answered + refused) / 2))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=CACHE / "statutes-index", help="the statute index")
    parser.add_argument("--seed-index", type=Path, default=CACHE / "seed-only",
                        help="folder for the seed-only index (built when missing)")
    parser.add_argument("--limit", type=int, help="questions to use (spread over the file)")
    args = parser.parse_args()
    if not (args.index / "CURRENT").exists():
        raise SystemExit(f"no published index in {args.index}")
    rows = load_rows(limit=args.limit)
    seed_dir = args.seed_index / "index"
    if not (seed_dir / "CURRENT").exists():
        seed_dir = seed_index(args.seed_index)

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-calibrate-") as tmp:
        statute = evidences(args.index.resolve(), rows, Path(tmp) / "a")
        seed = evidences(seed_dir.resolve(), rows, Path(tmp) / "b")
    inside = np.array([e for e, rank in statute if rank is not None])
    missed = np.array([e for e, rank in statute if rank is None])
    outside = np.array([e for e, _ in seed])
    print(f"statute index {args.index} ({len(rows)} questions; gold article in the top 5 for {len(inside)}), "
          f"seed-only index {seed_dir}; {time.perf_counter() - t0:.0f} s")
    describe("in scope (gold in top 5)", inside)
    describe("statute, gold not in top 5", missed)
    describe("out of scope (seed only)", outside)
    histogram(inside, outside)

    table = sweep(inside, outside)
    best = max(table, key=lambda r: (round(r[3], 6), -r[0]))
    strict = next((r for r in table if r[2] >= 0.95), None)
    print(f"\n{'threshold':>9} {'in-scope answered':>18} {'out-of-scope refused':>21} {'balanced acc.':>14}")
    for t, answered, refused, bal in table:
        if round(t * 100) % 5 == 0 or t in (best[0], strict[0] if strict else -1):
            mark = "  <- best balanced accuracy" if t == best[0] else ""
            mark += "  <- lowest with >= 95 % out-of-scope refused" if strict and t == strict[0] else ""
            print(f"{t:>9.2f} {answered:>18.3f} {refused:>21.3f} {bal:>14.3f}{mark}")
    print(f"\nbest balanced accuracy: threshold {best[0]:.2f} (answers {best[1]:.1%} of in-scope, "
          f"refuses {best[2]:.1%} of out-of-scope, balanced {best[3]:.3f})")
    if strict:
        print(f">= 95 % out-of-scope refused: threshold {strict[0]:.2f} (answers {strict[1]:.1%} of in-scope, "
              f"refuses {strict[2]:.1%}, balanced {strict[3]:.3f})")
    write_results("calibrate_evidence", {"table": [dict(zip(("threshold", "in_scope_answered", "out_of_scope_refused",
                                                             "balanced"), r, strict=True)) for r in table],
                                         "best": best, "strict": strict})


if __name__ == "__main__":
    main()
