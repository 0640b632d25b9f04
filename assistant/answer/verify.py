"""Model output → verified, cited sentences, one at a time as the tokens arrive.

`SentenceStream` cuts the token stream into sentences: a sentence is complete at its end mark
(。！？； or a line break) and the citation marks after it, once the next text starts (a "[1" at the
end of what has arrived may still grow). `Verifier` checks each against the passages it cites with
the one support rule (assistant/answer/support.py), drops the weak ones (counted), renumbers the
citations of the kept ones by first use, as every answer numbers them, and collects their highlights.
"""

from __future__ import annotations

import logging
import re

from langchain_core.documents import Document

from assistant.answer.base import ComposedAnswer
from assistant.answer.prompt import NOT_FOUND
from assistant.answer.support import context_text, merge_spans, sentence_support

log = logging.getLogger(__name__)

_END = re.compile(r"[。！？；!?]+[”’」』）)]*|\n")
_MARKS_AFTER = re.compile(r"(?:[ \t]*\[\d+\])*")
_PARTIAL_MARK = re.compile(r"\s*\[\d*$")
_MARK = re.compile(r"\[(\d+)\]")
_LEADING_MARKS = re.compile(r"\s*((?:\[\d+\]\s*)+)")
# Markdown and list lead-ins a chat model adds: **…**, ### …, - …, 1. …, 答：
_DECORATION = re.compile(r"\*\*|__|`")
_LEAD = re.compile(r"^\s*(?:#{1,6}\s*|[-*•]\s+|\d+[.、)）]\s*|答[:：]\s*|回答[:：]\s*)")
_CONTENT = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")


class SentenceStream:
    """Feed it text as it arrives; it hands back each sentence (with its marks) once complete."""

    def __init__(self) -> None:
        self.buffer = ""

    def feed(self, text: str) -> list[str]:
        self.buffer += text
        out = []
        while match := _END.search(self.buffer):
            end = _MARKS_AFTER.match(self.buffer, match.end())
            cut = end.end() if end else match.end()
            rest = self.buffer[cut:]
            if not rest.strip() or _PARTIAL_MARK.fullmatch(rest):
                break  # the marks that follow may not all have arrived
            out.append(self.buffer[:cut])
            self.buffer = rest
        return out

    def close(self) -> list[str]:
        rest, self.buffer = self.buffer, ""
        return [rest] if rest.strip() else []


def clean(piece: str) -> tuple[str, list[int]]:
    """A sentence without its marks and decoration, and the passage numbers it cites, in order."""
    cites = list(dict.fromkeys(int(n) for n in _MARK.findall(piece)))
    text = _DECORATION.sub("", _MARK.sub("", piece))
    text = _LEAD.sub("", text.strip()).strip()
    return text, cites


class Verifier:
    """Keeps the sentences their cited passages back; the answer so far, numbered as answers are."""

    def __init__(self, passages: list[Document], weak_below: float) -> None:
        self.passages = passages
        self.texts = {i + 1: p.page_content for i, p in enumerate(passages)}
        self.context = {i + 1: context_text(p.metadata.get("title"), p.metadata.get("doc_number"),
                                            p.metadata.get("issuer"), p.metadata.get("date"),
                                            p.metadata.get("locator")) for i, p in enumerate(passages)}
        self.weak_below = weak_below
        self.parts: list[str] = []
        self.cited: list[int] = []  # passage indexes, by first use
        self.highlights: dict[int, list[tuple[int, int]]] = {}
        self.dropped = 0
        self.not_found = False
        self._line_start = True
        self._paragraph: list[int] = []  # "[2] 二是……。……" cites [2] for the whole line

    def check(self, piece: str, last: bool = False) -> str | None:
        """The sentence as the answer shows it ("…。[1]"), or None when it is dropped or empty.
        `last`: the end of the stream; a fragment cut off there (no end mark, no citation) is left out."""
        text, cites = clean(piece)
        if self._line_start:
            lead = _LEADING_MARKS.match(piece)
            self._paragraph = [int(n) for n in _MARK.findall(lead.group(1))] if lead else []
        self._line_start = piece.endswith("\n")
        cites = cites or list(self._paragraph)
        if not _CONTENT.search(text):
            return None
        if last and not _MARK.search(piece) and not _END.search(piece):
            log.info("left out the cut-off end of an LLM answer: %s", text[:200])
            return None
        if NOT_FOUND in text:
            self.not_found = True
            return None
        verdict = sentence_support(text, cites, self.texts, self.weak_below, self.context)
        if verdict.weak:
            self.dropped += 1
            log.info("dropped an LLM sentence (%s): %s", verdict.reason, text[:200])
            return None
        marks = []
        for found in verdict.passages:
            p_idx = found.n - 1
            if p_idx not in self.cited:
                self.cited.append(p_idx)
            self.highlights[p_idx] = merge_spans([*self.highlights.get(p_idx, []), *found.highlights])
            marks.append(f"[{self.cited.index(p_idx) + 1}]")
        part = text + "".join(marks)
        self.parts.append(part)
        return part

    @property
    def kept(self) -> int:
        return len(self.parts)

    def composed(self, answerer: str) -> ComposedAnswer:
        return ComposedAnswer("".join(self.parts), list(self.cited), dict(self.highlights), answerer=answerer,
                              dropped=self.dropped)
