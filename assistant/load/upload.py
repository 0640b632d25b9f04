"""Checks on a policy file uploaded over the API, before it is written into the corpus.

Types are decided by content, not by name; names cannot climb out of the corpus folder; archives
(.docx is a zip) are judged by what they really expand to (assistant/load/archive.py); parsing runs
in a child process with a time limit and a memory limit, at most a few at once, so a PDF that loops
or a file that balloons in its parser is refused instead of hanging a worker or eating the memory.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import tempfile
import threading
import unicodedata
from multiprocessing.connection import Connection
from pathlib import Path

from assistant.errors import InputError
from assistant.load import discover
from assistant.load.archive import ArchiveError, check_zip
from assistant.load.decode import DecodeError, decode_text
from assistant.load.parse import SUPPORTED_SUFFIXES


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
        names = check_zip(data)
    except ArchiveError as err:
        raise UploadRejected(f"the .docx file is refused: {err}") from err
    if "word/document.xml" not in names:
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


def _parse_child(path: str, out: Connection, memory_bytes: int) -> None:
    import resource

    # The address-space cap is set before the file is touched: a parser that would balloon gets
    # MemoryError (or is killed) instead of taking the server's memory.
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from assistant.errors import LoadError
    from assistant.load import load_file

    too_big = f"reading it needs more than {memory_bytes >> 20} MB of memory"
    try:
        loaded = load_file(Path(path), Path(path).parent)
        out.send(("ok", loaded.meta.title))
    except MemoryError:
        out.send(("error", too_big))
    except LoadError as err:  # a parser may wrap the MemoryError it met
        out.send(("error", too_big if _caused_by_memory(err) else err.reason))
    except Exception as err:  # a parser crash is a refusal, not a server error
        out.send(("error", too_big if _caused_by_memory(err) else f"cannot parse: {type(err).__name__}"))


def _caused_by_memory(err: BaseException | None) -> bool:
    seen = 0
    while err is not None and seen < 20:
        if isinstance(err, MemoryError):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def _parse_slots(workers: int) -> threading.BoundedSemaphore:
    """One process-wide semaphore per configured worker count: at most that many parse children."""
    with _slots_lock:
        return _slots.setdefault(workers, threading.BoundedSemaphore(workers))


def parse_with_timeout(name: str, data: bytes, seconds: float, memory_mb: int = 1024, workers: int = 2) -> str:
    """Load the file in a child process with `memory_mb` of address space, at most `workers` children
    at once; refuse it if that fails or takes longer than `seconds`."""
    slots = _parse_slots(workers)
    if not slots.acquire(timeout=2 * seconds):  # waits for at most two parses' worth of time
        raise UploadRejected("too many uploads are being read at once; try again in a minute")
    try:
        return _parse_in_child(name, data, seconds, memory_mb << 20)
    finally:
        slots.release()


def _parse_in_child(name: str, data: bytes, seconds: float, memory_bytes: int) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, name)
        with open(path, "wb") as fh:
            fh.write(data)
        ctx = mp.get_context("spawn")
        # A pipe, not a queue: a queue sends from a helper thread, which a child at its memory limit
        # may not be able to start.
        receiver, sender = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_parse_child, args=(path, sender, memory_bytes), daemon=True)
        child.start()
        sender.close()
        child.join(seconds)
        if child.is_alive():
            child.kill()
            child.join()
            raise UploadRejected(f"the file could not be read within {seconds:.0f} s and was refused")
        try:
            status, detail = receiver.recv() if receiver.poll(1) else ("", "")
        except (EOFError, OSError):
            status = ""
        finally:
            receiver.close()
        if not status:  # the child died without an answer: killed, out of memory, crashed
            raise UploadRejected(f"the file could not be read: its reader stopped (out of its "
                                 f"{memory_bytes >> 20} MB memory limit, or crashed)")
        if status != "ok":
            raise UploadRejected(f"the file could not be read: {detail}")
        return str(detail)


def accept_upload(corpus_dir: Path, name: str, data: bytes, max_bytes: int, parse_seconds: float,
                  memory_mb: int = 1024, workers: int = 2) -> tuple[Path, str]:
    """Validate and write atomically into the corpus folder; return the written path and the title
    the (time-limited) parse found, so the server never parses the file itself."""
    name = safe_name(name)
    if len(data) > max_bytes:
        raise UploadRejected(f"the file is larger than {max_bytes >> 20} MB")
    if not data:
        raise UploadRejected("the file is empty")
    sniff(name, data)
    title = parse_with_timeout(name, data, parse_seconds, memory_mb, workers)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    target = corpus_dir / name
    if target.resolve().parent != corpus_dir.resolve():
        raise UploadRejected("file name is not allowed")
    tmp = corpus_dir / f".upload-{os.getpid()}-{name}"
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target, title
