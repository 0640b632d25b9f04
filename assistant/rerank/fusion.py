"""Joining the cross-encoder's order with the hybrid ranking's, by reciprocal ranks.

A cross-encoder trained on a few thousand questions is a strong but noisy reader; the hybrid
ranking carries what it cannot see (the whole document's BM25, a named document, in force or not).
Fusing ranks, not scores, needs no calibration of either scale. How many candidates are reranked
and the weight are chosen by cross-validation on the three dev sets (bench/rerank.py).
"""

from __future__ import annotations

import math

import numpy as np


def fuse_orders(n: int, scores: np.ndarray, weight: float, k: float = 5.0) -> list[int]:
    """Positions 0..n-1 (the hybrid order) reordered: 1/(k+1+hybrid rank) + weight/(k+1+reader rank).

    weight = inf orders by the cross-encoder alone (the hybrid order breaks ties)."""
    if n == 0:
        return []
    reader_order = np.argsort(-np.asarray(scores[:n], dtype=np.float64), kind="stable")
    if math.isinf(weight):
        return [int(i) for i in reader_order]
    reader_rank = np.empty(n, dtype=np.float64)
    reader_rank[reader_order] = np.arange(n)
    fused = 1.0 / (k + 1 + np.arange(n)) + weight / (k + 1 + reader_rank)
    return [int(i) for i in np.argsort(-fused, kind="stable")]
