"""Initial schema: studies, plots, study_plots, annotators, assignments, annotations.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("admin_token_hash", sa.String(64), nullable=False),
        sa.Column("per_annotator", sa.Integer, nullable=True),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "plots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("n_points", sa.Integer, nullable=False),
        sa.Column("points", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "study_plots",
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("plot_id", sa.Integer, sa.ForeignKey("plots.id"), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("shown", sa.LargeBinary, nullable=True),
    )
    op.create_table(
        "annotators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_annotators_study_id", "annotators", ["study_id"])
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("annotator_id", sa.Integer, sa.ForeignKey("annotators.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("plot_id", sa.Integer, sa.ForeignKey("plots.id"), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("annotator_id", "plot_id", name="uq_assignment_annotator_plot"),
    )
    op.create_index("ix_assignments_study_plot", "assignments", ["study_id", "plot_id"])
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("plot_id", sa.Integer, sa.ForeignKey("plots.id"), nullable=False),
        sa.Column("annotator_id", sa.Integer, sa.ForeignKey("annotators.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("labels", sa.LargeBinary, nullable=False),
        sa.Column("seconds", sa.Float, nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("app_version", sa.String(50), nullable=False),
        sa.UniqueConstraint("study_id", "key", name="uq_annotation_key"),
        sa.UniqueConstraint("annotator_id", "plot_id", name="uq_annotation_annotator_plot"),
    )
    op.create_index("ix_annotations_study_plot", "annotations", ["study_id", "plot_id"])


def downgrade() -> None:
    for table in ("annotations", "assignments", "annotators", "study_plots", "plots", "studies"):
        op.drop_table(table)
