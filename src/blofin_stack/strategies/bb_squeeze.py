"""``bb_squeeze``: trade the breakout that follows a Bollinger Band squeeze.

Idea: volatility contracts before it expands (John Bollinger's "squeeze"). When the band width has
recently been among its narrowest, a close outside the bands starts a move.
Entry: long when the close crosses above the upper band (20, 2) and the band width was at or below
its rolling ``squeeze_quantile`` over ``squeeze_lookback`` bars at some bar of the last
``recent_bars``; short on a close crossing below the lower band under the same condition.
Exit: the close crosses the middle band against the trade; stop at ``stop_atr`` x ATR(14), optional
target at ``take_atr`` x ATR; at most ``max_hold_bars`` bars.
Parameters: ``squeeze_lookback`` 20..500, ``squeeze_quantile`` 0.05..0.5, ``recent_bars`` 1..50,
``stop_atr`` 0.5..5, ``take_atr`` 0..10, ``max_hold_bars`` 1..500.
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


class BbSqueeze(Strategy):
    name = "bb_squeeze"
    description = "Breakout from a Bollinger Band squeeze; exit at the middle band; ATR stop."
    timeframes = ("5m", "1H")
    params = {
        "squeeze_lookback": Param(120, 20, 500, 10, "window of the band-width quantile (bars)"),
        "squeeze_quantile": Param(0.2, 0.05, 0.5, 0.05, "band width at or below this quantile is a squeeze"),
        "recent_bars": Param(10, 1, 50, 1, "a squeeze within this many bars arms the breakout"),
        "stop_atr": stop_atr_param(2.0),
        "take_atr": take_atr_param(0.0),
        "max_hold_bars": max_hold_param(96),
    }
    required_features = ("bbands_upper", "bbands_middle", "bbands_lower", "bbands_width", "atr_pct_14")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        width = features["bbands_width"]
        threshold = width.rolling(int(params["squeeze_lookback"])).quantile(float(params["squeeze_quantile"]))
        armed = (width <= threshold).astype(float).rolling(int(params["recent_bars"])).max() > 0
        close = features["close"]
        middle = features["bbands_middle"]
        return signal_frame(
            features.index,
            entry_long=armed & crossed_above(close, features["bbands_upper"]),
            entry_short=armed & crossed_below(close, features["bbands_lower"]),
            exit_long=crossed_below(close, middle),
            exit_short=crossed_above(close, middle),
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
