"""Training groups for the cross-encoder: (question, [positive, negative, ...]) with the positive first.

Sources, all public or the project's own:
- SQuAD-format reading comprehension (../shared/train: CMRC 2018, DRCD converted to simplified
  characters): the question's context is the positive; negatives are the contexts of other
  articles that share most words with the question (BM25), so the model learns to read rather
  than to count words;
- the development sets, over the same chunks the product indexes (bench/evalcache.py): the gold
  article's chunk (statutes) or the gold document's chunk that holds the gold answer (policyqa) is
  the positive; negatives are what the served ranking puts above or around it (hard negatives);
- a deployment's review log: an approved answer's cited passages positive, a rejected answer's
  negative (`review_groups`).

Groups are JSON lines: {"query", "passages", "set", "fold"}; `fold` is the development fold of the
question (-1 for data no fold holds), so training can leave one fold out.
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Dev folds (bench/offline.py `folds`) the shipped recipe never trains on: its held-out figures.
HELD_OUT = "3,4"
GROUP = 4  # passages per group: the positive and 3 negatives (the listwise loss's softmax width)


@dataclass
class Group:
    query: str
    passages: list[str]  # positive first
    set: str
    fold: int = -1


def normalise(text: str) -> str:
    """NFKC without whitespace: how the policyqa answers are compared with the texts."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def write_groups(groups: Iterable[Group], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for g in groups:
            out.write(json.dumps(asdict(g), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_groups(path: Path) -> list[Group]:
    """Groups from JSON lines, or from a pack (`write_pack`)."""
    if path.name.endswith("pack.json.gz"):
        packed = _read_pack(path)
        texts = packed["texts"]
        return [Group(g["query"], [texts[i] for i in g["ids"]], g["set"], g["fold"]) for g in packed["groups"]]
    return [Group(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_candidates(path: Path) -> list[dict[str, Any]]:
    """Candidate lists to score: JSON lines {"key", "fold", "query", "passages"}, or from a pack."""
    if path.name.endswith("pack.json.gz"):
        packed = _read_pack(path)
        texts = packed["texts"]
        return [{**c, "passages": [texts[i] for i in c.pop("ids")]} for c in packed["candidates"]]
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def write_pack(groups: list[Group], candidates: list[dict[str, Any]], path: Path) -> None:
    """Groups and candidate lists in one gzip file with every passage text stored once: what travels
    to an accelerator machine (a tenth of the JSON lines' size)."""
    import gzip

    ids: dict[str, int] = {}

    def ref(text: str) -> int:
        return ids.setdefault(text, len(ids))

    packed: dict[str, Any] = {
        "groups": [{"query": g.query, "ids": [ref(p) for p in g.passages], "set": g.set, "fold": g.fold}
                   for g in groups],
        "candidates": [{"key": c["key"], "fold": c["fold"], "set": c.get("set", ""), "query": c["query"],
                        "ids": [ref(p) for p in c["passages"]]} for c in candidates],
    }
    packed["texts"] = list(ids)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as out:
        json.dump(packed, out, ensure_ascii=False)


def _read_pack(path: Path) -> dict[str, Any]:
    import gzip

    with gzip.open(path, "rt", encoding="utf-8") as f:
        packed: dict[str, Any] = json.load(f)
    return packed


# --- public reading-comprehension data ------------------------------------------------------------------


def squad_items(path: Path, simplify: bool = False) -> Iterator[tuple[str, str, str]]:
    """(article id, context, question) of every question of a SQuAD-format file."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    convert = _to_simplified if simplify else (lambda s: s)
    for article in data:
        for paragraph in article["paragraphs"]:
            context = convert(paragraph["context"])
            for qa in paragraph["qas"]:
                yield str(article.get("id") or article.get("title")), context, convert(qa["question"])


def squad_items_full(files: list[tuple[Path, bool]]) -> Iterator[tuple[str, str, str, str, int]]:
    """(title, context, question, answer, answer start) of every answered question of the files; the
    start is found again after conversion to simplified characters (which may change lengths)."""
    for path, simplify in files:
        convert = _to_simplified if simplify else (lambda s: s)
        for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
            title = convert(str(article.get("title") or ""))
            for paragraph in article["paragraphs"]:
                context = convert(paragraph["context"])
                for qa in paragraph["qas"]:
                    if not qa.get("answers"):
                        continue
                    answer = convert(qa["answers"][0]["text"])
                    start = context.find(answer, max(0, int(qa["answers"][0]["answer_start"]) - 8))
                    start = start if start >= 0 else context.find(answer)
                    if answer and start >= 0:
                        yield title, context, convert(qa["question"]), answer, start


def _to_simplified(text: str) -> str:
    import zhconv  # pure Python, MIT; OpenCC-style table conversion

    return str(zhconv.convert(text, "zh-cn"))


def squad_groups(files: list[tuple[Path, bool]], rng: random.Random, size: int = GROUP,
                 pool: int = 30) -> list[Group]:
    """One group per question: its context first, then contexts of other articles ranked by BM25."""
    from assistant.store.keyword import KeywordIndex, tokenize

    items = [item for path, simplify in files for item in squad_items(path, simplify)]
    contexts = list(dict.fromkeys((a, c) for a, c, _ in items))
    index = KeywordIndex.build([tokenize(c) for _, c in contexts])
    groups = []
    for article, context, question in items:
        scores = index.scores(tokenize(question))
        ranked = [contexts[i][1] for i in _top(scores, pool) if contexts[i][0] != article]
        negatives = rng.sample(ranked, min(size - 1, len(ranked)))
        while len(negatives) < size - 1:  # few word-sharing contexts: random ones fill the group
            a, c = contexts[rng.randrange(len(contexts))]
            if a != article and c not in negatives:
                negatives.append(c)
        groups.append(Group(question, [context, *negatives], "squad"))
    return groups


def _top(scores: Any, k: int) -> list[int]:
    import numpy as np

    return [int(i) for i in np.argsort(-scores)[:k]]


# --- the development sets, over the product's chunks ------------------------------------------------------


def policy_positive(units: list[dict[str, Any]], rows: list[int], answer: str) -> list[int]:
    """The gold document's chunks that hold the gold answer; else the one holding most of it."""
    gold = normalise(answer)
    holding = [i for i in rows if gold and gold in normalise(units[i]["text"])]
    if holding or not rows:
        return holding
    from difflib import SequenceMatcher

    def overlap(i: int) -> int:
        text = normalise(units[i]["text"])
        return sum(b.size for b in SequenceMatcher(None, gold, text, autojunk=False).get_matching_blocks())

    return [max(rows, key=overlap)]


def candidate_group(query: str, positives: list[str], ranked: list[str], rng: random.Random, set_name: str,
                    fold: int, size: int = GROUP, repeats: int = 1) -> list[Group]:
    """Groups for one development question: a positive and negatives drawn from the ranked candidates
    (the first ones always, the rest sampled), `repeats` times with other draws."""
    negatives = [p for p in dict.fromkeys(ranked) if p not in positives]
    if not positives or not negatives:
        return []
    out = []
    for r in range(repeats):
        head = negatives[: min(3, size - 2)]  # the hardest always, the rest sampled
        tail = negatives[3:]
        draw = head + rng.sample(tail, min(size - 1 - len(head), len(tail)))
        while len(draw) < size - 1:
            draw.append(negatives[rng.randrange(len(negatives))])
        out.append(Group(query, [positives[r % len(positives)], *draw[: size - 1]], set_name, fold))
    return out


# --- a deployment's review log ----------------------------------------------------------------------------


def review_groups(db_path: Path, rng: random.Random, size: int = GROUP) -> list[Group]:
    """Liaison verdicts as groups: a question whose answer was judged correct has its cited passages
    as positives; the passages of answers judged incorrect (to any question) are the negatives."""
    import sqlite3

    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT a.question, a.citations, v.verdict FROM answers a JOIN verdicts v ON v.answer_id = a.id"
        ).fetchall()
    finally:
        db.close()
    approved: list[tuple[str, list[str]]] = []
    rejected: list[str] = []
    for question, citations, verdict in rows:
        texts = [_cited_text(c) for c in json.loads(citations or "[]") if c.get("text")]
        if verdict == "correct":
            approved.append((question, texts))
        elif verdict == "incorrect":
            rejected.extend(texts)
    groups = []
    for question, texts in approved:
        negatives = [t for t in rejected if t not in texts]
        if texts and len(negatives) >= size - 1:
            groups.append(Group(question, [texts[0], *rng.sample(negatives, size - 1)], "review"))
    return groups


def _cited_text(citation: dict[str, Any]) -> str:
    """A logged citation as the model reads a passage (title, heading path, text)."""
    from assistant.rerank.cross_encoder import passage_text

    title = str((citation.get("document") or {}).get("title", ""))
    return passage_text(title, str(citation.get("locator", "")), str(citation["text"]))
