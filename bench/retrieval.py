"""Retrieval quality and serving cost on the statute index (issues 3, 4 and 11).

    python -m bench.retrieval                                   # bench/.cache/statutes-index
    python -m bench.retrieval --index bench/.cache/dev-index --limit 60 --no-api
    python -m bench.retrieval --parts sets                      # the three dev sets: offline, then served

Three dev sets (part `sets`, issue 11): consult-dev, scenario-dev and policyqa dev, ranked offline
over the cache of bench/evalcache.py by bench/crossval.py: BM25 over chunks and over whole
documents, dense alone, plain RRF (k 60), the fusion served before issue 11, china-law-mcp, and
the fused ranking the product serves chosen by 5 folds over the three sets (per fold and pooled),
for each model whose vectors are cached; JSON in bench/results/retrieval-sets.json.

Quality: the real consultation questions of ../shared/eval/consult-dev.jsonl. A hit at rank k is a
passage among the first k whose document title is a gold document and whose locator (or chunk
`articles` list) names the gold article. R@1, R@5, R@10 and MRR@10 on all rows and on `verified`
rows, for the hybrid ranking the product serves (`search_snapshot`), BM25 alone, dense alone, and
china-law-mcp's own retriever (`china_law_mcp.retrieval.search`, over its own database) as a peer.

Article lookups: (law, article) pairs sampled from the index itself, asked as
"XX法第N条是怎么规定的？" with Chinese and Arabic numbers, with and without 中华人民共和国; rank 1
must be that article. Articles that do not exist must be refused by name (`Assistant.ask`).

Serving: the real API (`create_app(settings, ui=False)` under uvicorn) in a subprocess on a
loopback port: p50/p95 of GET /api/search and POST /api/ask from one client, requests per second
from 8 concurrent clients (bounded in count and time), and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from bench.helpers import CACHE, ROOT, free_port, percentile, stop, wait_healthy, write_results
from bench.helpers import EVAL as EVAL_DIR

EVAL = EVAL_DIR / "consult-dev.jsonl"
DEFAULT_INDEX = CACHE / "statutes-index"
PREFIX = "中华人民共和国"
KS = (1, 5, 10)

# Targets (issue 3: serving on 26k chunks, 2 cores; issue 4: retrieval quality).
SEARCH_P50_MS = 40  # issue 11 (60 in issue 3)
ASK_P95_MS = 300
RSS_MIB = 2048
VERIFIED_R10 = 0.45
VERIFIED_MRR10 = 0.25
LOOKUP_RANK1 = 0.98

# --- questions and judging ------------------------------------------------------------------------


def load_rows(path: Path = EVAL, limit: int | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if limit and limit < len(rows):
        # A spread over the file (not its head), so a quick run sees the same mix of laws.
        step = len(rows) / limit
        rows = [rows[int(i * step)] for i in range(limit)]
    return rows


def passage_articles(meta: dict[str, Any]) -> set[str]:
    """Articles a passage covers, canonical (第十条), from its `articles` list and its locator."""
    from assistant.numerals import ARTICLE_REF, canonical_article

    found = set()
    for label in str(meta.get("articles") or "").split("、"):
        if label:
            found.add(canonical_article(label) or label)
    for match in ARTICLE_REF.finditer(str(meta.get("locator") or "")):
        found.add(canonical_article(match.group(0)) or match.group(0))
    return found


def gold_pairs(row: dict[str, Any]) -> set[tuple[str, str]]:
    from assistant.numerals import canonical_article

    return {(g["document"], canonical_article(g["article"]) or g["article"]) for g in row["gold"]}


def first_hit(results: Iterable[tuple[str, set[str]]], gold: set[tuple[str, str]], k: int = 10) -> int | None:
    """1-based rank of the first (title, articles) result that names a gold article, within k."""
    for rank, (title, articles) in enumerate(results, start=1):
        if rank > k:
            break
        if any((title, a) in gold for a in articles):
            return rank
    return None


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    out = {f"R@{k}": sum(1 for r in ranks if r is not None and r <= k) / n for k in KS}
    out["MRR@10"] = sum(1.0 / r for r in ranks if r is not None and r <= 10) / n
    return out


def fmt_metrics(m: dict[str, float]) -> str:
    return "  ".join(f"{name}={value:.3f}" for name, value in m.items())


def report_method(name: str, rows: list[dict[str, Any]], ranks: list[int | None], seconds: float) -> dict:
    verified = [r for row, r in zip(rows, ranks, strict=True) if row["verified"]]
    m_all, m_ver = metrics(ranks), metrics(verified)
    print(f"{name:<16} all ({len(ranks)}):      {fmt_metrics(m_all)}   [{seconds / max(len(ranks), 1) * 1000:.0f} ms/q]")
    print(f"{'':<16} verified ({len(verified)}): {fmt_metrics(m_ver)}")
    return {"all": m_all, "verified": m_ver}


# --- the retrievers ---------------------------------------------------------------------------------


class Retrievers:
    """Our hybrid ranking and its two sides alone, over one snapshot; query vectors embedded once."""

    def __init__(self, index_dir: Path) -> None:
        from assistant.indexing.snapshot import LiveIndex
        from assistant.service import Assistant
        from assistant.settings import Settings

        self._data = tempfile.TemporaryDirectory(prefix="bench-retrieval-")
        self.settings = Settings(index_dir=index_dir, corpus_dir=Path(self._data.name) / "corpus",
                                 data_dir=Path(self._data.name), review_log=False)
        self.live = LiveIndex(self.settings)
        self.assistant = Assistant(self.settings, self.live)
        self.snapshot = self.live.snapshot()
        self._vectors: dict[str, np.ndarray] = {}

    def embed(self, text: str) -> np.ndarray:
        if text not in self._vectors:
            self._vectors[text] = np.asarray(self.live.embedder.embed_query(text), dtype=np.float32)
        return self._vectors[text]

    def _results(self, positions: Iterable[int]) -> list[tuple[str, set[str]]]:
        chunks = self.snapshot.chunks
        return [(chunks[i].metadata["title"], passage_articles(chunks[i].metadata)) for i in positions]

    def hybrid(self, question: str, k: int = 10) -> list[tuple[str, set[str]]]:
        from assistant.retrieve.hybrid import search_snapshot
        from assistant.retrieve.query import parse_query

        parsed = parse_query(question, self.snapshot)
        hits = search_snapshot(self.snapshot, self.embed, parsed, k, self.settings.candidates)
        return self._results(h.index for h in hits)

    def bm25(self, question: str, k: int = 10) -> list[tuple[str, set[str]]]:
        from assistant.retrieve.query import clean_for_keywords
        from assistant.store.keyword import tokenize

        scores = self.snapshot.keyword.scores(tokenize(clean_for_keywords(question) or question))
        top = [int(i) for i in np.argsort(-scores)[:k] if scores[i] > 0]
        return self._results(top)

    def dense(self, question: str, k: int = 10) -> list[tuple[str, set[str]]]:
        found = self.snapshot.vectors.query(self.embed(question), k)
        return self._results(self.snapshot.position[cid] for cid, _ in found if cid in self.snapshot.position)


def peer_search(question: str, k: int = 10) -> list[tuple[str, set[str]]]:
    """china-law-mcp's retriever: BM25 + colloquial synonym expansion + coverage re-rank, per article."""
    from china_law_mcp import retrieval

    from assistant.numerals import canonical_article

    return [(r["law_name"], {canonical_article(r["article_no"]) or r["article_no"]})
            for r in retrieval.search(question, top_k=k)]


