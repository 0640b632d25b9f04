"""Curated answers at run time: which one fits a question, which went stale, what a verdict makes.

The matching rules and the threshold's calibration are in curated.py; this keeps the active
curated answers (cached until the tables change), marks them stale when the live index's
documents change, and turns a verdict into a new curated answer while retiring the old ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from assistant.errors import AssistantError
from assistant.indexing.snapshot import IndexSnapshot
from assistant.review import repository
from assistant.review.curated import CuratedAnswer, Encode, best_match, normalize_question, stale_reason
from assistant.review.log import ReviewLog

log = logging.getLogger(__name__)


class Curation:
    def __init__(self, db: Callable[[], ReviewLog], encode: Encode, threshold: float) -> None:
        self._db = db  # the log is opened on first use
        self._encode = encode
        self.threshold = threshold
        self._synced_version: str | None = None
        self._cache: tuple[tuple[Any, ...], list[CuratedAnswer]] | None = None

    def active(self) -> list[CuratedAnswer]:
        """Curated answers neither stale nor retired (cached until the tables change)."""
        db = self._db()
        key = repository.curated_version(db)
        cached = self._cache
        if cached is not None and cached[0] == key:
            return cached[1]
        items = repository.active_curated(db)
        self._cache = (key, items)
        return items

    def find(self, query: str, snapshot: IndexSnapshot) -> CuratedAnswer | None:
        """The curated answer to serve for this query, if one fits and its documents are unchanged."""
        self.sync(snapshot)
        match = best_match(query, self.active(), self._encode, self.threshold)
        if match is None:
            return None
        reason = stale_reason(match.curated.documents, snapshot.manifest.get("documents", {}))
        if reason:
            self.mark_stale(match.curated.id, reason)
            return None
        return match.curated

    def sync(self, snapshot: IndexSnapshot) -> list[int]:
        """After the live version changed: mark stale every curated answer whose documents changed."""
        if snapshot.version == self._synced_version:
            return []
        documents = snapshot.manifest.get("documents", {})
        stale = []
        for curated in self.active():
            reason = stale_reason(curated.documents, documents)
            if reason and self.mark_stale(curated.id, f"{reason}（索引版本 {snapshot.version}）"):
                stale.append(curated.id)
        self._synced_version = snapshot.version
        return stale

    def mark_stale(self, curated_id: int, reason: str) -> bool:
        """Record staleness once (several server processes may notice it at the same time)."""
        db = self._db()
        with db.transaction():
            if repository.curated_has_event(db, curated_id):
                return False
            repository.insert_curated_event(db, curated_id, "stale", reason)
        return True

    def embed(self, query: str) -> bytes | None:
        try:
            vector = np.asarray(self._encode([normalize_question(query)]), dtype=np.float32)[0]
        except (AssistantError, OSError, RuntimeError) as err:  # same-question matches still work
            log.warning("curated answer stored without an embedding: %s", err)
            return None
        return vector.tobytes()

    def replace(self, row: repository.AnswerRow, verdict: str, verdict_id: int, at: str,
                source: tuple[str, list[dict[str, Any]], list[dict[str, str]]] | None, vector: bytes | None,
                manifest_documents: dict[str, Any]) -> tuple[int | None, str | None]:
        """Inside the verdict's transaction: any verdict replaces the item's earlier curated answers,
        and an answer judged wrong that was served from a curated answer retires that one too; the
        approved or corrected answer (`source`: text, citations, documents) becomes the new one.
        Returns its id and, when its documents already changed, why it is stale."""
        db = self._db()
        for curated_id in repository.curated_to_retire(db, row.id, row.curated_id, verdict):
            repository.insert_curated_event(db, curated_id, "retired", f"verdict {verdict_id}", at)
        if source is None:
            return None, None
        text, citations, documents = source
        curated_id = repository.insert_curated(
            db, created_at=at, answer_id=row.id, verdict_id=verdict_id, question=row.question, query=row.query,
            norm=normalize_question(row.query), answer=text, citations=citations, documents=documents,
            vector=vector)
        reason = stale_reason(documents, manifest_documents)
        if reason:
            repository.insert_curated_event(db, curated_id, "stale", reason, at)
        return curated_id, reason
