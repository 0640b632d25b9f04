"""Review as a library: what the assistant, the review API and the 审核 tab call.

The assistant logs every answer here and asks here first whether a curated answer fits the
question; liaisons read the queue, look at an answer sentence by sentence, give verdicts (which
make curated answers) and answer hand-offs. A local log (SQLite) that cannot be written does not
stop an enterprise from getting its answer: it is given without an `answer_id` and the failure is
logged for the operator. A log server (PostgreSQL) that is away is a 503 with Retry-After: the
outage is short, and an answer no liaison can ever review, or a machine answer served where a
liaison's correction may exist, is worse than a retry a moment later.

This is a facade: SQL is in repository.py, curated answers in curation.py, hand-offs in
handoffs.py, a liaison's citations in picks.py, the views in schemas.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from assistant.answer.support import min_support
from assistant.errors import AssistantError, StateUnavailableError
from assistant.indexing.snapshot import IndexSnapshot, LiveIndex
from assistant.indexing.versions import VersionStore
from assistant.retrieve.retriever import Retriever, make_retriever
from assistant.review import handoffs, repository
from assistant.review.auth import Principal
from assistant.review.curation import Curation
from assistant.review.errors import ReviewInputError, ReviewNotFoundError
from assistant.review.export import Format, Table
from assistant.review.export import export as export_rows
from assistant.review.log import CHINA, LOG_ERRORS, ReviewLog, clean, now, open_log
from assistant.review.picks import cites_any, resolve_citations
from assistant.review.queue import QueueFilter
from assistant.review.schemas import (
    CitationPick,
    ConversationHandoffs,
    CuratedView,
    DocumentVersion,
    FeedbackView,
    HandoffCreated,
    HandoffView,
    ItemDetail,
    PassageHit,
    PassageSearchResponse,
    QueueItem,
    QueuePage,
    ReplyView,
    SentenceView,
    Verdict,
    VerdictResult,
    VerdictView,
    citation_contexts,
    sentence_views,
)
from assistant.settings import Settings
from assistant.types import Answer, Citation, citation

log = logging.getLogger(__name__)

__all__ = ["ReviewInputError", "ReviewNotFoundError", "ReviewService"]
PRUNE_EVERY = 3600.0  # seconds between retention passes


class ReviewService:
    def __init__(self, settings: Settings, index: LiveIndex, retriever: Retriever | None = None) -> None:
        self.settings = settings
        self.index = index
        self.retriever = retriever or make_retriever(settings, index)
        self._log: ReviewLog | None = None
        self._open_lock = threading.Lock()
        self._pruned_at: float | None = None  # monotonic time of the last retention pass
        self.curation = Curation(lambda: self.log, lambda texts: self.index.embedder.encode(texts),
                                 settings.curated_threshold)

    # --- the database ----------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self.settings.review_log

    @property
    def log(self) -> ReviewLog:
        """Opened on first use, so that an assistant without a writable data folder (or, on
        PostgreSQL, with the database down at start) still answers."""
        if self._log is None:
            with self._open_lock:
                if self._log is None:
                    self._log = open_log(self.settings)
        return self._log

    def prune(self, *, force: bool = False) -> int:
        """Retention: delete answers older than `review_retention_days` that no liaison acted on.
        Runs at most hourly (from `record`) unless forced; the number of answers deleted."""
        days = self.settings.review_retention_days
        recently = self._pruned_at is not None and time.monotonic() - self._pruned_at < PRUNE_EVERY
        if not self.enabled or days <= 0 or (recently and not force):
            return 0
        self._pruned_at = time.monotonic()
        before = (datetime.now(CHINA) - timedelta(days=days)).isoformat(timespec="microseconds")
        try:
            deleted = repository.prune_unreviewed(self.log, before)
        except LOG_ERRORS as err:
            log.error("old log rows could not be pruned: %s", err)
            return 0
        if deleted:
            log.info("retention: %d answers older than %d days deleted", deleted, days)
        return deleted

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    # --- logging answers -------------------------------------------------------------------------
    def record(self, response: Answer, question: str, evidence: float | None = None, *,
               logged: bool = True, origin: str = "assistant", curated_id: int | None = None) -> Answer:
        """Log one answer; return it with its `answer_id` (unchanged when not logged)."""
        if not (self.enabled and logged):
            return response
        self.prune()
        try:
            answer_id = self._insert_answer(response, question, evidence, origin, curated_id)
        except StateUnavailableError:
            raise  # the log's server is away: 503, so the client retries an answer liaisons can review
        except LOG_ERRORS as err:
            log.error("the answer to %r was given but could not be logged: %s", question[:100], err)
            return response
        return response.model_copy(update={"answer_id": answer_id})

    def _manifest_documents(self, version: str | None) -> dict[str, Any]:
        try:
            snapshot = self.index.snapshot()
            if version is None or snapshot.version == version:
                return dict(snapshot.manifest.get("documents", {}))
            return dict(VersionStore(self.settings.index_dir).manifest(version).get("documents", {}))
        except (AssistantError, OSError, ValueError):
            return {}

    def _insert_answer(self, response: Answer, question: str, evidence: float | None, origin: str,
                       curated_id: int | None) -> int:
        manifest = self._manifest_documents(response.index_version)
        documents: dict[str, repository.DocumentRow] = {}
        for c in response.citations:
            documents.setdefault(c.document.source, repository.DocumentRow(
                source=c.document.source, title=c.document.title,
                sha256=manifest.get(c.document.source, {}).get("sha256")))
        weakest = None if response.refused else min_support(response.answer, {c.n: c.text for c in response.citations},
                                                            citation_contexts(response.citations))
        return repository.insert_answer(
            self.log, origin=origin, conversation_id=response.conversation_id, question=question,
            query=response.query, answer=response.answer, refused=response.refused, reviewed=response.reviewed,
            curated_id=curated_id, evidence=None if evidence is None else round(float(evidence), 4),
            min_support=weakest, index_version=response.index_version, answerer=response.answerer,
            dropped=response.dropped_sentences, fallback=response.fallback,
            citations=[c.model_dump(mode="json") for c in response.citations], documents=list(documents.values()))

    # --- curated answers -------------------------------------------------------------------------
    def curated_answer(self, question: str, query: str, conversation_id: str, *, logged: bool = True
                       ) -> Answer | None:
        """A liaison's answer to this question, when one fits and its documents are unchanged."""
        if not self.enabled:
            return None
        try:
            snapshot = self.index.snapshot()
            curated = self.curation.find(query, snapshot)
        except StateUnavailableError:
            raise  # a liaison's correction may be there: not served the machine's answer instead
        except LOG_ERRORS as err:
            log.error("curated answers unavailable: %s", err)
            return None
        if curated is None:
            return None
        response = Answer(answer=curated.answer, citations=[Citation(**c) for c in curated.citations],
                               refused=False, conversation_id=conversation_id, query=query,
                               index_version=snapshot.version, reviewed=True, answerer="curated")
        return self.record(response, question, None, logged=logged, origin="curated", curated_id=curated.id)

    def sync(self, snapshot: IndexSnapshot | None = None) -> list[int]:
        """After the live version changed: mark stale every curated answer whose documents changed."""
        if not self.enabled:
            return []
        try:
            snapshot = snapshot or self.index.snapshot()
        except AssistantError:
            return []
        return self.curation.sync(snapshot)

    # --- the enterprise side ---------------------------------------------------------------------
    def _answer_row(self, answer_id: int) -> repository.AnswerRow:
        row = repository.answer(self.log, answer_id)
        if row is None:
            raise ReviewNotFoundError(f"no logged answer with id {answer_id}")
        return row

    def feedback(self, answer_id: int, helpful: bool, comment: str | None = None,
                 conversation_id: str | None = None) -> int:
        """Only from the conversation the answer belongs to (else 404, as for no such answer)."""
        handoffs.require_answer(self.log, answer_id, conversation_id)
        return repository.insert_feedback(self.log, answer_id, helpful, (comment or "").strip())

    def handoff(self, contact: str, answer_id: int | None = None, conversation_id: str | None = None,
                question: str | None = None) -> HandoffCreated:
        """Pass a question to a liaison: a logged answer by id, or a conversation's question."""
        return handoffs.create(self.log, contact, answer_id, conversation_id, question)

    def conversation_handoffs(self, conversation_id: str) -> ConversationHandoffs:
        """What a conversation passed to liaisons, and their latest replies."""
        return handoffs.of_conversation(self.log, conversation_id)

    # --- the liaison side ------------------------------------------------------------------------
    def queue(self, flt: QueueFilter | None = None, limit: int = 50, offset: int = 0) -> QueuePage:
        self.sync()
        rows, total = repository.queue_items(self.log, flt or QueueFilter(), self.settings.review_low_evidence,
                                             self.settings.weak_support, limit, offset)
        return QueuePage(items=[QueueItem.of(r) for r in rows], total=total, limit=limit, offset=offset)

    def sentences(self, answer: str, citations: list[Citation]) -> list[SentenceView]:
        return sentence_views(answer, citations, self.settings.weak_support)

    def item(self, answer_id: int) -> ItemDetail:
        rows, _ = repository.queue_items(self.log, QueueFilter(status="all", answer_id=answer_id),
                                         self.settings.review_low_evidence, self.settings.weak_support, 1, 0)
        if not rows:
            raise ReviewNotFoundError(f"no logged answer with id {answer_id}")
        row = rows[0].answer
        citations = [Citation(**c) for c in row.citations]
        verdicts = []
        for v in repository.verdicts_of(self.log, answer_id):
            cites = [Citation(**c) for c in v.corrected_citations]
            verdicts.append(VerdictView(
                id=v.id, created_at=v.created_at, reviewer=v.reviewer, role=v.role, verdict=v.verdict,
                note=v.note, corrected_answer=v.corrected_answer, corrected_citations=cites,
                corrected_sentences=self.sentences(v.corrected_answer, cites) if v.corrected_answer else [],
            ))
        handoff_views = [HandoffView(id=h.id, created_at=h.created_at, question=h.question, contact=h.contact,
                                     replies=[ReplyView.of(r) for r in repository.replies(self.log, h.id)])
                         for h in repository.handoffs_of_answer(self.log, answer_id)]
        return ItemDetail(
            item=QueueItem.of(rows[0]), conversation_id=row.conversation_id, query=row.query,
            index_version=row.index_version, origin=row.origin, citations=citations,
            document_versions=[DocumentVersion(**vars(d)) for d in repository.answer_documents(self.log, answer_id)],
            sentences=self.sentences(row.answer, citations) if row.answer else [],
            feedback=[FeedbackView.of(f) for f in repository.feedback_of(self.log, answer_id)],
            verdicts=verdicts, handoffs=handoff_views,
            curated=[CuratedView.of(c) for c in repository.curated_of_item(self.log, answer_id, row.curated_id)],
        )

    def search(self, query: str, k: int = 8) -> PassageSearchResponse:
        """Passages a liaison can cite in a correction: the retriever's hits, with their chunk ids."""
        query = clean(query).strip()
        if not query:
            raise ReviewInputError("type some words to search the indexed passages")
        query = query[: self.settings.max_question_chars]
        found = self.retriever.retrieve(query, k)
        return PassageSearchResponse(
            passages=[PassageHit(chunk_id=d.metadata["chunk_id"], citation=citation(i + 1, d))
                      for i, d in enumerate(found.docs)],
            index_version=found.snapshot.version,
        )

    def resolve_citations(self, text: str, picks: list[CitationPick], snapshot: IndexSnapshot,
                          every_sentence: bool) -> tuple[list[Citation], list[dict[str, str]]]:
        return resolve_citations(text, picks, snapshot, every_sentence)

    def verdict(self, answer_id: int, principal: Principal, request: Verdict) -> VerdictResult:
        """Record a verdict (kept forever, with who and when); make the curated answer it implies;
        reply to the item's open hand-offs."""
        row = self._answer_row(answer_id)
        corrected = (request.corrected_answer or "").strip() or None
        if corrected and request.verdict == "correct":
            raise ReviewInputError("a corrected answer goes with the verdict incorrect or needs_change")
        snapshot = self.index.snapshot()
        corrected_citations: list[Citation] = []
        corrected_documents: list[dict[str, str]] = []
        if corrected:
            corrected = clean(corrected)
            corrected_citations, corrected_documents = self.resolve_citations(
                corrected, request.citations, snapshot, every_sentence=True)

        # What becomes the curated answer: the answer as approved, or the correction.
        source: tuple[str, list[dict[str, Any]], list[dict[str, str]]] | None = None
        if corrected:
            source = (corrected, [c.model_dump(mode="json") for c in corrected_citations], corrected_documents)
        elif request.verdict == "correct" and row.origin == "assistant" and not row.refused and row.answer:
            documents = repository.answer_documents(self.log, answer_id)
            source = (row.answer, row.citations,
                      [{"source": d.source, "title": d.title, "sha256": d.sha256 or ""} for d in documents])
        vector = self.curation.embed(row.query) if source else None

        reply_text = (request.reply or "").strip() or None
        reply_citations: list[dict[str, Any]] = []
        if reply_text:
            if cites_any(reply_text):
                cites, _ = self.resolve_citations(reply_text, request.citations, snapshot, every_sentence=False)
                reply_citations = [c.model_dump(mode="json") for c in cites]
        elif source is not None:
            reply_text, reply_citations = source[0], source[1]

        at = now()
        with self.log.transaction():
            verdict_id = repository.insert_verdict(
                self.log, answer_id=answer_id, created_at=at, reviewer=principal.name,
                role=principal.role.name.lower(), verdict=request.verdict, note=request.note.strip(),
                corrected_answer=corrected,
                corrected_citations=[c.model_dump(mode="json") for c in corrected_citations])
            curated_id, stale = self.curation.replace(row, request.verdict, verdict_id, at, source, vector,
                                                      snapshot.manifest.get("documents", {}))
            result = VerdictResult(verdict_id=verdict_id, curated_id=curated_id, curated_stale=stale)
            if reply_text:
                result.handoffs_answered = handoffs.reply_open(self.log, answer_id, principal.name, reply_text,
                                                               reply_citations, verdict_id, at)
            else:
                result.handoffs_pending = [h.id for h in repository.open_handoffs(self.log, answer_id)]
        return result

    def reply_handoff(self, handoff_id: int, principal: Principal, answer: str,
                      picks: list[CitationPick]) -> int:
        """A liaison's answer to a hand-off: shown to that conversation. Sentences may cite passages."""
        handoffs.require(self.log, handoff_id)
        answer = clean(answer).strip()
        if not answer:
            raise ReviewInputError("the reply is empty")
        citations: list[Citation] = []
        if cites_any(answer):
            citations, _ = self.resolve_citations(answer, picks, self.index.snapshot(), every_sentence=False)
        return handoffs.reply(self.log, handoff_id, principal.name, answer, citations)

    def export(self, table: Table, fmt: Format, flt: QueueFilter) -> Iterator[str]:
        """The rows as text chunks (see export.py), read from the log as they are sent."""
        return export_rows(self.log, table, fmt, flt, self.settings.review_low_evidence, self.settings.weak_support)
