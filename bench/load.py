"""Sustained load on /api/ask: N concurrent clients for T seconds against a real server on loopback.

    python -m bench.load --index bench/.cache/statutes-index --clients 32 --seconds 60

Prints status counts (no 5xx other than 503-with-Retry-After is allowed), latency percentiles,
requests per second and the server's peak RSS. Traffic goes to 127.0.0.1 only; every loop is
bounded in time and count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil

from bench.helpers import CACHE, ROOT, free_port, percentile, wait_healthy, write_results
from bench.helpers import EVAL as EVAL_DIR

EVAL = EVAL_DIR / "consult-dev.jsonl"




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=CACHE / "statutes-index")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-concurrent", type=int, default=16, help="server's ASSISTANT_MAX_CONCURRENT_REQUESTS")
    args = parser.parse_args()

    questions = [json.loads(line)["question"] for line in EVAL.read_text(encoding="utf-8").splitlines() if line]
    port = free_port()
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(args.index), "HF_HUB_OFFLINE": "1", "ASSISTANT_REVIEW_LOG": "false",
           "ASSISTANT_MAX_CONCURRENT_REQUESTS": str(args.max_concurrent),
           "ASSISTANT_RATE_LIMIT_QUESTIONS": ""}  # every client is this machine: measure capacity, not the limit
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "assistant.api.app:create_api",
                               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                              env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    proc = psutil.Process(server.pid)
    peak_rss = 0
    try:
        wait_healthy(base, lambda: server.poll() is None, timeout=300)
        httpx.post(f"{base}/api/ask", json={"question": questions[0]}, timeout=60)  # warm up

        statuses: Counter[int] = Counter()
        latencies: list[float] = []
        missing_retry_after = 0
        lock = threading.Lock()
        stop_at = time.time() + args.seconds

        def client(i: int) -> None:
            nonlocal missing_retry_after
            with httpx.Client(timeout=30) as http:
                n = i
                while time.time() < stop_at and n < i + 100000:
                    t0 = time.perf_counter()
                    try:
                        r = http.post(f"{base}/api/ask", json={"question": questions[n % len(questions)]})
                        code = r.status_code
                        if code == 503 and not r.headers.get("retry-after"):
                            with lock:
                                missing_retry_after += 1
                        if code == 503:
                            time.sleep(float(r.headers.get("retry-after", "1")) / 4)
                    except httpx.HTTPError:
                        code = -1
                    elapsed = time.perf_counter() - t0
                    with lock:
                        statuses[code] += 1
                        if code == 200:
                            latencies.append(elapsed)
                    n += args.clients

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        started = time.time()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            try:
                peak_rss = max(peak_rss, proc.memory_info().rss)
            except psutil.Error:
                break
            time.sleep(0.2)
        duration = time.time() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    total = sum(statuses.values())
    five_xx = sum(v for k, v in statuses.items() if k >= 500 and k != 503)
    print(f"clients={args.clients} seconds={duration:.1f} requests={total} statuses={dict(statuses)}")
    print(f"answered/s={statuses[200] / duration:.1f}  requests/s={total / duration:.1f}")
    if latencies:
        print(f"latency of 200s: p50={percentile(latencies, 0.5) * 1000:.0f} ms  "
              f"p95={percentile(latencies, 0.95) * 1000:.0f} ms  p99={percentile(latencies, 0.99) * 1000:.0f} ms  "
              f"mean={statistics.mean(latencies) * 1000:.0f} ms")
    print(f"5xx other than 503: {five_xx} (target 0)   503 without Retry-After: {missing_retry_after} (target 0)")
    print(f"connection errors: {statuses.get(-1, 0)}   server peak RSS: {peak_rss / 2**20:.0f} MiB (target < 2048)")
    write_results("load", {
        "clients": args.clients, "seconds": duration, "statuses": dict(statuses),
        "answered_per_s": statuses[200] / duration, "p50_ms": percentile(latencies, 0.5) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
        "other_5xx": five_xx, "missing_retry_after": missing_retry_after, "peak_rss_mib": peak_rss / 2**20,
    })


if __name__ == "__main__":
    main()
