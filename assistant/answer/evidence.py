"""How much the retrieved passages say about the question, and when that is too little to answer.

Evidence is the IDF-weighted share of the question's content tokens that the best passage (with
its title and heading path) contains. It is absolute (unlike fused ranks), cheap, and explains
itself. The refusal threshold `min_evidence` (settings, default 0.30) was calibrated with
`bench/calibrate_evidence.py`; its figures and the reasoning are in README.md ("Refusals").
"""

from __future__ import annotations

import math

from assistant.store.keyword import tokenize


def idf_weights(tokens: list[str], document_frequency: dict[str, int] | None, total: int) -> dict[str, float]:
    if not document_frequency or total <= 0:
        return dict.fromkeys(tokens, 1.0)
    return {t: math.log(1 + (total - document_frequency.get(t, 0) + 0.5) / (document_frequency.get(t, 0) + 0.5))
            for t in tokens}


def coverage(question_tokens: list[str], passage_text: str, weights: dict[str, float]) -> float:
    """Share (0..1) of the question's weighted tokens that occur in the passage."""
    unique = list(dict.fromkeys(question_tokens))
    if not unique:
        return 0.0
    passage_tokens = set(tokenize(passage_text))
    total = sum(weights.get(t, 1.0) for t in unique)
    found = sum(weights.get(t, 1.0) for t in unique if t in passage_tokens or (len(t) > 1 and t in passage_text))
    return found / total if total else 0.0
