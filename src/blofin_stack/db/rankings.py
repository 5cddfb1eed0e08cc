"""Repository functions for ``ranking_history``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from blofin_stack.db.tables import ranking_history as table


def insert_rankings(connection: sa.Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ranking rows (dicts keyed by column name); returns the number inserted."""
    columns = set(table.c.keys())
    clean = [{k: v for k, v in row.items() if k in columns} for row in rows]
    if clean:
        connection.execute(table.insert(), clean)
    return len(clean)


def rankings_of_cycle(connection: sa.Connection, cycle_id: str) -> list[dict[str, Any]]:
    """The ranking of ``cycle_id``, best first."""
    query = sa.select(table).where(table.c.cycle_id == cycle_id).order_by(table.c.rank)
    return [dict(row._mapping) for row in connection.execute(query)]
