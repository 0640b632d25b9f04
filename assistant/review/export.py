"""Export the log and the verdicts for reporting: CSV (for spreadsheets) or JSONL (for scripts).

CSV is UTF-8 with a byte-order mark, so spreadsheet programs show Chinese text correctly, and a
cell that starts like a formula (= + - @) gets a leading apostrophe, so an enterprise's question
cannot run as a formula on a liaison's computer. JSONL keeps values as they are, citations nested.
Contact lines of hand-offs are not exported: they stay in the review view.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, Literal

from assistant.review import queue as review_queue
from assistant.review.log import ReviewLog

Table = Literal["answers", "verdicts"]
Format = Literal["csv", "jsonl"]

ANSWER_COLUMNS = ["id", "created_at", "status", "origin", "conversation_id", "question", "query", "answer",
                  "refused", "reviewed", "curated_id", "evidence", "min_support", "index_version", "documents",
                  "citations", "helpful", "feedback_comment", "handoffs", "verdicts", "last_verdict",
                  "last_verdict_by", "last_verdict_at"]
VERDICT_COLUMNS = ["id", "answer_id", "created_at", "reviewer", "role", "verdict", "note", "corrected_answer",
                   "corrected_citations", "question", "answer"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def answer_rows(log: ReviewLog, flt: review_queue.QueueFilter, low_evidence: float,
                weak_support: float) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        rows, _ = review_queue.list_items(log, flt, low_evidence, weak_support, 500, offset)
        if not rows:
            return
        for row in rows:
            aid = row["id"]
            last = log.row("SELECT verdict, reviewer, created_at FROM verdicts WHERE answer_id = ? "
                           "ORDER BY id DESC LIMIT 1", (aid,))
            feedback = log.row("SELECT helpful, comment FROM feedback WHERE answer_id = ? ORDER BY id DESC LIMIT 1",
                               (aid,))
            documents = log.rows("SELECT source, title, sha256 FROM answer_documents WHERE answer_id = ?", (aid,))
            yield {
                "id": aid, "created_at": row["created_at"], "status": row["status"], "origin": row["origin"],
                "conversation_id": row["conversation_id"], "question": row["question"], "query": row["query"],
                "answer": row["answer"], "refused": bool(row["refused"]), "reviewed": bool(row["reviewed"]),
                "curated_id": row["curated_id"], "evidence": row["evidence"], "min_support": row["min_support"],
                "index_version": row["index_version"], "documents": documents,
                "citations": json.loads(row["citations"]),
                "helpful": None if feedback is None else bool(feedback["helpful"]),
                "feedback_comment": None if feedback is None else feedback["comment"],
                "handoffs": int(log.scalar("SELECT COUNT(*) FROM handoffs WHERE answer_id = ?", (aid,)) or 0),
                "verdicts": row["verdicts"] or 0,
                "last_verdict": last and last["verdict"], "last_verdict_by": last and last["reviewer"],
                "last_verdict_at": last and last["created_at"],
            }
        offset += len(rows)


def verdict_rows(log: ReviewLog, flt: review_queue.QueueFilter) -> Iterator[dict[str, Any]]:
    clauses, params = [], []
    if flt.date_from:
        clauses.append("substr(v.created_at, 1, 10) >= ?")
        params.append(flt.date_from)
    if flt.date_to:
        clauses.append("substr(v.created_at, 1, 10) <= ?")
        params.append(flt.date_to)
    where = " AND ".join(clauses) or "1"
    for row in log.rows("SELECT v.*, a.question, a.answer FROM verdicts v JOIN answers a ON a.id = v.answer_id "
                        f"WHERE {where} ORDER BY v.id", params):
        row["corrected_citations"] = json.loads(row["corrected_citations"])
        yield row


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render(rows: Iterator[dict[str, Any]], columns: list[str], fmt: Format) -> str:
    out = io.StringIO()
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False) + "\n")
        return out.getvalue()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def export(log: ReviewLog, table: Table, fmt: Format, flt: review_queue.QueueFilter, low_evidence: float,
           weak_support: float) -> str:
    if table == "verdicts":
        return render(verdict_rows(log, flt), VERDICT_COLUMNS, fmt)
    return render(answer_rows(log, flt, low_evidence, weak_support), ANSWER_COLUMNS, fmt)
