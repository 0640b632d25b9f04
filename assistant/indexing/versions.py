"""The index folder: published versions, the CURRENT pointer, the build lock.

    index/
      CURRENT            {"version": "v00003", "previous": "v00002"}: replaced atomically
      versions/v00003/   manifest.json, chunks.jsonl, bm25/, chroma/, COMPLETE
      cache.sqlite       vectors and tokens by content hash (outlives versions)
      .lock              held by the one running re-index
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.errors import IndexBusyError, IndexDamagedError, IndexWriteError

COMPLETE = "COMPLETE"


class VersionStore:
    def __init__(self, index_dir: Path) -> None:
        self.root = index_dir
        self.versions_dir = index_dir / "versions"
        self.pointer = index_dir / "CURRENT"

    # --- reading -----------------------------------------------------------------------------
    def current(self) -> dict[str, Any] | None:
        """The pointer {version, previous}, or None before the first build."""
        try:
            data = json.loads(self.pointer.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise IndexDamagedError("the index is damaged: its pointer file CURRENT is unreadable; "
                                    "re-index with `assistant index`") from err
        return data if isinstance(data, dict) and data.get("version") else None

    def current_version(self) -> str | None:
        pointer = self.current()
        return str(pointer["version"]) if pointer else None

    def path(self, version: str) -> Path:
        return self.versions_dir / version

    def is_complete(self, version: str) -> bool:
        return (self.path(version) / COMPLETE).exists()

    def manifest(self, version: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path(version) / "manifest.json").read_text(encoding="utf-8"))
        return data

    def versions(self) -> list[str]:
        if not self.versions_dir.exists():
            return []
        return sorted(p.name for p in self.versions_dir.iterdir() if p.is_dir() and p.name.startswith("v"))

    def next_version(self) -> str:
        """A name never used before in this folder (a removed unfinished build's name is not reused)."""
        numbers = [int(v[1:]) for v in self.versions() if v[1:].isdigit()]
        seq_file = self.root / "SEQ"
        with contextlib.suppress(OSError, ValueError):
            numbers.append(int(seq_file.read_text().strip()))
        number = max(numbers, default=0) + 1
        self.root.mkdir(parents=True, exist_ok=True)
        seq_file.write_text(str(number))
        return f"v{number:05d}"

    # --- writing -----------------------------------------------------------------------------
    def publish(self, version: str, previous: str | None) -> None:
        """One atomic switch: write a temp file, fsync, rename over CURRENT."""
        payload = json.dumps({"version": version, "previous": previous})
        tmp = self.pointer.with_name(f".CURRENT.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.pointer)
            dir_fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise IndexWriteError(f"cannot publish index version {version}: {err.strerror or err}") from err

    def mark_complete(self, version: str) -> None:
        (self.path(version) / COMPLETE).write_text("ok", encoding="utf-8")

    def recover(self) -> list[str]:
        """Remove versions a crashed or killed build left unfinished; return their names."""
        live = self.current() or {}
        keep = {live.get("version"), live.get("previous")}
        removed = []
        for version in self.versions():
            if version not in keep and not self.is_complete(version):
                shutil.rmtree(self.path(version), ignore_errors=True)
                removed.append(version)
        return removed

    def garbage_collect(self, keep: int) -> list[str]:
        """Keep the live version, its previous one and the `keep` newest complete versions."""
        live = self.current() or {}
        protected = {live.get("version"), live.get("previous")}
        complete = [v for v in self.versions() if self.is_complete(v)]
        removable = [v for v in complete[: max(0, len(complete) - keep)] if v not in protected]
        for version in removable:
            shutil.rmtree(self.path(version), ignore_errors=True)
        return removable

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive build lock; a second re-index fails at once with IndexBusyError."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = open(self.root / ".lock", "a+")  # noqa: SIM115 - held for the whole build
        except OSError as err:
            raise IndexWriteError(f"cannot write to index folder {self.root}: {err.strerror or err}") from err
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            handle.close()
            if err.errno in (errno.EAGAIN, errno.EACCES):
                raise IndexBusyError(
                    f"the index at {self.root} is busy: another re-index is running; try again when it ends"
                ) from err
            raise
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
