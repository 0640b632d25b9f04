"""Checksums of a published version's files, sealed into its manifest and verified on load.

A version folder is written once and never changed, so any difference from the checksums is damage
(a truncated copy, a disk error, a hand edit). The files this project writes are checksummed
(chunks.jsonl, bm25/*, bm25-docs/*, centroids.npz) and so is the manifest's own content; Chroma's folder is
Chroma's, so for it the reader checks that the collection holds as many vectors as there are chunks.
Errors name the version and the file, never a server path.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from assistant.errors import IndexDamagedError
from assistant.store.keyword import DOC_BM25

KEY = "integrity"
_WATCHED = ("manifest.json", "COMPLETE", "chunks.jsonl", "centroids.npz")
_KEYWORD_DIRS = ("bm25", DOC_BM25)  # chunk BM25 and document BM25


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def written_files(folder: Path) -> list[str]:
    """The files of a version folder this project writes itself (relative POSIX paths)."""
    names = [name for name in ("chunks.jsonl", "centroids.npz") if (folder / name).is_file()]
    for sub in _KEYWORD_DIRS:
        if (folder / sub).is_dir():
            names += sorted(f"{sub}/{p.name}" for p in (folder / sub).iterdir() if p.is_file())
    return names


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's content other than the integrity section itself."""
    content = {k: v for k, v in manifest.items() if k != KEY}
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def seal(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with the checksums of the folder's files and of its own content."""
    files = {name: {"sha256": _sha256(folder / name), "bytes": (folder / name).stat().st_size}
             for name in written_files(folder)}
    return {**manifest, KEY: {"files": files, "manifest_sha256": manifest_digest(manifest)}}


# CURRENT only ever names a finished version (publish follows mark_complete), so one it names that is
# missing or unfinished is damage (a folder deleted or restored by hand), not a fresh install.
POINTER_DANGLING = "the pointer CURRENT names it but its folder is missing or unfinished"


def damaged(version: str, problem: str) -> IndexDamagedError:
    return IndexDamagedError(
        f"index version {version} is damaged: {problem}; check it with `assistant index --verify`, "
        "restore the version's files or re-index with `assistant index`"
    )


def read_manifest(folder: Path, version: str) -> dict[str, Any]:
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise damaged(version, "manifest.json is missing") from err
    except (OSError, ValueError) as err:
        raise damaged(version, "manifest.json is unreadable") from err
    if not isinstance(data, dict) or not isinstance(data.get("documents"), dict):
        raise damaged(version, "manifest.json is not a manifest")
    return data


def verify_files(folder: Path, version: str, manifest: dict[str, Any]) -> None:
    """Every checksummed file present, of its size and its sha256; the manifest content unchanged.
    A version built before checksums existed has no integrity section: only its chunk count is checked
    (by the reader)."""
    sealed = manifest.get(KEY)
    if sealed is None:
        return
    if not isinstance(sealed, dict) or not isinstance(sealed.get("files"), dict):
        raise damaged(version, "manifest.json has no readable checksums")
    if sealed.get("manifest_sha256") != manifest_digest(manifest):
        raise damaged(version, "manifest.json checksum mismatch")
    for name, expected in sorted(sealed["files"].items()):
        path = folder / name
        try:
            size = path.stat().st_size
        except OSError:
            raise damaged(version, f"{name} is missing") from None
        if size != expected.get("bytes") or _sha256(path) != expected.get("sha256"):
            raise damaged(version, f"{name} checksum mismatch")


def stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Sizes and modification times of a version's files: a few stat calls, cheap enough to compare
    on every request, so a restored or damaged file is noticed without hashing it each time."""
    found = []
    names = [*_WATCHED, *(f"{sub}/{e.name}" for sub in _KEYWORD_DIRS for e in _scan(folder / sub))]
    for name in names:
        try:
            info = os.stat(folder / name)
        except OSError:
            continue
        found.append((name, info.st_size, info.st_mtime_ns))
    return tuple(found)


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda e: e.name)
    except OSError:
        return []
