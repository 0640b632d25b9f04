"""Checks on a policy file uploaded over the API, before it is written into the corpus.

Types are decided by content, not by name; names cannot climb out of the corpus folder; archives
(.docx is a zip) are measured before anything is unpacked; parsing runs in a child process with a
time limit, so a PDF that loops or a decompression bomb is refused instead of hanging a worker.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import re
import tempfile
import unicodedata
import zipfile
from pathlib import Path

from assistant.errors import InputError
from assistant.load import discover
from assistant.load.decode import DecodeError, decode_text
from assistant.load.parse import SUPPORTED_SUFFIXES

MAX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_RATIO = 100  # uncompressed / compressed, per archive member
MAX_MEMBERS = 2000


class UploadRejected(InputError):
    """The upload is refused; the message says why."""


class UploadConflict(UploadRejected):
    """A file of that name (or of a name differing only in case) is already in the corpus (HTTP 409)."""

    status = 409
    zh_default = "语料目录中已有同名文件。"


def safe_name(name: str) -> str:
    """A plain file name inside the corpus folder that indexing will pick up, or UploadRejected
    (path traversal, hidden, odd, invisible or direction-changing characters, not indexed)."""
    name = unicodedata.normalize("NFC", name or "").strip()
    if not name or "\x00" in name or "/" in name or "\\" in name or name in (".", "..") or ".." in name:
        raise UploadRejected(f"file name {name[:80]!r} is not allowed: give a plain file name without folders")
    if name.startswith(".") or len(name) > 150 or re.search(r"[\x00-\x1f<>:\"|?*]", name):
        raise UploadRejected(f"file name {name[:80]!r} is not allowed")
    hidden = [f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in ("Cf", "Cc", "Co", "Cn", "Zl", "Zp")]
    if hidden:  # U+202E shows "txt.exe" as "exe.txt"; zero-width characters make look-alike names
        raise UploadRejected(f"file name contains invisible or text-direction characters ({', '.join(hidden[:3])})")
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise UploadRejected(f"file type {Path(name).suffix or '(none)'} is not accepted; "
                             f"accepted: {', '.join(SUPPORTED_SUFFIXES)}")
    with tempfile.TemporaryDirectory() as folder:  # ask indexing itself whether it would pick the name up
        (Path(folder) / name).touch()
        if not discover(Path(folder)):
            raise UploadRejected(f"a file named {name!r} is not indexed (README files and metadata sidecars "
                                 "are notes for maintainers): give the policy file another name")
    return name


def check_target(corpus_dir: Path, name: str, replace: bool) -> bool:
    """Whether `name` replaces a corpus file. Refused (409): an existing file unless `replace`, and a
    name differing from an existing one only in case (one file to some systems, two to others)."""
    existing = {p.name for p in corpus_dir.iterdir()} if corpus_dir.is_dir() else set()
    twins = [other for other in existing if other != name and other.casefold() == name.casefold()]
    if twins:
        raise UploadConflict(f"the corpus already has {twins[0]!r}, which differs from {name!r} only in case")
    if name in existing and not replace:
        raise UploadConflict(f"the corpus already has {name!r}; upload with ?replace=true to overwrite it")
    return name in existing


def _check_zip(data: bytes) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as err:
        raise UploadRejected("not a Word (.docx) file: the archive is damaged") from err
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise UploadRejected("the .docx archive has too many members")
    total = 0
    for member in members:
        total += member.file_size
        if member.compress_size and member.file_size / member.compress_size > MAX_RATIO and member.file_size > 1 << 20:
            raise UploadRejected("the .docx archive expands too much (decompression bomb?)")
    if total > MAX_UNPACKED_BYTES:
        raise UploadRejected(f"the .docx archive unpacks to more than {MAX_UNPACKED_BYTES >> 20} MB")
    if "word/document.xml" not in archive.namelist():
        raise UploadRejected("not a Word (.docx) file: word/document.xml is missing")


def sniff(name: str, data: bytes) -> None:
    """The content must be what the name says: PDF, .docx (zip), or text for .txt/.md/.html."""
    suffix = Path(name).suffix.lower()
    if suffix == ".pdf":
        if not data.startswith(b"%PDF-"):
            raise UploadRejected("the file is named .pdf but is not a PDF")
        return
    if suffix == ".docx":
        if not data.startswith(b"PK\x03\x04"):
            raise UploadRejected("the file is named .docx but is not a Word document")
        _check_zip(data)
        return
    if data.startswith((b"%PDF-", b"PK\x03\x04", b"\x7fELF", b"MZ", b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        raise UploadRejected(f"the file is named {suffix} but its content is binary")
    try:
        text = decode_text(data)
    except (DecodeError, UnicodeDecodeError) as err:
        raise UploadRejected(f"the file is named {suffix} but is not text: {err}") from err
    if suffix in (".html", ".htm") and "<" not in text:
        raise UploadRejected("the file is named .html but has no markup")


def _parse_child(path: str, out: mp.Queue) -> None:
    from assistant.errors import LoadError
    from assistant.load import load_file

    try:
        loaded = load_file(Path(path), Path(path).parent)
        out.put(("ok", loaded.meta.title))
    except LoadError as err:
        out.put(("error", err.reason))
    except Exception as err:  # a parser crash is a refusal, not a server error
        out.put(("error", f"cannot parse: {type(err).__name__}"))


def parse_with_timeout(name: str, data: bytes, seconds: float) -> str:
    """Load the file in a child process; refuse it if that fails or takes longer than `seconds`."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, name)
        with open(path, "wb") as fh:
            fh.write(data)
        ctx = mp.get_context("spawn")
        queue: mp.Queue = ctx.Queue()
        child = ctx.Process(target=_parse_child, args=(path, queue), daemon=True)
        child.start()
        child.join(seconds)
        if child.is_alive():
            child.kill()
            child.join()
            raise UploadRejected(f"the file could not be read within {seconds:.0f} s and was refused")
        try:
            status, detail = queue.get(timeout=1)
        except Exception as err:
            raise UploadRejected("the file could not be read") from err
        if status != "ok":
            raise UploadRejected(f"the file could not be read: {detail}")
        return str(detail)


def accept_upload(corpus_dir: Path, name: str, data: bytes, max_bytes: int, parse_seconds: float
                  ) -> tuple[Path, str]:
    """Validate and write atomically into the corpus folder; return the written path and the title
    the (time-limited) parse found, so the server never parses the file itself."""
    name = safe_name(name)
    if len(data) > max_bytes:
        raise UploadRejected(f"the file is larger than {max_bytes >> 20} MB")
    if not data:
        raise UploadRejected("the file is empty")
    sniff(name, data)
    title = parse_with_timeout(name, data, parse_seconds)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    target = corpus_dir / name
    if target.resolve().parent != corpus_dir.resolve():
        raise UploadRejected("file name is not allowed")
    tmp = corpus_dir / f".upload-{os.getpid()}-{name}"
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target, title
