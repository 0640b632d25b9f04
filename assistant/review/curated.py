"""Curated answers: a liaison's approved or corrected answer, served again to the same question.

A later question gets a curated answer when, after `normalize_question`, it is the curated
question, or when its embedding is within `curated_threshold` (settings) of it and both name the
same figures (years, amounts, article numbers: "2023年末" and "2022年末" embed almost alike but
do not ask the same thing). Matching uses the retrieval query, so a follow-up ("那下一步呢？") is
compared with its resolved form, not with a curated follow-up from another conversation.

Threshold calibration (`python -m bench.curated`; m3e-small; enterprise-style question
pairs written for this: 30 paraphrases, 30 near misses = same topic but a different ask, 20
unrelated; cosine of the normalised questions, 0 where their figures differ):

    paraphrase  min 0.766  p10 0.855  median 0.948  max 0.986
    near miss   min 0.000  p10 0.596  median 0.837  max 0.969
    unrelated   min 0.562  p10 0.591  median 0.623  max 0.728

    threshold   paraphrases served   wrong matches (near miss + unrelated)
    0.90        80 %                 6
    0.95        43 %                 1   (高校毕业生就业补贴如何领取 / 创业补贴, 0.969)
    0.97        20 %                 0   (0.001 above that near miss)
    0.975       13 % (4 of 30)       0   <- the default (settings.curated_threshold)

Paraphrases and near misses overlap: one changed word ("就业"/"创业", "天津"/"北京", "额度"/"贴息
比例") moves the embedding less than a rewording does, and no lexical rule tried separated them
either. A wrong curated answer, shown as checked by a liaison, does more harm than none (the
question is then answered as usual, from retrieval, and can be reviewed), so the threshold sits
above every near miss with a margin: only close rewordings ("如何申请稳岗补贴" / "稳岗补贴怎么申请",
0.981) are served. Same-question matches (after normalisation) are served whatever the threshold.
Lower it only after adding pairs from the real log to assistant/review/calibrate.py and re-running
the calibration (figures saved in bench/results/curated-calibration.json).

A curated answer records the (source, sha256) of every document it cites, from the manifest of
the version it was made under. When the live manifest differs (document revised or removed by a
re-index) the curated answer is stale: never served again, and its item returns to the review
queue. A new verdict makes a new curated answer; nothing is edited in place.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assistant.numerals import AMOUNT, NUMBER, to_int

Encode = Callable[[list[str]], np.ndarray]

_POLITE_START = re.compile(r"^(请问一下|请问|您好|你好|麻烦问一下|想问一下|我想问|咨询一下)+")
_PARTICLE_END = re.compile(r"(呢|吗|呀|啊|吧|哈)+$")
_NOT_WORD = re.compile(r"[^\w+]", re.U)
_ARABIC = re.compile(r"\d+(?:\.\d+)?")
_UNIT = re.compile(rf"第({NUMBER})(编|章|节|条|款|项)")
_CN_NUMBER = re.compile(AMOUNT)


def normalize_question(text: str) -> str:
    """Full-width folded, lower case, no punctuation or spaces, no polite opening or final particle."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _NOT_WORD.sub("", text).replace("_", "")
    text = _POLITE_START.sub("", text)
    return _PARTICLE_END.sub("", text)


def figures(text: str) -> frozenset[str]:
    """The figures a question names: Arabic numbers, 第N条-style references, Chinese numbers (not a lone 一/两)."""
    text = unicodedata.normalize("NFKC", text)
    found: set[str] = set()
    for match in _UNIT.finditer(text):
        found.add(f"{match.group(2)}{to_int(match.group(1)) or match.group(1)}")
    rest = _UNIT.sub(" ", text)
    found.update(_ARABIC.findall(rest))
    for run in _CN_NUMBER.findall(rest):
        if run not in ("一", "两", "万", "亿", "千", "百"):
            found.add(str(to_int(run) or run))
    return frozenset(found)


def figures_agree(a: str, b: str) -> bool:
    return figures(a) == figures(b)


@dataclass
class CuratedAnswer:
    """One curated answer as stored (immutable once written; staleness is a separate event)."""

    id: int
    answer_id: int
    verdict_id: int
    created_at: str
    question: str
    query: str
    norm: str
    answer: str
    citations: list[dict[str, Any]]
    documents: list[dict[str, str]]  # [{source, sha256, title}]
    vector: np.ndarray | None = field(default=None, repr=False)


def stale_reason(documents: Sequence[dict[str, str]], manifest_documents: dict[str, Any]) -> str | None:
    """Why a curated answer may no longer be served under this manifest, or None while it may."""
    reasons = []
    for doc in documents:
        current = manifest_documents.get(doc["source"])
        title = doc.get("title") or doc["source"]
        if current is None:
            reasons.append(f"《{title}》已从索引中移除")
        elif current.get("sha256") != doc["sha256"]:
            reasons.append(f"《{title}》已修订")
    return "；".join(reasons) or None


@dataclass
class Match:
    curated: CuratedAnswer
    how: str  # "same question" or "similar question"
    similarity: float


def best_match(query: str, candidates: Sequence[CuratedAnswer], encode: Encode, threshold: float) -> Match | None:
    """The newest curated answer to the same normalised question, else the closest one above the threshold."""
    if not candidates:
        return None
    norm = normalize_question(query)
    if not norm:
        return None
    same = [c for c in candidates if c.norm == norm]
    if same:
        return Match(max(same, key=lambda c: c.id), "same question", 1.0)
    usable = [c for c in candidates if c.vector is not None and figures_agree(query, c.query)]
    if not usable:
        return None
    vector = np.asarray(encode([norm]), dtype=np.float32)[0]
    sims = np.stack([c.vector for c in usable if c.vector is not None]) @ vector
    best = int(np.argmax(sims))
    if float(sims[best]) < threshold:
        return None
    return Match(usable[best], "similar question", float(sims[best]))
