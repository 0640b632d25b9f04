"""The read side: one published version loaded whole, and a handle that follows CURRENT.

A query holds one snapshot from start to end, so it sees the old version or the new one, never a
mix; the handle swaps in a new snapshot when a re-index publishes.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_core.documents import Document

from assistant.documents import DocumentMeta
from assistant.embed import Embedder, embedder_for
from assistant.errors import AssistantError, IndexNotBuiltError, NotFoundError
from assistant.indexing import centroids, integrity
from assistant.indexing.build import check_model, read_version
from assistant.indexing.versions import VersionStore
from assistant.numerals import canonical_article
from assistant.settings import Settings
from assistant.store.keyword import DOC_BM25, KeywordIndex
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
    # BM25 over whole documents (row i is doc_sources[i]); None for versions built before it existed.
    doc_keyword: KeywordIndex | None = None
    doc_sources: list[str] = field(default_factory=list)
    by_source: dict[str, list[int]] = field(default_factory=dict)  # chunk positions of each document

    def __post_init__(self) -> None:
        self.position = {d.metadata["chunk_id"]: i for i, d in enumerate(self.chunks)}
        self.documents = {s: DocumentMeta.from_dict(d["meta"]) for s, d in self.manifest["documents"].items()}
        table: dict[tuple[str, str], list[int]] = defaultdict(list)
        rows: dict[str, list[int]] = defaultdict(list)
        for i, doc in enumerate(self.chunks):
            rows[doc.metadata["source"]].append(i)
            for article in filter(None, str(doc.metadata.get("articles", "")).split("、")):
                # Keyed by the canonical label (第10条 → 第十条), as parse_query names articles.
                table[(doc.metadata["source"], canonical_article(article) or article)].append(i)
        self.articles = dict(table)
        self.by_source = dict(rows)

    @property
    def model(self) -> str:
        return str(self.manifest.get("model"))


def load_snapshot(settings: Settings, backend: VectorBackend, version: str | None = None) -> IndexSnapshot:
    """Load and verify a version (the live one by default): a damaged one raises IndexDamagedError."""
    versions = VersionStore(settings.index_dir)
    current = versions.current_version()
    version = version or current
    if version is None:
        raise IndexNotBuiltError(
            f"no index has been built in {settings.index_dir} yet: run `assistant index` "
            f"(corpus folder: {settings.corpus_dir})"
        )
    if not versions.is_complete(version):
        if version != current:  # asked for by name (`index --verify --version`)
            raise NotFoundError(f"there is no complete index version {version}")
        raise integrity.damaged(version, integrity.POINTER_DANGLING)  # damage, not "no index yet"
    folder = versions.path(version)
    manifest, chunks = read_version(versions, version)
    check_model(manifest, settings.model)
    try:
        keyword = KeywordIndex.load(folder / "bm25", len(chunks))
    except Exception as err:  # bm25s raises whatever its numpy/json readers raise
        raise integrity.damaged(version, "the keyword index (bm25) is unreadable") from err
    try:
        vectors = backend.open(version)
        stored = vectors.count()
    except Exception as err:  # Chroma's own folder or server: any failure to open it
        raise integrity.damaged(version, "the vector store cannot be opened") from err
    if stored != len(chunks):
        raise integrity.damaged(version, f"the vector store holds {stored} vectors for {len(chunks)} chunks")
    try:
        found = centroids.load(folder) or centroids.from_store(chunks, vectors)
    except Exception as err:
        raise integrity.damaged(version, f"{centroids.FILE} is unreadable") from err
    sources, matrix = found if found is not None else ([], None)
    doc_keyword, doc_sources = None, []
    if (folder / DOC_BM25 / "sources.json").exists():  # versions built before it have none
        try:
            doc_sources = json.loads((folder / DOC_BM25 / "sources.json").read_text(encoding="utf-8"))
            doc_keyword = KeywordIndex.load(folder / DOC_BM25, len(doc_sources))
        except Exception as err:  # as for bm25: whatever bm25s's readers raise
            raise integrity.damaged(version, f"the document keyword index ({DOC_BM25}) is unreadable") from err
    return IndexSnapshot(version, manifest, chunks, keyword, vectors, centroid_sources=sources, centroids=matrix,
                         doc_keyword=doc_keyword, doc_sources=doc_sources)


_Key = tuple[str | None, tuple[tuple[str, int, int], ...]]  # (version, its files' stamp)


class LiveIndex:
    """Follows the CURRENT pointer; `snapshot()` is cheap when nothing changed."""

    def __init__(self, settings: Settings, backend: VectorBackend | None = None,
                 embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.backend = backend or backend_for(settings)
        self._embedder = embedder
        self._versions = VersionStore(settings.index_dir)
        self._loaded: tuple[_Key, IndexSnapshot] | None = None
        self._failure: tuple[_Key, AssistantError] | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = embedder_for(self.settings)
        return self._embedder

    def snapshot(self) -> IndexSnapshot:
        """The live version's snapshot. Reloaded (and re-verified) when CURRENT or the sizes and times of
        the version's files change; a failure is kept for the same files, so a damaged version is not
        re-read on every request, and a restored file or a new version is picked up without a restart."""
        version = self._versions.current_version()
        stamp = integrity.stamp(self._versions.path(version)) if version else ()
        loaded = self._loaded
        if loaded is not None and loaded[0] == (version, stamp):
            return loaded[1]
        with self._lock:
            if self._loaded is not None and self._loaded[0] == (version, stamp):
                return self._loaded[1]
            if self._failure is not None and self._failure[0] == (version, stamp):
                raise self._failure[1]
            try:
                snapshot = load_snapshot(self.settings, self.backend, version)
            except AssistantError as err:
                self._failure = ((version, stamp), err)
                raise
            self._loaded, self._failure = ((version, stamp), snapshot), None
            return snapshot
