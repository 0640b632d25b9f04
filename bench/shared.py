"""Several API workers on the server backends (Chroma server, PostgreSQL, Redis): start them, load
them, and restart the servers under load. Used by tests/test_shared_workers.py and runnable:

    python -m bench.shared faults [--clients 4] [--seconds 60]
    python -m bench.shared scale [--corpus statutes] [--workers 1,2,4] [--clients 8]

builds the seed index on a Chroma server in a temporary folder, starts PostgreSQL and Redis
(Debian's packages, loopback, tests/state_servers.py) and two workers, and while N clients ask
(new questions and follow-ups) restarts PostgreSQL, then Redis, then kills one worker with SIGKILL
mid-answer and starts it again. Prints answered / 503 / other (target: other 0), the longest
request (target: under the request deadline) and whether every answer logged before each fault is
still in the log and every conversation still continues (target: all).

`scale` builds an index on a fresh Chroma server (the seed, or with --corpus a dev corpus of
bench/devindex.py: `statutes` is the 378 laws, 26 k articles, from bench/evalcache.py's vectors),
serves it from 1, 2, 4 … workers in turn on PostgreSQL and Redis, loads each for --seconds (the
seed: questions and follow-ups; a dev corpus: consult-dev's questions) and prints answered requests
per second and p50 / p95 latency for each worker count in one table.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.helpers import ROOT, copy_seed, free_port, percentile, wait_healthy, write_results

# The seed document's questions and a follow-up each (a follow-up needs the conversation's first turn).
PAIRS = [("全市累计有多少家科技企业孵化器？", "那众创空间呢？"),
         ("天津布局建设了多少家概念验证平台？", "主要集中在哪些领域？"),
         ("天津在中试平台建设方面开展了哪些工作？", "那下一步呢？")]


@dataclass
class Worker:
    url: str
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 300) -> None:
        port = self.url.rsplit(":", 1)[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "assistant.api.app:create_api", "--host", "127.0.0.1",
             "--port", port, "--log-level", "warning", "--timeout-keep-alive", "5"], env=self.env, cwd=ROOT)
        proc = self.proc
        wait_healthy(self.url, lambda: proc.poll() is None, timeout=timeout)
        # Healthy is not warm: the first question loads the question encoder and the indexes (many
        # seconds). A load balancer should send traffic only after this; so do the clients here.
        httpx.post(f"{self.url}/api/ask", json={"question": PAIRS[0][0]}, timeout=timeout)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def workers(n: int, env: dict[str, str], timeout: float = 300) -> Iterator[list[Worker]]:
    """n uvicorn processes of `create_api` on free ports, each its own process (as `--workers n`
    makes them, but addressable one by one)."""
    started = [Worker(f"http://127.0.0.1:{free_port()}", {**os.environ, "HF_HUB_OFFLINE": "1", **env})
               for _ in range(n)]
    try:
        for worker in started:  # one at a time: model loading on few cores
            worker.start(timeout)
        yield started
    finally:
        for worker in started:
            worker.stop()


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # of answered requests
    longest: float = 0.0
    answers: list[int] = field(default_factory=list)  # answer ids given (committed to the log)
    conversations: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)  # requests over 5 s: when, where, what
    lock: threading.Lock = field(default_factory=threading.Lock)
    began: float = field(default_factory=time.monotonic)

    def add(self, outcome: str, elapsed: float, body: dict[str, object] | None, where: str = "") -> None:
        with self.lock:
            self.counts[outcome] += 1
            self.longest = max(self.longest, elapsed)
            if elapsed > 5:
                self.slow.append(f"at {time.monotonic() - elapsed - self.began:.1f} s: {elapsed:.1f} s, "
                                 f"{outcome[:40]}, {where}")
            if outcome == "answered" and body is not None:
                self.latencies.append(elapsed)
                if isinstance(body.get("answer_id"), int):
                    self.answers.append(int(body["answer_id"]))  # type: ignore[arg-type]
                self.conversations.append(str(body["conversation_id"]))


def _outcome(response: httpx.Response) -> str:
    if response.status_code == 200:
        return "answered"
    if response.status_code == 503 and response.headers.get("retry-after"):
        return "503"
    return f"other {response.status_code}: {response.text[:80]}"


def hammer(urls: Callable[[], list[str]], clients: int, seconds: float, deadline: float = 60.0,
           headers: Callable[[int], dict[str, str]] | None = None,
           rounds: Sequence[Sequence[str]] = PAIRS) -> Tally:
    """`clients` threads for `seconds`: each asks a round's questions in one conversation (a first
    question and its follow-up), each on the next worker, round after round. `urls` is read before
    each request (a worker may be away); `headers(round)` adds headers to a round's requests."""
    tally = Tally()
    stop_at = time.monotonic() + seconds

    def client(i: int) -> None:
        n = i
        with httpx.Client(timeout=deadline + 10) as http:
            while time.monotonic() < stop_at:
                conversation = None
                for step, question in enumerate(rounds[n % len(rounds)]):
                    live = urls()
                    url = live[(n + step) % len(live)]
                    started = time.monotonic()
                    try:
                        r = http.post(f"{url}/api/ask", json={"question": question, "conversation_id": conversation},
                                      headers=headers(n) if headers else None)
                        outcome, body = _outcome(r), (r.json() if r.status_code == 200 else None)
                    except httpx.HTTPError as err:  # a worker killed mid-answer takes its requests with it
                        lost = url not in urls()
                        outcome, body = ("lost with a killed worker" if lost else f"other {type(err).__name__}"), None
                    tally.add(outcome, time.monotonic() - started, body, f"{url} {question}")
                    if body is None:
                        time.sleep(0.5)  # Retry-After, shortened: the outage is what is measured
                        break
                    conversation = str(body["conversation_id"])
                n += clients

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 2 * deadline + 30)
    return tally


