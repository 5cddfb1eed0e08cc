"""Market trades recorded by the ingestor (one row per instrument and Blofin trade id).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 06:33:33.090268
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "market_trades",
        sa.Column("inst_id", sa.String(length=64), nullable=False),
        sa.Column("trade_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("size", sa.Float(), nullable=False),
        sa.Column("size_base", sa.Float(), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("synthetic", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("inst_id", "trade_id", name=op.f("pk_market_trades")),
    )
    with op.batch_alter_table("market_trades", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_market_trades_inst_id_ts"), ["inst_id", "ts"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("market_trades", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_market_trades_inst_id_ts"))

    op.drop_table("market_trades")
