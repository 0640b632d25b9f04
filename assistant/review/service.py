"""Review as a library: what the assistant, the review API and the 审核 tab call.

The assistant logs every answer here and asks here first whether a curated answer fits the
question; liaisons read the queue, look at an answer sentence by sentence, give verdicts (which
make curated answers) and answer hand-offs. Logging never stops an enterprise from getting its
answer: if the log cannot be written the answer is still given, without an `answer_id`, and the
failure is logged for the operator.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from typing import Any

import numpy as np
from langchain_core.documents import Document

from assistant.errors import AssistantError, InputError, NotFoundError
from assistant.indexing.snapshot import IndexSnapshot, LiveIndex
from assistant.indexing.versions import VersionStore
from assistant.retrieve.retriever import Retriever
from assistant.review import queue as review_queue
from assistant.review.auth import Principal
from assistant.review.curated import CuratedAnswer, best_match, normalize_question, stale_reason
from assistant.review.export import Format, Table
from assistant.review.export import export as export_rows
from assistant.review.log import ReviewLog, clean, dumps, now
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
    PassageSupportView,
    PublicHandoff,
    PublicReply,
    QueueItem,
    QueuePage,
    ReplyView,
    SentenceView,
    VerdictRequest,
    VerdictResult,
    VerdictView,
)
from assistant.review.support import answer_support, citation_highlights, min_support, split_answer
from assistant.settings import Settings
from assistant.types import Answer, Citation, citation

log = logging.getLogger(__name__)


class ReviewInputError(InputError):
    """A verdict, correction or hand-off that cannot be recorded as given (HTTP 400)."""


class ReviewNotFoundError(NotFoundError):
    """No such logged answer or hand-off (HTTP 404)."""


class ReviewService:
    def __init__(self, settings: Settings, index: LiveIndex, retriever: Retriever | None = None) -> None:
        self.settings = settings
        self.index = index
        self.retriever = retriever or Retriever(index, settings.candidates)
        self._log: ReviewLog | None = None
        self._open_lock = threading.Lock()
        self._synced_version: str | None = None
        self._curated: tuple[tuple[Any, ...], list[CuratedAnswer]] | None = None

    # --- the database ----------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self.settings.review_log

    @property
    def log(self) -> ReviewLog:
        """Opened on first use, so that an assistant without a writable data folder still answers."""
        if self._log is None:
            with self._open_lock:
                if self._log is None:
                    self._log = ReviewLog(self.settings.review_db_path)
        return self._log

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
        try:
            answer_id = self._insert_answer(response, question, evidence, origin, curated_id)
        except (sqlite3.Error, OSError) as err:
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
        passages = {c.n: c.text for c in response.citations}
        weakest = None if response.refused else min_support(response.answer, passages)
        documents: dict[str, tuple[str, str | None]] = {}
        for c in response.citations:
            documents.setdefault(c.document.source, (c.document.title,
                                                     manifest.get(c.document.source, {}).get("sha256")))
        with self.log.transaction() as conn:
            answer_id = self.log.insert("answers", {
                "created_at": now(), "origin": origin, "conversation_id": response.conversation_id,
                "question": question, "query": response.query, "answer": response.answer,
                "refused": int(response.refused), "reviewed": int(response.reviewed), "curated_id": curated_id,
                "evidence": None if evidence is None else round(float(evidence), 4), "min_support": weakest,
                "index_version": response.index_version,
                "citations": dumps([c.model_dump(mode="json") for c in response.citations]),
            }, conn)
            for source, (title, sha256) in documents.items():
                self.log.insert("answer_documents", {"answer_id": answer_id, "source": source, "title": title,
                                                     "sha256": sha256}, conn)
        return answer_id

    # --- curated answers -------------------------------------------------------------------------
    def curated_answer(self, question: str, query: str, conversation_id: str, *, logged: bool = True
                       ) -> Answer | None:
        """A liaison's answer to this question, when one fits and its documents are unchanged."""
        if not self.enabled:
            return None
        try:
            snapshot = self.index.snapshot()
            self.sync(snapshot)
            match = best_match(query, self.active_curated(), self.index.embedder.encode,
                               self.settings.curated_threshold)
            if match is None:
                return None
            curated = match.curated
            reason = stale_reason(curated.documents, snapshot.manifest.get("documents", {}))
            if reason:
                self.mark_stale(curated.id, reason)
                return None
        except (sqlite3.Error, OSError) as err:
            log.error("curated answers unavailable: %s", err)
            return None
        response = Answer(answer=curated.answer, citations=[Citation(**c) for c in curated.citations],
                               refused=False, conversation_id=conversation_id, query=query,
                               index_version=snapshot.version, reviewed=True)
        return self.record(response, question, None, logged=logged, origin="curated", curated_id=curated.id)

    def active_curated(self) -> list[CuratedAnswer]:
        """Curated answers neither stale nor retired (cached until the tables change)."""
        key = (self.log.scalar("SELECT MAX(id) FROM curated"), self.log.scalar("SELECT MAX(id) FROM curated_events"))
        cached = self._curated
        if cached is not None and cached[0] == key:
            return cached[1]
        rows = self.log.rows("SELECT * FROM curated c WHERE NOT EXISTS "
                             "(SELECT 1 FROM curated_events e WHERE e.curated_id = c.id) ORDER BY id")
        items = [self._curated_from_row(r) for r in rows]
        self._curated = (key, items)
        return items

    @staticmethod
    def _curated_from_row(row: dict[str, Any]) -> CuratedAnswer:
        vector = np.frombuffer(row["vector"], dtype=np.float32) if row["vector"] else None
        return CuratedAnswer(id=row["id"], answer_id=row["answer_id"], verdict_id=row["verdict_id"],
                             created_at=row["created_at"], question=row["question"], query=row["query"],
                             norm=row["norm"], answer=row["answer"], citations=json.loads(row["citations"]),
                             documents=json.loads(row["documents"]), vector=vector)

    def sync(self, snapshot: IndexSnapshot | None = None) -> list[int]:
        """After the live version changed: mark stale every curated answer whose documents changed."""
        if not self.enabled:
            return []
        try:
            snapshot = snapshot or self.index.snapshot()
        except AssistantError:
            return []
        if snapshot.version == self._synced_version:
            return []
        documents = snapshot.manifest.get("documents", {})
        stale = []
        for curated in self.active_curated():
            reason = stale_reason(curated.documents, documents)
            if reason and self.mark_stale(curated.id, f"{reason}（索引版本 {snapshot.version}）"):
                stale.append(curated.id)
        self._synced_version = snapshot.version
        return stale

    def mark_stale(self, curated_id: int, reason: str) -> bool:
        """Record staleness once (several server processes may notice it at the same time)."""
        with self.log.transaction() as conn:
            if conn.execute("SELECT 1 FROM curated_events WHERE curated_id = ?", (curated_id,)).fetchone():
                return False
            self.log.insert("curated_events", {"curated_id": curated_id, "created_at": now(), "event": "stale",
                                               "reason": reason}, conn)
        return True

    # --- the enterprise side ---------------------------------------------------------------------
    def _answer_row(self, answer_id: int) -> dict[str, Any]:
        row = self.log.row("SELECT * FROM answers WHERE id = ?", (answer_id,))
        if row is None:
            raise ReviewNotFoundError(f"no logged answer with id {answer_id}")
        return row

    def feedback(self, answer_id: int, helpful: bool, comment: str | None = None,
                 conversation_id: str | None = None) -> int:
        row = self._answer_row(answer_id)
        if conversation_id is not None and conversation_id != row["conversation_id"]:
            raise ReviewNotFoundError(f"no logged answer with id {answer_id} in this conversation")
        return self.log.insert("feedback", {"answer_id": answer_id, "created_at": now(), "helpful": int(helpful),
                                            "comment": (comment or "").strip()})

    def handoff(self, contact: str, answer_id: int | None = None, conversation_id: str | None = None,
                question: str | None = None) -> HandoffCreated:
        """Pass a question to a liaison: a logged answer by id, or a conversation's question."""
        contact = (contact or "").strip()
        if not contact:
            raise ReviewInputError("please give a contact line (phone or e-mail) for the liaison")
        if answer_id is not None:
            row = self._answer_row(answer_id)
            if conversation_id is not None and conversation_id != row["conversation_id"]:
                raise ReviewNotFoundError(f"no logged answer with id {answer_id} in this conversation")
            conversation_id = row["conversation_id"]
            question = (question or "").strip() or row["question"]
        else:
            question = (question or "").strip()
            if not conversation_id or not question:
                raise ReviewInputError("give the answer_id of the answer, or the conversation_id and the question")
        assert conversation_id is not None and question
        with self.log.transaction() as conn:
            if answer_id is None:
                answer_id = self.log.insert("answers", {
                    "created_at": now(), "origin": "handoff", "conversation_id": conversation_id,
                    "question": question, "query": question, "answer": "", "refused": 0,
                }, conn)
            handoff_id = self.log.insert("handoffs", {
                "created_at": now(), "answer_id": answer_id, "conversation_id": conversation_id,
                "question": question, "contact": contact,
            }, conn)
        return HandoffCreated(id=handoff_id, answer_id=answer_id)

    def conversation_handoffs(self, conversation_id: str) -> ConversationHandoffs:
        """What a conversation passed to liaisons, and their latest replies."""
        out = []
        for handoff in self.log.rows("SELECT * FROM handoffs WHERE conversation_id = ? ORDER BY id",
                                     (conversation_id,)):
            reply = self.log.row("SELECT * FROM handoff_replies WHERE handoff_id = ? ORDER BY id DESC LIMIT 1",
                                 (handoff["id"],))
            public = None if reply is None else PublicReply(
                answer=reply["answer"], citations=[Citation(**c) for c in json.loads(reply["citations"])],
                replied_at=reply["created_at"])
            out.append(PublicHandoff(id=handoff["id"], created_at=handoff["created_at"],
                                     question=handoff["question"], status="answered" if reply else "open",
                                     reply=public))
        return ConversationHandoffs(conversation_id=conversation_id, handoffs=out)

    # --- the liaison side ------------------------------------------------------------------------
    def queue(self, flt: review_queue.QueueFilter | None = None, limit: int = 50, offset: int = 0) -> QueuePage:
        self.sync()
        rows, total = review_queue.list_items(self.log, flt or review_queue.QueueFilter(),
                                              self.settings.review_low_evidence, self.settings.weak_support,
                                              limit, offset)
        return QueuePage(items=[self._queue_item(r) for r in rows], total=total, limit=limit, offset=offset)

    @staticmethod
    def _queue_item(row: dict[str, Any]) -> QueueItem:
        return QueueItem(
            id=row["id"], created_at=row["created_at"], status=row["status"],
            needs_human=row["status"] in review_queue.NEEDS_HUMAN, waiting_since=row["waiting_since"],
            question=row["question"], answer=row["answer"], refused=bool(row["refused"]),
            reviewed=bool(row["reviewed"]), evidence=row["evidence"], min_support=row["min_support"],
            documents=row.get("documents", []), helpful=None if row["helpful"] is None else bool(row["helpful"]),
            verdicts=row["verdicts"] or 0,
        )

    def sentences(self, answer: str, citations: list[Citation]) -> list[SentenceView]:
        scored = answer_support(answer, {c.n: c.text for c in citations}, self.settings.weak_support)
        return [SentenceView(text=s.text, cites=s.cites, support=s.support, weak=s.weak,
                             missing_figures=s.missing_figures,
                             passages=[PassageSupportView(**vars(p)) for p in s.passages]) for s in scored]

    def item(self, answer_id: int) -> ItemDetail:
        rows, _ = review_queue.list_items(self.log, review_queue.QueueFilter(status="all", answer_id=answer_id),
                                          self.settings.review_low_evidence, self.settings.weak_support, 1, 0)
        if not rows:
            raise ReviewNotFoundError(f"no logged answer with id {answer_id}")
        row = rows[0]
        citations = [Citation(**c) for c in json.loads(row["citations"])]
        versions = [DocumentVersion(**d) for d in self.log.rows(
            "SELECT source, title, sha256 FROM answer_documents WHERE answer_id = ?", (answer_id,))]
        feedback = [FeedbackView(id=f["id"], created_at=f["created_at"], helpful=bool(f["helpful"]),
                                 comment=f["comment"])
                    for f in self.log.rows("SELECT * FROM feedback WHERE answer_id = ? ORDER BY id", (answer_id,))]
        verdicts = []
        for v in self.log.rows("SELECT * FROM verdicts WHERE answer_id = ? ORDER BY id", (answer_id,)):
            cites = [Citation(**c) for c in json.loads(v["corrected_citations"])]
            verdicts.append(VerdictView(
                id=v["id"], created_at=v["created_at"], reviewer=v["reviewer"], role=v["role"],
                verdict=v["verdict"], note=v["note"], corrected_answer=v["corrected_answer"],
                corrected_citations=cites,
                corrected_sentences=self.sentences(v["corrected_answer"], cites) if v["corrected_answer"] else [],
            ))
        handoffs = []
        for h in self.log.rows("SELECT * FROM handoffs WHERE answer_id = ? ORDER BY id", (answer_id,)):
            replies = [ReplyView(id=r["id"], created_at=r["created_at"], reviewer=r["reviewer"], answer=r["answer"],
                                 citations=[Citation(**c) for c in json.loads(r["citations"])])
                       for r in self.log.rows("SELECT * FROM handoff_replies WHERE handoff_id = ? ORDER BY id",
                                              (h["id"],))]
            handoffs.append(HandoffView(id=h["id"], created_at=h["created_at"], question=h["question"],
                                        contact=h["contact"], replies=replies))
        curated = []
        for c in self.log.rows(
            "SELECT c.id, c.created_at, c.verdict_id, c.answer, e.event, e.reason FROM curated c "
            "LEFT JOIN curated_events e ON e.curated_id = c.id WHERE c.answer_id = ? OR c.id = ? ORDER BY c.id",
            (answer_id, row["curated_id"] or -1),
        ):
            curated.append(CuratedView(id=c["id"], created_at=c["created_at"], verdict_id=c["verdict_id"],
                                       status=c["event"] or "active", reason=c["reason"] or "", answer=c["answer"]))
        return ItemDetail(
            item=self._queue_item(row), conversation_id=row["conversation_id"], query=row["query"],
            index_version=row["index_version"], origin=row["origin"], citations=citations,
            document_versions=versions, sentences=self.sentences(row["answer"], citations) if row["answer"] else [],
            feedback=feedback, verdicts=verdicts, handoffs=handoffs, curated=curated,
        )

    def search(self, query: str, k: int = 8) -> PassageSearchResponse:
        """Passages a liaison can cite in a correction: the retriever's hits, with their chunk ids."""
        query = clean(query).strip()
        if not query:
            raise ReviewInputError("type some words to search the indexed passages")
        query = query[: self.settings.max_question_chars]
        found = self.retriever.retrieve(query, k)
        return PassageSearchResponse(
            passages=[PassageHit(chunk_id=d.metadata["chunk_id"], citation=citation(i + 1, d, None))
                      for i, d in enumerate(found.docs)],
            index_version=found.snapshot.version,
        )

    def resolve_citations(self, text: str, picks: list[CitationPick], snapshot: IndexSnapshot,
                          every_sentence: bool) -> tuple[list[Citation], list[dict[str, str]]]:
        """The passages an answer written by a liaison cites, from the live index, and their
        documents' versions. Every [n] must be picked; with `every_sentence`, every sentence cites."""
        by_n: dict[int, CitationPick] = {}
        for pick in picks:
            if pick.n in by_n and by_n[pick.n].chunk_id != pick.chunk_id:
                raise ReviewInputError(f"[{pick.n}] is given two different passages")
            by_n[pick.n] = pick
        sentences = split_answer(text)
        if not sentences:
            raise ReviewInputError("the answer has no sentences")
        used: list[int] = []
        for sentence, cites in sentences:
            if every_sentence and not cites:
                raise ReviewInputError(f"every sentence must cite a passage with [n]; this one does not: {sentence}")
            for n in cites:
                if n not in by_n:
                    raise ReviewInputError(f"[{n}] is used in the answer but no passage is picked for it")
                if n not in used:
                    used.append(n)
        documents_meta = snapshot.manifest.get("documents", {})
        docs: dict[int, Document] = {}
        for n in used:
            position = snapshot.position.get(by_n[n].chunk_id)
            if position is None:
                raise ReviewInputError(f"the passage picked for [{n}] is not in the live index (re-indexed since?); "
                                       "search again and pick it anew")
            docs[n] = snapshot.chunks[position]
        highlights = citation_highlights(text, {n: d.page_content for n, d in docs.items()})
        citations = [citation(n, docs[n], highlights.get(n)) for n in sorted(docs)]
        documents: dict[str, dict[str, str]] = {}
        for n in sorted(docs):
            source = docs[n].metadata["source"]
            documents.setdefault(source, {"source": source, "title": str(docs[n].metadata.get("title", source)),
                                          "sha256": str(documents_meta.get(source, {}).get("sha256", ""))})
        return citations, list(documents.values())

    def _embed(self, query: str) -> bytes | None:
        try:
            vector = np.asarray(self.index.embedder.encode([normalize_question(query)]), dtype=np.float32)[0]
        except (AssistantError, OSError, RuntimeError) as err:  # same-question matches still work
            log.warning("curated answer stored without an embedding: %s", err)
            return None
        return vector.tobytes()

    def verdict(self, answer_id: int, principal: Principal, request: VerdictRequest) -> VerdictResult:
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
        elif request.verdict == "correct" and row["origin"] == "assistant" and not row["refused"] and row["answer"]:
            documents = self.log.rows("SELECT source, title, sha256 FROM answer_documents WHERE answer_id = ?",
                                      (answer_id,))
            source = (row["answer"], json.loads(row["citations"]),
                      [{"source": d["source"], "title": d["title"], "sha256": d["sha256"] or ""} for d in documents])
        vector = self._embed(row["query"]) if source else None

        open_handoffs = [h["id"] for h in self.log.rows(
            "SELECT id FROM handoffs h WHERE answer_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM handoff_replies r WHERE r.handoff_id = h.id) ORDER BY id", (answer_id,))]
        reply_text = (request.reply or "").strip() or None
        reply_citations: list[dict[str, Any]] = []
        if reply_text:
            if any(c for _, c in split_answer(reply_text)):
                cites, _ = self.resolve_citations(reply_text, request.citations, snapshot, every_sentence=False)
                reply_citations = [c.model_dump(mode="json") for c in cites]
        elif source is not None:
            reply_text, reply_citations = source[0], source[1]

        at = now()
        result = VerdictResult(verdict_id=0)
        with self.log.transaction() as conn:
            result.verdict_id = self.log.insert("verdicts", {
                "answer_id": answer_id, "created_at": at, "reviewer": principal.name,
                "role": principal.role.name.lower(), "verdict": request.verdict, "note": request.note.strip(),
                "corrected_answer": corrected,
                "corrected_citations": dumps([c.model_dump(mode="json") for c in corrected_citations]),
            }, conn)
            # Any verdict replaces the item's earlier curated answers; an answer judged wrong that was
            # served from a curated answer retires that one too.
            retire = [r[0] for r in conn.execute(
                "SELECT id FROM curated c WHERE (answer_id = ? OR (id = ? AND ? != 'correct')) AND NOT EXISTS "
                "(SELECT 1 FROM curated_events e WHERE e.curated_id = c.id)",
                (answer_id, row["curated_id"] or -1, request.verdict)).fetchall()]
            for curated_id in retire:
                self.log.insert("curated_events", {"curated_id": curated_id, "created_at": at, "event": "retired",
                                                   "reason": f"verdict {result.verdict_id}"}, conn)
            if source is not None:
                text, citations, documents = source
                result.curated_id = self.log.insert("curated", {
                    "created_at": at, "answer_id": answer_id, "verdict_id": result.verdict_id,
                    "question": row["question"], "query": row["query"], "norm": normalize_question(row["query"]),
                    "answer": text, "citations": dumps(citations), "documents": dumps(documents), "vector": vector,
                }, conn)
                reason = stale_reason(documents, snapshot.manifest.get("documents", {}))
                if reason:
                    result.curated_stale = reason
                    self.log.insert("curated_events", {"curated_id": result.curated_id, "created_at": at,
                                                       "event": "stale", "reason": reason}, conn)
            if reply_text:
                for handoff_id in open_handoffs:
                    self.log.insert("handoff_replies", {
                        "handoff_id": handoff_id, "created_at": at, "reviewer": principal.name,
                        "answer": reply_text, "citations": dumps(reply_citations),
                        "verdict_id": result.verdict_id,
                    }, conn)
                    result.handoffs_answered.append(handoff_id)
            else:
                result.handoffs_pending = open_handoffs
        return result

    def reply_handoff(self, handoff_id: int, principal: Principal, answer: str,
                      picks: list[CitationPick]) -> int:
        """A liaison's answer to a hand-off: shown to that conversation. Sentences may cite passages."""
        handoff = self.log.row("SELECT * FROM handoffs WHERE id = ?", (handoff_id,))
        if handoff is None:
            raise ReviewNotFoundError(f"no hand-off with id {handoff_id}")
        answer = clean(answer).strip()
        if not answer:
            raise ReviewInputError("the reply is empty")
        citations: list[Citation] = []
        if any(c for _, c in split_answer(answer)):
            citations, _ = self.resolve_citations(answer, picks, self.index.snapshot(), every_sentence=False)
        return self.log.insert("handoff_replies", {
            "handoff_id": handoff_id, "created_at": now(), "reviewer": principal.name, "answer": answer,
            "citations": dumps([c.model_dump(mode="json") for c in citations]),
        })

    def export(self, table: Table, fmt: Format, flt: review_queue.QueueFilter) -> str:
        return export_rows(self.log, table, fmt, flt, self.settings.review_low_evidence, self.settings.weak_support)
