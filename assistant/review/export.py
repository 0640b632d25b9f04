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

from assistant.review import repository
from assistant.review.log import ReviewLog
from assistant.review.queue import QueueFilter

Table = Literal["answers", "verdicts"]
Format = Literal["csv", "jsonl"]

ANSWER_COLUMNS = ["id", "created_at", "status", "origin", "conversation_id", "question", "query", "answer",
                  "refused", "reviewed", "curated_id", "evidence", "min_support", "index_version", "documents",
                  "citations", "helpful", "feedback_comment", "handoffs", "verdicts", "last_verdict",
                  "last_verdict_by", "last_verdict_at"]
VERDICT_COLUMNS = ["id", "answer_id", "created_at", "reviewer", "role", "verdict", "note", "corrected_answer",
                   "corrected_citations", "question", "answer"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def answer_rows(log: ReviewLog, flt: QueueFilter, low_evidence: float,
                weak_support: float) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        items, _ = repository.queue_items(log, flt, low_evidence, weak_support, 500, offset)
        if not items:
            return
        for item in items:
            row, aid = item.answer, item.answer.id
            last = repository.latest_verdict(log, aid)
            feedback = repository.latest_feedback(log, aid)
            yield {
                "id": aid, "created_at": row.created_at, "status": item.status, "origin": row.origin,
                "conversation_id": row.conversation_id, "question": row.question, "query": row.query,
                "answer": row.answer, "refused": row.refused, "reviewed": row.reviewed,
                "curated_id": row.curated_id, "evidence": row.evidence, "min_support": row.min_support,
                "index_version": row.index_version,
                "documents": [vars(d) for d in repository.answer_documents(log, aid)],
                "citations": row.citations,
                "helpful": None if feedback is None else feedback.helpful,
                "feedback_comment": None if feedback is None else feedback.comment,
                "handoffs": repository.handoff_count(log, aid),
                "verdicts": item.verdicts,
                "last_verdict": last and last.verdict, "last_verdict_by": last and last.reviewer,
                "last_verdict_at": last and last.created_at,
            }
        offset += len(items)


def verdict_rows(log: ReviewLog, flt: QueueFilter) -> Iterator[dict[str, Any]]:
    for verdict, question, answer in repository.verdicts_between(log, flt.date_from, flt.date_to):
        yield {**vars(verdict), "question": question, "answer": answer}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render(rows: Iterator[dict[str, Any]], columns: list[str], fmt: Format, batch: int = 200) -> Iterator[str]:
    """The export as text chunks of `batch` rows each, so it is never held whole in memory."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if fmt == "csv":
        out.write("\ufeff")
        writer.writerow(columns)
    for i, row in enumerate(rows, 1):
        if fmt == "jsonl":
            out.write(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False) + "\n")
        else:
            writer.writerow([_cell(row.get(c)) for c in columns])
        if i % batch == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue()


def export(log: ReviewLog, table: Table, fmt: Format, flt: QueueFilter, low_evidence: float,
           weak_support: float) -> Iterator[str]:
    if table == "verdicts":
        return render(verdict_rows(log, flt), VERDICT_COLUMNS, fmt)
    return render(answer_rows(log, flt, low_evidence, weak_support), ANSWER_COLUMNS, fmt)
