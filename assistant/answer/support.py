"""Whether an answer sentence is backed by the passages it cites: the one rule for answers and review.

The LLM answerer drops a sentence this rule calls weak before anyone sees it; the liaisons' review
shows the same verdict beside each sentence of a logged answer. An answer is cut into sentences, each
with the citation markers ([1], [2]) that follow it. A sentence's support from a passage is the mean
of two shares:

* tokens: the share of its jieba tokens (`assistant.store.keyword.tokenize`, function words left
  out) that occur in the passage, which rewards the right words in another order;
* characters: the share of its letters, digits and Han characters covered by runs of two or more
  characters that the passage contains, which rewards verbatim quotes and catches changed figures.

A passage's context (title, 文号, issuer, date, heading path), when the caller gives it, may hold a
sentence's figures and bodies, and a 《title》 or 文号 the sentence names its source by is not counted
against it; the shares are of the passage text alone. A sentence is weak when it cites nothing,
cites a passage that does not exist, only repeats a cited passage's title or heading, scores below
`weak_below` (settings.weak_support), or names a figure (25, 2023, 170余亿元, 百分之五十, 三百家) or a
body (科技局, 国务院办公厅, 中国人民银行) that none of its passages contains, whatever its score. The covered runs are also the highlights: the words of
the passage that the sentence uses.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import jieba

from assistant.numerals import normalize_units, to_cn, to_int
from assistant.store.keyword import tokenize
from assistant.text import sentences as split_sentences

_MARKERS = re.compile(r"((?:\s*\[\d+\])+)")
_NUMBER = re.compile(r"\d+")
_FIGURE = re.compile(r"\d+(?:\.\d+)?")
# Chinese numerals that state an amount: 三百家, 两亿元, 百分之五十 (一个, 一是 are words, not figures).
_CN_FIGURE = re.compile(r"百分之[零〇一二三四五六七八九十百千万两点]+"
                        r"|(?<![\d.])[零〇一二三四五六七八九十两]*[十百千万亿][零〇一二三四五六七八九十百千万亿两]*"
                        r"(?=[家个项名所条批类种倍元人户台套万亿%])")
# Endings of the names of bodies: offices, ministries, commissions, banks, associations.
_BODY_ENDINGS = ("部", "委", "局", "厅", "署", "院", "办", "政府", "委员会", "银行", "协会", "商会", "联合会",
                 "中心", "集团", "公司", "大学", "学会")
# What a sentence may name its source by: the 《title》 and the 文号 (国办发〔2020〕6号).
_SOURCE_NAME = re.compile(r"《([^《》]{1,120})》|([\u4e00-\u9fff]{1,12}[〔\[［(（]\d{4}[〕\]］)）]\d+号)")
_LABELS = re.compile(r"(?:文号|发布机关|日期|位置)[:：]")  # the prompt's labels, when a model echoes them
_HAN_WORD = re.compile(r"[\u4e00-\u9fff]{1,8}")
_CONTENT = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
MIN_RUN = 2
_NAME_ONLY = re.compile(r"《[^《》]*》|[（(][^（）()]*[）)]")
HEADING_ECHO = 0.9  # a sentence this much made of its passage's title and heading only repeats them


@dataclass
class PassageSupport:
    n: int
    support: float
    token_share: float
    char_share: float
    highlights: list[tuple[int, int]] = field(default_factory=list)
    missing_figures: list[str] = field(default_factory=list)
    missing_bodies: list[str] = field(default_factory=list)


@dataclass
class SentenceSupport:
    text: str
    cites: list[int]
    support: float  # the best of its cited passages; 0 when it cites none
    weak: bool
    passages: list[PassageSupport] = field(default_factory=list)
    missing_figures: list[str] = field(default_factory=list)  # in none of its passages
    missing_bodies: list[str] = field(default_factory=list)  # named bodies in none of its passages
    unknown_cites: list[int] = field(default_factory=list)  # [n] that name no passage
    heading_only: bool = False  # it only repeats a cited passage's title or heading path

    @property
    def reason(self) -> str | None:
        """Why the sentence is weak (the first reason that applies), None when it is backed."""
        if not self.cites:
            return "no citation"
        if self.unknown_cites:
            return f"cites no such passage: {self.unknown_cites}"
        if self.missing_figures:
            return f"figures not in its passages: {self.missing_figures}"
        if self.missing_bodies:
            return f"bodies not in its passages: {self.missing_bodies}"
        if self.heading_only:
            return "repeats a heading"
        return "low support" if self.weak else None


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


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def _has_number(text: str, figure: str) -> bool:
    """The number itself, not a longer one that contains it (25 is not in 250)."""
    return re.search(rf"(?<![\d.]){re.escape(figure)}(?![\d]|\.\d)", text) is not None


def figures(sentence: str) -> list[str]:
    """The figures a sentence states: Arabic numbers (dates, amounts, percentages) and amounts in
    Chinese numerals."""
    text = unicodedata.normalize("NFKC", sentence)
    spelled = [f for f in _CN_FIGURE.findall(text) if f.strip("万亿")]  # 亿 alone is a unit
    return list(dict.fromkeys([*_FIGURE.findall(text), *spelled]))


def has_figure(text: str, figure: str) -> bool:
    """`figure` is in `text` (NFKC), as written or in the other numeral form (25 = 二十五)."""
    text = unicodedata.normalize("NFKC", text)
    if figure[0].isdigit():
        if _has_number(text, figure):
            return True
        if not (figure.isdigit() and 0 < int(figure) < 10 ** 8):
            return False
        spelled = to_cn(int(figure))
        return spelled in text or (spelled.startswith("二") and "两" + spelled[1:] in text)  # 2 = 两
    if figure in text:
        return True
    percent = figure.startswith("百分之")
    value = to_int(figure.removeprefix("百分之").rstrip("万亿") or "x")
    if value is None:
        return False
    found = _has_number(text, str(value))
    return found and (not percent or re.search(rf"(?<![\d.]){value}\s*%", text) is not None)


def bodies(sentence: str) -> list[str]:
    """Names of bodies in a sentence: words of three or more characters that end like one (科技局,
    国务院办公厅), and an ending jieba cut off joined to the word before it (改革 + 委, 市工 + 信局)."""
    words = [w for w in jieba.lcut(sentence) if w.strip()]
    found = []
    for i, word in enumerate(words):
        if len(word) >= 3 and word.endswith(_BODY_ENDINGS):
            found.append(word)
        elif (i and word[-1] in _BODY_ENDINGS and len(word) <= 2 and not (len(word) == 2 and jieba.dt.FREQ.get(word))
              and _HAN_WORD.fullmatch(words[i - 1]) and len(words[i - 1] + word) >= 3):
            found.append(words[i - 1] + word)
    return list(dict.fromkeys(found))


def _source_names(sentence: str, context: str) -> set[int]:
    """Offsets of the 《title》 and 文号 in `sentence` that `context` holds (the longest tail of a 文号
    match that it holds: 依据国办发〔2020〕6号 names 国办发〔2020〕6号)."""
    named: set[int] = set()
    for match in _SOURCE_NAME.finditer(sentence) if context else ():
        if match.group(1):
            if match.group(1) in context:
                named.update(range(match.start(), match.end()))
            continue
        start = next((i for i in range(match.start(), match.end()) if sentence[i:match.end()] in context), None)
        if start is not None:
            named.update(range(start, match.end()))
    return named


def passage_support(sentence: str, passage: str, n: int = 0, context: str = "") -> PassageSupport:
    """How much of `sentence` the passage holds. Its `context` (title, 文号, date, heading path) may
    hold the sentence's figures and bodies, and a 《title》 or 文号 it names is left out of the shares; the
    rest must come from the passage text itself, so echoing a passage's heading backs nothing.
    Highlights are offsets into the passage."""
    named = _source_names(sentence, context)
    content = [i for i, ch in enumerate(sentence) if _CONTENT.match(ch) and i not in named]
    if not content:
        return PassageSupport(n, 0.0, 0.0, 0.0)
    spans, found = _runs(sentence, passage)
    covered = {i for s, e in spans for i in range(s, e)}
    char_share = sum(1 for i in content if i in covered) / len(content)
    rest = "".join(" " if i in named else ch for i, ch in enumerate(sentence))
    tokens = list(dict.fromkeys(tokenize(rest)))
    normalized = normalize_units(passage).lower()
    token_share = (sum(1 for t in tokens if t in normalized) / len(tokens)) if tokens else char_share
    score = round((token_share + char_share) / 2, 4)
    searched = f"{passage}\n{context}" if context else passage
    missing = [f for f in figures(sentence) if not has_figure(searched, f)]
    absent = [b for b in bodies(sentence) if b not in normalize_units(searched).lower()]
    return PassageSupport(n, score, round(token_share, 4), round(char_share, 4), merge_spans(found), missing, absent)


def sentence_support(sentence: str, cites: list[int], passages: dict[int, str], weak_below: float,
                     context: dict[int, str] | None = None) -> SentenceSupport:
    """One sentence against the passages it cites (`passages`: citation number → text)."""
    context = context or {}
    scored = [passage_support(sentence, passages[n], n, context.get(n, "")) for n in cites if n in passages]
    unknown = [n for n in cites if n not in passages]
    best = max((p.support for p in scored), default=0.0)
    missing = [f for f in figures(sentence) if all(f in p.missing_figures for p in scored)]
    absent = [b for b in bodies(sentence) if all(b in p.missing_bodies for p in scored)]
    echo = any(_heading_share(sentence, context.get(n, "")) >= HEADING_ECHO for n in cites)
    weak = best < weak_below or bool(missing or absent or unknown) or not cites or echo
    return SentenceSupport(sentence, cites, best, weak, scored, missing, absent, unknown, echo)


def _heading_share(sentence: str, context: str) -> float:
    """The share of the sentence (the prompt's labels left out) that its passage's context holds:
    《重庆推行“非接触式”办税缴费》（位置：第1段） is all title and heading, and no answer. A sentence
    that is only a 《title》 and a parenthesis names a document and says nothing: 1.0."""
    if not _CONTENT.search(_NAME_ONLY.sub("", sentence)):
        return 1.0
    text = _LABELS.sub("", sentence)
    content = [i for i, ch in enumerate(text) if _CONTENT.match(ch)]
    if not content or not context:
        return 0.0
    spans, _ = _runs(text, context)
    covered = {i for s, e in spans for i in range(s, e)}
    return sum(1 for i in content if i in covered) / len(content)


def answer_support(answer: str, passages: dict[int, str], weak_below: float,
                   context: dict[int, str] | None = None) -> list[SentenceSupport]:
    """Each sentence of the answer against the passages it cites (`passages`: citation number → text)."""
    return [sentence_support(sentence, cites, passages, weak_below, context)
            for sentence, cites in split_answer(answer)]


def min_support(answer: str, passages: dict[int, str], context: dict[int, str] | None = None) -> float | None:
    """The weakest sentence's support (0 when a figure or body is missing), or None for an answer
    without cited sentences (a refusal)."""
    sentences = answer_support(answer, passages, 0.0, context)
    if not any(s.cites for s in sentences):
        return None
    return min(0.0 if (s.missing_figures or s.missing_bodies) else s.support for s in sentences)


def context_text(*parts: str | None) -> str:
    """A passage's context for the rule: its title, 文号, issuer, date and heading path, joined."""
    return " ".join(p for p in parts if p)


def citation_highlights(answer: str, passages: dict[int, str]) -> dict[int, list[tuple[int, int]]]:
    """For each citation number, the passage spans its sentences use (highlights for the chat)."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for sentence in answer_support(answer, passages, 0.0):
        for passage in sentence.passages:
            spans.setdefault(passage.n, []).extend(passage.highlights)
    return {n: merge_spans(s) for n, s in spans.items()}
