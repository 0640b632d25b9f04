"""The review log: every question and answer, feedback, verdicts, curated answers, hand-offs.

One SQLite file (settings.review_db_path, under the data folder) in WAL mode with full sync, so a
logged answer survives a crash or restart and readers never block the writer; several server
processes on one host may share it (busy timeout). With `database_url` set the same tables, rules
and queries live on PostgreSQL instead (postgres.py, `open_log`), for several hosts. Every table is append-only, enforced by triggers: a verdict,
a hand-off reply or a curated answer's staleness is a new row, so history is never overwritten.
The one deletion allowed is retention (`review_retention_days`): an answer no liaison acted on,
with its documents and feedback. The triggers refuse to delete an answer that has a verdict, a
hand-off or a curated answer made from it, whatever the caller does.

Times are ISO 8601 in China Standard Time (UTC+8, no daylight saving): all rows carry the same
offset, so they sort and compare as text, and a date filter "2025-03-01" means that day in China.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import StateUnavailableError

if TYPE_CHECKING:
    from assistant.settings import Settings

_SURROGATE = re.compile("[\ud800-\udfff]")
CHINA = timezone(timedelta(hours=8), "CST")
SCHEMA_VERSION = 3

TABLES = ("answers", "answer_documents", "feedback", "verdicts", "curated", "curated_events", "handoffs",
          "handoff_replies")

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('assistant', 'curated', 'handoff')),
    conversation_id TEXT NOT NULL,
    question TEXT NOT NULL,
    query TEXT NOT NULL,
    answer TEXT NOT NULL,
    refused INTEGER NOT NULL,
    reviewed INTEGER NOT NULL DEFAULT 0,
    curated_id INTEGER,
    evidence REAL,
    min_support REAL,
    index_version TEXT,
    citations TEXT NOT NULL DEFAULT '[]',
    answerer TEXT,
    dropped INTEGER NOT NULL DEFAULT 0,
    fallback TEXT
);
CREATE INDEX IF NOT EXISTS answers_created ON answers (created_at);
CREATE INDEX IF NOT EXISTS answers_conversation ON answers (conversation_id);

CREATE TABLE IF NOT EXISTS answer_documents (
    answer_id INTEGER NOT NULL REFERENCES answers (id),
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    sha256 TEXT,
    PRIMARY KEY (answer_id, source)
);
CREATE INDEX IF NOT EXISTS answer_documents_source ON answer_documents (source);

CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    answer_id INTEGER NOT NULL REFERENCES answers (id),
    created_at TEXT NOT NULL,
    helpful INTEGER NOT NULL,
    comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS feedback_answer ON feedback (answer_id);

CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY,
    answer_id INTEGER NOT NULL REFERENCES answers (id),
    created_at TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    role TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('correct', 'incorrect', 'needs_change')),
    note TEXT NOT NULL DEFAULT '',
    corrected_answer TEXT,
    corrected_citations TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS verdicts_answer ON verdicts (answer_id);

CREATE TABLE IF NOT EXISTS curated (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    answer_id INTEGER NOT NULL REFERENCES answers (id),
    verdict_id INTEGER NOT NULL REFERENCES verdicts (id),
    question TEXT NOT NULL,
    query TEXT NOT NULL,
    norm TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    documents TEXT NOT NULL,
    vector BLOB
);
CREATE INDEX IF NOT EXISTS curated_norm ON curated (norm);
CREATE INDEX IF NOT EXISTS curated_answer ON curated (answer_id);

CREATE TABLE IF NOT EXISTS curated_events (
    id INTEGER PRIMARY KEY,
    curated_id INTEGER NOT NULL REFERENCES curated (id),
    created_at TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('stale', 'retired')),
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS curated_events_curated ON curated_events (curated_id);

CREATE TABLE IF NOT EXISTS handoffs (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    answer_id INTEGER NOT NULL REFERENCES answers (id),
    conversation_id TEXT NOT NULL,
    question TEXT NOT NULL,
    contact TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS handoffs_answer ON handoffs (answer_id);
CREATE INDEX IF NOT EXISTS handoffs_conversation ON handoffs (conversation_id);

CREATE TABLE IF NOT EXISTS handoff_replies (
    id INTEGER PRIMARY KEY,
    handoff_id INTEGER NOT NULL REFERENCES handoffs (id),
    created_at TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]',
    verdict_id INTEGER REFERENCES verdicts (id)
);
CREATE INDEX IF NOT EXISTS handoff_replies_handoff ON handoff_replies (handoff_id);
"""


