"""``support_resistance``: buy bounces off support and sell rejections at resistance.

Idea: the lowest low and highest high of the previous ``lookback`` bars (the current bar excluded) are
levels where price turned before. A bar that trades into the level (within ``touch_atr`` x ATR of it)
but closes back away from it, in the bounce's direction, shows the level holding; the trade aims at
the middle of the range (or, with ``exit_fraction`` 1, the opposite level).
Entry: long when the bar's low comes within ``touch_atr`` x ATR(14) of support, the bar closes above
its open and more than ``touch_atr`` x ATR above support, and the range (resistance - support) is at
least ``min_range_atr`` x ATR; short on the mirror condition at resistance.
Exit: long when the close reaches support + ``exit_fraction`` x range (0.5 = mid-range), short when it
reaches resistance - ``exit_fraction`` x range; stop at ``stop_atr`` and target at ``take_atr`` times
ATR(14); at most ``max_hold_bars`` bars.
Parameters: ``lookback`` 10..500, ``touch_atr`` 0..2, ``min_range_atr`` 0..20, ``exit_fraction``
0.1..1, ``stop_atr`` 0.5..5, ``take_atr`` 0..10, ``max_hold_bars`` 1..500.
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
    take_atr_param,
)


class SupportResistance(Strategy):
    name = "support_resistance"
    description = "Bounce off the rolling support/resistance of the previous N bars; exit at mid-range; ATR stop."
    timeframes = ("15m", "5m")
    params = {
        "lookback": Param(50, 10, 500, 5, "bars before the current one whose lowest low / highest high are the levels"),
        "touch_atr": Param(0.25, 0, 2, 0.05, "how near the level counts as a touch, in ATR(14)"),
        "min_range_atr": Param(4.0, 0, 20, 0.5, "minimum resistance - support, in ATR(14)"),
        "exit_fraction": Param(0.5, 0.1, 1, 0.05, "exit once price has crossed this share of the range"),
        "stop_atr": stop_atr_param(1.5),
        "take_atr": take_atr_param(0.0),
        "max_hold_bars": max_hold_param(48),
    }
    required_features = ("donchian_high_{lookback}", "donchian_low_{lookback}", "atr_14", "atr_pct_14")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        n = int(params["lookback"])
        support = features[f"donchian_low_{n}"].shift(1)  # previous n bars, the current one excluded
        resistance = features[f"donchian_high_{n}"].shift(1)
        atr = features["atr_14"]
        zone = float(params["touch_atr"]) * atr
        span = resistance - support
        wide = span >= float(params["min_range_atr"]) * atr
        open_, high, low, close = features["open"], features["high"], features["low"], features["close"]
        bounce = (low <= support + zone) & (close > support + zone) & (close > open_)
        rejection = (high >= resistance - zone) & (close < resistance - zone) & (close < open_)
        reach = float(params["exit_fraction"]) * span
        return signal_frame(
            features.index,
            entry_long=wide & bounce,
            entry_short=wide & rejection,
            exit_long=close >= support + reach,
            exit_short=close <= resistance - reach,
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
