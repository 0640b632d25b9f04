"""Load: a corpus file → clean text and document metadata, or a LoadError naming the file and reason."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from assistant.documents import DocumentMeta
from assistant.errors import LoadError
from assistant.load.boilerplate import strip_boilerplate
from assistant.load.metadata import SIDECAR_SUFFIX, apply_declared, extract_metadata
from assistant.load.parse import SUPPORTED_SUFFIXES, ParseError, parse_file

MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass
class LoadedDocument:
    meta: DocumentMeta
    text: str
    sha256: str  # of the file and its sidecar: any change to either re-indexes the document


def sidecar_path(path: Path) -> Path:
    """`政策.docx` → `政策.meta.yaml`."""
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def discover(corpus_dir: Path) -> list[Path]:
    """Every file in the corpus that is a candidate document (sidecars and hidden files excluded)."""
    found = []
    for path in sorted(corpus_dir.rglob("*")):
        rel = path.relative_to(corpus_dir)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if path.name.endswith(SIDECAR_SUFFIX) or path.name in ("README.md", "README.txt"):
            continue
        found.append(path)
    return found


def file_hash(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes())
    sidecar = sidecar_path(path)
    if sidecar.exists():
        digest.update(b"\0sidecar\0" + sidecar.read_bytes())
    return digest.hexdigest()


def load_file(path: Path, corpus_dir: Path) -> LoadedDocument:
    source = path.relative_to(corpus_dir).as_posix()
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise LoadError(source, f"unsupported file type '{path.suffix}' (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise LoadError(source, f"cannot read file: {err.strerror}") from err
    if len(data) > MAX_FILE_BYTES:
        raise LoadError(source, f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        parsed = parse_file(path, data)
    except ParseError as err:
        raise LoadError(source, str(err)) from err
    text = strip_boilerplate(parsed.text)
    if not text:
        raise LoadError(source, "no text found in file")
    meta = extract_metadata(text, source, parsed.format_title)
    declared = dict(parsed.declared)
    sidecar = sidecar_path(path)
    if sidecar.exists():
        try:
            side = yaml.safe_load(sidecar.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise LoadError(source, f"invalid sidecar {sidecar.name}: {err}") from err
        if isinstance(side, dict):
            declared.update(side)
    apply_declared(meta, declared)
    digest = file_hash(path)
    return LoadedDocument(meta=meta, text=text, sha256=digest)
