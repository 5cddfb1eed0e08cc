"""Retention of recorded trades: old ticks are compacted into 1m candles, then deleted."""

from __future__ import annotations

import sqlalchemy as sa

from blofin_stack.config import Settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.market_trades import delete_trades_before, instruments_with_trades_before, read_trades
from blofin_stack.db.tables import market_trades
from blofin_stack.market.candles import trades_to_candles
from blofin_stack.market.store import OHLCV_COLUMNS, MarketStore, UnknownInstrumentError
from blofin_stack.market.timeframes import DAY_MS, MINUTE_MS


def compact_trades(settings: Settings, now_ms: int | None = None) -> dict[str, int]:
    """Retention: delete trades older than ``TICK_RETENTION_DAYS`` before ``now_ms`` (default: the newest
    recorded trade, so that a replay of old data keeps its recent days), after writing any of their
    minutes that the store lacks as 1m candles built from them (volume in base currency).

    Returns:
        ``instId`` -> trades deleted.
    """
    engine = get_engine(settings.database_url)
    store = MarketStore(settings.market_dir)
    with engine.connect() as connection:
        if now_ms is None:
            now_ms = connection.execute(sa.select(sa.func.max(market_trades.c.ts))).scalar()
            if now_ms is None:
                return {}
        cutoff = (int(now_ms) - int(settings.tick_retention_days * DAY_MS)) // MINUTE_MS * MINUTE_MS  # whole minutes
        instruments = instruments_with_trades_before(connection, cutoff)
    deleted: dict[str, int] = {}
    for inst in instruments:
        with engine.begin() as connection:
            old = read_trades(connection, inst, end=cutoff)
            built = trades_to_candles(old.assign(size=old["size_base"]), until_ms=cutoff)
            try:
                stored = store.read_candles(inst, int(old["ts"].min()) // MINUTE_MS * MINUTE_MS, cutoff).index
            except UnknownInstrumentError:
                stored = built.index[:0]
            missing = built.loc[~built.index.isin(stored), list(OHLCV_COLUMNS)]
            if len(missing):
                store.write_candles(inst, missing)
            deleted[inst] = delete_trades_before(connection, inst, cutoff)
    return deleted
