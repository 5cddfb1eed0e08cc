"""Initial schema: registry, backtest results, rankings, reports, signals, paper trades, ML tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:15:57.517134
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "daily_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_date", sa.String(length=10), nullable=False),
        sa.Column("report_json", sa.JSON(), nullable=False),
        sa.Column("strategy_changes", sa.JSON(), nullable=True),
        sa.Column("model_changes", sa.JSON(), nullable=True),
        sa.Column("ensemble_changes", sa.JSON(), nullable=True),
        sa.Column("top_strategies", sa.JSON(), nullable=True),
        sa.Column("top_models", sa.JSON(), nullable=True),
        sa.Column("ai_recommendations", sa.Text(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_reports")),
        sa.UniqueConstraint("report_date", name=op.f("uq_daily_reports_report_date")),
    )
    op.create_table(
        "ml_ensembles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ensemble_name", sa.String(length=128), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_list", sa.JSON(), nullable=True),
        sa.Column("weights", sa.JSON(), nullable=True),
        sa.Column("combination_method", sa.String(length=32), nullable=True),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("f1", sa.Float(), nullable=True),
        sa.Column("backtest_sharpe", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_ensembles")),
        sa.UniqueConstraint("ensemble_name", "timestamp", name=op.f("uq_ml_ensembles_ensemble_name_timestamp")),
    )
    op.create_table(
        "ml_model_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("model_type", sa.String(length=64), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("precision", sa.Float(), nullable=True),
        sa.Column("recall", sa.Float(), nullable=True),
        sa.Column("f1", sa.Float(), nullable=True),
        sa.Column("features_used", sa.JSON(), nullable=True),
        sa.Column("hyperparams", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("train_loss", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_model_results")),
        sa.UniqueConstraint("model_name", "timestamp", name=op.f("uq_ml_model_results_model_name_timestamp")),
    )
    op.create_table(
        "paper_trades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("strategy_name", sa.String(length=128), nullable=False),
        sa.Column("inst_id", sa.String(length=64), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("entry_ts", sa.BigInteger(), nullable=False),
        sa.Column("entry_price", sa.Float(), nullable=False),
        sa.Column("size", sa.Float(), nullable=False),
        sa.Column("exit_ts", sa.BigInteger(), nullable=True),
        sa.Column("exit_price", sa.Float(), nullable=True),
        sa.Column("fees", sa.Float(), nullable=True),
        sa.Column("pnl", sa.Float(), nullable=True),
        sa.Column("pnl_pct", sa.Float(), nullable=True),
        sa.Column("exit_reason", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_trades")),
    )
    with op.batch_alter_table("paper_trades", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_paper_trades_strategy_name_inst_id_status"),
            ["strategy_name", "inst_id", "status"],
            unique=False,
        )

    op.create_table(
        "ranking_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.String(length=64), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("strategy_name", sa.String(length=128), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("backtests", sa.Integer(), nullable=False),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranking_history")),
    )
    with op.batch_alter_table("ranking_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ranking_history_cycle_id"), ["cycle_id"], unique=False)

    op.create_table(
        "signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("strategy_name", sa.String(length=128), nullable=False),
        sa.Column("inst_id", sa.String(length=64), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("signal_type", sa.String(length=16), nullable=False),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
        sa.UniqueConstraint(
            "strategy_name",
            "inst_id",
            "timeframe",
            "ts",
            "signal_type",
            name=op.f("uq_signals_strategy_name_inst_id_timeframe_ts_signal_type"),
        ),
    )
    op.create_table(
        "strategy_backtest_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.String(length=64), nullable=True),
        sa.Column("strategy_name", sa.String(length=128), nullable=False),
        sa.Column("inst_id", sa.String(length=64), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("backtest_period", sa.String(length=32), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("fee_bps", sa.Float(), nullable=False),
        sa.Column("slippage_bps", sa.Float(), nullable=False),
        sa.Column("bars", sa.Integer(), nullable=False),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("win_rate", sa.Float(), nullable=True),
        sa.Column("avg_pnl_pct", sa.Float(), nullable=True),
        sa.Column("total_pnl_pct", sa.Float(), nullable=True),
        sa.Column("sharpe", sa.Float(), nullable=True),
        sa.Column("sortino", sa.Float(), nullable=True),
        sa.Column("max_drawdown_pct", sa.Float(), nullable=True),
        sa.Column("profit_factor", sa.Float(), nullable=True),
        sa.Column("expectancy_pct", sa.Float(), nullable=True),
        sa.Column("exposure_pct", sa.Float(), nullable=True),
        sa.Column("avg_hold_bars", sa.Float(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("tuning_attempt", sa.Integer(), server_default="0", nullable=False),
        sa.Column("design_prompt", sa.Text(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy_backtest_results")),
    )
    with op.batch_alter_table("strategy_backtest_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_strategy_backtest_results_cycle_id"), ["cycle_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_strategy_backtest_results_strategy_name_timestamp"),
            ["strategy_name", "timestamp"],
            unique=False,
        )

    op.create_table(
        "strategy_registry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("strategy_name", sa.String(length=128), nullable=False),
        sa.Column("tier", sa.Integer(), server_default="0", nullable=False),
        sa.Column("strategy_type", sa.String(length=32), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("file_path", sa.Text(), nullable=True),
        sa.Column("ml_entry_model", sa.String(length=128), nullable=True),
        sa.Column("ml_exit_model", sa.String(length=128), nullable=True),
        sa.Column("bt_win_rate", sa.Float(), nullable=True),
        sa.Column("bt_sharpe", sa.Float(), nullable=True),
        sa.Column("bt_pnl_pct", sa.Float(), nullable=True),
        sa.Column("bt_max_dd", sa.Float(), nullable=True),
        sa.Column("bt_trades", sa.Integer(), nullable=True),
        sa.Column("bt_eep_score", sa.Float(), nullable=True),
        sa.Column("bt_last_run", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ft_win_rate", sa.Float(), nullable=True),
        sa.Column("ft_sharpe", sa.Float(), nullable=True),
        sa.Column("ft_pnl_pct", sa.Float(), nullable=True),
        sa.Column("ft_max_dd", sa.Float(), nullable=True),
        sa.Column("ft_trades", sa.Integer(), nullable=True),
        sa.Column("ft_eep_score", sa.Float(), nullable=True),
        sa.Column("ft_started", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ft_last_update", sa.DateTime(timezone=True), nullable=True),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("demoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("archive_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy_registry")),
        sa.UniqueConstraint("strategy_name", name=op.f("uq_strategy_registry_strategy_name")),
    )


def downgrade() -> None:

    op.drop_table("strategy_registry")
    with op.batch_alter_table("strategy_backtest_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_strategy_backtest_results_strategy_name_timestamp"))
        batch_op.drop_index(batch_op.f("ix_strategy_backtest_results_cycle_id"))

    op.drop_table("strategy_backtest_results")
    op.drop_table("signals")
    with op.batch_alter_table("ranking_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ranking_history_cycle_id"))

    op.drop_table("ranking_history")
    with op.batch_alter_table("paper_trades", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_trades_strategy_name_inst_id_status"))

    op.drop_table("paper_trades")
    op.drop_table("ml_model_results")
    op.drop_table("ml_ensembles")
    op.drop_table("daily_reports")