def evaluate(rows: list[dict[str, Any]], search: Callable[[str], list[tuple[str, set[str]]]]
             ) -> tuple[list[int | None], float]:
    ranks: list[int | None] = []
    t0 = time.perf_counter()
    for row in rows:
        ranks.append(first_hit(search(row["question"]), gold_pairs(row)))
    return ranks, time.perf_counter() - t0


# --- article lookups --------------------------------------------------------------------------------

_PLAIN_ARTICLE = re.compile(r"^第([一二三四五六七八九十百千零〇两]+)条$")


def lookup_questions(r: Retrievers, samples: int, seed: int = 0) -> list[tuple[str, str, str, str]]:
    """(question, title, article, variant): sampled (law, article) pairs in four phrasings."""
    from assistant.numerals import to_int

    pairs = sorted((s, a) for (s, a) in r.snapshot.articles if _PLAIN_ARTICLE.match(a))
    chosen = random.Random(seed).sample(pairs, min(samples, len(pairs)))
    out = []
    for source, article in chosen:
        title = r.snapshot.documents[source].title
        short = title[len(PREFIX):] if title.startswith(PREFIX) else title
        number = to_int(article[1:-1])
        for name, name_form in ((title, "full title"), (short, "short title")):
            for art, num_form in ((article, "chinese"), (f"第{number}条", "arabic")):
                out.append((f"{name}{art}是怎么规定的？", title, article, f"{name_form}/{num_form}"))
    return out


