"""Repository functions for ``strategy_registry`` and its audit trail ``strategy_transitions``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from blofin_stack.db.tables import strategy_registry as table
from blofin_stack.db.tables import strategy_transitions as transitions
from blofin_stack.db.tables import utcnow


def upsert_strategy(connection: sa.Connection, strategy_name: str, values: Mapping[str, Any]) -> bool:
    """Create the row of ``strategy_name`` with ``values``, or update those columns; True when created."""
    now = utcnow()
    exists = connection.execute(sa.select(table.c.id).where(table.c.strategy_name == strategy_name)).scalar()
    if exists is None:
        connection.execute(table.insert().values(strategy_name=strategy_name, created_at=now, updated_at=now, **values))
        return True
    connection.execute(table.update().where(table.c.id == exists).values(updated_at=now, **values))
    return False


def update_strategy(connection: sa.Connection, strategy_name: str, values: Mapping[str, Any]) -> None:
    """Set ``values`` on the row of ``strategy_name`` (and ``updated_at``); no row, no change."""
    connection.execute(
        table.update().where(table.c.strategy_name == strategy_name).values(updated_at=utcnow(), **values)
    )


def update_backtest_metrics(
    connection: sa.Connection, strategy_name: str, metrics: Mapping[str, float | int | None], run_at: datetime
) -> None:
    """Set the ``bt_*`` columns of ``strategy_name`` (keys without the ``bt_`` prefix) and ``bt_last_run``."""
    update_strategy(connection, strategy_name, {**{f"bt_{k}": v for k, v in metrics.items()}, "bt_last_run": run_at})


def get_strategy_row(connection: sa.Connection, strategy_name: str) -> dict[str, Any] | None:
    """The registry row of ``strategy_name`` as a dict, or ``None``."""
    row = connection.execute(sa.select(table).where(table.c.strategy_name == strategy_name)).first()
    return dict(row._mapping) if row is not None else None


def list_strategies(connection: sa.Connection, tier: int | None = None) -> list[dict[str, Any]]:
    """Registry rows (optionally of one tier), ordered by tier (highest first) then name."""
    query = sa.select(table).order_by(table.c.tier.desc(), table.c.strategy_name)
    if tier is not None:
        query = query.where(table.c.tier == tier)
    return [dict(row._mapping) for row in connection.execute(query)]


def insert_transition(connection: sa.Connection, record: Mapping[str, Any]) -> None:
    """Append one entry to the audit trail."""
    connection.execute(transitions.insert().values(**record))


def list_transitions(
    connection: sa.Connection, strategy_name: str | None = None, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Audit-trail entries, oldest first; optionally of one strategy and/or from ``since`` on."""
    query = sa.select(transitions).order_by(transitions.c.timestamp, transitions.c.id)
    if strategy_name is not None:
        query = query.where(transitions.c.strategy_name == strategy_name)
    if since is not None:
        query = query.where(transitions.c.timestamp >= since)
    return [dict(row._mapping) for row in connection.execute(query)]
