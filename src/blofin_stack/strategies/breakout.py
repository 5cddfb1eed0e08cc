"""``breakout``: trade a close beyond the recent price channel when the market is trending.

Idea: Richard Donchian's channel breakout, the core of the Turtle rules: a close above the highest
high of the previous ``channel`` bars starts a move more often when the market is already trending.
Unlike ``volume_breakout`` (which needs a volume spike), the filter here is trend strength and
direction: ADX(14) at least ``adx_min`` and the close on the breakout's side of EMA(``trend_period``).
Entry: long when the close exceeds the highest high of the previous ``channel`` bars (the current bar
excluded), ADX(14) >= ``adx_min`` and the close is above EMA(``trend_period``); short on the mirror
break of the lowest low with the close below the EMA.
Exit: the Turtles' shorter channel: the close crosses below the lowest low of the previous
``exit_channel`` bars (long) or above their highest high (short); stop at ``stop_atr`` x ATR(14),
optional target at ``take_atr`` x ATR; at most ``max_hold_bars`` bars.
Parameters: ``channel`` 10..200, ``exit_channel`` 5..100, ``adx_min`` 0..50, ``trend_period`` 10..400,
``stop_atr`` 0.5..5, ``take_atr`` 0..10, ``max_hold_bars`` 1..1000.
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


class Breakout(Strategy):
    name = "breakout"
    description = "Donchian-channel breakout filtered by ADX trend strength and an EMA; exit on the shorter channel."
    timeframes = ("15m", "1H")
    params = {
        "channel": Param(20, 10, 200, 1, "entry channel length (bars before the current one)"),
        "exit_channel": Param(10, 5, 100, 1, "exit channel length (bars before the current one)"),
        "adx_min": Param(20.0, 0, 50, 1, "minimum ADX(14): the market must be trending"),
        "trend_period": Param(50, 10, 400, 10, "EMA period the close must be on the breakout's side of (bars)"),
        "stop_atr": stop_atr_param(2.0),
        "take_atr": take_atr_param(0.0),
        "max_hold_bars": max_hold_param(96, 1000),
    }
    required_features = (
        "donchian_high_{channel}",
        "donchian_low_{channel}",
        "donchian_high_{exit_channel}",
        "donchian_low_{exit_channel}",
        "adx_14",
        "ema_{trend_period}",
        "atr_pct_14",
    )

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        channel, exit_channel = int(params["channel"]), int(params["exit_channel"])
        upper = features[f"donchian_high_{channel}"].shift(1)  # the previous bars' channel
        lower = features[f"donchian_low_{channel}"].shift(1)
        exit_upper = features[f"donchian_high_{exit_channel}"].shift(1)
        exit_lower = features[f"donchian_low_{exit_channel}"].shift(1)
        close = features["close"]
        trend = features[f"ema_{params['trend_period']}"]
        trending = features["adx_14"] >= float(params["adx_min"])
        return signal_frame(
            features.index,
            entry_long=trending & (close > upper) & (close > trend),
            entry_short=trending & (close < lower) & (close < trend),
            exit_long=close < exit_lower,
            exit_short=close > exit_upper,
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