def run_lookups(r: Retrievers, samples: int) -> float:
    questions = lookup_questions(r, samples)
    by_variant: dict[str, list[bool]] = {}
    misses = []
    for question, title, article, variant in questions:
        top = r.hybrid(question, k=1)
        ok = bool(top) and top[0][0] == title and article in top[0][1]
        by_variant.setdefault(variant, []).append(ok)
        if not ok:
            misses.append((question, top[:1]))
    total = [ok for oks in by_variant.values() for ok in oks]
    rate = sum(total) / max(len(total), 1)
    print(f"article lookups: {len(questions) // 4} (law, article) pairs x 4 phrasings = {len(questions)} questions")
    for variant, oks in sorted(by_variant.items()):
        print(f"  {variant:<24} rank-1 {sum(oks)}/{len(oks)} = {sum(oks) / len(oks):.3f}")
    print(f"  all                      rank-1 {sum(total)}/{len(total)} = {rate:.3f}   target >= {LOOKUP_RANK1:.2f} "
          f"[{'met' if rate >= LOOKUP_RANK1 else 'NOT met'}]")
    for question, top in misses[:5]:
        print(f"    miss: {question} -> {top}")
    return rate


def run_missing_articles(r: Retrievers, samples: int = 20) -> dict[str, int]:
    """Articles past a law's last one (over all its versions), asked in both number forms:
    refused, naming the missing article, with no citation. Returns how many were asked and refused so."""
    from assistant.numerals import to_cn, to_int

    last: dict[str, int] = {}
    for (source, article) in r.snapshot.articles:
        match = _PLAIN_ARTICLE.match(article)
        if match and (n := to_int(match.group(1))):
            title = r.snapshot.documents[source].title
            last[title] = max(last.get(title, 0), n)
    titles = random.Random(1).sample(sorted(last), min(samples, len(last)))
    passed = 0
    examples = []
    for title in titles:
        number = last[title] + 7
        canonical = f"第{to_cn(number)}条"
        for art in (canonical, f"第{number}条"):
            response = r.assistant.ask(f"{title}{art}是怎么规定的？")
            ok = response.refused and canonical in response.answer and not response.citations
            passed += ok
            if len(examples) < 2 or not ok:
                examples.append((f"{title}{art}", response.refused, response.answer[:60]))
    total = 2 * len(titles)
    print(f"non-existent articles: refused naming the article {passed}/{total}  target {total}/{total} "
          f"[{'met' if passed == total else 'NOT met'}]")
    for question, refused, answer in examples[:4]:
        print(f"    {question}: refused={refused} answer={answer!r}")
    return {"asked": total, "refused_naming_it": passed}


# --- serving ----------------------------------------------------------------------------------------






