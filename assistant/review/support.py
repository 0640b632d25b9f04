"""How much of each answer sentence its cited passage contains: what a liaison checks first.

An answer is cut into sentences, each with the citation markers ([1], [2]) that follow it. A
sentence's support from a passage is the mean of two shares:

* tokens: the share of its jieba tokens (`assistant.store.keyword.tokenize`, function words left
  out) that occur in the passage, which rewards the right words in another order;
* characters: the share of its letters, digits and Han characters covered by runs of two or more
  characters that the passage contains, which rewards verbatim quotes and catches changed figures.

A quoted sentence scores 1.0; a sentence with a changed number or an added claim drops; a sentence
citing nothing scores 0. Below `weak_support` (settings) a sentence is flagged, and so is one
naming a figure (25, 2023, 170余亿元) that none of its passages contains, whatever its score. The covered runs
are also the highlights: the words of the passage that the sentence uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.numerals import normalize_units
from assistant.store.keyword import tokenize
from assistant.text import sentences as split_sentences

_MARKERS = re.compile(r"((?:\s*\[\d+\])+)")
_NUMBER = re.compile(r"\d+")
_FIGURE = re.compile(r"\d+(?:\.\d+)?")
_CONTENT = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
MIN_RUN = 2


@dataclass
class PassageSupport:
    n: int
    support: float
    token_share: float
    char_share: float
    highlights: list[tuple[int, int]] = field(default_factory=list)
    missing_figures: list[str] = field(default_factory=list)


@dataclass
class SentenceSupport:
    text: str
    cites: list[int]
    support: float  # the best of its cited passages; 0 when it cites none
    weak: bool
    passages: list[PassageSupport] = field(default_factory=list)
    missing_figures: list[str] = field(default_factory=list)  # in none of its passages


def split_answer(answer: str) -> list[tuple[str, list[int]]]:
    """(sentence, cited numbers): markers belong to the sentence they follow; a sentence before it
    in the same stretch of text (no marker of its own) cites nothing."""
    pieces = _MARKERS.split(answer)
    out: list[tuple[str, list[int]]] = []
    for i in range(0, len(pieces), 2):
        text = pieces[i]
        markers = [int(n) for n in _NUMBER.findall(pieces[i + 1])] if i + 1 < len(pieces) else []
        sentences = [s for _, _, s in split_sentences(text)]
        if not sentences and markers and out:  # "……。[1][2]" split oddly: attach to the previous one
            out[-1][1].extend(n for n in markers if n not in out[-1][1])
            continue
        for j, sentence in enumerate(sentences):
            cites = list(dict.fromkeys(markers)) if j == len(sentences) - 1 else []
            out.append((sentence, cites))
    return [(s, c) for s, c in out if _CONTENT.search(s)]


def _runs(sentence: str, passage: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Greedy longest runs (≥ MIN_RUN chars) of the sentence found in the passage:
    (spans in the sentence, spans in the passage)."""
    in_sentence: list[tuple[int, int]] = []
    in_passage: list[tuple[int, int]] = []
    i = 0
    while i < len(sentence):
        length = 0
        while i + length < len(sentence) and sentence[i:i + length + 1] in passage:
            length += 1
        if length >= MIN_RUN and _CONTENT.search(sentence[i:i + length]):
            at = passage.find(sentence[i:i + length])
            in_sentence.append((i, i + length))
            in_passage.append((at, at + length))
            i += length
        else:
            i += 1
    return in_sentence, in_passage


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def _has_figure(passage: str, figure: str) -> bool:
    """The number itself, not a longer one that contains it (25 is not in 250)."""
    return re.search(rf"(?<![\d.]){re.escape(figure)}(?![\d]|\.\d)", passage) is not None


def passage_support(sentence: str, passage: str, n: int = 0) -> PassageSupport:
    content = [i for i, ch in enumerate(sentence) if _CONTENT.match(ch)]
    if not content:
        return PassageSupport(n, 0.0, 0.0, 0.0)
    spans, highlights = _runs(sentence, passage)
    covered = {i for s, e in spans for i in range(s, e)}
    char_share = sum(1 for i in content if i in covered) / len(content)
    tokens = list(dict.fromkeys(tokenize(sentence)))
    normalized = normalize_units(passage).lower()
    token_share = (sum(1 for t in tokens if t in normalized) / len(tokens)) if tokens else char_share
    score = round((token_share + char_share) / 2, 4)
    missing = [f for f in dict.fromkeys(_FIGURE.findall(sentence)) if not _has_figure(passage, f)]
    return PassageSupport(n, score, round(token_share, 4), round(char_share, 4), _merge(highlights), missing)


def answer_support(answer: str, passages: dict[int, str], weak_below: float) -> list[SentenceSupport]:
    """Each sentence of the answer against the passages it cites (`passages`: citation number → text)."""
    out = []
    for sentence, cites in split_answer(answer):
        scored = [passage_support(sentence, passages[n], n) for n in cites if n in passages]
        best = max((p.support for p in scored), default=0.0)
        missing = [f for f in dict.fromkeys(_FIGURE.findall(sentence)) if all(f in p.missing_figures for p in scored)]
        out.append(SentenceSupport(sentence, cites, best, best < weak_below or bool(missing), scored, missing))
    return out


def min_support(answer: str, passages: dict[int, str]) -> float | None:
    """The weakest sentence's support (0 when a figure is missing), or None for an answer without
    cited sentences (a refusal)."""
    sentences = answer_support(answer, passages, 0.0)
    if not any(s.cites for s in sentences):
        return None
    return min(0.0 if s.missing_figures else s.support for s in sentences)


def citation_highlights(answer: str, passages: dict[int, str]) -> dict[int, list[tuple[int, int]]]:
    """For each citation number, the passage spans its sentences use (highlights for the chat)."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for sentence in answer_support(answer, passages, 0.0):
        for passage in sentence.passages:
            spans.setdefault(passage.n, []).extend(passage.highlights)
    return {n: _merge(s) for n, s in spans.items()}
