"""The review log as of SQLite schema 1: every table, append-only (no update, delete or truncate).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = ("answers", "answer_documents", "feedback", "verdicts", "curated", "curated_events", "handoffs",
          "handoff_replies")


def _id() -> sa.Column[int]:
    # BY DEFAULT, not ALWAYS: `assistant review-log copy` keeps the SQLite ids (they are in exports).
    return sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True)


def _ref(name: str, target: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger, sa.ForeignKey(f"{target}.id"), nullable=nullable)


def _text(name: str, default: str | None = None, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text, nullable=nullable, server_default=default)


def upgrade() -> None:
    # Flags stay INTEGER 0/1 and times ISO text in China time, as in SQLite: the queries are shared.
    op.create_table(
        "answers", _id(), _text("created_at"), _text("origin"), _text("conversation_id"), _text("question"),
        _text("query"), _text("answer"), sa.Column("refused", sa.Integer, nullable=False),
        sa.Column("reviewed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("curated_id", sa.BigInteger), sa.Column("evidence", sa.Double), sa.Column("min_support", sa.Double),
        _text("index_version", nullable=True), _text("citations", "[]"),
        sa.CheckConstraint("origin IN ('assistant', 'curated', 'handoff')", name="answers_origin"))
    op.create_index("answers_created", "answers", ["created_at"])
    op.create_index("answers_conversation", "answers", ["conversation_id"])

    op.create_table(
        "answer_documents", _ref("answer_id", "answers"), _text("source"), _text("title"),
        _text("sha256", nullable=True), sa.PrimaryKeyConstraint("answer_id", "source"))
    op.create_index("answer_documents_source", "answer_documents", ["source"])

    op.create_table(
        "feedback", _id(), _ref("answer_id", "answers"), _text("created_at"),
        sa.Column("helpful", sa.Integer, nullable=False), _text("comment", ""))
    op.create_index("feedback_answer", "feedback", ["answer_id"])

    op.create_table(
        "verdicts", _id(), _ref("answer_id", "answers"), _text("created_at"), _text("reviewer"), _text("role"),
        _text("verdict"), _text("note", ""), _text("corrected_answer", nullable=True),
        _text("corrected_citations", "[]"),
        sa.CheckConstraint("verdict IN ('correct', 'incorrect', 'needs_change')", name="verdicts_verdict"))
    op.create_index("verdicts_answer", "verdicts", ["answer_id"])

    op.create_table(
        "curated", _id(), _text("created_at"), _ref("answer_id", "answers"), _ref("verdict_id", "verdicts"),
        _text("question"), _text("query"), _text("norm"), _text("answer"), _text("citations"), _text("documents"),
        sa.Column("vector", sa.LargeBinary))
    op.create_index("curated_norm", "curated", ["norm"])
    op.create_index("curated_answer", "curated", ["answer_id"])

    op.create_table(
        "curated_events", _id(), _ref("curated_id", "curated"), _text("created_at"), _text("event"),
        _text("reason", ""), sa.CheckConstraint("event IN ('stale', 'retired')", name="curated_events_event"))
    op.create_index("curated_events_curated", "curated_events", ["curated_id"])

    op.create_table(
        "handoffs", _id(), _text("created_at"), _ref("answer_id", "answers"), _text("conversation_id"),
        _text("question"), _text("contact"))
    op.create_index("handoffs_answer", "handoffs", ["answer_id"])
    op.create_index("handoffs_conversation", "handoffs", ["conversation_id"])

    op.create_table(
        "handoff_replies", _id(), _ref("handoff_id", "handoffs"), _text("created_at"), _text("reviewer"),
        _text("answer"), _text("citations", "[]"), _ref("verdict_id", "verdicts", nullable=True))
    op.create_index("handoff_replies_handoff", "handoff_replies", ["handoff_id"])

    op.execute("CREATE FUNCTION review_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
               "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$")
    for table in TABLES:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION review_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION review_append_only()")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
    op.execute("DROP FUNCTION review_append_only()")
