"""The project's cross-encoder served by ONNX Runtime (int8), with the tokenizer it was trained with.

A model folder holds `model.onnx` (question and passage in, one relevance logit out),
`tokenizer.json` (the base encoder's WordPiece vocabulary, BERT pair template) and `reranker.json`
(the lengths it was trained at). The lengths are the model's, not the server's: the same truncation
as in training (training/fit.py) keeps served scores equal to those measured.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from langchain_core.documents import Document

from assistant.errors import AssistantError

BUNDLED = Path(__file__).resolve().parents[1] / "models" / "reranker"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def passage_text(title: str, locator: str, text: str) -> str:
    """What the cross-encoder reads of a passage: its title, heading path and text (as embedded)."""
    from assistant.chunk import embed_text

    return embed_text(title, locator, text)


def passage_of(doc: Document) -> str:
    """A retrieved chunk as the model reads it: exactly the text its vector was made of (a chunk
    without headings carries the placeholder locator 第N段, which is not embedded)."""
    meta = doc.metadata
    locator = str(meta.get("locator") or "")
    if locator == f"第{int(meta.get('ordinal', -2)) + 1}段":
        locator = ""
    return passage_text(str(meta.get("title") or ""), locator, doc.page_content)


class CrossEncoderReranker:
    """Scores (question, passage) pairs with an exported cross-encoder."""

    def __init__(self, folder: Path = BUNDLED, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        config = json.loads((folder / "reranker.json").read_text(encoding="utf-8"))
        self.max_length = int(config["max_length"])
        self.query_chars = int(config["query_chars"])
        self.name = str(config.get("name", folder.name))
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=self.max_length, strategy="only_second")
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        # As the question encoder (assistant/embed_onnx.py): two threads that sleep when idle.
        options.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(folder / "model.onnx"), options,
                                             providers=["CPUExecutionProvider"])

    def encode(self, query: str, passages: list[str]) -> dict[str, np.ndarray]:
        """The model's inputs for the pairs, padded to the longest."""
        query = query[: self.query_chars]
        encodings = self._tokenizer.encode_batch([(query, p) for p in passages])
        width = max(len(e.ids) for e in encodings)
        feed = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in INPUTS}
        for row, e in enumerate(encodings):
            n = len(e.ids)
            feed["input_ids"][row, :n] = e.ids
            feed["attention_mask"][row, :n] = e.attention_mask
            feed["token_type_ids"][row, :n] = e.type_ids
        return feed

    def score(self, query: str, passages: list[str], batch: int = 16) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        # Similar lengths batched together: padding costs as much as text.
        order = sorted(range(len(passages)), key=lambda i: len(passages[i]))
        out = np.zeros(len(passages), dtype=np.float32)
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            feed = self.encode(query, [passages[i] for i in rows])
            logits = self._session.run(None, feed)[0]
            out[rows] = np.asarray(logits, dtype=np.float32).reshape(len(rows), -1)[:, 0]
        return out


@lru_cache(maxsize=4)
def load_reranker(folder: str) -> CrossEncoderReranker:
    """One loaded model per folder per process (the session is thread-safe)."""
    return CrossEncoderReranker(Path(folder))


def model_for(setting: str, bundled: Path, what: str, variable: str, train: str) -> CrossEncoderReranker | None:
    """The exported cross-encoder a setting names: "off" none, "bundled" the shipped model, else a
    folder. A folder that holds no exported model is a configuration error, said with the path."""
    if setting == "off":
        return None
    folder = bundled if setting == "bundled" else Path(setting)
    if not (folder / "model.onnx").is_file() or not (folder / "reranker.json").is_file():
        raise AssistantError(f"no {what} model in {folder} (model.onnx and reranker.json expected): train one with "
                             f"`{train} --out DIR` and set {variable}=DIR, or set {variable}=off to serve without one")
    return load_reranker(str(folder.resolve()))


def reranker_for(setting: str) -> CrossEncoderReranker | None:
    """The reranker a `reranker` setting names (model_for)."""
    return model_for(setting, BUNDLED, "reranker", "ASSISTANT_RERANKER", "python -m training all")
