"""热点问题: the questions asked most often that have an answer a liaison reviewed.

Read from the review log each time (the page asks on load), so it follows new verdicts and the
questions enterprises keep asking. A question counts once for the answer that was reviewed and
once for each time its curated answer was served since; stale or retired curated answers drop out.
"""

from __future__ import annotations

from assistant.review.log import ReviewLog

_POPULAR = """
SELECT c.question, c.norm, 1 + (SELECT COUNT(*) FROM answers a WHERE a.curated_id = c.id) AS asked, c.id
FROM curated c
WHERE NOT EXISTS (SELECT 1 FROM curated_events e WHERE e.curated_id = c.id)
ORDER BY asked DESC, c.id DESC
"""


def popular_questions(log: ReviewLog, limit: int = 5) -> list[tuple[str, int]]:
    """(question, times asked), most asked first, one per normalised question."""
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    for row in log.rows(_POPULAR):
        if row["norm"] in seen:
            continue
        seen.add(row["norm"])
        out.append((row["question"], int(row["asked"])))
        if len(out) >= limit:
            break
    return out


def reviewed_questions(log: ReviewLog) -> list[str]:
    """Every question with an active reviewed answer (for type-ahead), most asked first."""
    return [q for q, _ in popular_questions(log, limit=200)]
