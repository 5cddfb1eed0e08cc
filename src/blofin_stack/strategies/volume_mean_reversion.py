"""``volume_mean_reversion``: fade a wide bar on a volume spike and ride the snap-back to the average.

Idea: a single wide bar on a burst of volume is often a liquidation or stop cascade, and price tends to
retrace part of it once the forced orders are done. The fade aims at the moving average the bar
stretched away from. Unlike ``volume_breakout`` (which follows a break on volume), this bets against
the move.
Entry: long when volume is at least ``volume_z`` standard deviations above its 20-bar mean
(``volume_zscore_20``), the bar's range (high - low) is at least ``range_atr`` x ATR(14), the bar closes
below its open and below SMA(``ma_period``); short on the mirror condition (an up bar above the SMA).
Exit: the close gets back to SMA(``ma_period``); stop at ``stop_atr`` x ATR(14), optional target at
``take_atr`` x ATR; at most ``max_hold_bars`` bars.
Parameters: ``volume_z`` 1..10, ``range_atr`` 0.5..5, ``ma_period`` 5..200, ``stop_atr`` 0.5..5,
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
    max_hold_param,
    signal_frame,
    stop_atr_param,
    take_atr_param,
)


class VolumeMeanReversion(Strategy):
    name = "volume_mean_reversion"
    description = "Fade wide bars on a volume spike; exit back at the SMA; ATR stop."
    timeframes = ("5m", "15m")
    params = {
        "volume_z": Param(3.0, 1, 10, 0.25, "minimum volume z-score over 20 bars"),
        "range_atr": Param(1.5, 0.5, 5, 0.25, "minimum bar range (high - low) in ATR(14)"),
        "ma_period": Param(20, 5, 200, 1, "SMA period the trade aims back at (bars)"),
        "stop_atr": stop_atr_param(2.0),
        "take_atr": take_atr_param(0.0),
        "max_hold_bars": max_hold_param(24),
    }
    required_features = ("volume_zscore_20", "sma_{ma_period}", "atr_14", "atr_pct_14")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        open_, high, low, close = features["open"], features["high"], features["low"], features["close"]
        spike = features["volume_zscore_20"] >= float(params["volume_z"])
        wide = (high - low) >= float(params["range_atr"]) * features["atr_14"]
        ma = features[f"sma_{params['ma_period']}"]
        return signal_frame(
            features.index,
            entry_long=spike & wide & (close < open_) & (close < ma),
            entry_short=spike & wide & (close > open_) & (close > ma),
            exit_long=close >= ma,
            exit_short=close <= ma,
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
