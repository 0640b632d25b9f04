"""Maintainers add policy files over HTTP; nobody else can, and hostile uploads are refused."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.indexing.service import run_index
from assistant.review.auth import hash_token
from assistant.settings import Settings
from tests.lawdb import copy_seed

SYNTHETIC = ("关于测试上传功能的通知（测试用合成文本，不是真实政策）\n"
             "第一条 为了验证上传，本合成文件说明：试点企业可以申请示范补助。\n").encode()
MAINTAINER = {"Authorization": "Bearer maintainer-secret"}
LIAISON = {"Authorization": "Bearer liaison-secret"}


@pytest.fixture
def client(tmp_path: Path, embedder: object) -> TestClient:
    corpus = copy_seed(tmp_path / "corpus")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", data_dir=tmp_path / "data",
                        maintainer_tokens=[f"ops:{hash_token('maintainer-secret')}"],
                        liaison_tokens=[f"wang:{hash_token('liaison-secret')}"],
                        max_upload_bytes=64 * 1024, upload_parse_seconds=15)
    run_index(settings)
    return TestClient(create_app(settings, ui=False))


def upload(client: TestClient, name: str, data: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post("/api/index/documents", files={"file": (name, data, "application/octet-stream")},
                       headers=headers or {})


def test_only_maintainers_may_upload(client: TestClient) -> None:
    assert upload(client, "a.txt", SYNTHETIC).status_code == 401
    assert upload(client, "a.txt", SYNTHETIC, {"Authorization": "Bearer wrong"}).status_code == 401
    assert upload(client, "a.txt", SYNTHETIC, LIAISON).status_code == 403


def test_upload_then_reindex_makes_it_answerable(client: TestClient) -> None:
    response = upload(client, "测试上传.txt", SYNTHETIC, MAINTAINER)
    assert response.status_code == 201, response.text
    assert response.json()["title"].startswith("关于测试上传功能的通知")
    assert client.post("/api/index/reindex", headers=MAINTAINER).status_code in (200, 202)
    deadline = time.time() + 120
    while (status := client.get("/api/index/reindex", headers=MAINTAINER).json())["state"] == "running":
        assert time.time() < deadline
        time.sleep(0.2)
    assert status["state"] == "done", status
    found = client.get("/api/search", params={"q": "试点企业 示范补助", "k": 1}).json()["passages"]
    assert found[0]["document"]["source"] == "测试上传.txt"


@pytest.mark.parametrize(("name", "data", "status"), [
    ("../../escape.txt", SYNTHETIC, 400),
    ("sub/dir.txt", SYNTHETIC, 400),
    ("x.exe", SYNTHETIC, 400),
    ("fake.pdf", SYNTHETIC, 400),
    ("fake.txt", b"%PDF-1.7\n" + bytes(range(256)) * 8, 400),
    ("big.txt", SYNTHETIC * 2000, 413),
])
def test_hostile_uploads_are_refused_and_nothing_is_written(client: TestClient, tmp_path: Path, name: str,
                                                           data: bytes, status: int) -> None:
    before = sorted(p.name for p in (tmp_path / "corpus").iterdir())
    response = upload(client, name, data, MAINTAINER)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == before
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path.parent / "escape.txt").exists()
