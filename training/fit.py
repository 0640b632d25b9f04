"""Fine-tune an encoder as a cross-encoder on listwise groups (training/data.py).

Each step reads groups of GROUP passages (the positive first) with their question and minimises the
softmax cross-entropy of the positive among them: the model learns to rank, which is what the
retriever asks of it, not to calibrate a probability. Plain torch and transformers (no trainer
framework, no `datasets`), so the same file runs on this CPU and on a bare accelerator machine.
A fixed seed fixes the data order, the sampled negatives (data.py) and the head's initialisation.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.data import Group


@dataclass
class FitConfig:
    epochs: float = 1.0
    batch_groups: int = 16  # groups per step (× GROUP passages)
    max_length: int = 192  # question + passage tokens (the server truncates the same way)
    query_chars: int = 64  # a question longer than this is cut (a passage is never left out)
    lr: float = 8e-5
    warmup: float = 0.1  # share of the steps with a rising learning rate
    seed: int = 0
    freeze_embeddings: bool = False  # the 21 k-token embedding table (half the weights) stays as the base had it


def tokenize_batch(tokenizer: Any, groups: list[Group], config: FitConfig) -> dict[str, Any]:
    queries = [g.query[: config.query_chars] for g in groups for _ in g.passages]
    passages = [p for g in groups for p in g.passages]
    return dict(tokenizer(queries, passages, truncation="only_second", max_length=config.max_length,
                          padding=True, return_tensors="pt"))


def fit(groups: list[Group], base: str, out: Path, config: FitConfig, device: str | None = None,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train from `base` (a sentence-transformers or transformers folder or name); save to `out`."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(base)
    # float32 master weights whatever the base was saved in (a half-precision copy travels lighter)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1).float().to(device)
    if config.freeze_embeddings:
        for p in model.base_model.embeddings.parameters():
            p.requires_grad = False
    model.train()
    order = list(range(len(groups)))
    steps = max(1, math.ceil(len(groups) * config.epochs / config.batch_groups))
    rng = random.Random(config.seed)
    schedule: list[int] = []
    while len(schedule) < steps * config.batch_groups:
        rng.shuffle(order)
        schedule.extend(order)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimiser, int(steps * config.warmup), steps)
    width = len(groups[0].passages)
    losses: list[float] = []
    t0 = time.perf_counter()
    for step in range(steps):
        batch = [groups[i] for i in schedule[step * config.batch_groups : (step + 1) * config.batch_groups]]
        features = {k: v.to(device) for k, v in tokenize_batch(tokenizer, batch, config).items()}
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
            logits = model(**features).logits.float().view(len(batch), width)
        loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long, device=device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        scheduler.step()
        optimiser.zero_grad()
        losses.append(float(loss.detach()))
        if step % 50 == 0 or step == steps - 1:
            rate = (step + 1) * len(batch) * width / (time.perf_counter() - t0)
            log(f"step {step + 1}/{steps} loss {sum(losses[-50:]) / len(losses[-50:]):.4f} ({rate:.1f} pairs/s)")
    seconds = time.perf_counter() - t0
    window = max(1, min(20, steps // 4))  # the loss at the start and at the end, each over a quarter at most
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    record = {"base": base, "groups": len(groups), "group": width, "steps": steps, "seconds": round(seconds, 1),
              "device": device, "pairs_per_second": round(steps * config.batch_groups * width / seconds, 1),
              "loss_first": _mean(losses[:window]), "loss_last": _mean(losses[-window:]), "config": config.__dict__}
    (out / "training.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    return record


def _mean(values: list[float]) -> float:
    return round(sum(values) / max(len(values), 1), 4)


def score_pairs(model_dir: Path, query: str, passages: list[str], config: FitConfig, device: str | None = None,
                model: Any = None, tokenizer: Any = None) -> list[float]:
    """Torch scores of the pairs (the reference the ONNX export is checked against)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_dir)
    model = model or AutoModelForSequenceClassification.from_pretrained(model_dir).to(device).eval()
    group = Group(query, passages, "score")
    with torch.no_grad():
        features = {k: v.to(device) for k, v in tokenize_batch(tokenizer, [group], config).items()}
        return [float(x) for x in model(**features).logits[:, 0].float().cpu()]
