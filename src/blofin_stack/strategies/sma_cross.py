"""``sma_cross``: the reference strategy used to cross-check the backtester against peers.

Idea: the textbook moving-average crossover, always in the market.
Entry/exit: long after SMA(fast) crosses above SMA(slow), short after it crosses below (strict
crossing, as ``backtesting.lib.crossover``); a crossing closes the open position and opens the
opposite one at the same next-bar open. No stops, no targets, no maximum hold.
Parameters: ``fast`` 2..100 (default 10), ``slow`` 5..400 (default 30).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from blofin_stack.strategies.base import (
    Param,
    ParamValue,
    Strategy,
    crossed_above,
    crossed_below,
    signal_frame,
)


class SmaCross(Strategy):
    name = "sma_cross"
    description = "Always-in-market SMA(fast)/SMA(slow) crossover; reversals at the next open; no stops."
    timeframes = ("5m", "1H")
    params = {
        "fast": Param(10, 2, 100, 1, "fast SMA period (bars)"),
        "slow": Param(30, 5, 400, 1, "slow SMA period (bars)"),
    }
    required_features = ("sma_{fast}", "sma_{slow}")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        fast = features[f"sma_{params['fast']}"]
        slow = features[f"sma_{params['slow']}"]
        up = crossed_above(fast, slow)
        down = crossed_below(fast, slow)
        return signal_frame(features.index, entry_long=up, exit_short=up, entry_short=down, exit_long=down)
