"""Sentences of Chinese policy text: the one splitter that chunking, answers and review share."""

from __future__ import annotations

import re

# A sentence ends at 。；！？ (or their ASCII forms), with the closing quotes or brackets that
# follow, or at a line end.
_PIECE = re.compile(r"[^。；！？;!?\n]*(?:[。；！？;!?]+[”’」』）)]*|\n|$)")


def pieces(text: str) -> list[tuple[int, int]]:
    """[start, end) spans that partition `text` into sentences (each keeps its end mark and any
    line break), so the pieces joined give the text back."""
    return [(m.start(), m.end()) for m in _PIECE.finditer(text) if m.end() > m.start()]


def sentences(text: str, min_chars: int = 1) -> list[tuple[int, int, str]]:
    """Sentences of `text` as (start, end, sentence), whitespace trimmed, offsets into `text`."""
    out = []
    for start, end in pieces(text):
        raw = text[start:end]
        stripped = raw.strip()
        if len(stripped) < min_chars:
            continue
        begin = start + (len(raw) - len(raw.lstrip()))
        out.append((begin, begin + len(stripped), stripped))
    return out


_CITED_PART = re.compile(r".+?(?:\[\d+\]|$)", re.S)


def cited_parts(answer: str) -> list[str]:
    """The answer cut after each citation mark ([1]): the parts a stream sends."""
    return [p for p in _CITED_PART.findall(answer) if p] or ([answer] if answer else [])