# Columns added after the first schema: (table, column, declaration), added to an older file at open.
ADDED_COLUMNS = (("answers", "answerer", "TEXT"), ("answers", "dropped", "INTEGER NOT NULL DEFAULT 0"),
                 ("answers", "fallback", "TEXT"))

# Rows retention may delete, and the answer id each belongs to.
PRUNABLE = {"answers": "OLD.id", "answer_documents": "OLD.answer_id", "feedback": "OLD.answer_id"}
_ACTED_ON = ("EXISTS (SELECT 1 FROM verdicts WHERE answer_id = {a}) OR EXISTS (SELECT 1 FROM handoffs "
             "WHERE answer_id = {a}) OR EXISTS (SELECT 1 FROM curated WHERE answer_id = {a})")


def append_only_triggers() -> str:
    parts = [f"DROP TRIGGER IF EXISTS {table}_no_delete;" for table in PRUNABLE]  # schema 1 forbade all
    for table in TABLES:
        for action in ("UPDATE", "DELETE"):
            if action == "DELETE" and table in PRUNABLE:
                parts.append(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_keep_acted_on BEFORE DELETE ON {table} "
                    f"WHEN {_ACTED_ON.format(a=PRUNABLE[table])} "
                    f"BEGIN SELECT RAISE(ABORT, '{table}: rows a liaison acted on are kept'); END;"
                )
                continue
            parts.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;"
            )
    return "\n".join(parts)


# Named (:name) parameters, so one statement runs on SQLite and PostgreSQL; SQLite also takes "?"
# with a sequence (older callers and tests), PostgreSQL does not.
Params = Mapping[str, Any] | Sequence[Any] | None


class ReviewLogError(Exception):
    """A statement the PostgreSQL log refused (append-only rows, a constraint): sqlite3.DatabaseError's
    counterpart, with the database's own message."""


# What a failed log read or write raises on either backend (the assistant still answers).
LOG_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, OSError, ReviewLogError, StateUnavailableError)


def open_log(settings: Settings) -> ReviewLog:
    """The configured review log: PostgreSQL when `database_url` is set, else the SQLite file."""
    if settings.database_url:
        from assistant.review.postgres import PostgresLog

        return PostgresLog(settings.database_url, timeout=settings.state_timeout_seconds,
                           statement_timeout=settings.request_timeout_seconds)
    return ReviewLog(settings.review_db_path)


def _sqlite_params(params: Params) -> Any:
    return () if params is None else dict(params) if isinstance(params, Mapping) else tuple(params)


def now() -> str:
    return datetime.now(CHINA).isoformat(timespec="microseconds")


def clean(text: str | None) -> str:
    """Text SQLite can store as UTF-8: lone surrogates (valid in JSON strings) become U+FFFD."""
    if text is None:
        return ""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def dumps(value: Any) -> str:
    return clean(json.dumps(value, ensure_ascii=False))


class ReviewLog:
    """One connection per process, serialised by a lock (each statement is short)."""

    like = "LIKE"  # case-insensitive for ASCII on SQLite; PostgreSQL's counterpart is ILIKE

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0  # transactions nest: an inner one joins the outer (same thread, lock held)
        self._conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        with self.transaction() as conn:
            for statement in (SCHEMA + "\n" + append_only_triggers()).split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            for table, column, declaration in ADDED_COLUMNS:  # schema 3: which answerer, sentences dropped
                if column not in {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @property
    def journal_mode(self) -> str:
        return str(self.scalar("PRAGMA journal_mode"))

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """BEGIN IMMEDIATE … COMMIT: a group of writes lands whole or not at all. A transaction
        opened inside another joins it, so small repository functions compose into one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0
            self._conn.execute("COMMIT")

    def insert(self, table: str, row: dict[str, Any]) -> int:
        if table not in TABLES:
            raise ValueError(table)
        values = [clean(v) if isinstance(v, str) else int(v) if isinstance(v, bool) else v for v in row.values()]
        sql = f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
        with self.transaction() as conn:
            return int(conn.execute(sql, values).lastrowid or 0)

    def execute(self, sql: str, params: Params = None) -> int:
        """One write statement (in its own transaction unless inside one); the rows it changed."""
        with self.transaction() as conn:
            return int(conn.execute(sql, _sqlite_params(params)).rowcount)

    def rows(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._conn.execute(sql, _sqlite_params(params)).fetchall()]

    def row(self, sql: str, params: Params = None) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def scalar(self, sql: str, params: Params = None) -> Any:
        with self._lock:
            result = self._conn.execute(sql, _sqlite_params(params)).fetchone()
        return result[0] if result else None
