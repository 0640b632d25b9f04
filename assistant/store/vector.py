"""Vector side: Chroma through langchain-chroma, one store per published index version.

Two backends share one contract: embedded Chroma (a `PersistentClient` folder per version, forked
by copying the folder) and a Chroma server (a collection per version, forked by copying vectors).
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

COLLECTION = "policy_chunks"
_BATCH = 2000


class VectorStore(Protocol):
    """One version's vectors."""

    def add(self, documents: list[Document], vectors: np.ndarray) -> None: ...
    def delete(self, ids: list[str]) -> None: ...
    def update_metadata(self, documents: list[Document]) -> None: ...
    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]: ...
    def count(self) -> int: ...
    def as_langchain(self) -> Chroma: ...


class VectorBackend(Protocol):
    """Creates, forks and drops the per-version stores."""

    def open(self, version: str) -> VectorStore: ...
    def fork(self, base: str | None, version: str) -> VectorStore: ...
    def drop(self, version: str) -> None: ...
    def exists(self, version: str) -> bool: ...


def _metadata(doc: Document) -> dict[str, Any]:
    return {k: v for k, v in doc.metadata.items() if isinstance(v, str | int | float | bool)}


class ChromaVectorStore:
    def __init__(self, client: Any, name: str, embeddings: Embeddings | None) -> None:
        self._store = Chroma(
            client=client,
            collection_name=name,
            embedding_function=embeddings,
            collection_metadata={"hnsw:space": "cosine"},
        )
        self._collection = self._store._collection
        self._count: int | None = None  # kept: Chroma's count costs ~6 ms, and a query needs it

    def add(self, documents: list[Document], vectors: np.ndarray) -> None:
        self._count = None
        for i in range(0, len(documents), _BATCH):
            batch = documents[i : i + _BATCH]
            self._collection.upsert(
                ids=[d.metadata["chunk_id"] for d in batch],
                embeddings=np.asarray(vectors[i : i + _BATCH], dtype=np.float32),
                documents=[d.page_content for d in batch],
                metadatas=[_metadata(d) for d in batch],
            )

    def delete(self, ids: list[str]) -> None:
        self._count = None
        for i in range(0, len(ids), _BATCH):
            self._collection.delete(ids=ids[i : i + _BATCH])

    def update_metadata(self, documents: list[Document]) -> None:
        """Replace the stored metadata of existing chunks (vectors and texts stay)."""
        for i in range(0, len(documents), _BATCH):
            batch = documents[i : i + _BATCH]
            self._collection.update(ids=[d.metadata["chunk_id"] for d in batch],
                                    metadatas=[_metadata(d) for d in batch])

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        stored = self.count()
        if k <= 0 or stored == 0:
            return []
        result = self._collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],  # type: ignore[arg-type]
            n_results=min(k, stored),
            include=["distances"],
        )
        ids = result["ids"][0]
        distances = (result.get("distances") or [[1.0] * len(ids)])[0]
        return [(cid, 1.0 - float(dist)) for cid, dist in zip(ids, distances, strict=False)]

    def count(self) -> int:
        if self._count is None:
            self._count = int(self._collection.count())
        return self._count

    def all_vectors(self) -> tuple[list[str], np.ndarray, list[str], list[dict[str, Any]]]:
        data = self._collection.get(include=["embeddings", "documents", "metadatas"])
        vectors = np.asarray(data["embeddings"], dtype=np.float32) if len(data["ids"]) else np.zeros((0, 0))
        return data["ids"], vectors, list(data["documents"] or []), list(data["metadatas"] or [])  # type: ignore[arg-type]

    def as_langchain(self) -> Chroma:
        return self._store


class EmbeddedChroma:
    """`PersistentClient` folders under `<index>/versions/<version>/chroma`."""

    def __init__(self, versions_dir: Path, embeddings: Embeddings | None = None) -> None:
        self.versions_dir = versions_dir
        self.embeddings = embeddings
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _path(self, version: str) -> Path:
        return self.versions_dir / version / "chroma"

    def _client(self, version: str) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        with self._lock:
            if version not in self._clients:
                path = self._path(version)
                path.mkdir(parents=True, exist_ok=True)
                self._clients[version] = chromadb.PersistentClient(
                    path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
                )
            return self._clients[version]

    def open(self, version: str) -> ChromaVectorStore:
        return ChromaVectorStore(self._client(version), COLLECTION, self.embeddings)

    def fork(self, base: str | None, version: str) -> ChromaVectorStore:
        target = self._path(version)
        if target.exists():
            shutil.rmtree(target)
        if base is not None and self._path(base).exists():
            shutil.copytree(self._path(base), target)
        return self.open(version)

    def drop(self, version: str) -> None:
        with self._lock:
            self._clients.pop(version, None)
        shutil.rmtree(self._path(version), ignore_errors=True)

    def exists(self, version: str) -> bool:
        return (self._path(version) / "chroma.sqlite3").exists()


class ServerChroma:
    """A Chroma server (`chroma run`): one collection per version, named `<prefix>_<version>`."""

    def __init__(self, host: str, port: int, token: str | None = None, embeddings: Embeddings | None = None,
                 prefix: str = COLLECTION) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._client = chromadb.HttpClient(
            host=host, port=port, headers=headers, settings=ChromaSettings(anonymized_telemetry=False)
        )
        self.embeddings = embeddings
        self.prefix = prefix

    def _name(self, version: str) -> str:
        return f"{self.prefix}_{version}"

    def open(self, version: str) -> ChromaVectorStore:
        return ChromaVectorStore(self._client, self._name(version), self.embeddings)

    def fork(self, base: str | None, version: str) -> ChromaVectorStore:
        self.drop(version)
        store = self.open(version)
        if base is not None:
            ids, vectors, documents, metadatas = self.open(base).all_vectors()
            docs = [Document(page_content=t, metadata=dict(m or {})) for t, m in zip(documents, metadatas,
                                                                                   strict=False)]
            for doc, cid in zip(docs, ids, strict=False):
                doc.metadata["chunk_id"] = cid
            if docs:
                store.add(docs, vectors)
        return store

    def drop(self, version: str) -> None:
        with contextlib.suppress(Exception):  # an absent collection: nothing to drop
            self._client.delete_collection(self._name(version))

    def exists(self, version: str) -> bool:
        return self._name(version) in {c.name for c in self._client.list_collections()}
