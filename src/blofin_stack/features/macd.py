"""MACD features: Appel's moving average convergence/divergence (12, 26, 9).

The ``*_pct`` versions divide by the close (percent of price), so they are comparable across instruments
and can be pooled in one model; the raw lines are in USDT.
"""

from __future__ import annotations

import pandas as pd
import talib

from blofin_stack.features.registry import feature, strict_ema_warmup

_SOURCE = "TA-Lib MACD(close, 12, 26, 9) (Appel)"
#: The MACD line is a small difference of two price EMAs, so their seeds' errors are large next to it;
#: the signal line is an EMA(9) of the MACD line, so its warm-up chains after the slow EMA's.
_LINE_WARMUP = strict_ema_warmup(26)
_SIGNAL_WARMUP = _LINE_WARMUP + strict_ema_warmup(9)


def _macd(ohlcv: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(macd line, signal line, histogram)."""
    return talib.MACD(ohlcv["close"], 12, 26, 9)


@feature(
    "macd_12_26",
    "macd",
    warmup_bars=_LINE_WARMUP,
    description="MACD line: EMA(12) - EMA(26) of the close",
    units="USDT",
    source=_SOURCE,
)
def macd_12_26(ohlcv: pd.DataFrame) -> pd.Series:
    return _macd(ohlcv)[0]


@feature(
    "macd_signal_9",
    "macd",
    warmup_bars=_SIGNAL_WARMUP,
    description="MACD signal line: EMA(9) of the MACD line",
    units="USDT",
    source=_SOURCE,
)
def macd_signal_9(ohlcv: pd.DataFrame) -> pd.Series:
    return _macd(ohlcv)[1]


@feature(
    "macd_histogram",
    "macd",
    warmup_bars=_SIGNAL_WARMUP,
    description="MACD histogram: MACD line - signal line",
    units="USDT",
    source=_SOURCE,
)
def macd_histogram(ohlcv: pd.DataFrame) -> pd.Series:
    return _macd(ohlcv)[2]


def _pct_of_close(ohlcv: pd.DataFrame, line: pd.Series) -> pd.Series:
    return line / ohlcv["close"] * 100


@feature(
    "macd_pct",
    "macd",
    warmup_bars=_LINE_WARMUP,
    description="MACD line as a percentage of the close: macd_12_26 / close * 100",
    units="percent",
    source=f"{_SOURCE} / close * 100",
)
def macd_pct(ohlcv: pd.DataFrame) -> pd.Series:
    return _pct_of_close(ohlcv, macd_12_26(ohlcv))


@feature(
    "macd_signal_pct",
    "macd",
    warmup_bars=_SIGNAL_WARMUP,
    description="MACD signal line as a percentage of the close: macd_signal_9 / close * 100",
    units="percent",
    source=f"{_SOURCE} / close * 100",
)
def macd_signal_pct(ohlcv: pd.DataFrame) -> pd.Series:
    return _pct_of_close(ohlcv, macd_signal_9(ohlcv))


@feature(
    "macd_hist_pct",
    "macd",
    warmup_bars=_SIGNAL_WARMUP,
    description="MACD histogram as a percentage of the close: macd_histogram / close * 100",
    units="percent",
    source=f"{_SOURCE} / close * 100",
)
def macd_hist_pct(ohlcv: pd.DataFrame) -> pd.Series:
    return _pct_of_close(ohlcv, macd_histogram(ohlcv))


@feature(
    "macd_hist_slope",
    "macd",
    warmup_bars=_SIGNAL_WARMUP + 1,
    description="Change of the MACD histogram over 1 bar: macd_histogram[t] - macd_histogram[t-1]",
    units="USDT per bar",
    source=f"{_SOURCE}; first difference of the histogram",
)
def macd_hist_slope(ohlcv: pd.DataFrame) -> pd.Series:
    return macd_histogram(ohlcv).diff()
