"""``vwap_reversion``: fade stretches away from the session VWAP.

Idea: intraday, price tends to return to the volume-weighted average price of the UTC day (the level
where most volume traded). A close beyond the VWAP's standard-deviation bands, once price turns, is
faded. Measuring the stretch in session standard deviations (not percent or ATR) keeps one threshold
meaningful on 1m, 5m and 1H bars.
Entry: long when the close is more than ``entry_z`` session standard deviations below the session VWAP
(``vwap_zscore``) and higher than the previous close; short on the mirror condition above VWAP.
Exit: price gets back to VWAP (the z-score changes sign); stop at ``stop_atr`` x ATR(14);
at most ``max_hold_bars`` bars.
Parameters: ``entry_z`` 0.5..5, ``stop_atr`` 0.5..5, ``max_hold_bars`` 1..500.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from blofin_stack.strategies.base import (
    Param,
    ParamValue,
    Strategy,
    atr_exits,
    max_hold_param,
    signal_frame,
    stop_atr_param,
)


class VwapReversion(Strategy):
    name = "vwap_reversion"
    description = "Fade closes beyond the session VWAP's standard-deviation bands once price turns; exit at VWAP."
    timeframes = ("1m", "5m")
    params = {
        "entry_z": Param(2.0, 0.5, 5, 0.25, "distance from VWAP that counts as a stretch, in session sigmas"),
        "stop_atr": stop_atr_param(2.0),
        "max_hold_bars": max_hold_param(60),
    }
    required_features = ("vwap_zscore", "atr_pct_14")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        z = features["vwap_zscore"]  # session standard deviations from VWAP
        stretch = float(params["entry_z"])
        close = features["close"]
        rising = close > close.shift(1)
        falling = close < close.shift(1)
        return signal_frame(
            features.index,
            entry_long=(z < -stretch) & rising,
            entry_short=(z > stretch) & falling,
            exit_long=z >= 0,
            exit_short=z <= 0,
            **atr_exits(features, float(params["stop_atr"]), 0.0),
        )
