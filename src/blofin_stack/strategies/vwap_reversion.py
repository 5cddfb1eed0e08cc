"""``vwap_reversion``: fade stretches away from the session VWAP.

Idea: intraday, price tends to return to the volume-weighted average price of the UTC day (the
level where most volume traded). A stretch of several ATRs from VWAP, once price turns, is faded.
Entry: long when price is more than ``entry_atr`` x ATR(14) below the session VWAP and the bar
closes higher than the previous close; short on the mirror condition above VWAP.
Exit: price gets back to VWAP (the distance changes sign); stop at ``stop_atr`` x ATR(14);
at most ``max_hold_bars`` bars.
Parameters: ``entry_atr`` 0.5..10, ``stop_atr`` 0.5..5, ``max_hold_bars`` 1..500.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from blofin_stack.strategies.base import Param, ParamValue, Strategy, atr_exits, signal_frame


class VwapReversion(Strategy):
    name = "vwap_reversion"
    description = "Fade stretches of several ATRs from the session VWAP once price turns; exit at VWAP."
    timeframes = ("1m", "5m")
    params = {
        "entry_atr": Param(2.0, 0.5, 10, 0.25, "distance from VWAP that counts as a stretch, in ATR(14)"),
        "stop_atr": Param(2.0, 0.5, 5, 0.25, "stop-loss distance in ATR(14)"),
        "max_hold_bars": Param(60, 1, 500, 1, "close after this many bars"),
    }
    required_features = ("vwap_distance", "atr_pct_14")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        distance = features["vwap_distance"]  # percent of VWAP
        stretch = float(params["entry_atr"]) * features["atr_pct_14"]  # percent of price
        close = features["close"]
        rising = close > close.shift(1)
        falling = close < close.shift(1)
        return signal_frame(
            features.index,
            entry_long=(distance < -stretch) & rising,
            entry_short=(distance > stretch) & falling,
            exit_long=distance >= 0,
            exit_short=distance <= 0,
            **atr_exits(features, float(params["stop_atr"]), 0.0),
        )
