"""The review queue: which logged answers a liaison should look at, most urgent first.

Each answer gets one status, from the events the log holds (the first that applies):

    handoff       the enterprise passed the question to a liaison, not yet answered
    stale         its curated answer cites a document a re-index revised or removed
    unhelpful     the latest feedback says not helpful, given after the latest verdict
    reviewed      a verdict was given (and nothing above happened since), or it was served
                  from a curated answer
    refused       the assistant declined to answer
    low_evidence  answered, but with evidence below `review_low_evidence` or a sentence whose
                  support is below `weak_support` (or a figure its passage does not contain)
    new           everything else

The first five (besides reviewed) need a human and come first, in that order; then new ones.
Within a status the item waiting longest comes first. "open" (the default filter) is every status
but reviewed: a verdict takes an item out of the queue, a later event puts it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistant.review.log import ReviewLog

NEEDS_HUMAN = ("handoff", "stale", "unhelpful", "refused", "low_evidence")
RANK = {status: i for i, status in enumerate((*NEEDS_HUMAN, "new", "reviewed"))}

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


@dataclass
class QueueFilter:
    status: str = "open"  # open | all | one status
    date_from: str | None = None  # YYYY-MM-DD, China time, inclusive
    date_to: str | None = None  # inclusive
    document: str | None = None  # a source file name, or part of a title
    q: str | None = None  # words that must all occur in the question (or its resolved query)
    answer_id: int | None = None


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(flt: QueueFilter, params: dict[str, Any]) -> str:
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
                       "AND (d.source = :document OR d.title LIKE :document_like ESCAPE '\\'))")
        params["document"] = flt.document
        params["document_like"] = _like(flt.document)
    for i, term in enumerate((flt.q or "").split()[:10]):
        clauses.append(f"(question LIKE :q{i} ESCAPE '\\' OR query LIKE :q{i} ESCAPE '\\')")
        params[f"q{i}"] = _like(term)
    if flt.answer_id is not None:
        clauses.append("id = :answer_id")
        params["answer_id"] = flt.answer_id
    return " AND ".join(clauses) or "1"


def list_items(log: ReviewLog, flt: QueueFilter, low_evidence: float, weak_support: float,
               limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """One page of the queue and the total number of items matching the filter."""
    params: dict[str, Any] = {"low_evidence": low_evidence, "weak_support": weak_support}
    where = _where(flt, params)
    total = int(log.scalar(f"{_ITEMS} SELECT COUNT(*) FROM items WHERE {where}", params) or 0)
    rows = log.rows(
        f"{_ITEMS} SELECT *, {_RANK_SQL} AS rank FROM items WHERE {where} "
        "ORDER BY rank, waiting_since, id LIMIT :limit OFFSET :offset",
        {**params, "limit": limit, "offset": offset},
    )
    if rows:
        ids = [r["id"] for r in rows]
        marks = ",".join("?" * len(ids))
        titles: dict[int, list[str]] = {}
        for doc in log.rows(f"SELECT answer_id, title FROM answer_documents WHERE answer_id IN ({marks})", ids):
            titles.setdefault(doc["answer_id"], []).append(doc["title"])
        for row in rows:
            row["documents"] = titles.get(row["id"], [])
    return rows, total
