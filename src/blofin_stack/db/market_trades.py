"""Repository of ``market_trades``: trades recorded from Blofin's ``trades`` channel.

One row per ``(inst_id, trade_id)``: inserting a trade that is already stored does nothing (a duplicate
push, a replayed message, an overlap after a reconnect), on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from blofin_stack.db.tables import market_trades as table

#: Rows per INSERT statement (SQLite allows 32 766 bound parameters; 8 columns each).
_CHUNK = 4000


def insert_trades(connection: sa.Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert trade rows (dicts keyed by column name), skipping ``(inst_id, trade_id)`` already stored.

    Returns:
        The number of rows actually inserted (new trades).
    """
    if not rows:
        return 0
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    inserted = 0
    for start in range(0, len(rows), _CHUNK):
        statement = dialect.insert(table).on_conflict_do_nothing(index_elements=["inst_id", "trade_id"])
        result = connection.execute(statement, list(rows[start : start + _CHUNK]))
        inserted += max(result.rowcount, 0)
    return inserted


def count_trades(connection: sa.Connection, inst_id: str | None = None) -> int:
    """Stored trades, of one instrument or of all."""
    query = sa.select(sa.func.count()).select_from(table)
    if inst_id is not None:
        query = query.where(table.c.inst_id == inst_id)
    return int(connection.execute(query).scalar_one())


def read_trades(
    connection: sa.Connection, inst_id: str, start: int | None = None, end: int | None = None
) -> pd.DataFrame:
    """Trades of ``inst_id`` with ``ts`` in ``[start, end)`` (ms; ``None`` = unbounded), by time then id.

    Returns:
        Columns ``trade_id ts`` (int64), ``price size size_base`` (float64: USDT, contracts, base
        currency), ``side`` (``buy``/``sell``), ``synthetic`` (bool).
    """
    query = sa.select(table).where(table.c.inst_id == inst_id).order_by(table.c.ts, table.c.trade_id)
    if start is not None:
        query = query.where(table.c.ts >= start)
    if end is not None:
        query = query.where(table.c.ts < end)
    frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=list(table.c.keys()))
    return frame.drop(columns="inst_id").astype(
        {"trade_id": "int64", "ts": "int64", "price": "float64", "size": "float64", "size_base": "float64"}
    )


def instruments_with_trades_before(connection: sa.Connection, cutoff_ms: int) -> list[str]:
    """Instruments holding trades older than ``cutoff_ms``."""
    query = sa.select(table.c.inst_id).where(table.c.ts < cutoff_ms).distinct().order_by(table.c.inst_id)
    return list(connection.execute(query).scalars())


def delete_trades_before(connection: sa.Connection, inst_id: str, cutoff_ms: int) -> int:
    """Delete the trades of ``inst_id`` older than ``cutoff_ms``; returns how many."""
    result = connection.execute(table.delete().where(table.c.inst_id == inst_id, table.c.ts < cutoff_ms))
    return max(result.rowcount, 0)
