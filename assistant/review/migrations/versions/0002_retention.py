"""SQLite schema 2: retention may delete an answer no liaison acted on, with its documents and feedback.

The database itself still refuses to delete an answer that has a verdict, a hand-off or a curated
answer made from it, whatever the caller does (log.py PRUNABLE, the same rule as the SQLite triggers).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PRUNABLE = {"answers": "id", "answer_documents": "answer_id", "feedback": "answer_id"}  # column naming the answer


def upgrade() -> None:
    op.execute("""
CREATE FUNCTION review_keep_acted_on() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE target_answer bigint := (to_jsonb(OLD) ->> TG_ARGV[0])::bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM verdicts WHERE answer_id = target_answer) OR EXISTS (SELECT 1 FROM handoffs
       WHERE answer_id = target_answer) OR EXISTS (SELECT 1 FROM curated WHERE answer_id = target_answer) THEN
        RAISE EXCEPTION '%: rows a liaison acted on are kept', TG_TABLE_NAME;
    END IF;
    RETURN OLD;
END $$""")
    for table, column in PRUNABLE.items():
        op.execute(f"DROP TRIGGER {table}_no_delete ON {table}")
        op.execute(f"CREATE TRIGGER {table}_keep_acted_on BEFORE DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION review_keep_acted_on('{column}')")


def downgrade() -> None:
    for table in PRUNABLE:
        op.execute(f"DROP TRIGGER {table}_keep_acted_on ON {table}")
        op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION review_append_only()")
    op.execute("DROP FUNCTION review_keep_acted_on()")
