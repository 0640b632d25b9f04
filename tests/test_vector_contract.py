"""One contract for every vector backend: embedded Chroma and a real `chroma run` server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document

from assistant.store.vector import EmbeddedChroma, ServerChroma, VectorBackend
from tests.chroma_server import chroma_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with chroma_server(tmp_path_factory.mktemp("chroma-server") / "data") as address:
        yield address


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> VectorBackend:
    if request.param == "embedded":
        return EmbeddedChroma(tmp_path / "versions")
    host, port = request.getfixturevalue("server")
    return ServerChroma(host, port, prefix=f"t{abs(hash(tmp_path)) % 10**8}")


def docs(n: int, start: int = 0) -> tuple[list[Document], np.ndarray]:
    rng = np.random.default_rng(start)
    vectors = rng.normal(size=(n, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = [Document(page_content=f"（测试用合成文本）段落{i}", metadata={"chunk_id": f"c{i}", "source": "s.txt"})
             for i in range(start, start + n)]
    return items, vectors


class TestVectorBackendContract:
    def test_add_query_count(self, backend: VectorBackend) -> None:
        store = backend.fork(None, "v00001")
        items, vectors = docs(20)
        store.add(items, vectors)
        assert store.count() == 20
        hits = store.query(vectors[7], 3)
        assert hits[0][0] == "c7" and hits[0][1] == pytest.approx(1.0, abs=1e-4)
        assert len(hits) == 3

    def test_fork_copies_and_isolates(self, backend: VectorBackend) -> None:
        base = backend.fork(None, "v00001")
        items, vectors = docs(10)
        base.add(items, vectors)
        child = backend.fork("v00001", "v00002")
        assert child.count() == 10
        child.delete(["c0", "c1"])
        more, more_vectors = docs(3, start=100)
        child.add(more, more_vectors)
        assert child.count() == 11
        assert backend.open("v00001").count() == 10  # the live version is untouched
        assert child.query(more_vectors[0], 1)[0][0] == "c100"
        assert all(cid not in ("c0", "c1") for cid, _ in child.query(vectors[0], 11))

    def test_drop(self, backend: VectorBackend) -> None:
        store = backend.fork(None, "v00003")
        items, vectors = docs(5)
        store.add(items, vectors)
        assert backend.exists("v00003")
        backend.drop("v00003")
        assert not backend.exists("v00003")

    def test_empty_store_query(self, backend: VectorBackend) -> None:
        assert backend.fork(None, "v00004").query(np.ones(16, dtype=np.float32), 5) == []
