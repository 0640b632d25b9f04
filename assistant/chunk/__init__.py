"""Chunk: a loaded document → LangChain `Document`s that keep headings with their bodies.

Each chunk records its locator (the heading path, e.g. `第二章 促进措施 > 第十条`) and every
article it covers, written out (`第十条、第十一条`), so an article can be found by its number.
An article is a chunk of its own, never merged with its neighbours: merged short articles blur
which article a question is about (bench/retrieval.py, issue 11); a long one is still windowed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from langchain_core.documents import Document

from assistant.chunk.structure import ARTICLE, Heading, classify
from assistant.documents import DocumentMeta
from assistant.numerals import canonical_article
from assistant.text import pieces


@dataclass
class ChunkingConfig:
    max_chars: int = 600
    overlap_chars: int = 80
    merge_below_chars: int = 120


@dataclass
class _Unit:
    path: list[Heading]
    own: Heading | None  # the heading this unit's text belongs to (its last path element), if any
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines).strip()

    @property
    def parent(self) -> tuple[str, ...]:
        names = [h.path_name for h in self.path]
        return tuple(names[:-1] if self.own is not None else names)


def sentences(text: str) -> list[str]:
    """Split at sentence ends (。；！？), keeping the punctuation with its sentence."""
    return [text[a:b] for a, b in pieces(text) if text[a:b].strip()]


def _units(text: str, title: str) -> list[_Unit]:
    units: list[_Unit] = []
    stack: list[Heading] = []
    current: _Unit | None = None
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line in ("目录", "目 录") or (not units and line.strip("《》") == title):
            continue
        heading = classify(line)
        in_article = any(h.level == ARTICLE for h in stack)
        if heading is not None and not (in_article and heading.level > ARTICLE):
            while stack and stack[-1].level >= heading.level:
                stack.pop()
            stack.append(heading)
            current = _Unit(path=list(stack), own=heading)
            units.append(current)
            if heading.inline_body or heading.level == ARTICLE:
                # An article keeps its label in the text even when the label stands on its own line,
                # so a chunk holding several articles shows where each begins.
                current.lines.append(line)
            continue
        if current is None or (current.own is not None and not current.path):
            current = _Unit(path=list(stack), own=None)
            units.append(current)
        current.lines.append(line)
    return [u for u in units if u.text and not (u.own is not None and u.text == u.own.label)]


def _windows(text: str, max_chars: int, overlap: int) -> list[str]:
    """Pack paragraphs, then sentences, into windows of at most max_chars.

    A paragraph longer than a window splits only at sentence ends; the next window repeats the
    last sentence (when short) so a split never loses its context.
    """
    pieces: list[tuple[str, bool]] = []  # (text, ends a paragraph)
    for paragraph in text.split("\n"):
        if len(paragraph) <= max_chars:
            pieces.append((paragraph, True))
        else:
            parts = sentences(paragraph)
            pieces.extend((part, i == len(parts) - 1) for i, part in enumerate(parts))
    windows: list[str] = []
    buf: list[tuple[str, bool]] = []
    for piece in pieces:
        size = sum(len(p) for p, _ in buf)
        if buf and size + len(piece[0]) > max_chars:
            windows.append(_join(buf))
            last = buf[-1]
            carry = not last[1] and len(last[0]) <= max(overlap, max_chars // 4)
            buf = [last] if carry and len(last[0]) + len(piece[0]) <= max_chars else []
        buf.append(piece)
    if buf:
        windows.append(_join(buf))
    return [w for w in windows if w.strip()]


def _join(pieces: list[tuple[str, bool]]) -> str:
    return "".join(text + ("\n" if ends else "") for text, ends in pieces).strip()


def locator_for(parent: tuple[str, ...], owns: list[Heading]) -> str:
    labels = [h.path_name for h in owns]
    own = "、".join(dict.fromkeys(labels)) if labels else ""
    parts = [*parent, own] if own else list(parent)
    return " > ".join(p for p in parts if p)


def embed_text(title: str, locator: str, text: str) -> str:
    """What is embedded and keyword-indexed: the passage with its document title and heading path."""
    return f"{title}\n{locator}\n{text}" if locator else f"{title}\n{text}"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chunk_document(meta: DocumentMeta, text: str, config: ChunkingConfig | None = None) -> list[Document]:
    config = config or ChunkingConfig()
    groups: list[tuple[tuple[str, ...], list[Heading], str]] = []
    for unit in _units(text, meta.title):
        body = unit.text
        owns = [unit.own] if unit.own is not None else []
        last = groups[-1] if groups else None
        if (
            last is not None
            and last[0] == unit.parent
            and len(last[2]) + len(body) + 1 <= config.max_chars
            and (len(body) < config.merge_below_chars or len(last[2]) < config.merge_below_chars)
            and bool(owns) == bool(last[1])
            and not any(h.level == ARTICLE for h in [*owns, *last[1]])
        ):
            groups[-1] = (last[0], last[1] + owns, last[2] + "\n" + body)
        else:
            groups.append((unit.parent, owns, body))

    documents: list[Document] = []
    source_key = hashlib.sha1(meta.source.encode("utf-8")).hexdigest()[:12]
    for parent, owns, body in groups:
        locator = locator_for(parent, owns)
        articles = "、".join(dict.fromkeys(canonical_article(h.label) or h.label
                                          for h in owns if h.level == ARTICLE))
        for window in _windows(body, config.max_chars, config.overlap_chars):
            ordinal = len(documents)
            etext = embed_text(meta.title, locator, window)
            digest = text_hash(etext)
            documents.append(
                Document(
                    id=f"{source_key}-{ordinal:05d}-{digest[:12]}",
                    page_content=window,
                    metadata={
                        "chunk_id": f"{source_key}-{ordinal:05d}-{digest[:12]}",
                        "source": meta.source,
                        "title": meta.title,
                        "doc_number": meta.doc_number or "",
                        "issuer": meta.issuer or "",
                        "date": meta.date or "",
                        "status": meta.status or "",
                        "in_force": meta.in_force,
                        "locator": locator or f"第{ordinal + 1}段",
                        "articles": articles,
                        "ordinal": ordinal,
                        "embed_hash": digest,
                    },
                )
            )
    return documents
