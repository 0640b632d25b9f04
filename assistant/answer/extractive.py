"""The embedded answerer: no LLM. The answer is sentences of the retrieved passages, each cited.

Sentences are scored by how much of the question they contain (IDF-weighted), with a lift for
figures when the question asks how many/much; the best are kept in passage order. Nothing is
written that is not a sentence of a cited passage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from langchain_core.documents import Document

from assistant.answer.base import AnswerRequest, ComposedAnswer, Delta
from assistant.answer.evidence import coverage, term_weights
from assistant.numerals import NUMBER
from assistant.retrieve.query import clean_for_keywords
from assistant.store.keyword import tokenize
from assistant.text import cited_parts, sentences

_ASKS_NUMBER = re.compile(r"(多少|几[个家项条名所年月天次]|几|数量|金额|比例|多大|多长|多久|何时|什么时候|哪年)")
_DIGIT = re.compile(r"\d|[一二三四五六七八九十百千万亿]+[个家项名条年月日天%％]")


@dataclass
class Sentence:
    passage: int  # index into the passages list
    start: int
    end: int
    text: str
    score: float


def split_sentences(text: str) -> list[tuple[int, int, str]]:
    """Sentences long enough to say something (4 characters and more)."""
    return sentences(text, min_chars=4)


def article_span(text: str, article: str) -> tuple[int, int] | None:
    """Where one article (第十条 …) sits inside a chunk that may hold several."""
    match = re.search(rf"(?m)^{re.escape(article)}(?=[\s:：\u4e00-\u9fff“（(]|$)", text)
    if not match:
        return None
    following = re.search(rf"(?m)^第{NUMBER}条(?=[\s:：\u4e00-\u9fff“（(]|$)",
                          text[match.end():])
    return match.start(), (match.end() + following.start()) if following else len(text)


def quote_article(passage: Document, article: str, max_sentences: int = 8) -> ComposedAnswer:
    """An article asked for by number: its own sentences, in order, all cited."""
    span = article_span(passage.page_content, article) or (0, len(passage.page_content))
    chosen = [(s, e, t) for s, e, t in split_sentences(passage.page_content) if s >= span[0] and e <= span[1]]
    chosen = chosen[:max_sentences]
    if not chosen:
        return ComposedAnswer("", [])
    text = "".join(f"{t}[1]" for _, _, t in chosen)
    return ComposedAnswer(text, [0], {0: [(s, e) for s, e, _ in chosen]})


def compose(question: str, passages: list[Document], weights: dict[str, float],
            max_sentences: int = 3, max_passages: int = 3, focus: str | None = None) -> ComposedAnswer:
    """Pick and order sentences of the passages that answer the question; cite each.

    `focus` is the latest user turn when the question was resolved from a conversation: its own
    words weigh double, so a follow-up gets its answer and not the previous one again.
    """
    q_tokens = tokenize(question)
    if focus:
        emphasis = set(tokenize(focus))
        weights = {t: w * (2.0 if t in emphasis else 1.0) for t, w in weights.items()}
    asks_number = bool(_ASKS_NUMBER.search(question))
    scored: list[Sentence] = []
    for p_idx, passage in enumerate(passages[:max_passages]):
        rank_prior = 1.0 - 0.1 * p_idx
        for start, end, text in split_sentences(passage.page_content):
            score = coverage(q_tokens, text, weights)
            if score > 0 and asks_number and _DIGIT.search(text):
                score *= 1.25  # the question asks for a figure: a sentence that has one answers better
            if score > 0:
                scored.append(Sentence(p_idx, start, end, text, score * rank_prior))
    if not scored:
        return ComposedAnswer("", [])
    best = max(s.score for s in scored)
    chosen = sorted(scored, key=lambda s: -s.score)[:max_sentences]
    chosen = [s for s in chosen if s.score >= 0.6 * best]
    chosen.sort(key=lambda s: (s.passage, s.start))
    cited: list[int] = []
    highlights: dict[int, list[tuple[int, int]]] = {}
    parts = []
    for sentence in chosen:
        if sentence.passage not in cited:
            cited.append(sentence.passage)
        n = cited.index(sentence.passage) + 1
        highlights.setdefault(sentence.passage, []).append((sentence.start, sentence.end))
        parts.append(f"{sentence.text}[{n}]")
    return ComposedAnswer("".join(parts), cited, highlights)


class ExtractiveAnswerer:
    """The embedded answerer: no model, every part a verbatim sentence of a cited passage."""

    name = "extractive"

    def stream(self, request: AnswerRequest) -> Iterator[Delta | ComposedAnswer]:
        composed = self.compose(request)
        for part in cited_parts(composed.text):
            yield Delta(part)
        yield composed

    def compose(self, request: AnswerRequest) -> ComposedAnswer:
        passages = request.passages
        if request.article and passages and passages[0].metadata.get("exact"):
            return quote_article(passages[0], request.article)
        keywords = clean_for_keywords(request.query) or request.query
        focus = clean_for_keywords(request.question) if request.query != request.question else None
        return compose(keywords, passages, term_weights(tokenize(keywords)), focus=focus)

