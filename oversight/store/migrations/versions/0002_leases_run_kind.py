"""Leases (one holder per thread, run or job) and the kind of a run.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Later revisions branch from here (one per feature area) and `Store.migrate`
upgrades to every head, so independent areas never fight over one chain.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_index(op.f("ix_leases_expires_at"), "leases", ["expires_at"])
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False,
                                   server_default="production"))
        batch.create_index(batch.f("ix_runs_kind"), ["kind"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index(batch.f("ix_runs_kind"))
        batch.drop_column("kind")
    op.drop_index(op.f("ix_leases_expires_at"), table_name="leases")
    op.drop_table("leases")
