"""``mtf_momentum_confirm``: 15m momentum bursts taken only when the 4H trend agrees.

Idea: a short-term momentum burst is more likely to carry on when it points the way of the larger
trend. The trend is read on closed 4H bars (``4H:close`` against ``4H:ema_21``, joined onto the 15m
bars causally); the burst is the 15m rate of change crossing a threshold given in ATR units (ROC in
percent against ATR(14) in percent of price), so one value fits quiet and volatile instruments.
Entry: long when ROC(``roc_period``) crosses above ``threshold_atr`` x ATR%(14) while the last closed
4H bar closed above its EMA(``trend_period``) and that EMA rose from the previous 4H bar; short when
ROC crosses below ``-threshold_atr`` x ATR%(14) while the 4H close is below a falling 4H EMA.
Exit: ROC back through zero against the trade, or the 4H trend no longer agrees (4H close on the
other side of its EMA); stop at ``stop_atr`` and target at ``take_atr`` times ATR(14); at most
``max_hold_bars`` bars.
Parameters: ``roc_period`` 3..100, ``threshold_atr`` 0.5..10, ``trend_period`` 5..100, ``stop_atr``
0.5..5, ``take_atr`` 0..10, ``max_hold_bars`` 1..500.
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
from blofin_stack.strategies.mtf_trend_align import previous_higher_value


class MtfMomentumConfirm(Strategy):
    name = "mtf_momentum_confirm"
    description = "15m ROC beyond an ATR-scaled threshold, only with the 4H close on the same side of a sloping 4H EMA."
    timeframes = ("15m",)
    params = {
        "roc_period": Param(8, 3, 100, 1, "rate-of-change period on the strategy's bars"),
        "threshold_atr": Param(1.5, 0.5, 10, 0.25, "ROC threshold in multiples of ATR(14) in percent of price"),
        "trend_period": Param(21, 5, 100, 1, "period of the 4H EMA trend filter (4H bars)"),
        "stop_atr": stop_atr_param(2.0),
        "take_atr": take_atr_param(4.0),
        "max_hold_bars": max_hold_param(64),
    }
    required_features = ("roc_{roc_period}", "4H:close", "4H:ema_{trend_period}", "atr_pct_14")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        roc = features[f"roc_{params['roc_period']}"]  # percent
        threshold = float(params["threshold_atr"]) * features["atr_pct_14"]  # percent
        close_4h = features["4H:close"]
        ema_4h = features[f"4H:ema_{params['trend_period']}"]
        previous = previous_higher_value(ema_4h)
        up = (close_4h > ema_4h) & (ema_4h > previous)
        down = (close_4h < ema_4h) & (ema_4h < previous)
        return signal_frame(
            features.index,
            entry_long=crossed_above(roc, threshold) & up,
            entry_short=crossed_below(roc, -threshold) & down,
            exit_long=(roc < 0) | (close_4h < ema_4h),
            exit_short=(roc > 0) | (close_4h > ema_4h),
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
