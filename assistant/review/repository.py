"""Every SQL statement of the review log, as small functions returning typed rows.

The schema and the connection are in log.py; the rules (what a status means, when a curated
answer is stale, who may do what) are in the modules that call these. Writes join the caller's
transaction when there is one (`with log.transaction(): ...`), so a verdict and everything it
implies land together.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.review.curated import CuratedAnswer
from assistant.review.log import ReviewLog, dumps, now
from assistant.review.queue import RANK, QueueFilter

Json = list[dict[str, Any]]


# --- typed rows ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AnswerRow:
    id: int
    created_at: str
    origin: str
    conversation_id: str
    question: str
    query: str
    answer: str
    refused: bool
    reviewed: bool
    curated_id: int | None
    evidence: float | None
    min_support: float | None
    index_version: str | None
    citations: Json
    answerer: str | None = None  # None: logged before schema 3
    dropped: int = 0
    fallback: str | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> AnswerRow:
        return cls(id=row["id"], created_at=row["created_at"], origin=row["origin"],
                   conversation_id=row["conversation_id"], question=row["question"], query=row["query"],
                   answer=row["answer"], refused=bool(row["refused"]), reviewed=bool(row["reviewed"]),
                   curated_id=row["curated_id"], evidence=row["evidence"], min_support=row["min_support"],
                   index_version=row["index_version"], citations=json.loads(row["citations"]),
                   answerer=row.get("answerer"), dropped=int(row.get("dropped") or 0), fallback=row.get("fallback"))


@dataclass(frozen=True)
class QueueRow:
    """An answer with what the queue derives from its events (see queue.py)."""

    answer: AnswerRow
    status: str
    waiting_since: str
    verdicts: int
    helpful: bool | None
    documents: list[str]  # titles of the cited documents


@dataclass(frozen=True)
class DocumentRow:
    source: str
    title: str
    sha256: str | None


@dataclass(frozen=True)
class FeedbackRow:
    id: int
    answer_id: int
    created_at: str
    helpful: bool
    comment: str


@dataclass(frozen=True)
class VerdictRow:
    id: int
    answer_id: int
    created_at: str
    reviewer: str
    role: str
    verdict: str
    note: str
    corrected_answer: str | None
    corrected_citations: Json


@dataclass(frozen=True)
class HandoffRow:
    id: int
    created_at: str
    answer_id: int
    conversation_id: str
    question: str
    contact: str


@dataclass(frozen=True)
class ReplyRow:
    id: int
    handoff_id: int
    created_at: str
    reviewer: str
    answer: str
    citations: Json
    verdict_id: int | None


@dataclass(frozen=True)
class CuratedStatusRow:
    id: int
    created_at: str
    verdict_id: int
    answer: str
    event: str | None  # None while active
    reason: str


def _feedback(row: dict[str, Any]) -> FeedbackRow:
    return FeedbackRow(id=row["id"], answer_id=row["answer_id"], created_at=row["created_at"],
                       helpful=bool(row["helpful"]), comment=row["comment"])


def _verdict(row: dict[str, Any]) -> VerdictRow:
    return VerdictRow(id=row["id"], answer_id=row["answer_id"], created_at=row["created_at"],
                      reviewer=row["reviewer"], role=row["role"], verdict=row["verdict"], note=row["note"],
                      corrected_answer=row["corrected_answer"],
                      corrected_citations=json.loads(row["corrected_citations"]))


def _handoff(row: dict[str, Any]) -> HandoffRow:
    return HandoffRow(id=row["id"], created_at=row["created_at"], answer_id=row["answer_id"],
                      conversation_id=row["conversation_id"], question=row["question"], contact=row["contact"])


def _reply(row: dict[str, Any]) -> ReplyRow:
    return ReplyRow(id=row["id"], handoff_id=row["handoff_id"], created_at=row["created_at"],
                    reviewer=row["reviewer"], answer=row["answer"], citations=json.loads(row["citations"]),
                    verdict_id=row["verdict_id"])


def _curated(row: dict[str, Any]) -> CuratedAnswer:
    vector = np.frombuffer(row["vector"], dtype=np.float32) if row["vector"] else None
    return CuratedAnswer(id=row["id"], answer_id=row["answer_id"], verdict_id=row["verdict_id"],
                         created_at=row["created_at"], question=row["question"], query=row["query"],
                         norm=row["norm"], answer=row["answer"], citations=json.loads(row["citations"]),
                         documents=json.loads(row["documents"]), vector=vector)


# --- answers ---------------------------------------------------------------------------------------

def insert_answer(log: ReviewLog, *, origin: str, conversation_id: str, question: str, query: str, answer: str,
                  refused: bool, reviewed: bool = False, curated_id: int | None = None,
                  evidence: float | None = None, min_support: float | None = None,
                  index_version: str | None = None, citations: Json | None = None,
                  documents: Sequence[DocumentRow] = (), answerer: str | None = None, dropped: int = 0,
                  fallback: str | None = None) -> int:
    with log.transaction():
        answer_id = log.insert("answers", {
            "created_at": now(), "origin": origin, "conversation_id": conversation_id, "question": question,
            "query": query, "answer": answer, "refused": int(refused), "reviewed": int(reviewed),
            "curated_id": curated_id, "evidence": evidence, "min_support": min_support,
            "index_version": index_version, "citations": dumps(citations or []), "answerer": answerer,
            "dropped": dropped, "fallback": fallback,
        })
        for doc in documents:
            log.insert("answer_documents", {"answer_id": answer_id, "source": doc.source, "title": doc.title,
                                            "sha256": doc.sha256})
    return answer_id


def answer(log: ReviewLog, answer_id: int) -> AnswerRow | None:
    row = log.row("SELECT * FROM answers WHERE id = :id", {"id": answer_id})
    return None if row is None else AnswerRow.of(row)


def answer_documents(log: ReviewLog, answer_id: int) -> list[DocumentRow]:
    return [DocumentRow(source=d["source"], title=d["title"], sha256=d["sha256"]) for d in log.rows(
        "SELECT source, title, sha256 FROM answer_documents WHERE answer_id = :a ORDER BY source", {"a": answer_id})]


def prune_unreviewed(log: ReviewLog, before: str) -> int:
    """Delete answers created before `before` that no liaison acted on (no verdict, hand-off or
    curated answer made from them), with their documents and feedback; the number deleted."""
    prunable = ("SELECT id FROM answers a WHERE a.created_at < :before "
                "AND NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.answer_id = a.id) "
                "AND NOT EXISTS (SELECT 1 FROM handoffs h WHERE h.answer_id = a.id) "
                "AND NOT EXISTS (SELECT 1 FROM curated c WHERE c.answer_id = a.id)")
    with log.transaction():
        log.execute(f"DELETE FROM feedback WHERE answer_id IN ({prunable})", {"before": before})
        log.execute(f"DELETE FROM answer_documents WHERE answer_id IN ({prunable})", {"before": before})
        return log.execute(f"DELETE FROM answers WHERE id IN ({prunable})", {"before": before})


# --- feedback --------------------------------------------------------------------------------------

def insert_feedback(log: ReviewLog, answer_id: int, helpful: bool, comment: str) -> int:
    return log.insert("feedback", {"answer_id": answer_id, "created_at": now(), "helpful": int(helpful),
                                   "comment": comment})


def feedback_of(log: ReviewLog, answer_id: int) -> list[FeedbackRow]:
    return [_feedback(r) for r in log.rows("SELECT * FROM feedback WHERE answer_id = :a ORDER BY id", {"a": answer_id})]


def latest_feedback(log: ReviewLog, answer_id: int) -> FeedbackRow | None:
    row = log.row("SELECT * FROM feedback WHERE answer_id = :a ORDER BY id DESC LIMIT 1", {"a": answer_id})
    return None if row is None else _feedback(row)


# --- verdicts --------------------------------------------------------------------------------------

def insert_verdict(log: ReviewLog, *, answer_id: int, created_at: str, reviewer: str, role: str, verdict: str,
                   note: str, corrected_answer: str | None, corrected_citations: Json) -> int:
    return log.insert("verdicts", {
        "answer_id": answer_id, "created_at": created_at, "reviewer": reviewer, "role": role, "verdict": verdict,
        "note": note, "corrected_answer": corrected_answer, "corrected_citations": dumps(corrected_citations),
    })


def verdicts_of(log: ReviewLog, answer_id: int) -> list[VerdictRow]:
    return [_verdict(r) for r in log.rows("SELECT * FROM verdicts WHERE answer_id = :a ORDER BY id", {"a": answer_id})]


def latest_verdict(log: ReviewLog, answer_id: int) -> VerdictRow | None:
    row = log.row("SELECT * FROM verdicts WHERE answer_id = :a ORDER BY id DESC LIMIT 1", {"a": answer_id})
    return None if row is None else _verdict(row)


def verdicts_between(log: ReviewLog, date_from: str | None, date_to: str | None
                     ) -> Iterator[tuple[VerdictRow, str, str]]:
    """Every verdict in the date range (China time, inclusive), with its answer's question and answer."""
    clauses, params = [], {}
    if date_from:
        clauses.append("substr(v.created_at, 1, 10) >= :date_from")
        params["date_from"] = date_from
    if date_to:
        clauses.append("substr(v.created_at, 1, 10) <= :date_to")
        params["date_to"] = date_to
    where = " AND ".join(clauses) or "1 = 1"
    last = 0
    while True:  # in pages, so an export never holds the whole table
        rows = log.rows("SELECT v.*, a.question AS a_question, a.answer AS a_answer FROM verdicts v "
                        f"JOIN answers a ON a.id = v.answer_id WHERE {where} AND v.id > :last ORDER BY v.id LIMIT 500",
                        {**params, "last": last})
        if not rows:
            return
        for row in rows:
            yield _verdict(row), row["a_question"], row["a_answer"]
        last = rows[-1]["id"]


