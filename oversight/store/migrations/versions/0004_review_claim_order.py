"""Review queue: indexes a claim reads in its own order, free items only, and run-out leases.

Revision ID: 0004_review_claim_order
Revises: 0003_review
Create Date: 2026-11-30

A claim takes the free item first by priority (larger first), then age, then id. The
index from 0003_review, (status, priority, created_at), matches that order only read
backwards on priority and forwards on age, which no single scan does: PostgreSQL sorted
the whole top-priority group on every claim (3.4 ms at 20000 items). The new index
(status, priority DESC, created_at, id) is read in order and stops at the first row,
and it holds only the items nobody holds (claimed_by IS NULL): items under a lease sit
at the head of a busy queue, and walking past them cost a claim more with every claim
(4 ms with 4600 held). Items whose lease ran out are found through the new index on
lease_expires_at instead. It replaces the old index, whose every use it serves.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_review_claim_order"
down_revision: str | None = "0003_review"
branch_labels: str | None = None
depends_on: str | None = None

FREE = sa.text("claimed_by IS NULL")


def upgrade() -> None:
    op.create_index("ix_review_items_claim_order", "review_items",
                    ["status", sa.text("priority DESC"), "created_at", "id"],
                    sqlite_where=FREE, postgresql_where=FREE)
    op.create_index("ix_review_items_lease_expires_at", "review_items", ["lease_expires_at"])
    op.drop_index("ix_review_items_queue", table_name="review_items")


def downgrade() -> None:
    op.create_index("ix_review_items_queue", "review_items", ["status", "priority", "created_at"])
    op.drop_index("ix_review_items_lease_expires_at", table_name="review_items")
    op.drop_index("ix_review_items_claim_order", table_name="review_items")
