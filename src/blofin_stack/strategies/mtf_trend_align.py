"""``mtf_trend_align``: 5m RSI pullback entries taken only in the direction of the 1H trend.

Idea: buy the dip only in an uptrend, sell the rally only in a downtrend. The trend comes from the
higher timeframe: the 1H EMA(``trend_period``) computed on closed 1H bars (``1H:ema_50``, joined onto
the 5m bars causally) and its direction from one closed 1H bar to the next. The entry comes from the
5m RSI leaving its oversold (overbought) zone, the end of the pullback.
Entry: long when RSI(``rsi_period``) crosses up through ``oversold`` while the close is above the 1H
EMA and that EMA is rising (its value above the previous 1H bar's); short when RSI crosses down
through ``100 - oversold`` while the close is below a falling 1H EMA.
Exit: RSI crosses ``100 - oversold`` (long) / ``oversold`` (short): the pullback has fully unwound; or
the close crosses the 1H EMA against the trade; stop at ``stop_atr`` and target at ``take_atr`` times
ATR(14); at most ``max_hold_bars`` bars.
Parameters: ``rsi_period`` 2..30, ``oversold`` 10..45, ``trend_period`` 10..200, ``stop_atr`` 0.5..5,
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


def previous_higher_value(joined: pd.Series) -> pd.Series:
    """For a higher-timeframe feature joined onto lower bars (a step series), the value it had before
    its latest change, i.e. the previous higher bar's value (causal: shifts and forward fills only)."""
    before = joined.shift(1)
    return before.where(joined.ne(before)).ffill()


class MtfTrendAlign(Strategy):
    name = "mtf_trend_align"
    description = "5m RSI leaving oversold/overbought, only in the direction of a rising/falling 1H EMA(50)."
    timeframes = ("5m",)
    params = {
        "rsi_period": Param(14, 2, 30, 1, "RSI period on the strategy's bars"),
        "oversold": Param(30.0, 10, 45, 1, "RSI oversold level; overbought is 100 - oversold"),
        "trend_period": Param(50, 10, 200, 1, "period of the 1H EMA trend filter (1H bars)"),
        "stop_atr": stop_atr_param(2.0),
        "take_atr": take_atr_param(4.0),
        "max_hold_bars": max_hold_param(48),
    }
    required_features = ("rsi_{rsi_period}", "1H:ema_{trend_period}", "atr_pct_14")

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        rsi = features[f"rsi_{params['rsi_period']}"]
        trend = features[f"1H:ema_{params['trend_period']}"]
        previous = previous_higher_value(trend)
        close = features["close"]
        uptrend = (close > trend) & (trend > previous)
        downtrend = (close < trend) & (trend < previous)
        oversold = float(params["oversold"])
        overbought = 100.0 - oversold
        return signal_frame(
            features.index,
            entry_long=crossed_above(rsi, oversold) & uptrend,
            entry_short=crossed_below(rsi, overbought) & downtrend,
            exit_long=crossed_above(rsi, overbought) | crossed_below(close, trend),
            exit_short=crossed_below(rsi, oversold) | crossed_above(close, trend),
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