# --- hand-offs -------------------------------------------------------------------------------------

def insert_handoff(log: ReviewLog, *, answer_id: int, conversation_id: str, question: str, contact: str) -> int:
    return log.insert("handoffs", {"created_at": now(), "answer_id": answer_id, "conversation_id": conversation_id,
                                   "question": question, "contact": contact})


def handoff(log: ReviewLog, handoff_id: int) -> HandoffRow | None:
    row = log.row("SELECT * FROM handoffs WHERE id = :id", {"id": handoff_id})
    return None if row is None else _handoff(row)


def handoffs_of_answer(log: ReviewLog, answer_id: int) -> list[HandoffRow]:
    return [_handoff(r) for r in log.rows("SELECT * FROM handoffs WHERE answer_id = :a ORDER BY id", {"a": answer_id})]


def handoffs_of_conversation(log: ReviewLog, conversation_id: str) -> list[HandoffRow]:
    return [_handoff(r) for r in log.rows("SELECT * FROM handoffs WHERE conversation_id = :c ORDER BY id",
                                          {"c": conversation_id})]


def open_handoffs(log: ReviewLog, answer_id: int) -> list[HandoffRow]:
    """Hand-offs of this answer that no liaison has replied to yet."""
    return [_handoff(r) for r in log.rows(
        "SELECT * FROM handoffs h WHERE answer_id = :a AND NOT EXISTS "
        "(SELECT 1 FROM handoff_replies r WHERE r.handoff_id = h.id) ORDER BY id", {"a": answer_id})]


