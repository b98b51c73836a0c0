"""Review queue: items keyed by (thread, round) with leases, deadlines and metadata; reviewers,
per-person decisions, the append-only audit log; reviewer details on human preference pairs.

Revision ID: 0003_review
Revises: 0002
Create Date: 2026-11-29

The audit log refuses UPDATE and DELETE with a trigger on SQLite and PostgreSQL, so
"append-only" holds even against a hand-written statement.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_review"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_SQLITE_GUARDS = [
    f"CREATE TRIGGER review_audit_no_{verb.lower()} BEFORE {verb} ON review_audit "
    "BEGIN SELECT RAISE(ABORT, 'review_audit is append-only'); END"
    for verb in ("UPDATE", "DELETE")]
_PG_GUARD = [
    "CREATE OR REPLACE FUNCTION review_audit_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'review_audit is append-only'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER review_audit_append_only BEFORE UPDATE OR DELETE ON review_audit "
    "FOR EACH ROW EXECUTE FUNCTION review_audit_append_only()"]


def upgrade() -> None:
    with op.batch_alter_table("review_items") as batch:
        batch.drop_constraint("uq_review_items_thread_id", type_="unique")
        batch.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("category", sa.String(50), nullable=True))
        batch.add_column(sa.Column("categories_json", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("principles_json", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("constitution_version", sa.String(50), nullable=True))
        batch.add_column(sa.Column("constitution_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("timed_out", sa.Boolean(), nullable=False,
                                   server_default=sa.text("false")))
        batch.add_column(sa.Column("applied_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("apply_error", sa.Text(), nullable=True))
        batch.create_unique_constraint("uq_review_items_thread_id_round", ["thread_id", "round"])
        batch.create_index("ix_review_items_thread_id", ["thread_id"])
        batch.create_index("ix_review_items_category", ["category"])
        batch.create_index("ix_review_items_claimed_by", ["claimed_by"])
        batch.create_index("ix_review_items_queue", ["status", "priority", "created_at"])
    with op.batch_alter_table("preference_pairs") as batch:
        batch.add_column(sa.Column("reviewer", sa.String(200), nullable=True))
        batch.add_column(sa.Column("review_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("principles_json", sa.JSON(), nullable=True))
    op.create_table(
        "reviewers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(255), nullable=False),
        sa.Column("opted_out_json", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviewers")),
        sa.UniqueConstraint("name", name=op.f("uq_reviewers_name")),
        sa.UniqueConstraint("token_id", name=op.f("uq_reviewers_token_id")),
    )
    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("decision_json", sa.JSON(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_decisions")),
        sa.ForeignKeyConstraint(["item_id"], ["review_items.id"], ondelete="CASCADE",
                                name=op.f("fk_review_decisions_item_id_review_items")),
        sa.UniqueConstraint("item_id", "reviewer", name=op.f("uq_review_decisions_item_id_reviewer")),
    )
    op.create_index(op.f("ix_review_decisions_item_id"), "review_decisions", ["item_id"])
    op.create_index(op.f("ix_review_decisions_reviewer"), "review_decisions", ["reviewer"])
    op.create_index(op.f("ix_review_decisions_decided_at"), "review_decisions", ["decided_at"])
    op.create_table(
        "review_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("before_json", sa.JSON(), nullable=True),
        sa.Column("after_json", sa.JSON(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_audit")),
    )
    op.create_index(op.f("ix_review_audit_at"), "review_audit", ["at"])
    op.create_index(op.f("ix_review_audit_item_id"), "review_audit", ["item_id"])
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_GUARDS if dialect == "sqlite" else _PG_GUARD if dialect == "postgresql" else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS review_audit_append_only ON review_audit")
        op.execute("DROP FUNCTION IF EXISTS review_audit_append_only()")
    op.drop_table("review_audit")
    op.drop_table("review_decisions")
    op.drop_table("reviewers")
    with op.batch_alter_table("preference_pairs") as batch:
        for column in ("principles_json", "review_seconds", "reviewer"):
            batch.drop_column(column)
    with op.batch_alter_table("review_items") as batch:
        for index in ("ix_review_items_queue", "ix_review_items_claimed_by", "ix_review_items_category",
                      "ix_review_items_thread_id"):
            batch.drop_index(index)
        batch.drop_constraint("uq_review_items_thread_id_round", type_="unique")
        for column in ("apply_error", "applied_at", "timed_out", "lease_expires_at", "claimed_at",
                       "claimed_by", "constitution_hash", "constitution_version", "principles_json",
                       "categories_json", "category", "priority", "round"):
            batch.drop_column(column)
        batch.create_unique_constraint("uq_review_items_thread_id", ["thread_id"])