def summary(tally: Tally, seconds: float) -> str:
    other = sum(v for k, v in tally.counts.items() if k.startswith("other"))
    p50 = percentile(tally.latencies, 0.5) * 1000 if tally.latencies else 0.0
    p95 = percentile(tally.latencies, 0.95) * 1000 if tally.latencies else 0.0
    lost = tally.counts["lost with a killed worker"]
    return (f"answered {tally.counts['answered']}  503 {tally.counts['503']}  other {other}  "
            f"in flight on the killed worker {lost}  "
            f"({tally.counts['answered'] / seconds:.1f} answered/s, p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
            f"longest request {tally.longest:.1f} s)")


# --- python -m bench.shared faults -----------------------------------------------------------------

def faults(clients: int, seconds: float) -> None:
    from assistant.indexing.service import run_index
    from assistant.review.postgres import PostgresLog
    from assistant.settings import Settings
    from tests.chroma_server import chroma_server
    from tests.state_servers import postgres_server, redis_server

    with tempfile.TemporaryDirectory(prefix="bench-shared-") as tmp, postgres_server() as pg, \
            redis_server(Path(tmp)) as redis, chroma_server(Path(tmp) / "chroma") as (host, port):
        root = Path(tmp)
        corpus = copy_seed(root / "corpus")
        database = pg.new_database()
        settings = Settings(corpus_dir=corpus, index_dir=root / "index", data_dir=root / "data",
                            chroma_host=host, chroma_port=port)
        assert run_index(settings).usable
        env = {"ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(root / "index"),
               "ASSISTANT_DATA_DIR": str(root / "data"), "ASSISTANT_CHROMA_HOST": host,
               "ASSISTANT_CHROMA_PORT": str(port), "ASSISTANT_DATABASE_URL": database,
               "ASSISTANT_REDIS_URL": redis.url, "ASSISTANT_RATE_LIMIT_QUESTIONS": ""}
        with workers(2, env) as pool:
            up = [w.url for w in pool]
            events: list[str] = []

            def faults_meanwhile() -> None:
                def at(share: float) -> None:
                    time.sleep(max(0.0, started + seconds * share - time.monotonic()))

                at(0.2)
                pg.restart()
                events.append(f"PostgreSQL restarted at {time.monotonic() - started:.0f} s")
                at(0.45)
                redis.restart()
                events.append(f"Redis restarted at {time.monotonic() - started:.0f} s")
                at(0.7)
                up.remove(pool[1].url)  # the clients stop sending to it; requests in flight die with it
                pool[1].kill()
                events.append(f"worker 2 killed (SIGKILL) at {time.monotonic() - started:.0f} s")
                pool[1].start()
                up.append(pool[1].url)
                events.append(f"worker 2 started again at {time.monotonic() - started:.0f} s")

            started = time.monotonic()
            chaos = threading.Thread(target=faults_meanwhile)
            chaos.start()
            tally = hammer(lambda: list(up), clients, seconds)
            chaos.join()
            log = PostgresLog(database)
            kept = log.scalar("SELECT COUNT(*) FROM answers WHERE id = ANY(:ids)", {"ids": tally.answers})
            continued = 0
            sample = tally.conversations[:: max(1, len(tally.conversations) // 20)][:20]
            for i, cid in enumerate(sample):
                r = httpx.post(f"{pool[i % 2].url}/api/ask", json={"question": "那下一步呢？", "conversation_id": cid},
                               timeout=60)
                continued += r.status_code == 200
            log.close()
        print(f"{clients} clients, {seconds:.0f} s, 2 workers: {'; '.join(events)}")
        print(summary(tally, seconds))
        for outcome, n in sorted(tally.counts.items()):
            if outcome not in ("answered", "503"):
                print(f"  {n} × {outcome}")
        for line in tally.slow:
            print(f"  slow: {line}")
        print(f"answers logged before or during the faults still in the log: {kept} of {len(tally.answers)}; "
              f"answered without being logged (PostgreSQL away): {tally.counts['answered'] - len(tally.answers)}")
        print(f"conversations (sample) that still continue: {continued} of {len(sample)}")
        write_results("shared-faults", {"clients": clients, "seconds": seconds, "events": events,
                                        "counts": dict(tally.counts), "longest_s": tally.longest,
                                        "answered_per_s": tally.counts["answered"] / seconds,
                                        "p50_ms": percentile(tally.latencies, 0.5) * 1000 if tally.latencies else None,
                                        "p95_ms": percentile(tally.latencies, 0.95) * 1000 if tally.latencies else None,
                                        "answers_kept": kept, "answers": len(tally.answers),
                                        "conversations_continued": continued, "sampled": len(sample)})


# --- python -m bench.shared scale ------------------------------------------------------------------

def scale(corpus: str | None, counts: list[int], clients: int, seconds: float) -> None:
    import json

    from assistant.indexing.service import run_index
    from assistant.settings import Settings
    from bench import devindex
    from bench.helpers import EVAL
    from tests.chroma_server import chroma_server
    from tests.state_servers import postgres_server, redis_server

    dev = EVAL / "consult-dev.jsonl"
    rounds: Sequence[Sequence[str]] = PAIRS
    if corpus is not None:
        rounds = [(json.loads(line)["question"],) for line in dev.read_text(encoding="utf-8").splitlines() if line]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, postgres_server() as pg, \
            redis_server(Path(tmp)) as redis, chroma_server(Path(tmp) / "chroma") as (host, port):
        root = Path(tmp)
        if corpus is None:
            index, folder = root / "index", copy_seed(root / "corpus")
            assert run_index(Settings(corpus_dir=folder, index_dir=index, data_dir=root / "data",
                                      chroma_host=host, chroma_port=port)).usable
        else:
            index = devindex.build(corpus, root / "dev", chroma_host=host, chroma_port=port)
            folder = devindex.corpus_folder(corpus, root / "dev")
        env = {"ASSISTANT_DATABASE_URL": pg.new_database(), "ASSISTANT_REDIS_URL": redis.url,
               "ASSISTANT_RATE_LIMIT_QUESTIONS": "", "ASSISTANT_DATA_DIR": str(root / "data"),
               "ASSISTANT_CHROMA_HOST": host, "ASSISTANT_CHROMA_PORT": str(port), "ASSISTANT_INDEX_DIR": str(index),
               "ASSISTANT_CORPUS_DIR": str(folder)}
        rows = []
        for n in counts:
            with workers(n, env) as pool:
                urls = [w.url for w in pool]
                tally = hammer(lambda: urls, clients, seconds, rounds=rounds)  # noqa: B023 (called at once)
            answered = tally.counts["answered"]
            rows.append({"workers": n, "answered_per_s": answered / seconds,
                         "p50_ms": percentile(tally.latencies, 0.5) * 1000 if tally.latencies else None,
                         "p95_ms": percentile(tally.latencies, 0.95) * 1000 if tally.latencies else None,
                         "counts": dict(tally.counts)})
            print(f"{n} workers: {summary(tally, seconds)}", flush=True)
    print(f"\n{clients} clients, {seconds:.0f} s each, {os.cpu_count()} CPUs, index: {corpus or 'the seed'}")
    print("workers  answered/s  p50 ms  p95 ms")
    for row in rows:
        print(f"{row['workers']:7d}  {row['answered_per_s']:10.1f}  {row['p50_ms'] or 0:6.0f}  {row['p95_ms'] or 0:6.0f}")
    write_results("shared-scale", {"clients": clients, "seconds": seconds, "corpus": corpus or "seed",
                                   "cpus": os.cpu_count(), "rows": rows})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["faults", "scale"])
    parser.add_argument("--clients", type=int, default=None, help="default: 4 (faults), 8 (scale)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--corpus", default=None, choices=["statutes", "policyqa"],
                        help="scale: a dev corpus (bench/devindex.py) instead of the seed")
    parser.add_argument("--workers", default="1,2,4", help="scale: worker counts, comma-separated")
    args = parser.parse_args()
    if args.what == "faults":
        faults(args.clients or 4, args.seconds)
    else:
        scale(args.corpus, [int(n) for n in args.workers.split(",")], args.clients or 8, args.seconds)


if __name__ == "__main__":
    main()
