"""``reversal``: fade an oscillator extreme once a reversal bar appears.

Idea: Larry Williams' %R at an extreme says the close sits at the edge of the recent range; a bar
that then closes back through the previous bar's extreme (a reversal bar) is the first sign that the
push has run out. Unlike ``momentum_reversal`` (RSI plus rate of change), this reads the position of
the close in the high-low range and asks for a price-action trigger.
Entry: long when Williams %R(``wr_period``) was at or below ``oversold`` on one of the previous
``recent_bars`` bars (the close at the very bottom of its range) and the current bar is a bullish
reversal bar: it closes above its open and above the previous bar's high; short on the mirror
condition (%R at or above ``-100 - oversold``, a bar closing below its open and the previous low).
Exit: %R crosses -50 in the trade's favour (price back at the middle of its range); stop at
``stop_atr`` and target at ``take_atr`` times ATR(14); at most ``max_hold_bars`` bars.
Parameters: ``wr_period`` 5..50, ``oversold`` -99..-60, ``recent_bars`` 1..10, ``stop_atr`` 0.5..5,
``take_atr`` 0..10, ``max_hold_bars`` 1..500.
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


class Reversal(Strategy):
    name = "reversal"
    description = "Williams %R extreme followed by a reversal bar; exit at the middle of the range; ATR exits."
    timeframes = ("5m", "15m")
    params = {
        "wr_period": Param(14, 5, 50, 1, "Williams %R period (bars)"),
        "oversold": Param(-95.0, -99, -60, 1, "%R at or below this is oversold; overbought is -100 - oversold"),
        "recent_bars": Param(1, 1, 10, 1, "the extreme must lie within this many bars before the reversal bar"),
        "stop_atr": stop_atr_param(1.5),
        "take_atr": take_atr_param(3.0),
        "max_hold_bars": max_hold_param(24),
    }
    required_features = ("williams_r_{wr_period}", "atr_pct_14")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        wr = features[f"williams_r_{params['wr_period']}"]  # -100 (at the low) .. 0 (at the high)
        oversold = float(params["oversold"])
        overbought = -100.0 - oversold
        recent = int(params["recent_bars"])
        was_oversold = wr.shift(1).rolling(recent).min() <= oversold
        was_overbought = wr.shift(1).rolling(recent).max() >= overbought
        open_, high, low, close = features["open"], features["high"], features["low"], features["close"]
        bullish_reversal = (close > open_) & (close > high.shift(1))
        bearish_reversal = (close < open_) & (close < low.shift(1))
        return signal_frame(
            features.index,
            entry_long=was_oversold & bullish_reversal,
            entry_short=was_overbought & bearish_reversal,
            exit_long=crossed_above(wr, -50.0),
            exit_short=crossed_below(wr, -50.0),
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
