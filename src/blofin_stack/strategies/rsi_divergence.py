"""``rsi_divergence``: fade a new price extreme that RSI does not confirm.

Idea: when price makes a new low over the lookback window but RSI stays above its own low of that
window, selling pressure is fading (bullish divergence); mirror image for shorts.
Entry: long when the bar's low is the lowest of the last ``lookback`` bars, RSI is above its minimum
over the previous ``lookback`` bars and below ``oversold``; short on the mirror condition with
``overbought``.
Exit: RSI crosses ``exit_level`` (50) in the trade's favour; stop and target at ``stop_atr`` and
``take_atr`` times ATR(14); at most ``max_hold_bars`` bars.
Parameters: ``rsi_period`` 5..30, ``lookback`` 5..100, ``oversold`` 10..50, ``overbought`` 50..90,
``exit_level`` 30..70, ``stop_atr`` 0.5..5, ``take_atr`` 0..10, ``max_hold_bars`` 1..500.
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


class RsiDivergence(Strategy):
    name = "rsi_divergence"
    description = "Fade new price extremes that RSI does not confirm (RSI divergence); ATR stops."
    timeframes = ("5m", "15m")
    params = {
        "rsi_period": Param(14, 5, 30, 1, "RSI period (bars)"),
        "lookback": Param(20, 5, 100, 1, "window of the price and RSI extremes (bars)"),
        "oversold": Param(40.0, 10, 50, 1, "RSI below which a bullish divergence counts"),
        "overbought": Param(60.0, 50, 90, 1, "RSI above which a bearish divergence counts"),
        "exit_level": Param(50.0, 30, 70, 1, "RSI level whose crossing closes the trade"),
        "stop_atr": stop_atr_param(2.0),
        "take_atr": take_atr_param(4.0),
        "max_hold_bars": max_hold_param(48),
    }
    required_features = ("rsi_{rsi_period}", "atr_pct_14")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        rsi = features[f"rsi_{params['rsi_period']}"]
        n = int(params["lookback"])
        new_low = features["low"] <= features["low"].rolling(n).min()
        new_high = features["high"] >= features["high"].rolling(n).max()
        rsi_higher_low = rsi > rsi.shift(1).rolling(n).min()
        rsi_lower_high = rsi < rsi.shift(1).rolling(n).max()
        exit_level = float(params["exit_level"])
        return signal_frame(
            features.index,
            entry_long=new_low & rsi_higher_low & (rsi < float(params["oversold"])),
            entry_short=new_high & rsi_lower_high & (rsi > float(params["overbought"])),
            exit_long=crossed_above(rsi, exit_level),
            exit_short=crossed_below(rsi, exit_level),
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
