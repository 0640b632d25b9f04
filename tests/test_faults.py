"""Faults: queries during a re-index, a full or read-only disk, backpressure under load."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistant.api.app import create_app
from assistant.errors import IndexWriteError
from assistant.indexing.service import run_index
from assistant.indexing.snapshot import LiveIndex
from assistant.indexing.versions import VersionStore
from assistant.service import Assistant
from assistant.settings import Settings
from tests.lawdb import copy_seed, write_law
from tests.serving import serve_in_thread


def test_queries_during_a_reindex_see_one_whole_version(tmp_path: Path, embedder: object) -> None:
    corpus = tmp_path / "corpus"
    copy_seed(corpus)
    write_law(corpus, "中华人民共和国促进科技成果转化法", "转化法")
    write_law(corpus, "中华人民共和国科学技术普及法", "科普法")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", data_dir=tmp_path / "data")
    old = run_index(settings)
    assistant = Assistant(settings, LiveIndex(settings, embedder=embedder))  # type: ignore[arg-type]
    versions = VersionStore(settings.index_dir)
    questions = ["天津布局建设了多少家概念验证平台？", "科学技术普及法第十条是怎么规定的？",
                 "促进科技成果转化法第十条是怎么规定的？", "科技成果转化 财政资金", "中试平台 下一步"]
    stop = threading.Event()
    seen: list[tuple[str, set[str]]] = []
    errors: list[BaseException] = []

    def client(i: int) -> None:
        n = 0
        while not stop.is_set():
            try:
                response = assistant.ask(questions[(i + n) % len(questions)])
                seen.append((response.index_version, {c.document.source for c in response.citations}))
            except BaseException as err:  # any error fails the test
                errors.append(err)
                return
            n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    # add, change and remove in one re-index
    write_law(corpus, "中华人民共和国中小企业促进法", "中小企业促进法")
    changed = (corpus / "转化法.txt").read_text(encoding="utf-8").split("\n")
    (corpus / "转化法.txt").write_text("\n".join(changed[: len(changed) // 2]) + "\n", encoding="utf-8")
    (corpus / "科普法.txt").unlink()
    (corpus / "科普法.meta.yaml").unlink()
    new = run_index(settings)
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:3]
    assert new.published and new.version != old.version
    sources = {v: set(versions.manifest(v)["documents"]) for v in (old.version, new.version) if v}
    versions_seen = {v for v, _ in seen}
    assert versions_seen <= set(sources) and new.version in versions_seen
    for version, cited in seen:
        assert cited <= sources[version], (version, cited)  # never a passage of the other version
    after = [cited for version, cited in seen if version == new.version]
    assert all("科普法.txt" not in cited for cited in after)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3M", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs (CI runs as root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_and_read_only_leave_the_live_version(tmp_path: Path, small_disk: Path,
                                                        embedder: object) -> None:
    corpus = tmp_path / "corpus"
    copy_seed(corpus)
    settings = Settings(corpus_dir=corpus, index_dir=small_disk / "index", data_dir=tmp_path / "data")
    first = run_index(settings)
    assert first.usable
    # Fill the disk, then ask for a bigger version.
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - 64 * 1024))
    write_law(corpus, "中华人民共和国促进科技成果转化法", "转化法")
    with pytest.raises(IndexWriteError, match="live version is untouched"):
        run_index(settings)
    versions = VersionStore(settings.index_dir)
    assert versions.current_version() == first.version
    assistant = Assistant(settings, LiveIndex(settings, embedder=embedder))  # type: ignore[arg-type]
    assert "25" in assistant.ask("天津布局建设了多少家概念验证平台？").answer
    # Read-only: the same index seen through a read-only bind mount: a clear error, nothing changed.
    read_only = tmp_path / "ro"
    read_only.mkdir()
    subprocess.run(["mount", "--bind", str(settings.index_dir), str(read_only)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(read_only)], check=True)
        with pytest.raises(IndexWriteError, match="cannot write"):
            run_index(Settings(corpus_dir=corpus, index_dir=read_only, data_dir=tmp_path / "data"))
    finally:
        subprocess.run(["umount", "-l", str(read_only)], check=False)
    assert versions.current_version() == first.version


def test_backpressure_answers_503_with_retry_after(tmp_path: Path, embedder: object) -> None:
    corpus = tmp_path / "corpus"
    copy_seed(corpus)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", data_dir=tmp_path / "data",
                        max_concurrent_requests=2, rate_limit_questions="")  # one address: no rate limit here
    run_index(settings)
    assistant = Assistant(settings, LiveIndex(settings, embedder=embedder))  # type: ignore[arg-type]
    statuses: list[int] = []
    retry_after: list[str | None] = []

    def hit() -> None:
        with httpx.Client(timeout=60) as http:
            for _ in range(6):
                r = http.post(f"{base}/api/ask", json={"question": "中试平台建设有哪些安排？"})
                statuses.append(r.status_code)
                if r.status_code == 503:
                    retry_after.append(r.headers.get("retry-after"))

    with serve_in_thread(create_app(settings, assistant, ui=False)) as url:
        base = url.rstrip("/")
        workers = [threading.Thread(target=hit) for _ in range(12)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    assert set(statuses) <= {200, 503}
    assert 200 in statuses and 503 in statuses
    assert retry_after and all(v and v.isdigit() for v in retry_after)
