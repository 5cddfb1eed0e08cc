"""``macd_crossover``: follow MACD (12, 26, 9) signal-line crossings in the direction of the trend.

Idea: Gerald Appel's MACD crossing its signal line marks a change of short-term momentum; taking only
crossings on the side of a longer trend filter avoids most counter-trend whipsaws.
Entry: long when MACD crosses above its signal line while the close is above EMA(``trend_period``);
short when it crosses below while the close is below that EMA.
Exit: the opposite crossing; stop at ``stop_atr`` x ATR(14), optional target; at most
``max_hold_bars`` bars.
Parameters: ``trend_period`` 20..400, ``stop_atr`` 0.5..5, ``take_atr`` 0..10, ``max_hold_bars`` 1..1000.
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


class MacdCrossover(Strategy):
    name = "macd_crossover"
    description = "MACD(12,26,9) signal-line crossings with an EMA trend filter; exit on the opposite cross."
    timeframes = ("15m", "1H")
    params = {
        "trend_period": Param(100, 20, 400, 10, "EMA trend filter period (bars)"),
        "stop_atr": stop_atr_param(2.5),
        "take_atr": take_atr_param(0.0),
        "max_hold_bars": max_hold_param(200, 1000),
    }
    required_features = ("macd_12_26", "macd_signal_9", "ema_{trend_period}", "atr_pct_14")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        macd = features["macd_12_26"]
        signal = features["macd_signal_9"]
        trend = features[f"ema_{params['trend_period']}"]
        up = crossed_above(macd, signal)
        down = crossed_below(macd, signal)
        close = features["close"]
        return signal_frame(
            features.index,
            entry_long=up & (close > trend),
            entry_short=down & (close < trend),
            exit_long=down,
            exit_short=up,
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
