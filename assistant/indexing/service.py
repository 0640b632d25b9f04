"""Entry points for re-indexing and rollback used by the CLI, the API and tests."""

from __future__ import annotations

from assistant.embed import embedder_for
from assistant.errors import AssistantError, IndexNotBuiltError
from assistant.indexing import integrity
from assistant.indexing.build import IndexBuilder, IndexReport, Progress, _noop
from assistant.indexing.snapshot import backend_for, load_snapshot
from assistant.indexing.versions import VersionStore
from assistant.settings import Settings


def run_index(settings: Settings, *, dry_run: bool = False, rebuild: bool = False,
              progress: Progress = _noop) -> IndexReport:
    builder = IndexBuilder(
        settings,
        embedder_factory=lambda: embedder_for(settings),
        backend=backend_for(settings),
        progress=progress,
    )
    return builder.run(dry_run=dry_run, rebuild=rebuild)


def verify_index(settings: Settings, version: str | None = None) -> dict[str, object]:
    """Verify a version (the live one by default) as the server would load it: checksums, chunk count,
    the vector store's count. IndexDamagedError when damaged; a summary when intact."""
    snapshot = load_snapshot(settings, backend_for(settings), version)
    sealed = snapshot.manifest.get(integrity.KEY) or {}
    return {"version": snapshot.version, "intact": True, "checksummed_files": len(sealed.get("files", {})),
            "chunks": len(snapshot.chunks), "vectors": snapshot.vectors.count(),
            "documents": len(snapshot.documents)}


def rollback_index(settings: Settings) -> str:
    """Make the previous version live again; return its name."""
    versions = VersionStore(settings.index_dir)
    with versions.lock():
        pointer = versions.current()
        if not pointer:
            raise IndexNotBuiltError("nothing to roll back: no index has been built yet")
        previous = pointer.get("previous")
        if not previous or not versions.is_complete(previous):
            raise AssistantError("nothing to roll back to: the previous version is not kept")
        before = versions.manifest(previous).get("base")
        versions.publish(previous, before if before and versions.is_complete(before) else None)
        return str(previous)
