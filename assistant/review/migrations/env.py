"""Alembic environment: migrations run on the connection `postgres.upgrade` passes in, inside its
transaction (PostgreSQL's DDL is transactional: an upgrade lands whole or not at all)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
