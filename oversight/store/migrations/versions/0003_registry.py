"""Registry: a status (candidate, active, retired) instead of an active flag, provenance, retrain runs.

Revision ID: 0003_registry
Revises: 0002
Create Date: 2026-11-29

Existing versions keep their meaning: the active one stays active, every other
one becomes retired (it was active once, or was registered to stay idle).
The partial unique index "one active version per role" moves to the status.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_registry"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

PARTIAL_INDEX_DIALECTS = ("sqlite", "postgresql")
ACTIVE = sa.text("status = 'active'")


def _partial() -> bool:
    return op.get_bind().dialect.name in PARTIAL_INDEX_DIALECTS


def upgrade() -> None:
    if _partial():
        op.drop_index(op.f("uq_model_versions_active_role"), table_name="model_versions")
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("status", sa.String(20), nullable=False, server_default="candidate"))
        batch.add_column(sa.Column("algorithm", sa.String(20), nullable=True))
        batch.add_column(sa.Column("recipe_json", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("dataset_json", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("started_from", sa.String(20), nullable=True))
        batch.add_column(sa.Column("gate_json", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("activated_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("previous_id", sa.Integer(), nullable=True))
    op.execute(sa.text("UPDATE model_versions SET status = CASE WHEN active THEN 'active' ELSE 'retired' END, "
                       "activated_at = CASE WHEN active THEN created_at ELSE NULL END"))
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("active")
        # server defaults served the existing rows; new rows get theirs from the ORM, as elsewhere
        batch.alter_column("status", server_default=None)
        batch.alter_column("recipe_json", server_default=None)
        batch.alter_column("dataset_json", server_default=None)
        batch.create_index(batch.f("ix_model_versions_status"), ["status"])
        batch.create_foreign_key(batch.f("fk_model_versions_previous_id_model_versions"), "model_versions",
                                 ["previous_id"], ["id"], ondelete="SET NULL")
    if _partial():
        op.create_index(op.f("uq_model_versions_active_role"), "model_versions", ["role"], unique=True,
                        sqlite_where=ACTIVE, postgresql_where=ACTIVE)

    op.create_table(
        "retrain_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(100), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("data_until", sa.DateTime(), nullable=True),
        sa.Column("export_id", sa.String(64), nullable=True),
        sa.Column("export_dir", sa.Text(), nullable=True),
        sa.Column("candidate_id", sa.Integer(), nullable=True),
        sa.Column("active_id", sa.Integer(), nullable=True),
        sa.Column("config_json", sa.JSON(), nullable=False),
        sa.Column("figures_json", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retrain_runs")),
        sa.ForeignKeyConstraint(["candidate_id"], ["model_versions.id"], ondelete="SET NULL",
                                name=op.f("fk_retrain_runs_candidate_id_model_versions")),
        sa.ForeignKeyConstraint(["active_id"], ["model_versions.id"], ondelete="SET NULL",
                                name=op.f("fk_retrain_runs_active_id_model_versions")),
    )
    op.create_index(op.f("ix_retrain_runs_stage"), "retrain_runs", ["stage"])


def downgrade() -> None:
    op.drop_index(op.f("ix_retrain_runs_stage"), table_name="retrain_runs")
    op.drop_table("retrain_runs")
    if _partial():
        op.drop_index(op.f("uq_model_versions_active_role"), table_name="model_versions")
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(sa.text("UPDATE model_versions SET active = (status = 'active')"))
    with op.batch_alter_table("model_versions") as batch:
        batch.alter_column("active", server_default=None)
        batch.drop_constraint(batch.f("fk_model_versions_previous_id_model_versions"), type_="foreignkey")
        batch.drop_index(batch.f("ix_model_versions_status"))
        for column in ("previous_id", "activated_at", "gate_json", "started_from", "dataset_json",
                       "recipe_json", "algorithm", "status"):
            batch.drop_column(column)
    if _partial():
        op.create_index(op.f("uq_model_versions_active_role"), "model_versions", ["role"], unique=True,
                        sqlite_where=sa.text("active"), postgresql_where=sa.text("active"))
