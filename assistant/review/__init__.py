"""Liaisons (服务专员) check answers: the log, the review queue, verdicts, curated answers, hand-offs.

    log.py       the SQLite log (WAL, append-only tables)
    queue.py     what needs a human first, filters, search over questions
    support.py   per-sentence support of an answer by the passages it cites
    curated.py   serving reviewed answers again: matching, threshold calibration, staleness
    auth.py      liaison / maintainer bearer tokens (stored as sha256 digests)
    service.py   ReviewService, what the assistant, the API and the 审核 tab call
    export.py    CSV / JSONL for reporting
    reindex.py   re-index from the API in a background thread
"""
