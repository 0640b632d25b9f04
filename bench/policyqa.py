"""Policy questions end to end: retrieval, answers against gold spans, refusals on the half index.

    python bench/policyqa.py --full-index /work/cache/h10/pq-full-index --half-index /work/cache/h10/pq-half-index
    python bench/policyqa.py --questions other.jsonl --full-index … --half-index …

For any questions file in the policyqa format ({"qid", "question", "docid", "answer"}; default the
dev set of ../shared/eval/policyqa) and indexes built by the product's indexer from its corpus
(all documents; and the half whose md5(docid) is even):

- document hit@1 / hit@5 of the served retrieval vs BM25 over whole documents (bm25s, same jieba
  tokens); the gold span in the top-5 passages;
- the product's answers (the composer over the served top passages, full index) against the gold
  spans: character ROUGE-L P/R/F after whitespace removal and NFKC, and the hit rate (answers
  holding >= 80 % of the gold span), beside the one-line baseline (the sentence of the top BM25
  document sharing most question words) from the same run;
- answered / refused on the half index, split by answerable (gold span in an indexed document) or not.

Retrieval outputs are cached (bench/qa_cache.py). Writes bench/results/policyqa.json
(policyqa-<model>.json for another ASSISTANT_MODEL, with indexes built by that model).

    python -m bench.policyqa --answerer llm --full-index … --limit 24

The LLM answerer (assistant/answer/llm.py) on the same served top passages of the full index:
ROUGE-L and hit of its answers (fallbacks included, as a user gets them), the share of the sentences
the model wrote that verification dropped, how its answers ended (kept, or which fallback), time to
the first verified sentence and to the whole answer, beside the extractive answers to the same
questions from the same run. The endpoint is ASSISTANT_LLM_BASE_URL when set, else the small local
model started here (bench/localllm.py). `--limit N` takes N questions evenly spaced over the set.
Writes bench/results/policyqa-llm.json.
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answer.reader import BUNDLED as BUNDLED_READER
from assistant.answer.reader import reader_for
from bench.helpers import results_name, write_results
from bench.offline import folds
from bench.pq import POLICYQA, answerable_in_half, corpus_texts, load_questions, normalise, rouge_l
from bench.qa_cache import DEFAULT_CACHE, documents, retrievals

HIT_RECALL = 0.8
TARGET_F = 0.35
TARGET_HIT = 0.55
TARGET_ANSWERED = 0.85
TARGET_REFUSED = 0.65
HELD_OUT_FOLDS = (3, 4)
MIXES = (0.0, 2.0, 4.0, 8.0)  # the reader's weight grid for mix_choice


def answer(record: dict[str, Any], reader: Any = None, **options: Any) -> str:
    """The product's answer text (citation marks removed) for a cached retrieval; `reader` an
    assistant.answer.reader.Reader, or a function scoring units (None: the composer's word counts choose)."""
    from assistant.answer.extractive import compose

    query = record["keyword_text"] or record["question"]
    read = reader if callable(reader) else (
        (lambda units: reader.scores(record["question"], units)) if reader is not None else None)
    composed = compose(query, documents(record), read=read, **options)
    return re.sub(r"\[\d+\]", "", composed.text)


def mix_choice(rows: list[dict[str, Any]], full: list[dict[str, Any]], fold: list[int], reader: Any
               ) -> dict[str, Any]:
    """The reader's weight beside the word counts (extractive.READ_MIX), chosen inside the held-out
    folds: on one (most F + hit) and reported on the other, both ways; the composer on the same questions."""
    from assistant.answer.reader import unit_pair

    held = [i for i, f in enumerate(fold) if f in HELD_OUT_FOLDS]
    table: dict[float, list[tuple[float, float, float]]] = {m: [] for m in MIXES}
    base = []
    for i in held:
        known: dict[str, float] = {}

        def read(units: list[Any], question: str = rows[i]["question"], known: dict[str, float] = known
                 ) -> list[float]:
            todo = [u for u in units if unit_pair(u.text, u.context) not in known]
            if todo:
                known.update(zip((unit_pair(u.text, u.context) for u in todo), reader.scores(question, todo),
                                 strict=True))
            return [known[unit_pair(u.text, u.context)] for u in units]

        for m in MIXES:
            table[m].append(rouge_l(answer(full[i], read, read_mix=m), rows[i]["answer"]))
        base.append(rouge_l(answer(full[i]), rows[i]["answer"]))
    out: dict[str, Any] = {"grid": {str(m): summary(v) for m, v in table.items()}, "folds": []}
    pooled: list[tuple[float, float, float]] = []
    pooled_base: list[tuple[float, float, float]] = []
    for f in HELD_OUT_FOLDS:
        on = [j for j, i in enumerate(held) if fold[i] != f]
        at = [j for j, i in enumerate(held) if fold[i] == f]

        def merit(m: float, on: list[int] = on) -> float:
            s = summary([table[m][j] for j in on])
            return s["F"] + s["hit"]

        chosen = max(MIXES, key=merit)
        pooled += [table[chosen][j] for j in at]
        pooled_base += [base[j] for j in at]
        out["folds"].append({"fold": f, "mix": chosen, "reader": summary([table[chosen][j] for j in at]),
                             "composer": summary([base[j] for j in at])})
        print(f"    fold {f}: mix {chosen} (chosen on the other held-out fold): reader F "
              f"{out['folds'][-1]['reader']['F']:.3f} hit {out['folds'][-1]['reader']['hit']:.3f}; composer F "
              f"{out['folds'][-1]['composer']['F']:.3f} hit {out['folds'][-1]['composer']['hit']:.3f}")
    out["pooled"] = {"reader": summary(pooled), "composer": summary(pooled_base)}
    print(f"    pooled, mix chosen inside the folds: reader F {out['pooled']['reader']['F']:.3f} hit "
          f"{out['pooled']['reader']['hit']:.3f}; composer F {out['pooled']['composer']['F']:.3f} hit "
          f"{out['pooled']['composer']['hit']:.3f}")
    print("    grid (both held-out folds): " + ", ".join(f"{m}: F {v['F']:.3f} hit {v['hit']:.3f}"
                                                      for m, v in out["grid"].items()))
    return out


def decide(record: dict[str, Any]) -> float:
    from assistant.answer.answerability import probability, signals

    df = record["df"]
    return probability(signals(record["keyword_text"] or record["question"], documents(record),
                               lambda t: int(df.get(t, 0)), int(record["n"])))


class DocumentBM25:
    """The baseline retriever: BM25 over whole documents."""

    def __init__(self, texts: dict[str, str]) -> None:
        import bm25s

        from assistant.store.keyword import tokenize

        self.ids = list(texts)
        self.raw = texts
        self.model = bm25s.BM25()
        self.model.index([tokenize(texts[i]) for i in self.ids], show_progress=False)

    def rank(self, question: str) -> list[str]:
        from assistant.retrieve.query import clean_for_keywords
        from assistant.store.keyword import tokenize

        vocab = self.model.vocab_dict
        ids = [vocab[t] for t in tokenize(clean_for_keywords(question)) if t in vocab]
        if not ids:
            return []
        scores = self.model.get_scores_from_ids(ids)
        return [self.ids[i] for i in np.argsort(-scores)[:10]]

    def one_line(self, question: str) -> str:
        """The sentence of the top document sharing most question words."""
        from assistant.answer.extractive import split_sentences
        from assistant.retrieve.query import clean_for_keywords
        from assistant.store.keyword import tokenize

        ranked = self.rank(question)
        if not ranked:
            return ""
        words = set(tokenize(clean_for_keywords(question)))
        sentences = [t for _, _, t in split_sentences(self.raw[ranked[0]])]
        return max(sentences, key=lambda s: len(words & set(tokenize(s))), default="")


def distinct_docs(record: dict[str, Any], k: int) -> list[str]:
    out: list[str] = []
    for d in record["docs"]:
        doc = Path(d["meta"]["source"]).stem
        if doc not in out:
            out.append(doc)
    return out[:k]


def summary(values: list[tuple[float, float, float]]) -> dict[str, float]:
    arr = np.asarray(values) if values else np.zeros((1, 3))
    return {"P": round(float(arr[:, 0].mean()), 3), "R": round(float(arr[:, 1].mean()), 3),
            "F": round(float(arr[:, 2].mean()), 3), "hit": round(float((arr[:, 1] >= HIT_RECALL).mean()), 3)}


def evenly(rows: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """`limit` rows spread evenly over the set (all of them without a limit)."""
    if not limit or limit >= len(rows):
        return rows
    return [rows[i * len(rows) // limit] for i in range(limit)]


def llm_run(args: argparse.Namespace) -> None:
    """The LLM answerer beside the extractive one on the same questions and passages."""
    import contextlib
    import os

    from assistant.answer.base import AnswerRequest, ComposedAnswer, Delta
    from assistant.answer.llm import LlmAnswerer
    from assistant.answer.support import split_answer
    from assistant.settings import Settings
    from bench import localllm
    from bench.helpers import free_port, percentile

    reasons: dict[str, int] = {}

    class Reasons(logging.Handler):
        """Tallies why verification dropped each sentence (assistant/answer/verify.py logs it)."""

        def emit(self, record: logging.LogRecord) -> None:
            if record.msg.startswith("dropped an LLM sentence") and isinstance(record.args, tuple):
                reason = str(record.args[0]).split(":")[0]
                reasons[reason] = reasons.get(reason, 0) + 1

    verify_log = logging.getLogger("assistant.answer.verify")
    verify_log.setLevel(logging.INFO)
    verify_log.addHandler(Reasons())
    rows = evenly(load_questions(args.questions), args.limit)
    full = retrievals(args.full_index, [r["question"] for r in rows], args.cache)
    overrides = {"answerer": "llm", "llm_timeout": args.llm_timeout, "llm_passages": args.llm_passages,
                 "llm_prompt_chars": args.llm_prompt_chars, "llm_max_tokens": args.llm_max_tokens}
    with contextlib.ExitStack() as stack:
        if os.environ.get("ASSISTANT_LLM_BASE_URL"):
            settings = Settings(**overrides)
        else:
            base = stack.enter_context(localllm.serve(free_port(), ctx=4096, threads=args.llm_threads))
            overrides["llm_model"] = localllm.MODEL_FILE
            settings = Settings(llm_base_url=base, **overrides)
        answerer = LlmAnswerer(settings)
        print(f"{len(rows)} questions; LLM {settings.llm_model} at {settings.llm_base_url}; "
              f"{settings.llm_passages} passages, {settings.llm_prompt_chars} chars, {settings.llm_max_tokens} tokens")
        ours, extractive, first, whole = [], [], [], []
        ends: dict[str, int] = {}
        kept = dropped = 0
        for i, (row, record) in enumerate(zip(rows, full, strict=True)):
            request = AnswerRequest(row["question"], row["question"], documents(record)[:settings.top_k])
            started = time.perf_counter()
            seen: float | None = None
            composed: ComposedAnswer | None = None
            for event in answerer.stream(request):
                if isinstance(event, Delta) and seen is None:
                    seen = time.perf_counter() - started
                elif isinstance(event, ComposedAnswer):
                    composed = event
            assert composed is not None
            whole.append(time.perf_counter() - started)
            if seen is not None and composed.answerer == "llm":
                first.append(seen)
            end = composed.fallback or "kept"
            ends[end] = ends.get(end, 0) + 1
            if composed.answerer == "llm":
                kept += len(split_answer(composed.text))
            dropped += composed.dropped
            text = re.sub(r"\[\d+\]", "", composed.text)
            ours.append(rouge_l(text, row["answer"]))
            extractive.append(rouge_l(answer(record), row["answer"]))
            print(f"{i + 1}/{len(rows)} {whole[-1]:.1f} s {end} dropped {composed.dropped}: {text[:60]}", flush=True)
    a, b = summary(ours), summary(extractive)
    written = kept + dropped
    share = dropped / written if written else 0.0
    print(f"LLM answers            ROUGE-L P {a['P']:.3f} R {a['R']:.3f} F {a['F']:.3f}  hit {a['hit']:.3f}")
    print(f"extractive (same run)  ROUGE-L P {b['P']:.3f} R {b['R']:.3f} F {b['F']:.3f}  hit {b['hit']:.3f}")
    print(f"sentences the model wrote: {written}, dropped by verification {dropped} ({share:.1%})")
    print(f"answers: {ends}; why sentences were dropped: {reasons}")
    print(f"time to first verified sentence (LLM answers, {len(first)}): p50 {percentile(first, 0.5):.1f} s, "
          f"p90 {percentile(first, 0.9):.1f} s; whole answer p50 {percentile(whole, 0.5):.1f} s, "
          f"p90 {percentile(whole, 0.9):.1f} s")
    write_results(results_name("policyqa-llm", settings.model), {
        "model": settings.model, "llm": settings.llm_model, "questions": str(args.questions), "n": len(rows),
        "settings": {**{k: v for k, v in overrides.items() if k != "answerer"}, "llm_threads": args.llm_threads},
        "llm_answers": a, "extractive": b,
        "sentences": {"written": written, "dropped": dropped, "dropped_share": round(share, 3), "why": reasons},
        "answers_by_end": ends,
        "seconds": {"first_verified_p50": round(percentile(first, 0.5), 2),
                    "first_verified_p90": round(percentile(first, 0.9), 2),
                    "whole_p50": round(percentile(whole, 0.5), 2), "whole_p90": round(percentile(whole, 0.9), 2)},
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=POLICYQA / "dev.jsonl")
    parser.add_argument("--corpus", type=Path, default=POLICYQA / "corpus")
    parser.add_argument("--full-index", type=Path, required=True)
    parser.add_argument("--half-index", type=Path)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--rerankers", default="off",
                        help="reranker settings to compare in this run (off, bundled, or a model folder)")
    parser.add_argument("--readers", default="off,bundled" if (BUNDLED_READER / "model.onnx").exists() else "off",
                        help="answer readers to compare in this run (off, bundled, or a model folder)")
    parser.add_argument("--api", type=int, default=0,
                        help="also serve the full index over HTTP and time /api/search and /api/ask on this many "
                             "questions, once per reader setting")
    parser.add_argument("--answerer", choices=["extractive", "llm"], default="extractive")
    parser.add_argument("--limit", type=int, default=None, help="with --answerer llm: this many questions")
    parser.add_argument("--llm-timeout", type=float, default=180.0)
    parser.add_argument("--llm-passages", type=int, default=3)
    parser.add_argument("--llm-prompt-chars", type=int, default=1800)
    parser.add_argument("--llm-max-tokens", type=int, default=200)
    parser.add_argument("--llm-threads", type=int, default=2, help="threads of the local llama.cpp server")
    args = parser.parse_args()
    if args.answerer == "llm":
        llm_run(args)
        return
    if args.half_index is None:
        parser.error("--half-index is required for the extractive run")

    from assistant.settings import Settings

    settings = Settings()
    threshold = settings.min_answerability
    rows = load_questions(args.questions)
    # The reader trained on dev folds other than 3 and 4 (training/data.py HELD_OUT): figures on those
    # folds are held out; on another questions file every question is.
    fold = folds(rows) if args.questions == POLICYQA / "dev.jsonl" else [HELD_OUT_FOLDS[0]] * len(rows)
    questions = [r["question"] for r in rows]
    raw = {p.stem: p.read_text(encoding="utf-8") for p in sorted(args.corpus.glob("*.txt"))}
    texts = corpus_texts(args.corpus)
    labels = answerable_in_half(rows, texts)
    baseline = DocumentBM25(raw)
    base = summary([rouge_l(baseline.one_line(r["question"]), r["answer"]) for r in rows])
    bm25 = {"@1": 0, "@5": 0}
    for row in rows:
        ranked = baseline.rank(row["question"])
        bm25["@1"] += row["docid"] in ranked[:1]
        bm25["@5"] += row["docid"] in ranked[:5]
    n = len(rows)
    print(f"{n} questions from {args.questions}")
    print(f"whole-document BM25    document hit@1 {bm25['@1'] / n:.3f}  hit@5 {bm25['@5'] / n:.3f}")
    print(f"one-line baseline      ROUGE-L P {base['P']:.3f} R {base['R']:.3f} F {base['F']:.3f}  hit {base['hit']:.3f}")
    runs: dict[str, Any] = {}
    for reranker in args.rerankers.split(","):
        t0 = time.perf_counter()
        full = retrievals(args.full_index, questions, args.cache, reranker=reranker)
        half = retrievals(args.half_index, questions, args.cache, reranker=reranker)
        print(f"[reranker {reranker}] retrieval {time.perf_counter() - t0:.1f} s (cached after the first run)")
        hits = {"served@1": 0, "served@5": 0, "span@5": 0}
        for row, record in zip(rows, full, strict=True):
            served = distinct_docs(record, 5)
            hits["served@1"] += row["docid"] in served[:1]
            hits["served@5"] += row["docid"] in served
            gold = normalise(row["answer"])
            hits["span@5"] += any(gold in normalise(d["content"]) for d in record["docs"][:5])
        rates = {k: round(v / n, 3) for k, v in hits.items()}
        gate = [decide(record) >= threshold for record in full]
        answers: dict[str, Any] = {}
        for name in args.readers.split(","):
            t1 = time.perf_counter()
            reader = reader_for(name)
            composed = [rouge_l(answer(record, reader), row["answer"]) for row, record in zip(rows, full, strict=True)]
            # What the user receives: below the answerability threshold the assistant refuses.
            delivered = [c if g else (0.0, 0.0, 0.0) for c, g in zip(composed, gate, strict=True)]
            a, d = summary(composed), summary(delivered)
            held = summary([c for c, f in zip(composed, fold, strict=True) if f in HELD_OUT_FOLDS])
            answers[name] = {"delivered": d, "composer_only": a, "held_out_folds": held,
                             "seconds_per_answer": round((time.perf_counter() - t1) / n, 4)}
            if reader is not None and args.questions == POLICYQA / "dev.jsonl":
                answers[name]["mix_chosen_in_folds"] = mix_choice(rows, full, fold, reader)
            print(f"  [reader {name}] answers as delivered (refusals empty) ROUGE-L F {d['F']:.3f}  hit {d['hit']:.3f}")
            print(f"  [reader {name}] gate off: all ROUGE-L F {a['F']:.3f}  hit {a['hit']:.3f}; dev folds "
                  f"{sorted(HELD_OUT_FOLDS)} ({sum(f in HELD_OUT_FOLDS for f in fold)} questions) F {held['F']:.3f}  "
                  f"hit {held['hit']:.3f}; {answers[name]['seconds_per_answer'] * 1000:.0f} ms an answer")
        probs = [decide(r) for r in half]
        answered_ok = [p >= threshold for p, y in zip(probs, labels, strict=True) if y]
        refused_ok = [p < threshold for p, y in zip(probs, labels, strict=True) if not y]
        ans = sum(answered_ok) / max(1, len(answered_ok))
        ref = sum(refused_ok) / max(1, len(refused_ok))
        seconds = sorted(r.get("seconds", 0.0) for r in full)
        print(f"  document hit@1 {rates['served@1']:.3f}  hit@5 {rates['served@5']:.3f}; gold span in the top-5 "
              f"passages {rates['span@5']:.3f}; retrieval p50 {seconds[len(seconds) // 2] * 1000:.0f} ms")
        print(f"  half index (min_answerability {threshold}): answered {ans:.1%} of {len(answered_ok)} answerable, "
              f"refused {ref:.1%} of {len(refused_ok)} unanswerable")
        runs[reranker] = {"retrieval": rates, "retrieval_p50_ms": round(seconds[len(seconds) // 2] * 1000, 1),
                          "answers": answers,
                          "half_index": {"threshold": threshold, "answered": round(ans, 3), "refused": round(ref, 3),
                                         "answerable": len(answered_ok), "unanswerable": len(refused_ok)}}
    api: dict[str, Any] = {}
    if args.api:
        from bench.retrieval import run_api

        sample = [r["question"] for r in evenly(rows, args.api)]
        for name in args.readers.split(","):
            print(f"[reader {name}] served on the full index, one client, {len(sample)} questions:")
            api[name] = run_api(args.full_index, sample, clients=1, seconds=0, max_requests=0, reader=name)
    write_results(results_name("policyqa", settings.model), {"api": api,
        "model": settings.model, "questions": str(args.questions), "n": n, "in_sample": (
            "the composer's constants and the answerability coefficients were chosen on policyqa dev: these are "
            "in-sample figures for the answer and refusal rows; the reader and a reranker trained by `python -m "
            "training` saw dev folds 0-2: `held_out_folds` and `mix_chosen_in_folds` (folds 3-4) are held out"),
        "whole_document_bm25": {k: round(v / n, 3) for k, v in bm25.items()}, "baseline": base, "runs": runs,
    })


if __name__ == "__main__":
    main()
