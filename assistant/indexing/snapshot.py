"""The read side: one published version loaded whole, and a handle that follows CURRENT.

A query holds one snapshot from start to end, so it sees the old version or the new one, never a
mix; the handle swaps in a new snapshot when a re-index publishes.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_core.documents import Document

from assistant.documents import DocumentMeta
from assistant.embed import Embedder, get_embedder
from assistant.errors import IndexNotBuiltError
from assistant.indexing import centroids
from assistant.indexing.build import check_model, read_chunks
from assistant.indexing.versions import VersionStore
from assistant.numerals import canonical_article
from assistant.settings import Settings
from assistant.store.keyword import KeywordIndex
from assistant.store.vector import EmbeddedChroma, ServerChroma, VectorBackend, VectorStore


def backend_for(settings: Settings) -> VectorBackend:
    """Embedded Chroma under the index folder, or a Chroma server when one is configured."""
    if settings.chroma_host:
        return ServerChroma(settings.chroma_host, settings.chroma_port, settings.chroma_token)
    return EmbeddedChroma(settings.index_dir / "versions")


@dataclass
class IndexSnapshot:
    version: str
    manifest: dict[str, Any]
    chunks: list[Document]
    keyword: KeywordIndex
    vectors: VectorStore
    position: dict[str, int] = field(default_factory=dict)
    documents: dict[str, DocumentMeta] = field(default_factory=dict)
    articles: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    # Document centroids (assistant/indexing/centroids.py): row i is the document centroid_sources[i].
    centroid_sources: list[str] = field(default_factory=list)
    centroids: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.position = {d.metadata["chunk_id"]: i for i, d in enumerate(self.chunks)}
        self.documents = {s: DocumentMeta.from_dict(d["meta"]) for s, d in self.manifest["documents"].items()}
        table: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, doc in enumerate(self.chunks):
            for article in filter(None, str(doc.metadata.get("articles", "")).split("、")):
                # Keyed by the canonical label (第10条 → 第十条), as parse_query names articles.
                table[(doc.metadata["source"], canonical_article(article) or article)].append(i)
        self.articles = dict(table)

    @property
    def model(self) -> str:
        return str(self.manifest.get("model"))


def load_snapshot(settings: Settings, backend: VectorBackend, version: str | None = None) -> IndexSnapshot:
    versions = VersionStore(settings.index_dir)
    version = version or versions.current_version()
    if version is None or not versions.is_complete(version):
        raise IndexNotBuiltError(
            f"no index has been built in {settings.index_dir} yet: run `assistant index` "
            f"(corpus folder: {settings.corpus_dir})"
        )
    manifest = versions.manifest(version)
    check_model(manifest, settings.model)
    folder = versions.path(version)
    chunks = read_chunks(folder / "chunks.jsonl")
    keyword = KeywordIndex.load(folder / "bm25", len(chunks))
    vectors = backend.open(version)
    found = centroids.load(folder) or centroids.from_store(chunks, vectors)
    sources, matrix = found if found is not None else ([], None)
    return IndexSnapshot(version, manifest, chunks, keyword, vectors, centroid_sources=sources, centroids=matrix)


class LiveIndex:
    """Follows the CURRENT pointer; `snapshot()` is cheap when nothing changed."""

    def __init__(self, settings: Settings, backend: VectorBackend | None = None,
                 embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.backend = backend or backend_for(settings)
        self._embedder = embedder
        self._versions = VersionStore(settings.index_dir)
        self._snapshot: IndexSnapshot | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings.model, self.settings.embed_batch_size)
        return self._embedder

    def snapshot(self) -> IndexSnapshot:
        version = self._versions.current_version()
        current = self._snapshot
        if current is not None and current.version == version:
            return current
        with self._lock:
            if self._snapshot is None or self._snapshot.version != version:
                self._snapshot = load_snapshot(self.settings, self.backend, version)
            return self._snapshot
