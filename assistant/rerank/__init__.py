"""Reranking: a cross-encoder reads the question with each candidate passage and reorders them.

The retriever's candidates come from counting shared words (BM25) and comparing vectors made
without the question (the bi-encoder); the cross-encoder sees both texts at once. `Reranker` is the
seam (`score(query, passages)`, higher is more relevant); `CrossEncoderReranker` serves the
project's own trained model (assistant/models/reranker/, trained by `python -m training`) through
ONNX Runtime; `fuse` joins its order with the hybrid ranking (assistant/rerank/fusion.py).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Reranker(Protocol):
    def score(self, query: str, passages: list[str]) -> np.ndarray:
        """One relevance score per passage (any scale; higher is more relevant)."""
        ...
