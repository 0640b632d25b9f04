"""How much the retrieved passages say about the question, and when that is too little to answer.

Evidence is the IDF-weighted share of the question's content tokens that the best passage (with
its title and heading path) contains. It is absolute (unlike fused ranks), cheap, and explains
itself.

Refusal threshold `min_evidence` (settings, default 0.13), calibrated with
`bench/calibrate_evidence.py` on real questions, the 292 legal-consultation questions of
../shared/eval/consult-dev.jsonl, evidence computed exactly as `Assistant.answer` does (top 5
passages of the served retrieval, scaffolding-stripped question):

- in scope: each question against the statute index (378 laws, 11,452 chunks) when its gold
  article is among the 5 passages an answer draws on: 107 questions. Evidence median 0.248
  (p5 0.062, p25 0.147, p75 0.331, p95 0.503).
- out of scope: the same 292 questions against an index of the seed policy document alone (a
  reply on pilot-scale platforms, nothing about labour, traffic or family law), where every answer
  would be unsupported. Evidence median 0.038 (p75 0.067, p95 0.122, max < 0.25).

  threshold  in-scope answered  out-of-scope refused  balanced accuracy
  0.10       90.7 %             88.7 %                0.897
  0.12       87.9 %             94.2 %                0.910  (best balanced accuracy)
  0.13       85.0 %             96.2 %                0.906  (lowest refusing >= 95 % out of scope)
  0.15       73.8 %             99.0 %                0.864
  0.30       33.6 %            100.0 %                0.668  (the previous default)

0.13 is chosen: within 0.004 of the best balanced accuracy, and an unsupported answer costs more
than a refusal (the refusal lists the closest passages and offers a hand-off). The old 0.30
refused two in-scope questions in three. Limits: the out-of-scope side shares no vocabulary with
the questions, so it is the easy case; out-of-scope questions worded like the corpus will score
higher, and the log of refused and answered questions (assistant/review/) is where to watch that.
The dev index (76 laws, 3,140 chunks) gave the same choice (0.12 best, 0.13 for >= 95 %).
"""

from __future__ import annotations

from functools import lru_cache

from assistant.store.keyword import tokenize

# Words more common than this (general-language IDF, e.g. 想 4.1, 做 4.0) say nothing about the topic.
MIN_IDF = 4.5


@lru_cache(maxsize=1)
def _general_idf() -> tuple[dict[str, float], float]:
    import jieba.analyse

    table = jieba.analyse.default_tfidf
    return table.idf_freq, float(table.median_idf)


def term_weights(tokens: list[str]) -> dict[str, float]:
    """General-language IDF (jieba's table) of each question word: corpus-independent, so the same
    question weighs the same on a one-document index and on 26 k statute articles. Words the table
    lacks (domain terms such as 众创空间) get its median; very common words get 0."""
    idf, median = _general_idf()
    weights = {}
    for token in tokens:
        value = idf.get(token, median)
        weights[token] = value if value >= MIN_IDF else 0.0
    return weights


def coverage(question_tokens: list[str], passage_text: str, weights: dict[str, float]) -> float:
    """Share (0..1) of the question's weighted tokens that occur in the passage."""
    unique = list(dict.fromkeys(question_tokens))
    if not unique:
        return 0.0
    passage_tokens = set(tokenize(passage_text))
    total = sum(weights.get(t, 1.0) for t in unique)
    found = sum(weights.get(t, 1.0) for t in unique if t in passage_tokens or (len(t) > 1 and t in passage_text))
    return found / total if total else 0.0
