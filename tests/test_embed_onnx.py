"""Questions encoded by ONNX Runtime must land where torch puts them, or not be used at all."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from assistant.embed import SentenceTransformerEmbeddings
from assistant.embed_onnx import try_onnx, weights_hash

QUESTIONS = [
    "中试平台建设有什么支持政策？",
    "那融资方面呢？",
    "我朋友借了我五万块钱一直不还，我可以去法院起诉他吗？",
    "根据哪条法律，用人单位未与劳动者订立书面劳动合同应当支付二倍工资？",
    "天津",
]


def test_questions_are_encoded_by_onnx_with_torchs_vectors(embedder: SentenceTransformerEmbeddings) -> None:
    assert embedder._questions is not None, "the ONNX question encoder was not built on this machine"
    served = np.vstack([embedder.encode([q]) for q in QUESTIONS])
    torch_vectors = np.asarray(embedder._model.encode(QUESTIONS, normalize_embeddings=True))
    assert np.min(np.sum(served * torch_vectors, axis=1)) > 0.9999
    # and they rank passages the same way
    passages = embedder.encode(["鼓励企业建设中试平台，对符合条件的给予资金支持。", "今天天津晴，最高气温二十度。",
                                "用人单位自用工之日起超过一个月不满一年未与劳动者订立书面劳动合同的，应当向劳动者每月支付二倍的工资。",
                                "借款人未按照约定的期限返还借款的，应当按照约定或者国家有关规定支付逾期利息。", "第十条"])
    assert (np.argsort(-(served @ passages.T), axis=1) == np.argsort(-(torch_vectors @ passages.T), axis=1)).all()


def test_a_damaged_cached_export_is_exported_again(embedder: SentenceTransformerEmbeddings, tmp_path: Path) -> None:
    damaged = tmp_path / f"{weights_hash(embedder._model[0].auto_model)}.onnx"
    damaged.write_bytes(b"not an onnx file")
    encoder = try_onnx(embedder._model, tmp_path)
    assert encoder is not None and damaged.stat().st_size > 1_000_000
    assert float(encoder.encode([QUESTIONS[0]])[0] @ embedder._model.encode(QUESTIONS[0], normalize_embeddings=True)) > 0.9999


def test_a_model_that_cannot_be_exported_stays_on_torch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class NoTokenizer:
        def preprocess(self, texts: list[str]) -> dict[str, object]:
            return {"input_ids": None}

    with caplog.at_level(logging.WARNING):
        assert try_onnx(NoTokenizer(), tmp_path) is None
    assert "stays on torch" in caplog.text
