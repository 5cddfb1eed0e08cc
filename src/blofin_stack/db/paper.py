"""Repository functions of paper trading: ``signals``, ``paper_trades``, ``paper_accounts``, ``drift_checks``
and the registry's forward-test columns (``ft_*``).

Writes are idempotent where the paper trader may repeat them (a step run twice, a restart): signals are
inserted once per ``(strategy, instrument, timeframe, bar, type)``, paper trades are upserted on
``(strategy, instrument, timeframe, entry_ts)`` and accounts on ``(strategy, instrument, timeframe)``, on
SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from blofin_stack.db.registry import update_strategy
from blofin_stack.db.tables import drift_checks, paper_accounts, paper_trades, signals, utcnow

#: The key of a paper account: strategy name, instrument, timeframe.
Key = tuple[str, str, str]
_KEY = ("strategy_name", "inst_id", "timeframe")


def _insert(connection: sa.Connection, table: sa.Table) -> Any:
    """The dialect's INSERT (with ``on_conflict_*``) for ``table``."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _of_key(table: sa.Table, key: Key) -> sa.ColumnElement[bool]:
    return sa.and_(*(table.c[name] == value for name, value in zip(_KEY, key, strict=True)))


# ------------------------------------------------------------------------------------------------ signals
def insert_signals(connection: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert signal rows (``strategy_name inst_id timeframe ts signal_type price confidence reason
    timestamp``), skipping those already stored; returns how many were new."""
    if not rows:
        return 0
    statement = _insert(connection, signals).on_conflict_do_nothing(
        index_elements=["strategy_name", "inst_id", "timeframe", "ts", "signal_type"]
    )
    return max(connection.execute(statement, list(rows)).rowcount, 0)


def list_signals(
    connection: sa.Connection, strategy_name: str | None = None, since_ts: int | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Signals, newest bar first; optionally of one strategy, from bar open time ``since_ts`` (ms) on."""
    query = sa.select(signals).order_by(signals.c.ts.desc(), signals.c.id.desc())
    if strategy_name is not None:
        query = query.where(signals.c.strategy_name == strategy_name)
    if since_ts is not None:
        query = query.where(signals.c.ts >= since_ts)
    if limit is not None:
        query = query.limit(limit)
    return [dict(row._mapping) for row in connection.execute(query)]


# ------------------------------------------------------------------------------------------- paper trades
def upsert_paper_trade(connection: sa.Connection, row: Mapping[str, Any]) -> None:
    """Insert the paper trade ``row`` or update the stored one with the same strategy, instrument, timeframe
    and ``entry_ts`` (an open position that closed, an open position marked again)."""
    now = utcnow()
    values = {**row, "updated_at": now}
    statement = _insert(connection, paper_trades).values(**values, created_at=now)
    statement = statement.on_conflict_do_update(index_elements=[*_KEY, "entry_ts"], set_=values)
    connection.execute(statement)


def list_paper_trades(
    connection: sa.Connection,
    strategy_name: str | None = None,
    *,
    key: Key | None = None,
    status: str | None = None,
    since_ts: int | None = None,
) -> list[dict[str, Any]]:
    """Paper trades in entry order: of one strategy or one account ``key``, of one ``status`` (``open``,
    ``closed``, ``cancelled``), entered at or after ``since_ts`` (ms)."""
    query = sa.select(paper_trades).order_by(paper_trades.c.entry_ts, paper_trades.c.id)
    if strategy_name is not None:
        query = query.where(paper_trades.c.strategy_name == strategy_name)
    if key is not None:
        query = query.where(_of_key(paper_trades, key))
    if status is not None:
        query = query.where(paper_trades.c.status == status)
    if since_ts is not None:
        query = query.where(paper_trades.c.entry_ts >= since_ts)
    return [dict(row._mapping) for row in connection.execute(query)]


def cancel_paper_trades(connection: sa.Connection, ids: Iterable[int], reason: str) -> int:
    """Mark open paper trades ``cancelled`` with ``reason`` in ``exit_reason``; returns how many."""
    ids = list(ids)
    if not ids:
        return 0
    statement = (
        paper_trades.update()
        .where(paper_trades.c.id.in_(ids), paper_trades.c.status == "open")
        .values(status="cancelled", exit_reason=reason, updated_at=utcnow())
    )
    return max(connection.execute(statement).rowcount, 0)


# ----------------------------------------------------------------------------------------------- accounts
def upsert_account(connection: sa.Connection, row: Mapping[str, Any]) -> None:
    """Insert or replace the paper account of ``row``'s strategy, instrument and timeframe."""
    values = {**row, "updated_at": utcnow()}
    statement = _insert(connection, paper_accounts).values(**values)
    connection.execute(statement.on_conflict_do_update(index_elements=list(_KEY), set_=values))


def list_accounts(connection: sa.Connection, strategy_name: str | None = None) -> list[dict[str, Any]]:
    """Paper accounts ordered by strategy, instrument, timeframe; optionally of one strategy."""
    query = sa.select(paper_accounts).order_by(*(paper_accounts.c[name] for name in _KEY))
    if strategy_name is not None:
        query = query.where(paper_accounts.c.strategy_name == strategy_name)
    return [dict(row._mapping) for row in connection.execute(query)]


# ----------------------------------------------------------------------------------------- registry ft_*
def update_forward_metrics(
    connection: sa.Connection, strategy_name: str, metrics: Mapping[str, float | int | None], updated: datetime
) -> None:
    """Set the ``ft_*`` columns of ``strategy_name`` (keys without the ``ft_`` prefix) and ``ft_last_update``."""
    update_strategy(
        connection, strategy_name, {**{f"ft_{k}": v for k, v in metrics.items()}, "ft_last_update": updated}
    )


# ------------------------------------------------------------------------------------------- drift checks
def insert_drift_check(connection: sa.Connection, row: Mapping[str, Any]) -> None:
    """Append one drift check."""
    connection.execute(drift_checks.insert().values(**row))


def list_drift_checks(
    connection: sa.Connection, strategy_name: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Drift checks, newest first; optionally of one strategy."""
    query = sa.select(drift_checks).order_by(drift_checks.c.timestamp.desc(), drift_checks.c.id.desc())
    if strategy_name is not None:
        query = query.where(drift_checks.c.strategy_name == strategy_name)
    if limit is not None:
        query = query.limit(limit)
    return [dict(row._mapping) for row in connection.execute(query)]
