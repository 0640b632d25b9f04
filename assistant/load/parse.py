"""File formats → plain text (plus any title the format itself declares)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assistant.load.decode import DecodeError, decode_text

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".docx", ".pdf")

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


def _parse_text(data: bytes) -> ParsedFile:
    try:
        text = decode_text(data)
    except (DecodeError, UnicodeDecodeError) as err:
        raise ParseError(str(err)) from err
    declared, body = split_front_matter(text)
    return ParsedFile(text=body, declared=declared)


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
    for br in soup.find_all("br"):
        br.replace_with("\n")
    # Block elements end a line; inline ones (span, a, b) must not split a sentence.
    for block in soup.find_all(_BLOCKS):
        block.insert_after("\n")
    body = soup.body or soup
    text = body.get_text("")
    text = "\n".join(line.strip() for line in text.split("\n"))
    return ParsedFile(text=text, format_title=title)


def _parse_docx(data: bytes) -> ParsedFile:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as err:
        raise ParseError(f"not a readable Word (.docx) file: {err}") from err
    except Exception as err:  # zipfile.BadZipFile and friends
        raise ParseError(f"not a readable Word (.docx) file: {err}") from err
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    title = (document.core_properties.title or "").strip() or None
    return ParsedFile(text="\n".join(lines), format_title=title)


def _parse_pdf(data: bytes) -> ParsedFile:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as err:
        raise ParseError(f"not a readable PDF: {err}") from err
    except Exception as err:  # pypdf raises many internal errors on damaged files
        raise ParseError(f"not a readable PDF: {err}") from err
    text = "\n".join(pages)
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
    if suffix == ".pdf":
        if not data.startswith(b"%PDF"):
            raise ParseError("not a PDF file (missing %PDF header)")
        return _parse_pdf(data)
    if suffix == ".docx":
        return _parse_docx(data)
    if suffix in (".html", ".htm"):
        return _parse_html(data)
    if suffix in (".md", ".markdown"):
        return _parse_markdown(data)
    if suffix == ".txt":
        return _parse_text(data)
    raise ParseError(f"unsupported file type {suffix or '(none)'}")
