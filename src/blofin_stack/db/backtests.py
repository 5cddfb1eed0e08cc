"""Repository functions for ``strategy_backtest_results``."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Any

import sqlalchemy as sa

from blofin_stack.db.tables import strategy_backtest_results as table


def insert_results(connection: sa.Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert backtest result rows (dicts keyed by column name); returns the number inserted.

    ``profit_factor`` of +inf (no losing trade) is stored as NULL; the row's ``trades`` and
    ``win_rate`` tell it apart from "no trades".
    """
    columns = set(table.c.keys())
    clean = []
    for row in rows:
        record = {k: v for k, v in row.items() if k in columns}
        if record.get("profit_factor") == float("inf"):
            record["profit_factor"] = None
        clean.append(record)
    # one executemany per run of rows with the same columns (error rows carry no metrics)
    for _, group in groupby(clean, key=lambda record: sorted(record)):
        connection.execute(table.insert(), list(group))
    return len(clean)


def latest_cycle_id(connection: sa.Connection) -> str | None:
    """``cycle_id`` of the newest stored strategy cycle, or ``None`` when there is none."""
    query = sa.select(table.c.cycle_id).order_by(table.c.timestamp.desc(), table.c.id.desc()).limit(1)
    return connection.execute(query).scalar()


def results_of_cycle(connection: sa.Connection, cycle_id: str) -> list[dict[str, Any]]:
    """Every backtest row of ``cycle_id`` as dicts, ordered by strategy, timeframe, instrument."""
    query = (
        sa.select(table)
        .where(table.c.cycle_id == cycle_id)
        .order_by(table.c.strategy_name, table.c.timeframe, table.c.inst_id)
    )
    return [dict(row._mapping) for row in connection.execute(query)]
