"""Retrieval outputs of the product, cached per index version and retrieval code, so that calibration
and answer-quality runs over hundreds of questions take seconds after the first run.

Each record: the question, its scaffolding-stripped form, the top passages (text + metadata, with the
dense and keyword scores the retrieval attached), the index's chunk frequency of every question word
and the index's chunk count: everything `assistant.answer.answerability.signals` and the composer need.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from bench.helpers import ROOT

DEFAULT_CACHE = ROOT / "bench" / ".cache" / "qa"
K = 20  # enough for five distinct documents


def _code_hash(reranker: str) -> str:
    """The retrieval and reranking code, and the reranker's model file when one is used."""
    digest = hashlib.sha256(reranker.encode())
    for path in sorted([*(ROOT / "assistant" / "retrieve").glob("*.py"), *(ROOT / "assistant" / "rerank").glob("*.py")]):
        digest.update(path.read_bytes())
    if reranker != "off":
        from assistant.rerank.cross_encoder import BUNDLED

        digest.update(((BUNDLED if reranker == "bundled" else Path(reranker)) / "model.onnx").read_bytes())
    return digest.hexdigest()[:12]


def retrievals(index_dir: Path, questions: list[str], cache_dir: Path = DEFAULT_CACHE,
               progress: Callable[[int, int], None] | None = None, reranker: str | None = None) -> list[dict[str, Any]]:
    """The product's retrieval for each question on the index's live version (cached); `reranker` as
    the setting (None: the settings' default)."""
    from assistant.indexing.versions import VersionStore
    from assistant.settings import Settings

    reranker = reranker or Settings().reranker
    version = VersionStore(index_dir).current_version()
    key = hashlib.sha256(json.dumps([str(index_dir.resolve()), version, _code_hash(reranker), K, questions],
                                    ensure_ascii=False).encode()).hexdigest()[:16]
    path = cache_dir / f"{index_dir.name}-{key}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    from assistant.service import Assistant
    from assistant.store.keyword import tokenize

    settings = Settings(index_dir=index_dir, data_dir=cache_dir / "data", review_log=False, reranker=reranker)
    assistant = Assistant(settings)
    records = []
    for i, question in enumerate(questions):
        t0 = time.perf_counter()
        found = assistant.retriever.retrieve(question, K)
        found_seconds = time.perf_counter() - t0
        snapshot, parsed, docs = found.snapshot, found.parsed, found.docs
        tokens = set(tokenize(parsed.keyword_text or question))
        records.append({
            "question": question, "keyword_text": parsed.keyword_text,
            "docs": [{"content": d.page_content, "meta": {k: v for k, v in d.metadata.items()
                                                         if isinstance(v, (str, int, float, bool)) or v is None}}
                     for d in docs],
            "df": {t: snapshot.keyword.document_frequency(t) for t in tokens},
            "seconds": round(found_seconds, 4),
            "n": snapshot.keyword.num_docs,
        })
        if progress:
            progress(i + 1, len(questions))
    cache_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return records


def documents(record: dict[str, Any]) -> list[Document]:
    return [Document(page_content=d["content"], metadata=d["meta"]) for d in record["docs"]]
