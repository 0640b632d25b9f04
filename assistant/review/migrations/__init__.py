"""Alembic migrations of the PostgreSQL review log (run by assistant/review/postgres.py `upgrade`).

Revision n is the SQLite log's schema version n (log.py SCHEMA_VERSION), so both backends keep the
same tables and rules. A new revision: `alembic -c <an ini naming script_location =
assistant.review:migrations> revision -m "..."`, then write upgrade() and downgrade() by hand.
"""
