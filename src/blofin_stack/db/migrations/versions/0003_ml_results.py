"""ML results: out-of-sample metrics, baselines, lift, folds and reasons per model; the retraining log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 04:44:45.139790
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "ml_retrain_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("model_path", sa.Text(), nullable=True),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("validated", sa.Float(), nullable=True),
        sa.Column("fresh", sa.Float(), nullable=True),
        sa.Column("drop_pct", sa.Float(), nullable=True),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_retrain_log")),
    )
    with op.batch_alter_table("ml_retrain_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ml_retrain_log_model_name"), ["model_name"], unique=False)

    with op.batch_alter_table("ml_model_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cycle_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("model_path", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("target", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("timeframe", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("roc_auc", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("log_loss", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("mae", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("rmse", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("r2", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("mape", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("oos", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("baseline", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("lift", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("folds", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("reasons", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_ml_model_results_cycle_id"), ["cycle_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("ml_model_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ml_model_results_cycle_id"))
        batch_op.drop_column("reasons")
        batch_op.drop_column("folds")
        batch_op.drop_column("lift")
        batch_op.drop_column("baseline")
        batch_op.drop_column("oos")
        batch_op.drop_column("mape")
        batch_op.drop_column("r2")
        batch_op.drop_column("rmse")
        batch_op.drop_column("mae")
        batch_op.drop_column("log_loss")
        batch_op.drop_column("roc_auc")
        batch_op.drop_column("timeframe")
        batch_op.drop_column("target")
        batch_op.drop_column("model_path")
        batch_op.drop_column("cycle_id")

    with op.batch_alter_table("ml_retrain_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ml_retrain_log_model_name"))

    op.drop_table("ml_retrain_log")
