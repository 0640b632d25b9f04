"""The review log on PostgreSQL (`database_url`): log.py's tables, rules and queries for several hosts.

SQLAlchemy (psycopg 3) runs the very statements repository.py runs on SQLite; Alembic migrations
(migrations/, revision n = SQLite schema n) create the schema and upgrade an existing database in
place when a worker opens it, under an advisory lock so that workers starting together migrate once.
The append-only rules are PostgreSQL triggers, as they are SQLite triggers on the embedded log.

Writes keep SQLite's semantics: a write transaction takes one advisory lock first, so write groups
run one at a time across every worker and host, as BEGIN IMMEDIATE makes them on one SQLite file
("is this hand-off a duplicate? if not, insert it" stays one step). Each is a few short inserts.

When the server cannot be reached (down, restarting, over `timeout`) every call raises
StateUnavailableError (HTTP 503) at once instead of waiting; the pool checks a connection before
handing it out, so the workers carry on by themselves when the server is back.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from assistant.errors import StateUnavailableError
from assistant.review.log import TABLES, Params, ReviewLog, clean

WRITE_LOCK = 0x52455657  # pg_advisory_xact_lock keys ("REVW", "REVM"): one writer, one migrator
MIGRATE_LOCK = 0x5245564D
_NO_ID = frozenset({"answer_documents"})  # keyed by (answer_id, source): nothing to return
UNAVAILABLE = "the review log's database cannot be reached just now; retry shortly"


def engine_url(url: str) -> str:
    """postgresql:// (what operators write) → the psycopg 3 driver SQLAlchemy should use."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("assistant.review") / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the schema to `revision` in one transaction, one process at a time."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATE_LOCK})
        command.upgrade(alembic_config(conn), revision)


def _text_value(value: Any) -> Any:
    """What PostgreSQL can store: no lone surrogates (as on SQLite) and no NUL, which text refuses."""
    if isinstance(value, str):
        return clean(value).replace("\x00", "\ufffd")
    if isinstance(value, bool):
        return int(value)  # flags are INTEGER 0/1 on both backends
    return value


@contextmanager
def translated() -> Iterator[None]:
    """Driver errors as the log's own: unreachable → 503, refused statement → ReviewLogError."""
    from assistant.review.log import ReviewLogError

    try:
        yield
    except (OperationalError, InterfaceError) as err:
        raise StateUnavailableError(UNAVAILABLE) from err
    except DBAPIError as err:
        if err.connection_invalidated:
            raise StateUnavailableError(UNAVAILABLE) from err
        diag = getattr(err.orig, "diag", None)
        raise ReviewLogError(getattr(diag, "message_primary", None) or str(err.orig)) from err
    except SQLAlchemyError as err:  # the pool timed out waiting for a connection, and the like
        raise StateUnavailableError(UNAVAILABLE) from err


class PostgresLog(ReviewLog):
    """ReviewLog's interface on a pool of connections: a thread's transaction holds one of them, and
    statements that thread runs inside it join it (as on SQLite)."""

    like = "ILIKE"

    def __init__(self, url: str, *, timeout: float = 3.0, statement_timeout: float = 60.0,
                 migrate: bool = True) -> None:
        self.url = url
        self.engine = create_engine(
            engine_url(url), pool_pre_ping=True, pool_size=8, max_overflow=8, pool_timeout=timeout,
            connect_args={"connect_timeout": max(1, round(timeout)), "application_name": "policy-assistant",
                          "options": f"-c statement_timeout={round(statement_timeout * 1000)}"})
        self._local = threading.local()
        if migrate:
            with translated():
                if current_revision(self.engine) != head_revision():
                    upgrade(self.engine)

    # --- what log.py's ReviewLog does on SQLite ---------------------------------------------------
    def close(self) -> None:
        self.engine.dispose()

    @property
    def journal_mode(self) -> str:
        return "postgresql"

    @property
    def revision(self) -> str | None:
        with translated():
            return current_revision(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        held: Connection | None = getattr(self._local, "conn", None)
        if held is not None:  # a transaction inside another joins it
            yield held
            return
        with translated(), self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK})
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        held: Connection | None = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        with self.engine.connect() as conn:
            yield conn

    def insert(self, table: str, row: dict[str, Any]) -> int:
        if table not in TABLES:
            raise ValueError(table)
        returning = "" if table in _NO_ID else " RETURNING id"
        sql = f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)}){returning}"
        with translated(), self.transaction() as conn:
            result = conn.execute(text(sql), {k: _text_value(v) for k, v in row.items()})
            return 0 if table in _NO_ID else int(result.scalar_one())

    def execute(self, sql: str, params: Params = None) -> int:
        with translated(), self.transaction() as conn:
            return int(conn.execute(text(sql), _named(params)).rowcount)

    def rows(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        with translated(), self._reading() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), _named(params))]

    def scalar(self, sql: str, params: Params = None) -> Any:
        with translated(), self._reading() as conn:
            return conn.execute(text(sql), _named(params)).scalar()


def _named(params: Params) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise TypeError("the PostgreSQL review log takes named parameters (:name) only")
    return params


# --- `assistant review-log copy`: an existing SQLite log into PostgreSQL ----------------------------

def copy_sqlite(source: Path, target: PostgresLog, batch: int = 1000) -> dict[str, int]:
    """Copy every row of a SQLite review log into an empty PostgreSQL one, ids kept, in one
    transaction (all or nothing); the rows per table. The SQLite file is opened read-only."""
    if not source.is_file():
        raise FileNotFoundError(f"no SQLite review log at {source}")
    db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    tables = MetaData()
    counts: dict[str, int] = {}
    try:
        with translated(), target.transaction() as conn:
            tables.reflect(conn, only=list(TABLES))
            present = [t for t in TABLES if conn.execute(text(f"SELECT 1 FROM {t} LIMIT 1")).first()]
            if present:
                raise ValueError(f"the PostgreSQL review log is not empty ({', '.join(present)}): "
                                 "copy into a new database")
            for name in TABLES:  # parents before children (foreign keys)
                table = tables.tables[name]
                columns = [c.name for c in table.columns]
                cursor = db.execute(f"SELECT {', '.join(columns)} FROM {name} ORDER BY rowid")
                counts[name] = 0
                while chunk := cursor.fetchmany(batch):
                    conn.execute(table.insert(), [{c: _text_value(r[c]) for c in columns} for r in chunk])
                    counts[name] += len(chunk)
                if "id" in table.columns:  # new rows continue after the copied ids
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                      f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {name}"))
    finally:
        db.close()
    return counts
