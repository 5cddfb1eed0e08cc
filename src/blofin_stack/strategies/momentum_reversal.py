"""``momentum_reversal``: buy exhaustion after a sharp fall, sell it after a sharp rise.

Idea: after a fast move RSI reaches an extreme; the first bar that closes against the move (a
reversal candle) often starts a snap-back.
Entry: long when RSI(``rsi_period``) is below ``oversold``, the rate of change over ``roc_period``
bars is negative, and the bar closes above its open; short on the mirror condition (RSI above
``100 - oversold``, positive ROC, bar closes below its open).
Exit: RSI crosses 50 in the trade's favour; stop at ``stop_atr`` and target at ``take_atr`` times
ATR(14); at most ``max_hold_bars`` bars.
Parameters: ``rsi_period`` 2..30, ``roc_period`` 2..50, ``oversold`` 5..40, ``stop_atr`` 0.5..5,
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


class MomentumReversal(Strategy):
    name = "momentum_reversal"
    description = "RSI exhaustion plus a reversal candle; exit when RSI crosses 50; ATR stop and target."
    timeframes = ("5m", "15m")
    params = {
        "rsi_period": Param(7, 2, 30, 1, "RSI period (bars)"),
        "roc_period": Param(12, 2, 50, 1, "rate-of-change period (bars)"),
        "oversold": Param(25.0, 5, 40, 1, "RSI extreme; the short side uses 100 - oversold"),
        "stop_atr": stop_atr_param(1.5),
        "take_atr": take_atr_param(3.0),
        "max_hold_bars": max_hold_param(24),
    }
    required_features = ("rsi_{rsi_period}", "roc_{roc_period}", "atr_pct_14")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        rsi = features[f"rsi_{params['rsi_period']}"]
        roc = features[f"roc_{params['roc_period']}"]
        oversold = float(params["oversold"])
        bullish_bar = features["close"] > features["open"]
        bearish_bar = features["close"] < features["open"]
        return signal_frame(
            features.index,
            entry_long=(rsi < oversold) & (roc < 0) & bullish_bar,
            entry_short=(rsi > 100 - oversold) & (roc > 0) & bearish_bar,
            exit_long=crossed_above(rsi, 50.0),
            exit_short=crossed_below(rsi, 50.0),
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
