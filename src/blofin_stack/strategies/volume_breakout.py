"""``volume_breakout``: a break of the recent range on unusually high volume.

Idea: a close beyond the Donchian channel of the previous ``channel`` bars is more likely to follow
through when volume is a multiple of its 20-bar average (participation confirms the break).
Entry: long when the close exceeds the highest high of the previous ``channel`` bars and
``volume_ratio`` (volume / 20-bar SMA) is at least ``volume_mult``; short on the mirror break of
the lowest low.
Exit: the close crosses EMA(21) against the trade; stop at ``stop_atr`` and target at ``take_atr``
times ATR(14); at most ``max_hold_bars`` bars.
Parameters: ``channel`` 5..200, ``volume_mult`` 1..10, ``stop_atr`` 0.5..5, ``take_atr`` 0..10,
``max_hold_bars`` 1..500.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from blofin_stack.strategies.base import (
    Param,
    ParamValue,
    Strategy,
    atr_exits,
    crossed_above,
    crossed_below,
    max_hold_param,
    signal_frame,
    stop_atr_param,
    take_atr_param,
)


class VolumeBreakout(Strategy):
    name = "volume_breakout"
    description = "Donchian-channel breakout confirmed by a volume spike; exit below/above EMA(21)."
    timeframes = ("5m", "15m")
    params = {
        "channel": Param(20, 5, 200, 1, "Donchian channel length (bars before the current one)"),
        "volume_mult": Param(2.0, 1, 10, 0.25, "minimum volume / 20-bar average volume"),
        "stop_atr": stop_atr_param(2.0),
        "take_atr": take_atr_param(4.0),
        "max_hold_bars": max_hold_param(48),
    }
    required_features = (
        "donchian_high_{channel}",
        "donchian_low_{channel}",
        "volume_ratio",
        "ema_21",
        "atr_pct_14",
    )

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        channel = int(params["channel"])
        prior_high = features[f"donchian_high_{channel}"].shift(1)
        prior_low = features[f"donchian_low_{channel}"].shift(1)
        loud = features["volume_ratio"] >= float(params["volume_mult"])
        close = features["close"]
        ema = features["ema_21"]
        return signal_frame(
            features.index,
            entry_long=loud & (close > prior_high),
            entry_short=loud & (close < prior_low),
            exit_long=crossed_below(close, ema),
            exit_short=crossed_above(close, ema),
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