def open_handoff_like(log: ReviewLog, conversation_id: str, answer_id: int | None, question: str
                      ) -> HandoffRow | None:
    """An unanswered hand-off of this answer, or (no answer given) of this question in this conversation."""
    where, params = (("h.answer_id = :a", {"a": answer_id}) if answer_id is not None
                     else ("h.conversation_id = :c AND h.question = :q", {"c": conversation_id, "q": question}))
    row = log.row(f"SELECT * FROM handoffs h WHERE {where} AND NOT EXISTS "
                  "(SELECT 1 FROM handoff_replies r WHERE r.handoff_id = h.id) ORDER BY id LIMIT 1", params)
    return None if row is None else _handoff(row)


def conversation_logged(log: ReviewLog, conversation_id: str) -> bool:
    return log.scalar("SELECT 1 FROM answers WHERE conversation_id = :c LIMIT 1", {"c": conversation_id}) is not None


def handoff_count(log: ReviewLog, answer_id: int) -> int:
    return int(log.scalar("SELECT COUNT(*) FROM handoffs WHERE answer_id = :a", {"a": answer_id}) or 0)


def insert_reply(log: ReviewLog, *, handoff_id: int, reviewer: str, answer: str, citations: Json,
                 verdict_id: int | None = None, created_at: str | None = None) -> int:
    return log.insert("handoff_replies", {"handoff_id": handoff_id, "created_at": created_at or now(),
                                          "reviewer": reviewer, "answer": answer, "citations": dumps(citations),
                                          "verdict_id": verdict_id})


