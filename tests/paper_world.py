"""Test support for the paper trader, the drift check and their CLI: the last days of real 1m candles in the
temporary store, and strategies moved into tier 2 with the registry's own functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import pandas as pd

from blofin_stack.config import Settings
from blofin_stack.db.engine import get_engine
from blofin_stack.lifecycle.gates import gates_from_settings
from blofin_stack.lifecycle.registry import promote, sync_registry
from blofin_stack.live.forward import from_ms
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import MINUTE_MS
from blofin_stack.strategies import all_strategies
from helpers import last_bars

INSTRUMENTS = ("BTC-USDT", "ETH-USDT")
#: Built-ins that trade often on their own timeframes (1m and 5m, 5m and 15m, 5m and 1H).
STRATEGIES = ("vwap_reversion", "ema_crossover", "sma_cross", "rsi_divergence")


@cache
def recent_candles(folder: Path, days: int = 3) -> Mapping[str, pd.DataFrame]:
    """The last ``days`` of real 1m candles of :data:`INSTRUMENTS` (read once per process)."""
    return last_bars(folder, INSTRUMENTS, days * 1440)


def fill_store(settings: Settings, candles: Mapping[str, pd.DataFrame]) -> tuple[int, int]:
    """Write ``candles`` into the store; returns (first bar open time, end of the last bar) in ms."""
    store = MarketStore(settings.market_dir)
    for inst, frame in candles.items():
        store.write_candles(inst, frame)
    first = min(int(f.index[0]) for f in candles.values())
    end = max(int(f.index[-1]) for f in candles.values()) + MINUTE_MS
    return first, end


def to_tier2(settings: Settings, names: Sequence[str], at_ms: int) -> None:
    """Register every strategy and promote ``names`` into tier 2 at ``at_ms`` (forced, as an operator would)."""
    with get_engine(settings.database_url).begin() as connection:
        sync_registry(connection, all_strategies())
        for name in names:
            promote(connection, name, gates_from_settings(settings), loads=True, to=2, force=True, now=from_ms(at_ms))
