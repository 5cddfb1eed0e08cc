"""``ema_crossover``: fast/slow EMA crossings taken only in the direction of the longer trend.

Idea: the classic 9/21 EMA crossover marks a short-term change of direction; taking only crossings on
the side of a long EMA (the trend filter) avoids most counter-trend whipsaws. Unlike ``sma_cross`` it
is not always in the market: a crossing against the trend closes the open trade without reversing it.
Entry: long when EMA(``fast``) crosses above EMA(``slow``) while the close is above
EMA(``trend_period``); short when it crosses below while the close is below that EMA.
Exit: the opposite crossing; stop at ``stop_atr`` x ATR(14), optional target at ``take_atr`` x ATR;
at most ``max_hold_bars`` bars.
Parameters: ``fast`` 2..50, ``slow`` 5..200, ``trend_period`` 50..400, ``stop_atr`` 0.5..5,
``take_atr`` 0..10, ``max_hold_bars`` 1..1000.
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


class EmaCrossover(Strategy):
    name = "ema_crossover"
    description = "EMA(9)/EMA(21) crossings with an EMA(200) trend filter; exit on the opposite cross; ATR stop."
    timeframes = ("5m", "15m")
    params = {
        "fast": Param(9, 2, 50, 1, "fast EMA period (bars)"),
        "slow": Param(21, 5, 200, 1, "slow EMA period (bars)"),
        "trend_period": Param(200, 50, 400, 10, "EMA trend filter period (bars)"),
        "stop_atr": stop_atr_param(2.0),
        "take_atr": take_atr_param(0.0),
        "max_hold_bars": max_hold_param(96, 1000),
    }
    required_features = ("ema_{fast}", "ema_{slow}", "ema_{trend_period}", "atr_pct_14")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        fast = features[f"ema_{params['fast']}"]
        slow = features[f"ema_{params['slow']}"]
        trend = features[f"ema_{params['trend_period']}"]
        up, down = crossed_above(fast, slow), crossed_below(fast, slow)
        close = features["close"]
        return signal_frame(
            features.index,
            entry_long=up & (close > trend),
            entry_short=down & (close < trend),
            exit_long=down,
            exit_short=up,
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
