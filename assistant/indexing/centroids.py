"""Document vectors: the normalised mean of each document's chunk vectors, for a document prior.

Written at index time beside the version (`centroids.npz`); a version built before this file
existed gets them computed from its vector store when it is loaded. Retrieval compares the
question with every document's centroid and lifts the passages of the documents it resembles most
(assistant/retrieve/hybrid.py), which helps most when many documents share vocabulary.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from langchain_core.documents import Document

log = logging.getLogger(__name__)
FILE = "centroids.npz"


def compute(chunks: list[Document], vector_of: Mapping[str, np.ndarray], key: str = "chunk_id"
            ) -> tuple[list[str], np.ndarray] | None:
    """(sources, one unit row per source) from chunk vectors looked up by `metadata[key]`; None when
    a chunk's vector is missing."""
    sums: dict[str, np.ndarray] = {}
    for doc in chunks:
        vec = vector_of.get(doc.metadata[key])
        if vec is None:
            return None
        source = doc.metadata["source"]
        sums[source] = sums[source] + vec if source in sums else np.array(vec, dtype=np.float32)
    if not sums:
        return None
    sources = sorted(sums)
    matrix = np.stack([sums[s] for s in sources]).astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return sources, matrix / np.where(norms == 0, 1, norms)


def save(folder: Path, sources: list[str], matrix: np.ndarray) -> None:
    with open(folder / FILE, "wb") as fh:
        np.savez(fh, sources=np.array(sources, dtype=object), centroids=matrix.astype(np.float32))


def load(folder: Path) -> tuple[list[str], np.ndarray] | None:
    path = folder / FILE
    if not path.exists():
        return None
    with np.load(path, allow_pickle=True) as data:
        return [str(s) for s in data["sources"]], np.asarray(data["centroids"], dtype=np.float32)


def from_store(chunks: list[Document], store: object) -> tuple[list[str], np.ndarray] | None:
    """For versions without the file: read the chunk vectors back from the vector store."""
    read = getattr(store, "all_vectors", None)
    if read is None:
        return None
    try:
        ids, vectors, _, _ = read()
    except Exception as err:  # a store that cannot list its vectors: no prior, retrieval still works
        log.warning("document centroids unavailable: %s", err)
        return None
    return compute(chunks, dict(zip(ids, vectors, strict=False)))
