"""Initial schema: runs, trajectories and their children, review queue, registry.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

PARTIAL_INDEX_DIALECTS = ("sqlite", "postgresql")


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("graph_name", sa.String(200), nullable=False),
        sa.Column("graph_hash", sa.String(64), nullable=False),
        sa.Column("constitution_name", sa.String(200), nullable=False),
        sa.Column("constitution_hash", sa.String(64), nullable=False),
        sa.Column("roles_json", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_table(
        "model_versions",
        _id(),
        sa.Column("role", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("base_model", sa.String(500), nullable=False),
        sa.Column("constitution_hash", sa.String(64), nullable=True),
        sa.Column("metrics_json", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.ForeignKeyConstraint(["parent_id"], ["model_versions.id"], ondelete="SET NULL",
                                name=op.f("fk_model_versions_parent_id_model_versions")),
    )
    op.create_index(op.f("ix_model_versions_role"), "model_versions", ["role"])
    if op.get_bind().dialect.name in PARTIAL_INDEX_DIALECTS:
        op.create_index(op.f("uq_model_versions_active_role"), "model_versions", ["role"],
                        unique=True, sqlite_where=sa.text("active"),
                        postgresql_where=sa.text("active"))

    op.create_table(
        "trajectories",
        _id(),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("prompt_id", sa.String(200), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("final_response", sa.Text(), nullable=True),
        sa.Column("route", sa.String(20), nullable=False),
        sa.Column("route_reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("safety_json", sa.JSON(), nullable=False),
        sa.Column("notices_json", sa.JSON(), nullable=False),
        sa.Column("extra_json", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trajectories")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name=op.f("fk_trajectories_run_id_runs")),
        sa.UniqueConstraint("run_id", "prompt_id", name=op.f("uq_trajectories_run_id_prompt_id")),
    )
    op.create_index(op.f("ix_trajectories_route"), "trajectories", ["route"])

    op.create_table(
        "candidates",
        _id(),
        sa.Column("trajectory_id", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidates")),
        sa.ForeignKeyConstraint(["trajectory_id"], ["trajectories.id"], ondelete="CASCADE",
                                name=op.f("fk_candidates_trajectory_id_trajectories")),
        sa.UniqueConstraint("trajectory_id", "index",
                            name=op.f("uq_candidates_trajectory_id_index")),
    )
    op.create_table(
        "critiques",
        _id(),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("principle_id", sa.String(200), nullable=False),
        sa.Column("violation_prob", sa.Float(), nullable=False),
        sa.Column("violated", sa.Boolean(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_critiques")),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"], ondelete="CASCADE",
                                name=op.f("fk_critiques_candidate_id_candidates")),
    )
    op.create_index(op.f("ix_critiques_candidate_id"), "critiques", ["candidate_id"])

    op.create_table(
        "judgments",
        _id(),
        sa.Column("trajectory_id", sa.Integer(), nullable=False),
        sa.Column("a_index", sa.Integer(), nullable=False),
        sa.Column("b_index", sa.Integer(), nullable=False),
        sa.Column("principle_id", sa.String(200), nullable=True),
        sa.Column("prob_b_better", sa.Float(), nullable=False),
        sa.Column("prob_b_better_swapped", sa.Float(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judgments")),
        sa.ForeignKeyConstraint(["trajectory_id"], ["trajectories.id"], ondelete="CASCADE",
                                name=op.f("fk_judgments_trajectory_id_trajectories")),
    )
    op.create_index(op.f("ix_judgments_trajectory_id"), "judgments", ["trajectory_id"])

    op.create_table(
        "preference_pairs",
        _id(),
        sa.Column("trajectory_id", sa.Integer(), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("chosen", sa.Text(), nullable=False),
        sa.Column("rejected", sa.Text(), nullable=False),
        sa.Column("chosen_sha", sa.String(64), nullable=False),
        sa.Column("rejected_sha", sa.String(64), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("principle_id", sa.String(200), nullable=True),
        sa.Column("constitution_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_in_version_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preference_pairs")),
        sa.ForeignKeyConstraint(["trajectory_id"], ["trajectories.id"], ondelete="CASCADE",
                                name=op.f("fk_preference_pairs_trajectory_id_trajectories")),
        sa.ForeignKeyConstraint(
            ["used_in_version_id"], ["model_versions.id"], ondelete="SET NULL",
            name=op.f("fk_preference_pairs_used_in_version_id_model_versions")),
        sa.UniqueConstraint(
            "trajectory_id", "source", "chosen_sha", "rejected_sha",
            name=op.f("uq_preference_pairs_trajectory_id_source_chosen_sha_rejected_sha")),
    )
    op.create_index(op.f("ix_preference_pairs_source"), "preference_pairs", ["source"])
    op.create_index(op.f("ix_preference_pairs_constitution_hash"), "preference_pairs",
                    ["constitution_hash"])
    op.create_index(op.f("ix_preference_pairs_used_in_version_id"), "preference_pairs",
                    ["used_in_version_id"])

    op.create_table(
        "review_items",
        _id(),
        sa.Column("thread_id", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("trajectory_id", sa.Integer(), nullable=True),
        sa.Column("prompt_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reasons_json", sa.JSON(), nullable=False),
        sa.Column("payload_json", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decision_json", sa.JSON(), nullable=True),
        sa.Column("reviewer", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
        sa.ForeignKeyConstraint(["trajectory_id"], ["trajectories.id"], ondelete="SET NULL",
                                name=op.f("fk_review_items_trajectory_id_trajectories")),
        sa.UniqueConstraint("thread_id", name=op.f("uq_review_items_thread_id")),
    )
    op.create_index(op.f("ix_review_items_run_id"), "review_items", ["run_id"])
    op.create_index(op.f("ix_review_items_status"), "review_items", ["status"])


def downgrade() -> None:
    for table in ("review_items", "preference_pairs", "judgments", "critiques", "candidates",
                  "trajectories", "model_versions", "runs"):
        op.drop_table(table)
