"""Damaged index files: checksums in the manifest, refused with a clear 503, recovered without a restart."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from assistant.api.app import create_app
from assistant.cli import app as cli_app
from assistant.errors import IndexDamagedError
from assistant.indexing import integrity
from assistant.indexing.service import run_index
from assistant.indexing.snapshot import LiveIndex, backend_for
from assistant.indexing.versions import VersionStore
from assistant.settings import Settings

QUESTION = "天津布局建设了多少家概念验证平台？"


@pytest.fixture
def index_copy(seed_index: Settings, tmp_path: Path) -> Settings:
    """A private copy of the session's seed index (these tests damage it)."""
    root = tmp_path / "srv"
    shutil.copytree(seed_index.index_dir, root / "index")
    shutil.copytree(seed_index.corpus_dir, root / "corpus")
    return Settings(corpus_dir=root / "corpus", index_dir=root / "index", data_dir=root / "data")


def live_folder(settings: Settings) -> tuple[str, Path]:
    versions = VersionStore(settings.index_dir)
    version = versions.current_version()
    assert version
    return version, versions.path(version)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xff garbage \x13\x37" * 200)


def short(path: Path) -> None:
    """Cut to its first 3 lines: still valid JSON lines, just too few."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) > 3
    path.write_text("".join(lines[:3]), encoding="utf-8")


DAMAGE: dict[str, Callable[[Path], None]] = {"truncated": truncate, "emptied": empty, "garbage": garbage,
                                             "short": short}


def test_every_published_version_carries_checksums_of_its_files(index_copy: Settings) -> None:
    _, folder = live_folder(index_copy)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    files = manifest["integrity"]["files"]
    assert {"chunks.jsonl", "centroids.npz"} <= set(files)
    assert any(name.startswith("bm25/") for name in files)
    assert all(len(entry["sha256"]) == 64 and entry["bytes"] > 0 for entry in files.values())
    assert manifest["integrity"]["manifest_sha256"] == integrity.manifest_digest(manifest)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_chunks_are_refused_with_a_503_and_recovered_by_restoring_the_file(
        index_copy: Settings, damage: str) -> None:
    version, folder = live_folder(index_copy)
    chunks = folder / "chunks.jsonl"
    original = chunks.read_bytes()
    DAMAGE[damage](chunks)
    client = TestClient(create_app(index_copy, ui=False))

    health = client.get("/api/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"
    reason = health.json()["reason"]
    assert f"index version {version} is damaged: chunks.jsonl" in reason
    asked = client.post("/api/ask", json={"question": QUESTION})
    assert asked.status_code == 503
    assert asked.json()["detail"] == reason
    for text in (health.text, asked.text):
        assert str(index_copy.index_dir) not in text and "/tmp" not in text

    chunks.write_bytes(original)  # restored: served again, no restart
    assert client.get("/api/health").json()["status"] == "ok"
    answer = client.post("/api/ask", json={"question": QUESTION})
    assert answer.status_code == 200 and "25家" in answer.json()["answer"]


def test_the_server_starts_with_a_damaged_index_and_reindexing_recovers(index_copy: Settings) -> None:
    _, folder = live_folder(index_copy)
    short(folder / "chunks.jsonl")
    client = TestClient(create_app(index_copy))  # with the Gradio UI, which reads the index at start
    assert client.get("/").status_code == 200
    assert client.get("/api/health").status_code == 503

    report = run_index(index_copy)  # the corpus is unchanged, but the damaged version is no base
    assert report.published and report.damaged and "chunks.jsonl" in report.damaged
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["index_version"] == report.version
    assert health["chunks"] == report.chunks
    assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200


def test_damage_to_other_files_is_named(index_copy: Settings) -> None:
    version, folder = live_folder(index_copy)
    live = LiveIndex(index_copy)
    bm25 = sorted((folder / "bm25").iterdir())[0]
    original = bm25.read_bytes()
    bm25.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # one bit flipped, same size
    with pytest.raises(IndexDamagedError, match=f"{version} is damaged: bm25/{bm25.name} checksum mismatch"):
        live.snapshot()
    bm25.write_bytes(original)

    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    source = next(iter(manifest["documents"]))
    manifest["documents"][source]["meta"]["title"] = "被改动的标题"
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(IndexDamagedError, match=r"manifest\.json checksum mismatch"):
        live.snapshot()
    manifest_path.write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexDamagedError, match=r"manifest\.json is unreadable"):
        live.snapshot()


def test_a_vector_store_that_lost_vectors_is_refused(index_copy: Settings) -> None:
    version, _ = live_folder(index_copy)
    store = backend_for(index_copy).open(version)
    chunk_id = store.as_langchain().get(limit=1)["ids"][0]
    total = store.count()
    store.delete([chunk_id])
    with pytest.raises(IndexDamagedError, match=f"holds {total - 1} vectors for {total} chunks"):
        LiveIndex(index_copy).snapshot()


def test_files_are_hashed_once_per_change_not_per_request(index_copy: Settings,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[str] = []
    real = integrity._sha256
    monkeypatch.setattr(integrity, "_sha256", lambda path: hashed.append(path.name) or real(path))
    live = LiveIndex(index_copy)
    first = live.snapshot()
    count = len(hashed)
    assert count > 0
    for _ in range(20):
        assert live.snapshot() is first
    assert len(hashed) == count

    _, folder = live_folder(index_copy)
    chunks = folder / "chunks.jsonl"
    data = bytearray(chunks.read_bytes())
    data[len(data) // 2] ^= 1  # same size: only the checksum can tell
    chunks.write_bytes(bytes(data))
    for _ in range(20):
        with pytest.raises(IndexDamagedError):
            live.snapshot()
    assert hashed.count("chunks.jsonl") == 2  # once when loaded, once after the change


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def test_cli_verify(index_copy: Settings) -> None:
    version, folder = live_folder(index_copy)
    code, out = cli("index", "--verify", "--index", str(index_copy.index_dir))
    assert code == 0, out
    assert f"{version} is intact" in out
    truncate(folder / "chunks.jsonl")
    code, out = cli("index", "--verify", "--index", str(index_copy.index_dir))
    assert code == IndexDamagedError.exit_code != 0
    assert f"index version {version} is damaged: chunks.jsonl" in " ".join(out.split())


def test_current_naming_a_missing_version_is_unhealthy_not_no_index(index_copy: Settings, tmp_path: Path) -> None:
    versions = VersionStore(index_copy.index_dir)
    live = versions.current_version()
    versions.publish("v09999", live)  # a pointer to a folder that is not there (deleted, half-restored)
    client = TestClient(create_app(index_copy, ui=False))
    health = client.get("/api/health")
    assert health.status_code == 503 and health.json()["status"] == "unhealthy", health.text
    reason = health.json()["reason"]
    assert health.json()["index_version"] == "v09999"
    assert "index version v09999 is damaged: the pointer CURRENT names it but its folder is missing" in reason
    assert "assistant index" in reason and str(index_copy.index_dir) not in reason
    asked = client.post("/api/ask", json={"question": QUESTION})
    assert asked.status_code == 503 and asked.json()["detail"] == reason
    out = CliRunner().invoke(cli_app, ["index", "--verify", "--index", str(index_copy.index_dir)])
    assert out.exit_code == IndexDamagedError.exit_code, out.output

    report = run_index(index_copy)  # re-indexing repairs it, from the corpus
    assert report.published and report.damaged and "v09999" in report.damaged
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200

    fresh = index_copy.model_copy(update={"index_dir": tmp_path / "empty-index", "data_dir": tmp_path / "d"})
    nothing = TestClient(create_app(fresh, ui=False)).get("/api/health")  # no CURRENT at all: a fresh install
    assert nothing.status_code == 200 and nothing.json()["status"] == "no index"
