"""File formats → plain text (plus any title the format itself declares)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assistant.load.archive import ArchiveError, check_zip
from assistant.load.decode import DecodeError, decode_text

Parser = Callable[[bytes], "ParsedFile"]
# The formats the corpus accepts, by suffix: a new format is one parse function and one
# `@register(".ext")` (indexing, upload checks and the docs read this table).
PARSERS: dict[str, Parser] = {}


def register(*suffixes: str) -> Callable[[Parser], Parser]:
    def add(parse: Parser) -> Parser:
        for suffix in suffixes:
            PARSERS[suffix] = parse
        return parse
    return add

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.S)


class ParseError(ValueError):
    """The file's format could not be read."""


@dataclass
class ParsedFile:
    text: str
    declared: dict[str, Any] = field(default_factory=dict)  # front matter: overrides extracted metadata
    format_title: str | None = None  # <title>/<h1>, docx core title


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as err:
        raise ParseError(f"invalid YAML front matter: {err}") from err
    if not isinstance(data, dict):
        return {}, text
    return data, text[match.end() :]


@register(".txt")
def _parse_text(data: bytes) -> ParsedFile:
    try:
        text = decode_text(data)
    except (DecodeError, UnicodeDecodeError) as err:
        raise ParseError(str(err)) from err
    declared, body = split_front_matter(text)
    return ParsedFile(text=split_flat_paragraphs(body), declared=declared)


_CJK = r"\u3000-\u303f\u4e00-\u9fff\uff00-\uffef“”‘’"
_FLAT_GAP = re.compile(rf"(?<=[{_CJK}])[ \t\u3000\xa0]+|[ \t\u3000\xa0]+(?=[{_CJK}])")
FLAT_MIN_CHARS = 200  # a one-line title or note stays as it is


def split_flat_paragraphs(text: str) -> str:
    """A Chinese text pasted from a web page that lost its line breaks: one long line whose
    paragraphs are separated by spaces. Spaces next to Chinese characters then end a paragraph, so
    the title, headings and paragraphs are lines again; any other text is returned unchanged."""
    stripped = text.strip()
    if "\n" in stripped or len(stripped) < FLAT_MIN_CHARS:
        return text
    if len(re.findall(r"[\u4e00-\u9fff]", stripped)) < len(stripped) / 2:
        return text
    return _FLAT_GAP.sub("\n", stripped) + "\n"


@register(".md", ".markdown")
def _parse_markdown(data: bytes) -> ParsedFile:
    parsed = _parse_text(data)
    title = None
    lines = []
    for line in parsed.text.split("\n"):
        heading = re.match(r"^#{1,6}\s+(.*)$", line)
        if heading:
            line = heading.group(1).strip()
            title = title or line
        lines.append(re.sub(r"(\*\*|__)(.+?)\1", r"\2", line))
    parsed.text = "\n".join(lines)
    parsed.format_title = title
    return parsed


_BLOCKS = ["p", "div", "li", "tr", "table", "section", "article", "h1", "h2", "h3", "h4", "h5", "h6", "pre"]


@register(".html", ".htm")
def _parse_html(data: bytes) -> ParsedFile:
    from bs4 import BeautifulSoup

    try:
        soup = BeautifulSoup(data, "lxml")
    except Exception as err:  # lxml raises a variety of parser errors
        raise ParseError(f"cannot parse HTML: {err}") from err
    for tag in soup(["script", "style", "noscript", "nav", "header", "footer", "iframe", "form", "button"]):
        tag.decompose()
    title = None
    for selector in ("h1", "title"):
        node = soup.find(selector)
        if node and node.get_text(strip=True):
            title = node.get_text(" ", strip=True)
            break
    # Line breaks in the HTML source are not line breaks on the page (Word-exported pages wrap
    # inside sentences and numbers): only <br>, block ends and <pre> lines end a line.
    for pre in soup.find_all(["pre", "textarea"]):
        for string in pre.find_all(string=True):
            string.replace_with(string.replace("\n", _BREAK))
    for br in soup.find_all("br"):
        br.replace_with(_BREAK)
    # Block elements end a line; inline ones (span, a, b) must not split a sentence.
    for block in soup.find_all(_BLOCKS):
        block.insert_after(_BREAK)
    for cell in soup.find_all(["td", "th"]):
        cell.insert_after(_CELL)
    body = soup.body or soup
    text = _SOURCE_WRAP.sub(_unwrap, body.get_text(""))
    text = "\n".join(line.strip() for line in text.replace(_CELL, " ").split(_BREAK))
    return ParsedFile(text=text, format_title=title)


