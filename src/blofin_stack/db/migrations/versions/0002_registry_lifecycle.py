"""Registry lifecycle: strategy_transitions audit trail, registry params and blocked_reason, profit factors, EEP score.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:01:30.648469
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "strategy_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("strategy_name", sa.String(length=128), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_tier", sa.Integer(), nullable=True),
        sa.Column("to_tier", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy_transitions")),
    )
    with op.batch_alter_table("strategy_transitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_strategy_transitions_strategy_name"), ["strategy_name"], unique=False)

    with op.batch_alter_table("strategy_backtest_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("eep_score", sa.Float(), nullable=True))

    with op.batch_alter_table("strategy_registry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bt_profit_factor", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("ft_profit_factor", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("blocked_reason", sa.Text(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("strategy_registry", schema=None) as batch_op:
        batch_op.drop_column("blocked_reason")
        batch_op.drop_column("params")
        batch_op.drop_column("ft_profit_factor")
        batch_op.drop_column("bt_profit_factor")

    with op.batch_alter_table("strategy_backtest_results", schema=None) as batch_op:
        batch_op.drop_column("eep_score")

    with op.batch_alter_table("strategy_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_strategy_transitions_strategy_name"))

    op.drop_table("strategy_transitions")
