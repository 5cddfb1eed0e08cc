"""Paper trading: one paper trade per entry fill, the paper accounts, the forward-vs-backtest drift checks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 07:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("paper_trades", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_paper_trades_strategy_name_inst_id_timeframe_entry_ts"),
            ["strategy_name", "inst_id", "timeframe", "entry_ts"],
        )

    op.create_table(
        "paper_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("strategy_name", sa.String(length=128), nullable=False),
        sa.Column("inst_id", sa.String(length=64), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("started", sa.BigInteger(), nullable=False),
        sa.Column("last_bar_ts", sa.BigInteger(), nullable=True),
        sa.Column("initial_capital", sa.Float(), nullable=False),
        sa.Column("equity", sa.Float(), nullable=True),
        sa.Column("position", sa.String(length=8), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("latency_ms", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_accounts")),
        sa.UniqueConstraint(
            "strategy_name", "inst_id", "timeframe", name=op.f("uq_paper_accounts_strategy_name_inst_id_timeframe")
        ),
    )

    op.create_table(
        "drift_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("strategy_name", sa.String(length=128), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("forward", sa.JSON(), nullable=False),
        sa.Column("backtest", sa.JSON(), nullable=False),
        sa.Column("differences", sa.JSON(), nullable=False),
        sa.Column("threshold_pct", sa.Float(), nullable=False),
        sa.Column("drifting", sa.Boolean(), nullable=False),
        sa.Column("consecutive", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_checks")),
    )
    with op.batch_alter_table("drift_checks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drift_checks_strategy_name"), ["strategy_name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("drift_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drift_checks_strategy_name"))
    op.drop_table("drift_checks")
    op.drop_table("paper_accounts")
    with op.batch_alter_table("paper_trades", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_paper_trades_strategy_name_inst_id_timeframe_entry_ts"), type_="unique")
