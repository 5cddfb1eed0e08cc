"""The strategy registry as seen by the cycles: every runnable strategy has a row.

This issue's scope is registration and the ``bt_*`` metrics; tiers, gates and the audit trail build on
the same table.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from blofin_stack.db.registry import update_backtest_metrics, upsert_strategy
from blofin_stack.lifecycle.ranker import RankEntry
from blofin_stack.strategies.base import Strategy
from blofin_stack.strategies.catalog import strategy_file, strategy_source

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def register_strategies(connection: sa.Connection, strategies: Iterable[Strategy]) -> None:
    """Create or refresh the registry row of each strategy: type ``pattern``, source ``builtin`` or
    ``plugin``, and the file that implements it (relative to the package for built-ins)."""
    for strategy in strategies:
        source_file = strategy_file(type(strategy))
        try:
            file_path = source_file.relative_to(_PACKAGE_ROOT).as_posix()
        except ValueError:
            file_path = source_file.as_posix()
        upsert_strategy(
            connection,
            strategy.name,
            {
                "strategy_type": "pattern",
                "description": strategy.description,
                "source": strategy_source(strategy.name),
                "file_path": file_path,
            },
        )


def record_backtest_metrics(connection: sa.Connection, ranking: Iterable[RankEntry], run_at: datetime) -> None:
    """Copy each ranked strategy's cycle aggregate into its ``bt_*`` columns.

    ``bt_win_rate`` and ``bt_trades`` are pooled over all trades; ``bt_sharpe``, ``bt_pnl_pct`` and
    ``bt_max_dd`` are medians over the strategy's backtests (percent for the last two).
    """
    for entry in ranking:
        update_backtest_metrics(
            connection,
            entry.strategy_name,
            {
                "win_rate": entry.win_rate,
                "sharpe": entry.median_sharpe,
                "pnl_pct": entry.median_total_pnl_pct,
                "max_dd": entry.median_max_drawdown_pct,
                "trades": entry.trades,
            },
            run_at,
        )
