"""Several API workers on one Chroma server see a re-index published at the same time."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistant.indexing.service import run_index
from assistant.settings import Settings
from tests.chroma_server import chroma_server, free_port
from tests.lawdb import copy_seed, write_law
from tests.serving import wait_healthy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, embedder: object) -> Iterator[tuple[Settings, list[str]]]:
    root = tmp_path_factory.mktemp("scale")
    corpus = copy_seed(root / "corpus")
    with chroma_server(root / "chroma") as (host, port):
        settings = Settings(corpus_dir=corpus, index_dir=root / "index", data_dir=root / "data",
                            chroma_host=host, chroma_port=port)
        assert run_index(settings).usable
        env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(root / "index"),
               "ASSISTANT_DATA_DIR": str(root / "data"), "ASSISTANT_CHROMA_HOST": host,
               "ASSISTANT_CHROMA_PORT": str(port), "HF_HUB_OFFLINE": "1"}
        workers, urls = [], []
        for _ in range(2):
            worker_port = free_port()
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "assistant.api.app:create_api",
                 "--host", "127.0.0.1", "--port", str(worker_port), "--log-level", "warning"],
                env=env, cwd=ROOT))
            urls.append(f"http://127.0.0.1:{worker_port}")
        try:
            for url, worker in zip(urls, workers, strict=True):
                wait_healthy(url, lambda w=worker: w.poll() is None)
            yield settings, urls
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=20)


def test_workers_answer_from_the_server_and_follow_a_reindex(deployment: tuple[Settings, list[str]]) -> None:
    settings, urls = deployment
    before = {httpx.get(f"{u}/api/health").json()["index_version"] for u in urls}
    assert len(before) == 1
    for url in urls:
        body = httpx.post(f"{url}/api/ask", json={"question": "天津布局建设了多少家概念验证平台？"}, timeout=60).json()
        assert "25" in body["answer"] and body["index_version"] in before

    write_law(settings.corpus_dir, "中华人民共和国促进科技成果转化法", "促进科技成果转化法")
    report = run_index(settings)
    assert report.published and report.count("added") == 1

    for url in urls:
        health = httpx.get(f"{url}/api/health").json()
        assert health["index_version"] == report.version and health["documents"] == 2
        body = httpx.post(f"{url}/api/ask", json={"question": "促进科技成果转化法第十条是怎么规定的？"},
                          timeout=60).json()
        assert body["index_version"] == report.version
        assert body["citations"][0]["document"]["title"] == "中华人民共和国促进科技成果转化法"
