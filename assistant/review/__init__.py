"""Liaisons (服务专员) check answers: the log, the review queue, verdicts, curated answers, hand-offs.

    log.py         the SQLite log (WAL, append-only tables)
    repository.py  every SQL statement, as small functions returning typed rows
    queue.py       what needs a human first (status rules), filters
    support.py     per-sentence support of an answer by the passages it cites
    curated.py     serving reviewed answers again: matching, threshold calibration, staleness
    auth.py        liaison / maintainer bearer tokens (stored as sha256 digests)
    curation.py    curated answers at run time: matching, staleness, made by verdicts
    handoffs.py    an enterprise's question passed to a liaison, and the replies
    picks.py       the passages a liaison's own answer cites
    schemas.py     the views the API and the 审核 tab show, the verdict taken
    service.py     ReviewService, the facade the assistant, the API and the 审核 tab call
    export.py      CSV / JSONL for reporting
    reindex.py     re-index from the API in a background thread
"""
