"""Headings of Chinese normative documents: 编/章/节, 条, and enumerations 一、 （一） 1. （1）."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.numerals import CN_DIGITS, NUMBER, ORDINAL

_N = NUMBER
_CN = rf"[{CN_DIGITS}]+"

# (level, pattern). Lower level = higher in the tree. Articles sit below every section level.
PART, CHAPTER, SECTION, ARTICLE, ENUM1, ENUM2, ENUM3, ENUM4 = range(8)
_PATTERNS: list[tuple[int, re.Pattern[str]]] = [
    (PART, re.compile(rf"^(第{_N}编)(?:\s+|$)(.*)$")),
    (CHAPTER, re.compile(rf"^(第{_N}章)(?:\s+|$)(.*)$")),
    (SECTION, re.compile(rf"^(第{_N}节)(?:\s+|$)(.*)$")),
    (ARTICLE, re.compile(rf"^(第{_N}条(?:之{ORDINAL})?)(?:\s+|[:：]|$|(?=[\u4e00-\u9fa5“（(]))(.*)$")),
    (ENUM1, re.compile(rf"^({_CN}、)\s*(.*)$")),
    (ENUM2, re.compile(rf"^([（(]{_CN}[）)])\s*(.*)$")),
    (ENUM3, re.compile(r"^(\d{1,3}[.．、](?!\d))\s*(.*)$")),
    (ENUM4, re.compile(r"^([（(]\d{1,3}[）)])\s*(.*)$")),
]
_SENTENCE_END = ("。", "；", "！", "？", ";", "!", "?", "：", ":")


@dataclass
class Heading:
    level: int
    label: str  # 第十条, 第二章, 一、, （一）
    title: str  # the words after the label on the same line
    inline_body: bool  # the line continues into body text (an article or a run-in item)

    @property
    def path_name(self) -> str:
        """How the heading appears in a locator: '第二章 促进措施', '第十条', '一、工作开展情况'."""
        if self.level == ARTICLE or self.inline_body:
            return self.label.rstrip("、")
        if self.level in (ENUM1, ENUM2, ENUM3, ENUM4):
            return f"{self.label}{self.title}"
        return f"{self.label} {self.title}".strip()


def classify(line: str) -> Heading | None:
    """A heading, or None for body text."""
    stripped = line.strip()
    for level, pattern in _PATTERNS:
        match = pattern.match(stripped)
        if not match:
            continue
        label, rest = match.group(1), match.group(2).strip()
        if level == ARTICLE:
            return Heading(level, label, "", inline_body=bool(rest))
        if level in (PART, CHAPTER, SECTION):
            # "第二章 促进措施" is a heading; a sentence starting "第二章规定…" is not.
            if len(rest) > 30 or rest.endswith(_SENTENCE_END[:4]):
                return None
            return Heading(level, label, rest, inline_body=False)
        # Enumerations: a short line without a sentence end is a heading; else a run-in item.
        inline = len(rest) > 40 or rest.endswith(_SENTENCE_END) or "。" in rest
        return Heading(level, label, rest, inline_body=inline)
    return None