_SERVER = """
import sys, uvicorn
from pathlib import Path
from assistant.api.app import create_app
from assistant.settings import Settings
index = Path(sys.argv[1])
data = Path(sys.argv[3])
settings = Settings(index_dir=index, corpus_dir=data / "corpus", data_dir=data, review_log=False,
                    rate_limit_questions="", rate_limit_reports="")  # one benchmark client is not a flood
uvicorn.run(create_app(settings, ui=False), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.stop.is_set():
            try:
                rss = self.proc.memory_info().rss + sum(c.memory_info().rss for c in self.proc.children(True))
                self.peak = max(self.peak, rss)
            except psutil.Error:
                return
            self.stop.wait(0.1)


def run_api(index_dir: Path, questions: list[str], clients: int, seconds: float, max_requests: int,
            reranker: str | None = None, reader: str | None = None) -> dict[str, Any]:
    """Serve the index for real and time it; the figures are returned (and saved by the caller)."""
    import httpx

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if reranker is not None:
        env["ASSISTANT_RERANKER"] = reranker
    if reader is not None:
        env["ASSISTANT_READER"] = reader
    data = tempfile.mkdtemp(prefix="bench-api-")
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(index_dir), str(port), data], cwd=ROOT, env=env)
    sampler = RssSampler(server.pid)
    sampler.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, lambda: server.poll() is None, timeout=300)
        with httpx.Client(base_url=base, timeout=60) as http:
            for q in questions[:3]:  # warm up: model, snapshot, jieba dictionary
                http.get("/api/search", params={"q": q, "k": 5}).raise_for_status()
                http.post("/api/ask", json={"question": q}).raise_for_status()
            search_ms, ask_ms = [], []
            for q in questions:
                t0 = time.perf_counter()
                http.get("/api/search", params={"q": q, "k": 5}).raise_for_status()
                search_ms.append((time.perf_counter() - t0) * 1000)
            for q in questions:
                t0 = time.perf_counter()
                http.post("/api/ask", json={"question": q}).raise_for_status()
                ask_ms.append((time.perf_counter() - t0) * 1000)

        statuses: dict[int, int] = {}
        lock = threading.Lock()
        counter = iter(range(max_requests))
        stop_at = time.time() + seconds

        def client() -> None:
            with httpx.Client(base_url=base, timeout=60) as http:
                while time.time() < stop_at:
                    with lock:
                        n = next(counter, None)
                    if n is None:
                        return
                    try:
                        code = http.post("/api/ask", json={"question": questions[n % len(questions)]}).status_code
                    except httpx.HTTPError:
                        code = -1
                    with lock:
                        statuses[code] = statuses.get(code, 0) + 1

        threads = [threading.Thread(target=client) for _ in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    finally:
        stop(server, timeout=30)
        sampler.stop.set()
        shutil.rmtree(data, ignore_errors=True)

    p50s, p95s = percentile(search_ms, 0.5), percentile(search_ms, 0.95)
    p50a, p95a = percentile(ask_ms, 0.5), percentile(ask_ms, 0.95)
    done = sum(statuses.values())
    print(f"GET /api/search (1 client, {len(search_ms)} questions): p50={p50s:.0f} ms  p95={p95s:.0f} ms   "
          f"target p50 < {SEARCH_P50_MS} ms [{'met' if p50s < SEARCH_P50_MS else 'NOT met'}]")
    print(f"POST /api/ask   (1 client, {len(ask_ms)} questions): p50={p50a:.0f} ms  p95={p95a:.0f} ms   "
          f"target p95 < {ASK_P95_MS} ms [{'met' if p95a < ASK_P95_MS else 'NOT met'}]")
    print(f"POST /api/ask   ({clients} clients, {elapsed:.1f} s, {done} requests, statuses {statuses}): "
          f"{statuses.get(200, 0) / elapsed:.1f} answered/s")
    peak = sampler.peak / 2**20
    print(f"server peak RSS: {peak:.0f} MiB   target < {RSS_MIB} MiB [{'met' if peak < RSS_MIB else 'NOT met'}]")
    return {"index": str(index_dir), "reranker": reranker, "reader": reader, "questions": len(questions),
            "search_ms": {"p50": round(p50s, 1), "p95": round(p95s, 1)},
            "ask_ms": {"p50": round(p50a, 1), "p95": round(p95a, 1)},
            "concurrent": {"clients": clients, "seconds": round(elapsed, 1), "statuses": statuses,
                           "answered_per_second": round(statuses.get(200, 0) / elapsed, 2) if elapsed else 0.0},
            "peak_rss_mib": round(peak)}


# --- main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index", nargs="?", type=Path, default=DEFAULT_INDEX, help="index folder (has CURRENT)")
    parser.add_argument("--index", dest="index_opt", type=Path, help="same as the positional argument")
    parser.add_argument("--limit", type=int, help="questions to use (spread over the file); quick runs")
    parser.add_argument("--lookups", type=int, default=300, help="(law, article) pairs for the lookup test")
    parser.add_argument("--no-peer", action="store_true", help="skip china-law-mcp")
    parser.add_argument("--no-api", action="store_true", help="skip the served latency/RPS/RSS part")
    parser.add_argument("--parts", default="sets,quality,lookups,api", help="comma-separated subset to run")
    parser.add_argument("--models", default="m3e-small,e5-small", help="models of the `sets` part")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rerankers", default="off,bundled", help="reranker settings the api part serves, in turn")
    parser.add_argument("--seconds", type=float, default=30.0, help="bound of the concurrent phase")
    parser.add_argument("--max-requests", type=int, default=400, help="bound of the concurrent phase")
    parser.add_argument("--statute-index", type=Path, default=Path("/work/cache/idx/statutes/index"),
                        help="sets: the served rows' statute index (bench/devindex.py statutes)")
    parser.add_argument("--policy-index", type=Path, default=Path("/work/cache/idx/policyqa/index"),
                        help="sets: the served rows' policy index (bench/devindex.py policyqa)")
    args = parser.parse_args()
    indexes = {"statutes": args.statute_index, "policyqa": args.policy_index}
    index_dir = (args.index_opt or args.index).resolve()
    if args.parts == "sets":
        run_sets(args.models, not args.no_peer, indexes)
        return
    if not (index_dir / "CURRENT").exists():
        raise SystemExit(f"no published index in {index_dir} (no CURRENT file)")

    rows = load_rows(limit=args.limit)
    r = Retrievers(index_dir)
    print(f"index {index_dir}: version {r.snapshot.version}, {len(r.snapshot.documents)} documents, "
          f"{len(r.snapshot.chunks)} chunks; {len(rows)} questions ({sum(x['verified'] for x in rows)} verified)")
    r.embed("预热")  # load the model outside the timings

    parts = set(args.parts.split(","))
    figures: dict[str, Any] = {"index": {"version": r.snapshot.version, "documents": len(r.snapshot.documents),
                                         "chunks": len(r.snapshot.chunks)}, "questions": len(rows)}
    if "sets" in parts:
        run_sets(args.models, not args.no_peer, indexes)
        if parts == {"sets"}:
            return
    if "quality" in parts:
        figures["quality"] = run_quality(r, rows, peer=not args.no_peer)
    if "lookups" in parts:
        print("\n== article lookups ==")
        figures["lookup_rank1"] = run_lookups(r, args.lookups if not args.limit else min(args.lookups,
                                                                                          max(25, args.limit)))
        figures["missing_articles"] = run_missing_articles(r, 20 if not args.limit else 5)
    if "api" in parts and not args.no_api:
        print("\n== serving (uvicorn + create_app(settings, ui=False), loopback) ==")
        questions = [row["question"] for row in rows]
        figures["api"] = {r: run_api(index_dir, questions, args.clients, args.seconds, args.max_requests, reranker=r)
                          for r in args.rerankers.split(",")}
    print(f"\n(median question length {statistics.median(len(x['question']) for x in rows):.0f} characters)")
    write_results("retrieval", figures)


def run_sets(models: str, peer: bool, indexes: dict[str, Path]) -> None:
    """The three dev sets, offline over bench/evalcache.py's artefacts: baselines, the 5 folds and the
    pooled held-out figures of the fused ranking, per model (bench/crossval.py), written as JSON.
    The offline fusion is a copy for searching configurations; what the product serves is then
    measured through the served `Retriever` on real indexes of the dev corpora (bench/devindex.py),
    every question, saved as bench/results/retrieval-served.json: the figures to report."""
    from bench.crossval import run
    from bench.evalcache import OUT
    from bench.offline import usable_units

    print("\n== three dev sets, offline (bench/crossval.py over bench/evalcache.py's cache) ==")
    chosen = [m for m in models.split(",") if usable_units("policyqa", [m], OUT)]
    sizes = {c: usable_units(c, chosen, OUT) for c in ("statutes", "policyqa")}
    print(f"models {chosen}; chunks with vectors of every model: {sizes}")
    results = [run(m, OUT, peer, sizes) for m in chosen]
    for m in chosen:
        timing = OUT / f"timing-{m}.json"
        if timing.exists():
            print(f"[{m}] raw encode: {timing.read_text().strip()}")
    print(f"wrote {write_results('retrieval-sets', {'models': results})}")
    missing = [str(p) for p in indexes.values() if not (p / "CURRENT").exists()]
    if missing:
        print(f"served rows skipped: no index at {', '.join(missing)} (python -m bench.devindex statutes|policyqa)")
        return
    from bench.rerank import served

    print("\n== the same three sets through the served Retriever (real indexes; every question) ==")
    served({0, 1, 2, 3, 4}, indexes, ["off"], "retrieval-served")


def run_quality(r: Retrievers, rows: list[dict[str, Any]], peer: bool) -> dict[str, Any]:
    print("\n== retrieval quality (hit = gold document title + gold article in the passage's locator) ==")
    results = {}
    for name, fn in (("hybrid (served)", r.hybrid), ("BM25 alone", r.bm25), ("dense alone", r.dense)):
        ranks, seconds = evaluate(rows, fn)
        results[name] = report_method(name, rows, ranks, seconds)
    if peer:
        peer_search("预热")  # china-law-mcp builds or loads its own BM25 index on first use
        ranks, seconds = evaluate(rows, peer_search)
        results["china-law-mcp"] = report_method("china-law-mcp", rows, ranks, seconds)
    ver = results["hybrid (served)"]["verified"]
    print(f"issue 4 targets (hybrid, verified rows): R@10={ver['R@10']:.3f} (>= {VERIFIED_R10}) "
          f"[{'met' if ver['R@10'] >= VERIFIED_R10 else 'NOT met'}]  MRR@10={ver['MRR@10']:.3f} "
          f"(>= {VERIFIED_MRR10}) [{'met' if ver['MRR@10'] >= VERIFIED_MRR10 else 'NOT met'}]")
    return results


if __name__ == "__main__":
    main()
