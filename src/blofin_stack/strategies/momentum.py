"""``momentum``: join a strong move when the trend indicator confirms it.

Idea: time-series momentum: a rate of change that is large for the instrument's current volatility
tends to persist while the directional-movement system (Wilder's ADX, +DI, -DI) says the market is
trending that way. The threshold is given in ATR units (ROC in percent against ATR in percent of
price) so one value fits quiet and volatile instruments alike.
Entry: long when ROC(``roc_period``) crosses above ``threshold_atr`` x ATR%(14), ADX(14) is at least
``adx_min`` and +DI > -DI; short when ROC crosses below ``-threshold_atr`` x ATR%(14) with ADX at least
``adx_min`` and -DI > +DI.
Exit: the momentum is gone: ROC back through zero against the trade; stop at ``stop_atr`` and target
at ``take_atr`` times ATR(14); at most ``max_hold_bars`` bars.
Parameters: ``roc_period`` 3..100, ``threshold_atr`` 0.5..10, ``adx_min`` 0..50, ``stop_atr`` 0.5..5,
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


class Momentum(Strategy):
    name = "momentum"
    description = "Rate of change beyond an ATR-scaled threshold, confirmed by ADX and the DI lines; ATR exits."
    timeframes = ("15m", "1H")
    params = {
        "roc_period": Param(12, 3, 100, 1, "rate-of-change period (bars)"),
        "threshold_atr": Param(2.0, 0.5, 10, 0.25, "ROC threshold in multiples of ATR(14) in percent of price"),
        "adx_min": Param(20.0, 0, 50, 1, "minimum ADX(14): the market must be trending"),
        "stop_atr": stop_atr_param(2.0),
        "take_atr": take_atr_param(4.0),
        "max_hold_bars": max_hold_param(48),
    }
    required_features = ("roc_{roc_period}", "adx_14", "plus_di_14", "minus_di_14", "atr_pct_14")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        roc = features[f"roc_{params['roc_period']}"]  # percent
        threshold = float(params["threshold_atr"]) * features["atr_pct_14"]  # percent
        trending = features["adx_14"] >= float(params["adx_min"])
        plus_di, minus_di = features["plus_di_14"], features["minus_di_14"]
        return signal_frame(
            features.index,
            entry_long=crossed_above(roc, threshold) & trending & (plus_di > minus_di),
            entry_short=crossed_below(roc, -threshold) & trending & (minus_di > plus_di),
            exit_long=roc < 0,
            exit_short=roc > 0,
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
