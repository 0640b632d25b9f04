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
but reviewed: a verdict takes an item out of the queue, a later event puts it back. The SQL that
derives these statuses is `repository.queue_items`.
"""

from __future__ import annotations

from dataclasses import dataclass

NEEDS_HUMAN = ("handoff", "stale", "unhelpful", "refused", "low_evidence")
RANK = {status: i for i, status in enumerate((*NEEDS_HUMAN, "new", "reviewed"))}


@dataclass
class QueueFilter:
    status: str = "open"  # open | all | one status
    date_from: str | None = None  # YYYY-MM-DD, China time, inclusive
    date_to: str | None = None  # inclusive
    document: str | None = None  # a source file name, or part of a title
    q: str | None = None  # words that must all occur in the question (or its resolved query)
    answer_id: int | None = None
