"""Real product indexes of the dev corpora, built with the vectors bench/evalcache.py already made.

    python -m bench.devindex policyqa       --out /work/cache/idx/policyqa        # 599 policy texts
    python -m bench.devindex policyqa-half  --out /work/cache/idx/policyqa-half   # md5(docid) even
    python -m bench.devindex statutes       --out /work/cache/idx/statutes        # 378 laws
    python -m bench.devindex seed+laws      --out /work/cache/idx/seed-laws       # corpus/ + the statutes
    python -m bench.devindex policyqa-half+statutes --out /work/cache/idx/mixed     # the half + the statutes
    python -m bench.devindex default        --out /work/cache/idx/default         # corpus/: seed + five laws

The index is the product's own (`run_index`: loader, chunker, Chroma, BM25, manifest), so the served
`Retriever` ranks it; only the embedding is skipped: the index's content cache is filled first with
the cached vector of every chunk text (same model, same text, same key: sha256 of what is embedded),
so a 26k-article index takes minutes instead of half an hour. Chunks the cache lacks are embedded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.evalcache import OUT
from bench.helpers import ROOT


def corpus_folder(name: str, work: Path) -> Path:
    """The corpus folder for a named dev corpus (a filtered copy for the half)."""
    from bench.pq import POLICYQA, in_half

    if name == "policyqa":
        return POLICYQA / "corpus"
    if name == "statutes":
        return OUT / "statutes" / "corpus"
    if name == "default":
        return ROOT / "corpus"
    target = work / "corpus"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    if name in ("policyqa-half", "policyqa-half+statutes"):
        for path in sorted((POLICYQA / "corpus").glob("*.txt")):
            if in_half(path.stem):
                shutil.copy(path, target / path.name)
        if name.endswith("+statutes"):
            for path in (OUT / "statutes" / "corpus").iterdir():
                shutil.copy(path, target / path.name)
    elif name == "seed+laws":
        for path in [*(ROOT / "corpus").iterdir(), *(OUT / "statutes" / "corpus").iterdir()]:
            shutil.copy(path, target / path.name)
    else:
        raise SystemExit(f"unknown corpus {name!r}")
    return target


def seed_cache(index_dir: Path, model: str) -> int:
    """Put every cached chunk vector of both dev corpora into the index's content cache."""
    from assistant.chunk import text_hash
    from assistant.store.cache import ContentCache
    from bench.evalcache import prefix_vectors

    cache = ContentCache(index_dir / "cache.sqlite")
    total = 0
    for corpus in ("policyqa", "statutes"):
        folder = OUT / corpus
        vectors = prefix_vectors(folder, model)
        if vectors is None:
            continue
        lines = (folder / "units.jsonl").read_text(encoding="utf-8").splitlines()[: len(vectors)]
        items = {text_hash(json.loads(line)["embed"]): np.asarray(v, dtype=np.float32)
                 for line, v in zip(lines, vectors, strict=True)}
        cache.put_vectors(model, items)
        total += len(items)
    return total


def build(name: str, out: Path, model: str = "m3e-small", **settings: Any) -> Path:
    """Index a dev corpus into out/index; `settings` are further Settings fields (a Chroma server's
    chroma_host and chroma_port, say)."""
    from assistant.indexing.service import run_index
    from assistant.settings import Settings

    out.mkdir(parents=True, exist_ok=True)
    corpus = corpus_folder(name, out)
    index_dir = out / "index"
    print(f"{seed_cache(index_dir, model)} cached vectors offered to {index_dir}")
    config = Settings(corpus_dir=corpus, index_dir=index_dir, data_dir=out / "data", model=model, **settings)
    t0 = time.perf_counter()
    report = run_index(config, progress=lambda stage, done, total: None)
    print(f"{name}: version={report.version} documents={report.documents} chunks={report.chunks} "
          f"embedded={report.embedded} skipped={report.count('skipped')} in {time.perf_counter() - t0:.0f} s")
    return index_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", choices=["policyqa", "policyqa-half", "statutes", "seed+laws",
                                                      "policyqa-half+statutes", "default"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default="m3e-small")
    args = parser.parse_args()
    build(args.corpus, args.out, args.model)


if __name__ == "__main__":
    main()