def replies(log: ReviewLog, handoff_id: int) -> list[ReplyRow]:
    return [_reply(r) for r in log.rows("SELECT * FROM handoff_replies WHERE handoff_id = :h ORDER BY id",
                                        {"h": handoff_id})]


def latest_reply(log: ReviewLog, handoff_id: int) -> ReplyRow | None:
    row = log.row("SELECT * FROM handoff_replies WHERE handoff_id = :h ORDER BY id DESC LIMIT 1", {"h": handoff_id})
    return None if row is None else _reply(row)


# --- curated answers -------------------------------------------------------------------------------

def curated_version(log: ReviewLog) -> tuple[Any, Any]:
    """Changes whenever a curated answer or a curated event is added (a cache key)."""
    return log.scalar("SELECT MAX(id) FROM curated"), log.scalar("SELECT MAX(id) FROM curated_events")


def active_curated(log: ReviewLog) -> list[CuratedAnswer]:
    """Curated answers with no event (neither stale nor retired), oldest first."""
    return [_curated(r) for r in log.rows("SELECT * FROM curated c WHERE NOT EXISTS "
                                          "(SELECT 1 FROM curated_events e WHERE e.curated_id = c.id) ORDER BY id")]


def insert_curated(log: ReviewLog, *, created_at: str, answer_id: int, verdict_id: int, question: str, query: str,
                   norm: str, answer: str, citations: Json, documents: list[dict[str, str]],
                   vector: bytes | None) -> int:
    return log.insert("curated", {
        "created_at": created_at, "answer_id": answer_id, "verdict_id": verdict_id, "question": question,
        "query": query, "norm": norm, "answer": answer, "citations": dumps(citations),
        "documents": dumps(documents), "vector": vector,
    })


def insert_curated_event(log: ReviewLog, curated_id: int, event: str, reason: str, created_at: str | None = None
                         ) -> int:
    return log.insert("curated_events", {"curated_id": curated_id, "created_at": created_at or now(),
                                         "event": event, "reason": reason})


def curated_has_event(log: ReviewLog, curated_id: int) -> bool:
    return log.scalar("SELECT 1 FROM curated_events WHERE curated_id = :c", {"c": curated_id}) is not None


def curated_to_retire(log: ReviewLog, answer_id: int, served_from: int | None, verdict: str) -> list[int]:
    """Active curated answers made from this answer, and the one it was served from unless judged correct."""
    return [r["id"] for r in log.rows(
        "SELECT id FROM curated c WHERE (answer_id = :a OR (id = :served AND :verdict != 'correct')) AND NOT EXISTS "
        "(SELECT 1 FROM curated_events e WHERE e.curated_id = c.id) ORDER BY id",
        {"a": answer_id, "served": served_from or -1, "verdict": verdict})]


def curated_of_item(log: ReviewLog, answer_id: int, served_from: int | None) -> list[CuratedStatusRow]:
    """Curated answers made from this answer or the one it was served from, with their event."""
    return [CuratedStatusRow(id=c["id"], created_at=c["created_at"], verdict_id=c["verdict_id"], answer=c["answer"],
                             event=c["event"], reason=c["reason"] or "") for c in log.rows(
        "SELECT c.id, c.created_at, c.verdict_id, c.answer, e.event, e.reason FROM curated c "
        "LEFT JOIN curated_events e ON e.curated_id = c.id WHERE c.answer_id = :a OR c.id = :served ORDER BY c.id",
        {"a": answer_id, "served": served_from or -1})]


# --- the queue (status rules: queue.py) ------------------------------------------------------------

