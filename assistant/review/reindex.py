"""Re-index from the API: one run at a time, in a background thread, with a status to poll.

A re-index takes from seconds to minutes, longer than an HTTP request should wait, so the request
starts it and returns; `GET /api/index/reindex` tells how it went. The index's own lock still
guards against a re-index started elsewhere (the CLI, another server): that run fails with the
index's "busy" message, which the status shows. When a run publishes a new version, curated
answers citing changed documents are marked stale at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from assistant.indexing.build import IndexReport
from assistant.review.log import now
from assistant.review.schemas import ReindexStatus

log = logging.getLogger(__name__)

Runner = Callable[[], IndexReport]


class ReindexJob:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.status = ReindexStatus(state="idle")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, run: Runner, started_by: str, after: Callable[[], object] | None = None) -> ReindexStatus:
        """Start a run unless one is going; return the status either way."""
        with self._lock:
            if self.running:
                return self.status
            self.status = ReindexStatus(state="running", started_at=now(), started_by=started_by)
            self._thread = threading.Thread(target=self._run, args=(run, after), name="reindex", daemon=True)
            self._thread.start()
            return self.status

    def _run(self, run: Runner, after: Callable[[], object] | None) -> None:
        try:
            report = run()
            state = "done" if report.usable else "failed"
            summary = ", ".join(f"{a} {report.count(a)}" for a in ("added", "changed", "removed", "unchanged",
                                                                     "skipped"))
            self.status = self.status.model_copy(update={
                "state": state, "finished_at": now(), "version": report.version,
                "detail": f"{summary}; published: {report.published}"})
            if after is not None:
                after()
        except Exception as err:  # the thread must record every failure, not die silently
            log.exception("re-index failed")
            self.status = self.status.model_copy(update={"state": "failed", "finished_at": now(),
                                                         "detail": str(err)[:500]})

    def wait(self, timeout: float | None = None) -> ReindexStatus:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.status
