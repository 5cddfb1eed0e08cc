"""Repository functions for ``strategy_registry``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from blofin_stack.db.tables import strategy_registry as table
from blofin_stack.db.tables import utcnow


def upsert_strategy(connection: sa.Connection, strategy_name: str, values: Mapping[str, Any]) -> None:
    """Create the row of ``strategy_name`` with ``values``, or update those columns if it exists."""
    now = utcnow()
    exists = connection.execute(sa.select(table.c.id).where(table.c.strategy_name == strategy_name)).scalar()
    if exists is None:
        connection.execute(table.insert().values(strategy_name=strategy_name, created_at=now, updated_at=now, **values))
    else:
        connection.execute(table.update().where(table.c.id == exists).values(updated_at=now, **values))


def update_backtest_metrics(
    connection: sa.Connection, strategy_name: str, metrics: Mapping[str, float | int | None], run_at: datetime
) -> None:
    """Set the ``bt_*`` columns of ``strategy_name`` (keys without the ``bt_`` prefix) and ``bt_last_run``."""
    values = {f"bt_{key}": value for key, value in metrics.items()}
    connection.execute(
        table.update()
        .where(table.c.strategy_name == strategy_name)
        .values(bt_last_run=run_at, updated_at=utcnow(), **values)
    )


def list_strategies(connection: sa.Connection) -> list[dict[str, Any]]:
    """Every registry row, ordered by tier (highest first) then name."""
    query = sa.select(table).order_by(table.c.tier.desc(), table.c.strategy_name)
    return [dict(row._mapping) for row in connection.execute(query)]
