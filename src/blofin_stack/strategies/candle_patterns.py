"""``candle_patterns``: classic reversal candles, taken only where the oscillator agrees.

Idea: the TA-Lib reversal patterns (engulfing, hammer, piercing line, morning star and their bearish
counterparts: shooting star, hanging man, dark cloud cover, evening star) mark a turn when they appear
after a move into weakness (or strength); on their own they fire in every direction. RSI confirms the
context: a bullish pattern counts only while RSI is low, a bearish one only while it is high.
Entry: long on a bar with at least one bullish reversal pattern (``cdl_engulfing``, ``cdl_hammer``,
``cdl_piercing``, ``cdl_morning_star`` = +1) while RSI(``rsi_period``) is below ``rsi_long_max``;
short on a bar with at least one bearish pattern (``cdl_engulfing``, ``cdl_shooting_star``,
``cdl_hanging_man``, ``cdl_dark_cloud_cover``, ``cdl_evening_star`` = -1) while RSI is above
``100 - rsi_long_max``.
Exit: a pattern of the opposite direction, or RSI crosses ``100 - rsi_long_max`` (long) / ``rsi_long_max``
(short), i.e. the oscillator reaches the other side; stop at ``stop_atr`` and target at ``take_atr``
times ATR(14); at most ``max_hold_bars`` bars.
Parameters: ``rsi_period`` 5..30, ``rsi_long_max`` 20..50, ``stop_atr`` 0.5..5, ``take_atr`` 0..10,
``max_hold_bars`` 1..500.
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

#: Patterns whose +1 value is a bullish reversal.
BULLISH = ("cdl_engulfing", "cdl_hammer", "cdl_piercing", "cdl_morning_star")
#: Patterns whose -1 value is a bearish reversal.
BEARISH = ("cdl_engulfing", "cdl_shooting_star", "cdl_hanging_man", "cdl_dark_cloud_cover", "cdl_evening_star")


class CandlePatterns(Strategy):
    name = "candle_patterns"
    description = "Bullish/bearish reversal candle patterns confirmed by RSI; ATR stop and target."
    timeframes = ("5m", "15m")
    params = {
        "rsi_period": Param(14, 5, 30, 1, "RSI period (bars)"),
        "rsi_long_max": Param(35.0, 20, 50, 1, "RSI below which a bullish pattern counts; shorts use 100 - it"),
        "stop_atr": stop_atr_param(1.5),
        "take_atr": take_atr_param(3.0),
        "max_hold_bars": max_hold_param(24),
    }
    required_features = (*dict.fromkeys((*BULLISH, *BEARISH)), "rsi_{rsi_period}", "atr_pct_14")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        bullish = pd.concat([features[name] > 0 for name in BULLISH], axis=1).any(axis=1)
        bearish = pd.concat([features[name] < 0 for name in BEARISH], axis=1).any(axis=1)
        rsi = features[f"rsi_{params['rsi_period']}"]
        low, high = float(params["rsi_long_max"]), 100.0 - float(params["rsi_long_max"])
        return signal_frame(
            features.index,
            entry_long=bullish & (rsi < low),
            entry_short=bearish & (rsi > high),
            exit_long=bearish | crossed_above(rsi, high),
            exit_short=bullish | crossed_below(rsi, low),
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
