"""Trades: deduplicated inserts, and retention that compacts old ticks into the 1m candles it keeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blofin_stack.config import Settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.market_trades import count_trades, insert_trades, read_trades
from blofin_stack.live.retention import compact_trades
from blofin_stack.market.store import MarketStore

DAY_MS = 86_400_000
T0 = 1_748_736_000_000  # 2025-06-01T00:00:00Z


def trade(trade_id: int, ts: int, price: float, size: float = 2.0, inst: str = "BTC-USDT") -> dict[str, object]:
    return {
        "inst_id": inst,
        "trade_id": trade_id,
        "ts": ts,
        "price": price,
        "size": size,
        "size_base": size * 0.001,
        "side": "buy",
        "synthetic": False,
    }


def test_a_trade_is_stored_once_per_instrument_and_id(settings: Settings) -> None:
    engine = get_engine(settings.database_url)
    rows = [trade(1, T0, 100.0), trade(2, T0 + 5, 101.0), trade(1, T0, 100.0, inst="ETH-USDT")]
    with engine.begin() as connection:
        assert insert_trades(connection, rows) == 3
        assert insert_trades(connection, [*rows, trade(3, T0 + 9, 99.0)]) == 1  # only the new one
        assert count_trades(connection) == 4 and count_trades(connection, "BTC-USDT") == 3
        frame = read_trades(connection, "BTC-USDT", start=T0 + 1)
    assert frame["trade_id"].tolist() == [2, 3] and frame["size_base"].tolist() == pytest.approx([0.002, 0.002])


def test_retention_keeps_the_old_minutes_as_candles_then_deletes_their_trades(settings: Settings) -> None:
    settings.tick_retention_days = 1.0
    engine = get_engine(settings.database_url)
    store = MarketStore(settings.market_dir)
    # minute 0 is already stored (different values: the stored candle wins); minute 1 is not
    stored = pd.DataFrame(
        {"open": [50.0], "high": [60.0], "low": [40.0], "close": [55.0], "volume": [9.0]},
        index=pd.Index(np.array([T0], dtype="int64"), name="ts"),
    )
    store.write_candles("BTC-USDT", stored)
    old = [trade(1, T0 + 1_000, 100.0), trade(2, T0 + 61_000, 101.0), trade(3, T0 + 62_000, 103.0, size=4.0)]
    old += [trade(4, T0 + 119_000, 102.0)]
    recent = [trade(5, T0 + DAY_MS + 150_000, 104.0)]  # the newest trade sets "now"
    with engine.begin() as connection:
        insert_trades(connection, old + recent)
    assert compact_trades(settings) == {"BTC-USDT": 4}
    candles = store.read_candles("BTC-USDT")
    assert candles.index.tolist() == [T0, T0 + 60_000]
    assert candles.loc[T0].tolist() == [50.0, 60.0, 40.0, 55.0, 9.0]
    assert candles.loc[T0 + 60_000].tolist() == pytest.approx([101.0, 103.0, 101.0, 102.0, 0.008])
    with engine.connect() as connection:
        assert read_trades(connection, "BTC-USDT")["trade_id"].tolist() == [5]
    assert compact_trades(settings) == {}  # nothing old is left
