"""`assistant index`: compare the corpus with the live manifest, build a new version beside it, publish.

Unchanged files cost a hash; unchanged chunk texts keep their vectors (content-hash cache); the
live version is never written to, so a crash leaves it serving and the next run recovers.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document

from assistant.chunk import ChunkingConfig, chunk_document, embed_text
from assistant.documents import DocumentMeta
from assistant.embed import Embedder
from assistant.errors import IndexDamagedError, IndexWriteError, LoadError, ModelMismatchError
from assistant.indexing import centroids, integrity
from assistant.indexing.supersede import mark_superseded
from assistant.indexing.versions import VersionStore
from assistant.load import discover, file_hash, load_file
from assistant.settings import Settings
from assistant.store.cache import ContentCache
from assistant.store.keyword import DOC_BM25, TOKENIZER_ID, KeywordIndex, tokenize
from assistant.store.vector import VectorBackend

Progress = Callable[[str, int, int], None]


@dataclass
class FileReport:
    source: str
    action: str  # added | changed | removed | unchanged | skipped
    chunks: int = 0
    seconds: float = 0.0
    reason: str | None = None


@dataclass
class IndexReport:
    version: str | None
    previous: str | None
    published: bool
    dry_run: bool
    files: list[FileReport] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0
    embedded: int = 0  # chunk texts that had to be embedded (the rest came from the cache)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    recovered: list[str] = field(default_factory=list)
    damaged: str | None = None  # the live version was damaged: this build did not start from it

    def count(self, action: str) -> int:
        return sum(1 for f in self.files if f.action == action)

    @property
    def usable(self) -> bool:
        return self.version is not None and self.documents > 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["summary"] = {a: self.count(a) for a in ("added", "changed", "removed", "unchanged", "skipped")}
        return data


def _noop(stage: str, done: int, total: int) -> None:
    return None


def read_chunks(path: Path) -> list[Document]:
    docs = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            docs.append(Document(id=row["metadata"]["chunk_id"], page_content=row["text"], metadata=row["metadata"]))
    return docs


def read_version(versions: VersionStore, version: str) -> tuple[dict[str, Any], list[Document]]:
    """A published version's manifest and chunks, verified against its checksums and chunk count;
    IndexDamagedError (naming the version and the file) when they do not match."""
    folder = versions.path(version)
    manifest = integrity.read_manifest(folder, version)
    integrity.verify_files(folder, version, manifest)
    try:
        chunks = read_chunks(folder / "chunks.jsonl")
    except FileNotFoundError:
        raise integrity.damaged(version, "chunks.jsonl is missing") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise integrity.damaged(version, "chunks.jsonl is unreadable") from err
    if len(chunks) != manifest.get("chunk_count"):
        raise integrity.damaged(version, f"chunks.jsonl holds {len(chunks)} chunks, the manifest "
                                         f"{manifest.get('chunk_count')}")
    return manifest, chunks


def write_chunks(path: Path, docs: list[Document]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(json.dumps({"text": doc.page_content, "metadata": doc.metadata}, ensure_ascii=False) + "\n")


def check_model(manifest: dict[str, Any], model: str) -> None:
    built = manifest.get("model")
    if built and built != model:
        raise ModelMismatchError(
            f"the index was built with embedding model '{built}' but the configured model is '{model}'; "
            f"set ASSISTANT_MODEL={built} or re-index with `assistant index --rebuild`"
        )


class IndexBuilder:
    def __init__(self, settings: Settings, embedder_factory: Callable[[], Embedder],
                 backend: VectorBackend, progress: Progress = _noop) -> None:
        self.settings = settings
        self.versions = VersionStore(settings.index_dir)
        self._embedder_factory = embedder_factory
        self.backend = backend
        self.progress = progress
        self.chunking = ChunkingConfig(settings.chunk_max_chars, settings.chunk_overlap_chars,
                                       settings.chunk_merge_below_chars)

    def run(self, *, dry_run: bool = False, rebuild: bool = False) -> IndexReport:
        if dry_run:
            return self._plan_only()
        with self.versions.lock():
            return self._build(rebuild=rebuild)

    # ------------------------------------------------------------------------------------------
    def _live(self) -> tuple[str | None, dict[str, Any], list[Document], str | None]:
        """(live version, its manifest, its chunks, None) — or, when the live version is damaged,
        (version, {}, [], the damage): the build then starts from nothing instead of from it."""
        version = self.versions.current_version()
        if version is None:
            return None, {}, [], None
        if not self.versions.is_complete(version):  # CURRENT names a missing or unfinished folder
            return None, {}, [], str(integrity.damaged(version, integrity.POINTER_DANGLING))
        try:
            manifest, chunks = read_version(self.versions, version)
        except IndexDamagedError as err:
            return version, {}, [], str(err)
        return version, manifest, chunks, None

    def _scan(self, manifest: dict[str, Any]) -> tuple[dict[str, str], dict[str, str], list[str]]:
        """(hash by source for files on disk, action by source, removed sources)."""
        corpus = self.settings.corpus_dir
        indexed: dict[str, Any] = manifest.get("documents", {})
        hashes: dict[str, str] = {}
        actions: dict[str, str] = {}
        files = discover(corpus) if corpus.exists() else []
        for i, path in enumerate(files):
            source = path.relative_to(corpus).as_posix()
            try:
                hashes[source] = file_hash(path)
            except OSError as err:
                hashes[source] = f"unreadable:{err}"
            previous = indexed.get(source)
            actions[source] = "added" if previous is None else (
                "unchanged" if previous["sha256"] == hashes[source] else "changed")
            self.progress("scan", i + 1, len(files))
        removed = sorted(set(indexed) - set(hashes))
        return hashes, actions, removed

    def _plan_only(self) -> IndexReport:
        live, manifest, _, damage = self._live()
        _, actions, removed = self._scan(manifest)
        report = IndexReport(version=live, previous=None, published=False, dry_run=True, damaged=damage)
        indexed = manifest.get("documents", {})
        report.files = [FileReport(s, a, int(indexed[s]["chunks"]) if a == "unchanged" else 0)
                        for s, a in sorted(actions.items())]
        report.files += [FileReport(s, "removed") for s in removed]
        report.documents = len(indexed)
        report.chunks = int(manifest.get("chunk_count", 0))
        return report

    def _build(self, *, rebuild: bool) -> IndexReport:
        started = time.perf_counter()
        recovered = self.versions.recover()
        live, manifest, live_chunks, damage = self._live()
        rebuild = rebuild or damage is not None  # a damaged live version is not a base to build on
        if live and not rebuild:
            check_model(manifest, self.settings.model)
        base_manifest = {} if rebuild else manifest
        _, actions, removed = self._scan(base_manifest)
        report = IndexReport(version=live, previous=None, published=False, dry_run=False, recovered=recovered,
                             damaged=damage)

        to_load = [s for s, a in sorted(actions.items()) if a in ("added", "changed")]
        if not to_load and not removed and live and not rebuild:
            indexed = manifest.get("documents", {})
            report.files = [FileReport(s, a, int(indexed.get(s, {}).get("chunks", 0)))
                            for s, a in sorted(actions.items())]
            report.documents = len(indexed)
            report.chunks = int(manifest.get("chunk_count", 0))
            report.seconds = time.perf_counter() - started
            return report

        # Load and chunk what is new or changed; a broken file is reported and skipped.
        documents: dict[str, Any] = {s: dict(v) for s, v in base_manifest.get("documents", {}).items()
                                      if s not in removed and actions.get(s) == "unchanged"}
        new_chunks: dict[str, list[Document]] = {}
        file_reports: dict[str, FileReport] = {}
        for i, source in enumerate(to_load):
            t0 = time.perf_counter()
            try:
                loaded = load_file(self.settings.corpus_dir / source, self.settings.corpus_dir)
                chunks = chunk_document(loaded.meta, loaded.text, self.chunking)
                if not chunks:
                    raise LoadError(source, "no indexable text after cleaning")
            except LoadError as err:
                file_reports[source] = FileReport(source, "skipped", reason=err.reason)
                if actions[source] == "changed":
                    # A revision that no longer parses: keep serving the last good version of it.
                    documents[source] = dict(base_manifest["documents"][source])
                    file_reports[source].reason = f"{err.reason} (previous version kept)"
            else:
                new_chunks[source] = chunks
                documents[source] = {"sha256": loaded.sha256, "meta": loaded.meta.to_dict(), "chunks": len(chunks)}
                file_reports[source] = FileReport(source, actions[source], len(chunks), time.perf_counter() - t0)
            self.progress("load", i + 1, len(to_load))

        if not documents:
            report.files = list(file_reports.values()) + [FileReport(s, "removed") for s in removed]
            report.seconds = time.perf_counter() - started
            return report  # nothing could be indexed: nothing is published
        if live and not rebuild and not new_chunks and not removed:
            # Every new or changed file was skipped: the live version already is the result, so
            # publishing a copy of it would only push the real previous version out of --rollback.
            report.files = [FileReport(s, "unchanged", int(documents[s]["chunks"]))
                            for s, a in sorted(actions.items()) if a == "unchanged"]
            report.files += list(file_reports.values())
            report.documents = len(documents)
            report.chunks = int(manifest.get("chunk_count", 0))
            report.seconds = time.perf_counter() - started
            return report

        # Supersession across the whole corpus, then chunk metadata that reflects it.
        metas = {s: DocumentMeta.from_dict(d["meta"]) for s, d in documents.items()}
        mark_superseded(list(metas.values()))
        base_docs: list[Document] = []
        if live and not rebuild:
            base_docs = live_chunks
        kept = [d for d in base_docs if d.metadata["source"] in documents and d.metadata["source"] not in new_chunks]
        all_chunks = kept + [c for s in sorted(new_chunks) for c in new_chunks[s]]
        kept_ids = {d.metadata["chunk_id"] for d in kept}
        refreshed: set[str] = set()  # kept chunks whose supersession changed: their stored metadata too
        for doc in all_chunks:
            meta = metas[doc.metadata["source"]]
            state = (meta.in_force, meta.superseded_by or "")
            if doc.metadata["chunk_id"] in kept_ids and state != (
                    doc.metadata.get("in_force"), doc.metadata.get("superseded_by", "")):
                refreshed.add(doc.metadata["chunk_id"])
            doc.metadata["in_force"], doc.metadata["superseded_by"] = state
        for source, data in documents.items():
            data["meta"] = metas[source].to_dict()

        version = self.versions.next_version()
        try:
            report.embed_seconds, report.embedded = self._write_version(
                version, live if not rebuild else None, base_docs, all_chunks, documents, refreshed)
        except Exception as err:  # disk full, read-only folder, a store error: all leave the live version as is
            with contextlib.suppress(Exception):
                self.backend.drop(version)
            shutil.rmtree(self.versions.path(version), ignore_errors=True)
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise IndexWriteError(
                f"cannot write index version {version} in {self.settings.index_dir}: {reason}; "
                "the live version is untouched"
            ) from err
        self.versions.publish(version, live)
        self.versions.garbage_collect(self.settings.keep_versions)

        report.version, report.previous, report.published = version, live, True
        kept_files = [FileReport(s, "unchanged") for s, a in sorted(actions.items()) if a == "unchanged"]
        report.files = kept_files + list(file_reports.values()) + [FileReport(s, "removed") for s in removed]
        for fr in report.files:
            if fr.action == "unchanged":
                fr.chunks = int(documents[fr.source]["chunks"])
        report.documents = len(documents)
        report.chunks = len(all_chunks)
        report.seconds = time.perf_counter() - started
        return report

    def _write_version(self, version: str, base: str | None, base_docs: list[Document],
                       all_chunks: list[Document], documents: dict[str, Any],
                       refreshed: set[str] | None = None) -> tuple[float, int]:
        folder = self.versions.path(version)
        folder.mkdir(parents=True, exist_ok=True)
        store = self.backend.fork(base, version)
        wanted = {d.metadata["chunk_id"] for d in all_chunks}
        stale = [d.metadata["chunk_id"] for d in base_docs if d.metadata["chunk_id"] not in wanted]
        if stale:
            store.delete(stale)
        present = {d.metadata["chunk_id"] for d in base_docs if d.metadata["chunk_id"] in wanted}
        missing = [d for d in all_chunks if d.metadata["chunk_id"] not in present]

        cache = ContentCache(self.settings.index_dir / "cache.sqlite")
        cache_dims: int | None = None
        embed_seconds = 0.0
        embedded = 0
        try:
            model = self.settings.model
            cached = cache.get_vectors(model, (d.metadata["embed_hash"] for d in missing))
            # Each distinct text once, longest first: sentence-transformers pads a batch to its longest
            # text and sorts by length only within one encode() call, so unsorted 256-text steps
            # padded ~8% more tokens than one call over everything (11k statute chunks, bench/ingest.py).
            todo = list({d.metadata["embed_hash"]: d for d in missing
                         if d.metadata["embed_hash"] not in cached}.values())
            todo.sort(key=lambda d: -len(_etext(d)))
            embedder = self._embedder_factory() if todo else None
            step = 256
            for i in range(0, len(todo), step):
                batch = todo[i : i + step]
                t0 = time.perf_counter()
                assert embedder is not None
                vectors = embedder.encode([_etext(d) for d in batch])
                embed_seconds += time.perf_counter() - t0
                fresh = {d.metadata["embed_hash"]: v for d, v in zip(batch, vectors, strict=True)}
                cache.put_vectors(model, fresh)
                cached.update(fresh)
                embedded += len(batch)
                self.progress("embed", min(i + step, len(todo)), len(todo))
            if cached:
                cache_dims = int(next(iter(cached.values())).shape[0])
            if missing:
                for i in range(0, len(missing), 2000):
                    batch = missing[i : i + 2000]
                    store.add(batch, np.stack([cached[d.metadata["embed_hash"]] for d in batch]))
                    self.progress("store", min(i + 2000, len(missing)), len(missing))
            # Chunks kept from the base carry metadata that may have changed (supersession): update it.
            stale_meta = [d for d in all_chunks if d.metadata["chunk_id"] in (refreshed or set())
                          and d.metadata["chunk_id"] in present]
            if stale_meta:
                store.update_metadata(stale_meta)
            self._keyword(cache, all_chunks, folder)
            # Document centroids for the retrieval prior (every chunk's vector is in the cache).
            every = cache.get_vectors(model, (d.metadata["embed_hash"] for d in all_chunks))
            found = centroids.compute(all_chunks, every, key="embed_hash")
            if found is not None:
                centroids.save(folder, *found)
        finally:
            cache.close()
        write_chunks(folder / "chunks.jsonl", all_chunks)
        manifest = {
            "version": version,
            "base": base,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": self.settings.model,
            "dimension": self._dimension(cache_dims, base),
            "tokenizer": TOKENIZER_ID,
            "documents": documents,
            "chunk_count": len(all_chunks),
        }
        manifest = integrity.seal(folder, manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        self.versions.mark_complete(version)
        return embed_seconds, embedded

    def _dimension(self, found: int | None, base: str | None) -> int | None:
        if found is not None:
            return found
        if base is not None:
            dim = self.versions.manifest(base).get("dimension")
            return int(dim) if dim else None
        return None

    def _keyword(self, cache: ContentCache, chunks: list[Document], folder: Path) -> None:
        hashes = [d.metadata["embed_hash"] for d in chunks]
        tokens = cache.get_tokens(TOKENIZER_ID, hashes)
        fresh = {}
        todo = [d for d in chunks if d.metadata["embed_hash"] not in tokens]
        for i, doc in enumerate(todo):
            fresh[doc.metadata["embed_hash"]] = tokenize(_etext(doc))
            if i % 500 == 0:
                self.progress("tokenize", i + 1, len(todo))
        if fresh:
            cache.put_tokens(TOKENIZER_ID, fresh)
            tokens.update(fresh)
        KeywordIndex.build([tokens[h] for h in hashes]).save(folder / "bm25")
        # Whole documents for the document-level keyword signal: each document's chunk tokens joined.
        by_source: dict[str, list[str]] = {}
        for doc, digest in zip(chunks, hashes, strict=True):
            by_source.setdefault(doc.metadata["source"], []).extend(tokens[digest])
        sources = sorted(by_source)
        KeywordIndex.build([by_source[s] for s in sources]).save(folder / DOC_BM25)
        (folder / DOC_BM25 / "sources.json").write_text(json.dumps(sources, ensure_ascii=False), encoding="utf-8")


def _etext(doc: Document) -> str:
    return embed_text(doc.metadata["title"], doc.metadata["locator"], doc.page_content)