_ITEMS = """
WITH
lv AS (SELECT answer_id, MAX(created_at) AS at, COUNT(*) AS n FROM verdicts GROUP BY answer_id),
oh AS (SELECT h.answer_id, MIN(h.created_at) AS at FROM handoffs h
       WHERE NOT EXISTS (SELECT 1 FROM handoff_replies r WHERE r.handoff_id = h.id) GROUP BY h.answer_id),
fb AS (SELECT f.answer_id, f.helpful, f.created_at AS at FROM feedback f
       JOIN (SELECT answer_id, MAX(id) AS id FROM feedback GROUP BY answer_id) m ON m.id = f.id),
st AS (SELECT c.answer_id, MAX(e.created_at) AS at FROM curated c
       JOIN curated_events e ON e.curated_id = c.id AND e.event = 'stale' GROUP BY c.answer_id),
items AS (
  SELECT a.*, lv.n AS verdicts, fb.helpful AS helpful,
    CASE
      WHEN oh.at IS NOT NULL THEN 'handoff'
      WHEN st.at IS NOT NULL AND (lv.at IS NULL OR st.at > lv.at) THEN 'stale'
      WHEN fb.helpful = 0 AND (lv.at IS NULL OR fb.at > lv.at) THEN 'unhelpful'
      WHEN lv.at IS NOT NULL OR a.reviewed = 1 THEN 'reviewed'
      WHEN a.refused = 1 THEN 'refused'
      WHEN (a.evidence IS NOT NULL AND a.evidence < :low_evidence)
           OR (a.min_support IS NOT NULL AND a.min_support < :weak_support) THEN 'low_evidence'
      ELSE 'new'
    END AS status,
    CASE
      WHEN oh.at IS NOT NULL THEN oh.at
      WHEN st.at IS NOT NULL AND (lv.at IS NULL OR st.at > lv.at) THEN st.at
      WHEN fb.helpful = 0 AND (lv.at IS NULL OR fb.at > lv.at) THEN fb.at
      ELSE a.created_at
    END AS waiting_since
  FROM answers a
  LEFT JOIN lv ON lv.answer_id = a.id
  LEFT JOIN oh ON oh.answer_id = a.id
  LEFT JOIN fb ON fb.answer_id = a.id
  LEFT JOIN st ON st.answer_id = a.id
)
"""

_RANK_SQL = "CASE status " + " ".join(f"WHEN '{s}' THEN {r}" for s, r in RANK.items()) + " END"


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(flt: QueueFilter, params: dict[str, Any], like: str = "LIKE") -> str:
    clauses = []
    if flt.status == "open":
        clauses.append("status != 'reviewed'")
    elif flt.status != "all":
        clauses.append("status = :status")
        params["status"] = flt.status
    if flt.date_from:
        clauses.append("substr(created_at, 1, 10) >= :date_from")
        params["date_from"] = flt.date_from
    if flt.date_to:
        clauses.append("substr(created_at, 1, 10) <= :date_to")
        params["date_to"] = flt.date_to
    if flt.document:
        clauses.append("EXISTS (SELECT 1 FROM answer_documents d WHERE d.answer_id = items.id "
                       f"AND (d.source = :document OR d.title {like} :document_like ESCAPE '\\'))")
        params["document"] = flt.document
        params["document_like"] = _like(flt.document)
    for i, term in enumerate((flt.q or "").split()[:10]):
        clauses.append(f"(question {like} :q{i} ESCAPE '\\' OR query {like} :q{i} ESCAPE '\\')")
        params[f"q{i}"] = _like(term)
    if flt.answer_id is not None:
        clauses.append("id = :answer_id")
        params["answer_id"] = flt.answer_id
    return " AND ".join(clauses) or "1 = 1"


def queue_items(log: ReviewLog, flt: QueueFilter, low_evidence: float, weak_support: float,
                limit: int = 50, offset: int = 0) -> tuple[list[QueueRow], int]:
    """One page of the queue and the total number of items matching the filter."""
    params: dict[str, Any] = {"low_evidence": low_evidence, "weak_support": weak_support}
    where = _where(flt, params, log.like)
    total = int(log.scalar(f"{_ITEMS} SELECT COUNT(*) FROM items WHERE {where}", params) or 0)
    rows = log.rows(
        f"{_ITEMS} SELECT *, {_RANK_SQL} AS rank FROM items WHERE {where} "
        "ORDER BY rank, waiting_since, id LIMIT :limit OFFSET :offset",
        {**params, "limit": limit, "offset": offset},
    )
    titles: dict[int, list[str]] = {}
    if rows:
        ids = [r["id"] for r in rows]
        marks = ", ".join(f":i{n}" for n in range(len(ids)))
        for doc in log.rows(f"SELECT answer_id, title FROM answer_documents WHERE answer_id IN ({marks}) "
                            "ORDER BY answer_id, source", {f"i{n}": i for n, i in enumerate(ids)}):
            titles.setdefault(doc["answer_id"], []).append(doc["title"])
    return [QueueRow(answer=AnswerRow.of(r), status=r["status"], waiting_since=r["waiting_since"],
                     verdicts=r["verdicts"] or 0, helpful=None if r["helpful"] is None else bool(r["helpful"]),
                     documents=titles.get(r["id"], [])) for r in rows], total
