"""The two embedding models side by side: load time, memory, passage and question encode time.

    python -m bench.models [--models m3e-small,e5-small] [--passages 256] [--questions 100]

Each model runs in a fresh process (so RSS is the model's own): the first N statute chunks of
bench/evalcache.py's cache (or the seed corpus when there is no cache) are encoded as passages in
one call, then the first M consultation questions one at a time, as a search does (through ONNX
Runtime where the settings put questions there, and on torch beside it, so the two are compared in
the same run). Writes bench/results/models.json. Quality per model is in `python -m bench.retrieval --parts sets`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from bench.helpers import ROOT, write_results


def _texts(passages: int, questions: int) -> tuple[list[str], list[str]]:
    from bench.evalcache import OUT, load_questions

    units = OUT / "statutes" / "units.jsonl"
    if units.exists():
        lines = units.read_text(encoding="utf-8").splitlines()[:passages]
        texts = [json.loads(x)["embed"] for x in lines]
    else:
        texts = [p.read_text(encoding="utf-8")[:400] for p in sorted((ROOT / "corpus").glob("*.txt"))][:passages]
    return texts, [row["question"] for row in load_questions("consult")[:questions]]


def measure(model: str, passages: int, questions: int) -> dict[str, float]:
    """One model in this process: seconds to load, ms per passage and per question, peak RSS."""
    texts, asked = _texts(passages, questions)
    t0 = time.perf_counter()
    from assistant.embed import _threads, embedder_for
    from assistant.settings import Settings

    embedder = embedder_for(Settings(_env_file=None, model=model))  # type: ignore[call-arg]
    embedder.embed_query("预热")
    loaded = time.perf_counter() - t0
    t1 = time.perf_counter()
    embedder.encode(texts)
    per_passage = (time.perf_counter() - t1) / max(1, len(texts)) * 1000
    t2 = time.perf_counter()
    for q in asked:
        embedder.embed_query(q)
    per_question = (time.perf_counter() - t2) / max(1, len(asked)) * 1000
    torch_ms = None
    if getattr(embedder, "_questions", None) is not None:  # served by ONNX: time torch on the same questions
        t3 = time.perf_counter()
        with _threads(1):
            for q in asked:
                embedder._model.encode([q], normalize_embeddings=True)  # type: ignore[union-attr]
        torch_ms = round((time.perf_counter() - t3) / max(1, len(asked)) * 1000, 1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"load_s": round(loaded, 2), "passage_ms": round(per_passage, 1), "question_ms": round(per_question, 1),
            "question_torch_ms": torch_ms,
            "passages": len(texts), "passage_chars": round(sum(map(len, texts)) / max(1, len(texts))),
            "questions": len(asked), "peak_rss_mib": round(rss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="m3e-small,e5-small")
    parser.add_argument("--passages", type=int, default=256)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one model and print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.passages, args.questions)))
        return
    figures = {}
    for model in args.models.split(","):
        out = subprocess.run([sys.executable, "-m", "bench.models", "--one", model, "--passages", str(args.passages),
                              "--questions", str(args.questions)], capture_output=True, text=True, check=True,
                             cwd=ROOT)
        figures[model] = json.loads(out.stdout.strip().splitlines()[-1])
        f = figures[model]
        print(f"{model:10} load {f['load_s']} s  passage {f['passage_ms']} ms ({f['passage_chars']} chars)  "
              f"question {f['question_ms']} ms (torch {f['question_torch_ms']} ms)  peak RSS {f['peak_rss_mib']} MiB", flush=True)
    write_results('models', figures)


if __name__ == "__main__":
    main()
