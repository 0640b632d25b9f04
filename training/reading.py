"""Training groups for the answer reader: (question, [answering sentence, other sentences …]).

The reader scores the units the composer quotes (assistant/answer/extractive.py `units_of`: a sentence,
with a numbered lead joined to what it heads), each read with its context (the passage title, heading
and the sentence before it), so it learns which sentence of a relevant passage answers, not which
passage is relevant (the reranker's job). Negatives come from the same passage: the sentences that
share the question's words without saying what it asks.

- SQuAD-format reading comprehension (CMRC 2018, DRCD): the unit that holds the gold answer span;
- policyqa dev: the unit of the served top passages with the highest ROUGE-L against the gold span
  (at least MIN_F), from the training folds only.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from assistant.answer.reader import unit_pair
from training.data import Group, squad_items_full

READER_GROUP = 6  # the answering unit and 5 others
MIN_F = 0.4  # a policyqa question whose best unit holds less of the gold span teaches nothing


def _units(context: str, title: str) -> list[Any]:
    from langchain_core.documents import Document

    from assistant.answer.extractive import units_of

    return units_of(0, Document(page_content=context, metadata={"title": title}))


def squad_reading_groups(files: list[tuple[Path, bool]], rng: random.Random, size: int = READER_GROUP,
                         limit: int | None = None) -> list[Group]:
    """One group per question whose answer lies inside one unit of its context."""
    items = list(squad_items_full(files))
    if limit and len(items) > limit:
        items = rng.sample(items, limit)
    cache: dict[str, list[Any]] = {}
    pool: list[str] = []
    groups: list[tuple[str, str, list[str]]] = []
    for title, context, question, answer, start in items:
        if context not in cache:
            cache[context] = _units(context, title)
            pool += [unit_pair(u.text, u.context) for u in cache[context][:3]]
        units = cache[context]
        holding = [u for u in units if u.start <= start and start + len(answer) <= u.end]
        if not holding:
            continue
        positive = holding[0]
        others = [unit_pair(u.text, u.context) for u in units if u is not positive]
        groups.append((question, unit_pair(positive.text, positive.context), others))
    out = []
    for question, positive, others in groups:
        negatives = rng.sample(others, min(size - 1, len(others)))
        while len(negatives) < size - 1:  # a short context: units of other articles fill the group
            negatives.append(pool[rng.randrange(len(pool))])
        out.append(Group(question, [positive, *negatives], "squad-reading"))
    return out


def policy_reading_groups(records: list[dict[str, Any]], rng: random.Random, size: int = READER_GROUP,
                          repeats: int = 2) -> list[Group]:
    """Groups from labelled policyqa units ({"q", "fold", "units": [{"text", "ctx", "f"}]})."""
    out = []
    for record in records:
        units = record["units"]
        if not units:
            continue
        best = max(units, key=lambda u: u["f"])
        if best["f"] < MIN_F:
            continue
        others = [unit_pair(u["text"], u["ctx"]) for u in units if u["f"] < 0.6 * best["f"]]
        if len(others) < size - 1:
            continue
        for _ in range(repeats):
            out.append(Group(record["q"], [unit_pair(best["text"], best["ctx"]), *rng.sample(others, size - 1)],
                             "policyqa-reading", record["fold"]))
    return out


def labelled_policy_units(index_dir: Path, passages: int = 5) -> list[dict[str, Any]]:
    """Every policyqa dev question with the units of its served top passages on a policyqa index
    (bench/devindex.py), each with its ROUGE-L F against the gold span, and the question's dev fold."""
    from assistant.answer.extractive import units_of
    from bench.offline import folds
    from bench.pq import load_questions, rouge_l
    from bench.qa_cache import documents, retrievals

    rows = load_questions()
    records = retrievals(index_dir, [r["question"] for r in rows])
    out = []
    for row, record, fold in zip(rows, records, folds(rows), strict=True):
        units = [u for i, d in enumerate(documents(record)[:passages]) for u in units_of(i, d)]
        out.append({"q": row["question"], "fold": fold, "answer": row["answer"],
                    "units": [{"text": u.text, "ctx": u.context, "f": round(rouge_l(u.text, row["answer"])[2], 3)}
                              for u in units]})
    return out
