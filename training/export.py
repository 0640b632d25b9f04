"""Export a trained cross-encoder for serving: int8 ONNX, its tokenizer, its lengths, its card.

Dynamic int8 quantisation of the linear layers (onnxruntime.quantization) makes the file about a
quarter of the float one and the CPU scoring about twice as fast; the export is checked against
torch on probe pairs (the order of their scores must agree) before it is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from training.fit import FitConfig, score_pairs

PROBE_QUERY = "企业申请中试平台建设支持需要满足哪些条件？"
PROBE_PASSAGES = [
    "天津市人民政府\n对市政协十四届二次会议第0120号提案的答复\n加快布局建设中试平台，对符合条件的中试平台给予支持。",
    "中华人民共和国专利法\n第一章 总则 > 第六条\n第六条 执行本单位的任务所完成的发明创造为职务发明创造。",
    "天气预报：明天多云转晴，最高气温十五度。",
    "中试平台应当具备独立法人资格，拥有专业技术团队和中试设备，面向社会开放服务。",
]
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export(model_dir: Path, out: Path, config: FitConfig, name: str = "reranker") -> dict[str, Any]:
    """Write out/model.onnx (int8), tokenizer.json and reranker.json from a trained model folder."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    features = tokenizer([PROBE_QUERY] * 2, PROBE_PASSAGES[:2], truncation="only_second",
                         max_length=config.max_length, padding=True, return_tensors="pt")
    args = tuple(features[k] for k in INPUTS)

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).logits

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=512)
        with torch.no_grad():
            torch.onnx.export(Logits().eval(), args, str(fp32), input_names=list(INPUTS), output_names=["logits"],
                              dynamo=True, external_data=False,
                              dynamic_shapes=tuple({0: batch, 1: length} for _ in INPUTS), verbose=False)
        int8 = Path(tmp) / "model.onnx"
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        reference = score_pairs(model_dir, PROBE_QUERY, PROBE_PASSAGES, config, device="cpu", model=model,
                                tokenizer=tokenizer)
        session = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
        feed = tokenizer([PROBE_QUERY[: config.query_chars]] * len(PROBE_PASSAGES), PROBE_PASSAGES,
                         truncation="only_second", max_length=config.max_length, padding=True, return_tensors="np")
        served = session.run(None, {k: np.asarray(feed[k], dtype=np.int64) for k in INPUTS})[0][:, 0]
        if list(np.argsort(reference)) != list(np.argsort(served)):
            raise ValueError(f"the int8 export reorders the probe pairs: torch {reference}, onnx {list(served)}")
        os.replace(int8, out / "model.onnx")
    tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    record = {"name": name, "max_length": config.max_length, "query_chars": config.query_chars,
              "model_sha256": sha256(out / "model.onnx"), "bytes": (out / "model.onnx").stat().st_size,
              "probe_torch": [round(x, 4) for x in reference], "probe_onnx": [round(float(x), 4) for x in served]}
    (out / "reranker.json").write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    training = model_dir / "training.json"
    if training.exists():
        shutil.copy(training, out / "training.json")
    return record
