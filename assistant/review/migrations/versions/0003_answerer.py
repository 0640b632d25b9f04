"""SQLite schema 3: which answerer wrote each answer, how many of its sentences verification dropped,
and which fallback served it (assistant/answer/llm.py; log.py ADDED_COLUMNS).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("answers", sa.Column("answerer", sa.Text, nullable=True))
    op.add_column("answers", sa.Column("dropped", sa.Integer, nullable=False, server_default="0"))
    op.add_column("answers", sa.Column("fallback", sa.Text, nullable=True))


def downgrade() -> None:
    for column in ("fallback", "dropped", "answerer"):
        op.drop_column("answers", column)