_BREAK = "\x1e"  # a rendered line break, kept apart from the source's own newlines until the end
_CELL = "\x1f"  # the end of a table cell: one space
_SOURCE_WRAP = re.compile(r"[ \t\r\f\v]*\n[ \t\r\f\v\n]*")


def _unwrap(match: re.Match[str]) -> str:
    """A source line wrap renders as nothing between Chinese characters, as one space elsewhere."""
    text, start, end = match.string, match.start(), match.end()
    before = text[start - 1] if start else _BREAK
    after = text[end] if end < len(text) else _BREAK
    if before in (_BREAK, _CELL) or after in (_BREAK, _CELL) or (ord(before) > 0x2E7F and ord(after) > 0x2E7F):
        return ""
    return " "


@register(".docx")
def _parse_docx(data: bytes) -> ParsedFile:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        check_zip(data)  # by what the members really expand to, before python-docx unpacks anything
    except ArchiveError as err:
        raise ParseError(f"not a readable Word (.docx) file: {err}") from err
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as err:
        raise ParseError(f"not a readable Word (.docx) file: {err}") from err
    except Exception as err:  # zipfile.BadZipFile and friends
        raise ParseError(f"not a readable Word (.docx) file: {err}") from err
    # Paragraphs and tables in document order (a table belongs under its heading, above the 落款).
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in block.rows)
        else:
            lines.append(block.text)
    title = (document.core_properties.title or "").strip() or None
    return ParsedFile(text="\n".join(lines), format_title=title)


_ENDS = ("。", "；", "：", "！", "？", ";", ":", "!", "?", "”")


def unwrap_lines(text: str) -> str:
    """Join the page's line wraps back into paragraphs (PDF text keeps them).

    A wrapped line runs (nearly) the full text width and does not end a sentence; a heading or
    short line (title, 文号, signature) is never joined, nor is a line before a heading.
    """
    from assistant.chunk.structure import classify

    lines = text.split("\n")
    lengths = sorted(len(line.strip()) for line in lines if line.strip())
    if len(lengths) < 5:
        return text
    width = lengths[int(len(lengths) * 0.9)]
    out: list[str] = []
    for line in lines:
        stripped = line.strip()
        previous = out[-1] if out else ""
        if (out and stripped and len(previous) >= max(12, 0.85 * width)
                and not previous.endswith(_ENDS) and classify(stripped) is None):
            out[-1] = previous + stripped
        else:
            out.append(stripped)
    return "\n".join(out)


@register(".pdf")
def _parse_pdf(data: bytes) -> ParsedFile:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.startswith(b"%PDF"):
        raise ParseError("not a PDF file (missing %PDF header)")

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as err:
        raise ParseError(f"not a readable PDF: {err}") from err
    except Exception as err:  # pypdf raises many internal errors on damaged files
        raise ParseError(f"not a readable PDF: {err}") from err
    text = unwrap_lines("\n".join(pages))
    if not text.strip():
        raise ParseError("PDF has no text layer (scanned image?)")
    title = None
    try:
        title = (reader.metadata.title if reader.metadata else None) or None
    except Exception:
        title = None
    return ParsedFile(text=text, format_title=title)


def parse_file(path: Path, data: bytes) -> ParsedFile:
    """Dispatch on the suffix; raise ParseError with a reason a maintainer can act on."""
    suffix = path.suffix.lower()
    if suffix not in PARSERS:
        raise ParseError(f"unsupported file type {suffix or '(none)'}")
    return PARSERS[suffix](data)


SUPPORTED_SUFFIXES = tuple(PARSERS)
