"""Question encoding through ONNX Runtime: the same weights, exported once, faster on a CPU.

A question is one short text. Torch's eager BERT spends about 50 ms on a 56-character question on
one core of this machine; the same graph in ONNX Runtime about 30 ms on one thread and 20-24 ms on
two, with vectors equal to 1e-5 (bench/models.py prints both). Indexing batches stay on torch, so
stored vectors never depend on this path. The export is cached on disk under a hash of the weights
(a damaged file is exported again) and checked against torch on probe sentences before use;
anything that still fails falls back to torch with a warning.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_PROBE = ["企业申请中试平台建设支持需要满足哪些条件？", "第十条"]
_MIN_COSINE = 0.9999  # an export that disagrees with torch more than rounding is not used


def weights_hash(module: Any) -> str:
    """sha256 over the parameter names and bytes: a changed or different model never reuses a file."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:20]


def _token_vectors(model: Any) -> Any:
    """The transformer as a module of plain tensors in, token vectors out (what the export traces)."""
    import torch

    class TokenVectors(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    return TokenVectors().eval()


INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export(st_model: Any, path: Path) -> None:
    """Write the sentence-transformer's transformer as ONNX (dynamic batch and length), atomically."""
    import torch

    features = st_model.preprocess(_PROBE)
    args = tuple(features[name] for name in INPUTS)
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=512)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(_token_vectors(st_model[0].auto_model), args, tmp, input_names=list(INPUTS),
                              output_names=["token_embeddings"], dynamo=True, external_data=False,
                              dynamic_shapes=tuple({0: batch, 1: length} for _ in INPUTS), verbose=False)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


class OnnxQueryEncoder:
    """Encodes a few texts like `SentenceTransformer.encode(..., normalize_embeddings=True)`."""

    def __init__(self, st_model: Any, cache_dir: Path) -> None:
        import onnxruntime as ort

        if set(INPUTS) - set(st_model.preprocess(["x"])):
            raise ValueError("the model's tokenizer does not give input_ids, attention_mask, token_type_ids")
        self._st = st_model
        path = cache_dir / f"{weights_hash(st_model[0].auto_model)}.onnx"
        options = ort.SessionOptions()
        # Two threads that sleep rather than spin when idle: 19 ms a question against 30 ms on one,
        # and a busy host loses a core's slice, not a spinning core (SMALL_BATCH in embed.py).
        options.intra_op_num_threads = min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception:  # missing or damaged: export (again) and load that
            log.info("exporting the question encoder to %s (once per model)", path)
            export(st_model, path)
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        reference = np.asarray(st_model.encode(_PROBE, normalize_embeddings=True), dtype=np.float32)
        agreement = float(np.min(np.sum(reference * self.encode(_PROBE), axis=1)))
        if agreement < _MIN_COSINE:
            raise ValueError(f"the ONNX export disagrees with torch (cosine {agreement:.6f}); {path}")

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        features = self._st.preprocess(texts)
        feed = {name: features[name].numpy() for name in INPUTS}
        tokens = self._session.run(None, feed)[0]
        pooled = self._st[1]({"token_embeddings": torch.from_numpy(tokens),
                              "attention_mask": features["attention_mask"]})["sentence_embedding"]
        return torch.nn.functional.normalize(pooled, dim=1).numpy().astype(np.float32)  # as ST normalises


def try_onnx(st_model: Any, cache_dir: Path) -> OnnxQueryEncoder | None:
    """The ONNX question encoder, or None (torch serves) when it cannot be built here."""
    try:
        return OnnxQueryEncoder(st_model, cache_dir)
    except Exception as err:  # any failure means "use torch", said once
        log.warning("question encoding stays on torch: %s", err)
        return None
