"""Study design: render settings with plots and annotations, attention checks, routing policy.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as t:
        t.add_column(sa.Column("attention_rate", sa.Float, nullable=False, server_default="0"))
        t.add_column(sa.Column("policy", sa.String(20), nullable=False, server_default="balanced"))
        t.add_column(sa.Column("target_width", sa.Float, nullable=False, server_default="0.1"))
        t.add_column(sa.Column("render_variants", sa.Text, nullable=True))
    with op.batch_alter_table("study_plots") as t:
        # NULL render (studies made before 0002): the default settings, resolved from the points.
        t.add_column(sa.Column("render", sa.Text, nullable=True))
        t.add_column(sa.Column("kind", sa.String(10), nullable=False, server_default="plot"))
        t.add_column(sa.Column("truth", sa.LargeBinary, nullable=True))
        t.add_column(sa.Column("prior", sa.Float, nullable=True))
    with op.batch_alter_table("assignments") as t:
        t.add_column(sa.Column("variant", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("annotations") as t:
        t.add_column(sa.Column("variant", sa.Integer, nullable=False, server_default="0"))
        t.add_column(sa.Column("render", sa.Text, nullable=True))
        t.add_column(sa.Column("viewport", sa.Text, nullable=True))
        t.add_column(sa.Column("lassos", sa.Text, nullable=True))


def downgrade() -> None:
    for table, columns in (("annotations", ("lassos", "viewport", "render", "variant")),
                           ("assignments", ("variant",)),
                           ("study_plots", ("prior", "truth", "kind", "render")),
                           ("studies", ("render_variants", "target_width", "policy", "attention_rate"))):
        with op.batch_alter_table(table) as t:
            for column in columns:
                t.drop_column(column)
