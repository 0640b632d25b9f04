"""Keyword side: BM25 (bm25s, sparse matrices) over jieba tokens, persisted beside the vectors."""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
from pathlib import Path

import jieba
import numpy as np
from cachetools import LRUCache

from assistant.numerals import normalize_units

jieba.setLogLevel(logging.WARNING)

TOKENIZER_ID = "jieba-search-v1"
DOC_BM25 = "bm25-docs"  # folder of the document-level index in a version (and its sources.json)
_KEEP = re.compile(r"[\u4e00-\u9fff]|[A-Za-z0-9]")
STOPWORDS = frozenset(
    ["的", "了", "和", "与", "及", "或", "是", "在", "对", "为", "等", "也", "就", "都", "而", "及其", "以及", "其", "之", "把", "被", "由", "从", "向", "将", "这", "那", "该", "有", "个", "吗", "呢", "吧", "啊", "么", "什么", "怎么", "如何", "请问", "一下", "可以", "能否", "是否", "我", "我们", "你", "您", "他", "她", "它"]
)


# Chunk texts and questions repeat (every answer re-tokenizes its passages), so cuts are cached; the
# cache is bounded in bytes, not entries, so 20,000 distinct long questions cannot grow it past
# CACHE_BYTES (a count bound of 65,536 let it reach ~2.7 GiB). Texts longer than a long passage are
# not cached at all.
CACHE_BYTES = 64 << 20
CACHE_MAX_CHARS = 4000


def _size(tokens: tuple[str, ...]) -> int:
    """Bytes an entry holds. Search mode cuts every character of the text into at least one token, so
    the tokens' strings counted twice cover the key (the text) as well as the value."""
    return sys.getsizeof(tokens) + 2 * sum(sys.getsizeof(t) for t in tokens) + 100


_cache: LRUCache[str, tuple[str, ...]] = LRUCache(maxsize=CACHE_BYTES, getsizeof=_size)
_cache_lock = threading.Lock()


def _cut(text: str) -> tuple[str, ...]:
    if len(text) > CACHE_MAX_CHARS:
        return tuple(jieba.lcut_for_search(text))
    with _cache_lock:
        found = _cache.get(text)
    if found is None:
        found = tuple(jieba.lcut_for_search(text))
        with _cache_lock, contextlib.suppress(ValueError):  # ValueError: one entry larger than the cache
            _cache[text] = found
    return found


def tokenize(text: str) -> list[str]:
    """Search-mode jieba tokens, lower-cased, without punctuation and function words."""
    text = normalize_units(text).lower()
    return [t for t in _cut(text) if _KEEP.search(t) and t not in STOPWORDS]


class KeywordIndex:
    """BM25 over a fixed list of chunk ids; rows align with the version's chunk list."""

    def __init__(self, retriever: object, size: int) -> None:
        self._bm25 = retriever
        self.size = size

    @classmethod
    def build(cls, token_lists: list[list[str]]) -> KeywordIndex:
        import bm25s

        retriever = bm25s.BM25(k1=1.2, b=0.75)
        # An empty document list would fail in bm25s; index one empty token to keep shapes valid.
        retriever.index([t or [""] for t in token_lists] or [[""]], show_progress=False)
        return cls(retriever, len(token_lists))

    def save(self, folder: Path) -> None:
        self._bm25.save(str(folder), show_progress=False)  # type: ignore[attr-defined]

    @classmethod
    def load(cls, folder: Path, size: int) -> KeywordIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(folder), show_progress=False), size)

    @property
    def num_docs(self) -> int:
        return self.size

    def document_frequency(self, token: str) -> int:
        """In how many chunks the token occurs (0: nowhere in the index)."""
        vocab = self._bm25.vocab_dict  # type: ignore[attr-defined]
        if token not in vocab:
            return 0
        indptr = self._bm25.scores["indptr"]  # type: ignore[attr-defined]
        i = vocab[token]
        return int(indptr[i + 1] - indptr[i])

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every chunk for the query tokens (zeros when none is in the vocabulary)."""
        vocab = self._bm25.vocab_dict  # type: ignore[attr-defined]
        ids = [vocab[t] for t in tokens if t in vocab]
        if not ids or not self.size:
            return np.zeros(self.size, dtype=np.float32)
        scores = self._bm25.get_scores_from_ids(ids)  # type: ignore[attr-defined]
        return np.asarray(scores[: self.size], dtype=np.float32)
