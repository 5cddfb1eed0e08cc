"""Trend features: moving averages, Donchian channel, Ichimoku (causal parts), Parabolic SAR distance,
linear-regression slope and moving-average trend direction.

``sma_{n}``, ``ema_{n}``, ``wma_{n}``, ``dema_{n}``, ``tema_{n}``, ``kama_{n}``, ``donchian_high_{n}`` and
``donchian_low_{n}`` are parameterised families; their common members are also registered as exact features.

Ichimoku: only the parts known at bar t. The leading spans are taken AS DISPLAYED at bar t, i.e. computed
26 bars earlier and shifted forward in time (``shift(+26)``, causal). The lagging span (chikou: today's
close plotted 26 bars back) is left out: aligned to the bar it is plotted at, it is the future.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import talib

from blofin_stack.features.registry import REGISTRY, WARMUP_TOLERANCE, ema_warmup, family, feature, strict_ema_warmup

TENKAN, KIJUN, SENKOU_B, DISPLACEMENT = 9, 26, 52, 26
#: Kaufman's slowest smoothing constant, (2 / (30 + 1))^2: the least weight KAMA can give a new bar.
KAMA_SLOWEST = (2 / 31) ** 2
SAR_WARMUP = 400


@family(
    "sma_{n}",
    "trend",
    warmup=lambda n: n - 1,
    description="Simple moving average of the close over {n} bars",
    units="USDT",
    source="TA-Lib SMA(close, n)",
    min_n=2,
)
def sma(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.SMA(ohlcv["close"], n)


@family(
    "ema_{n}",
    "trend",
    warmup=ema_warmup,
    description="Exponential moving average of the close over {n} bars (alpha = 2/({n}+1), SMA seed)",
    units="USDT",
    source="TA-Lib EMA(close, n)",
    min_n=2,
)
def ema(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.EMA(ohlcv["close"], n)


@family(
    "donchian_high_{n}",
    "trend",
    warmup=lambda n: n - 1,
    description="Donchian upper band: highest high of the {n} bars up to and including this one",
    units="USDT",
    source="TA-Lib MAX(high, n) (Donchian channel)",
    min_n=2,
)
def donchian_high(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.MAX(ohlcv["high"], n)


@family(
    "donchian_low_{n}",
    "trend",
    warmup=lambda n: n - 1,
    description="Donchian lower band: lowest low of the {n} bars up to and including this one",
    units="USDT",
    source="TA-Lib MIN(low, n) (Donchian channel)",
    min_n=2,
)
def donchian_low(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.MIN(ohlcv["low"], n)


def kama_warmup(n: int) -> int:
    """``n`` plus the bars after which KAMA's seed weighs less than 1e-6 even at the slowest constant."""
    return n + math.ceil(math.log(WARMUP_TOLERANCE) / math.log(1 - KAMA_SLOWEST))


@family(
    "wma_{n}",
    "trend",
    warmup=lambda n: n - 1,
    description="Linearly weighted moving average of the close over {n} bars (newest bar weight {n})",
    units="USDT",
    source="TA-Lib WMA(close, n)",
    min_n=2,
)
def wma(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.WMA(ohlcv["close"], n)


@family(
    "dema_{n}",
    "trend",
    warmup=lambda n: 2 * ema_warmup(n),  # EMA of an EMA: the two warm-ups chain
    description="Double exponential moving average over {n} bars: 2 * EMA - EMA(EMA)",
    units="USDT",
    source="TA-Lib DEMA(close, n) (Mulloy 1994)",
    min_n=2,
)
def dema(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.DEMA(ohlcv["close"], n)


@family(
    "tema_{n}",
    "trend",
    warmup=lambda n: 3 * ema_warmup(n),  # three chained EMAs
    description="Triple exponential moving average over {n} bars: 3 * EMA - 3 * EMA(EMA) + EMA(EMA(EMA))",
    units="USDT",
    source="TA-Lib TEMA(close, n) (Mulloy 1994)",
    min_n=2,
)
def tema(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.TEMA(ohlcv["close"], n)


@family(
    "kama_{n}",
    "trend",
    warmup=kama_warmup,
    description=(
        "Kaufman adaptive moving average over {n} bars (efficiency ratio over {n} bars, smoothing constants "
        "2/3 to 2/31); warm-up bounded for the slowest constant"
    ),
    units="USDT",
    source="TA-Lib KAMA(close, n) (Kaufman 1995)",
    min_n=2,
)
def kama(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.KAMA(ohlcv["close"], n)


for _name in (
    "ema_9",
    "ema_21",
    "ema_50",
    "ema_200",
    "sma_20",
    "sma_50",
    "sma_100",
    "sma_200",
    "donchian_high_20",
    "donchian_low_20",
):
    REGISTRY.register(REGISTRY.resolve(_name))


@feature(
    "trend_direction",
    "trend",
    warmup_bars=max(ema_warmup(21), 50 - 1),
    description="Sign of ema_21 - sma_50: +1 fast average above the slow one (uptrend), -1 below, 0 equal",
    units="sign -1/0/+1",
    source="sign(TA-Lib EMA(close, 21) - TA-Lib SMA(close, 50))",
)
def trend_direction(ohlcv: pd.DataFrame) -> pd.Series:
    return np.sign(ema(ohlcv, 21) - sma(ohlcv, 50))


def _pct_above(value: pd.Series, reference: pd.Series) -> pd.Series:
    """How far ``value`` is above ``reference``, in percent: (value / reference - 1) * 100."""
    return (value / reference - 1) * 100


@feature(
    "close_to_sma_50",
    "trend",
    warmup_bars=50 - 1,
    description="Distance of the close from sma_50: (close / sma_50 - 1) * 100",
    units="percent",
    source="(close / TA-Lib SMA(close, 50) - 1) * 100",
)
def close_to_sma_50(ohlcv: pd.DataFrame) -> pd.Series:
    return _pct_above(ohlcv["close"], sma(ohlcv, 50))


@feature(
    "close_to_ema_21",
    "trend",
    # a small difference of price levels: the EMA seed's error is large next to it
    warmup_bars=strict_ema_warmup(21),
    description="Distance of the close from ema_21: (close / ema_21 - 1) * 100",
    units="percent",
    source="(close / TA-Lib EMA(close, 21) - 1) * 100",
)
def close_to_ema_21(ohlcv: pd.DataFrame) -> pd.Series:
    return _pct_above(ohlcv["close"], ema(ohlcv, 21))


@feature(
    "ema_9_21_spread",
    "trend",
    warmup_bars=strict_ema_warmup(21),
    description="Spread of the fast over the slow EMA: (ema_9 / ema_21 - 1) * 100",
    units="percent",
    source="(TA-Lib EMA(close, 9) / TA-Lib EMA(close, 21) - 1) * 100",
)
def ema_9_21_spread(ohlcv: pd.DataFrame) -> pd.Series:
    return _pct_above(ema(ohlcv, 9), ema(ohlcv, 21))


@feature(
    "linreg_slope_14",
    "trend",
    warmup_bars=14 - 1,
    description="Slope of the least-squares line through the last 14 closes, as a percentage of the close",
    units="percent per bar",
    source="TA-Lib LINEARREG_SLOPE(close, 14) / close * 100",
)
def linreg_slope_14(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.LINEARREG_SLOPE(ohlcv["close"], 14) / ohlcv["close"] * 100


@feature(
    "donchian_width_20",
    "trend",
    warmup_bars=20 - 1,
    description="Donchian channel width over 20 bars: (highest high - lowest low) / close * 100",
    units="percent",
    source="(TA-Lib MAX(high, 20) - TA-Lib MIN(low, 20)) / close * 100 (Donchian channel)",
)
def donchian_width_20(ohlcv: pd.DataFrame) -> pd.Series:
    return (donchian_high(ohlcv, 20) - donchian_low(ohlcv, 20)) / ohlcv["close"] * 100


@feature(
    "sar_distance",
    "trend",
    # Empirical: SAR is a state machine with no analytic bound. Runs started at different bars agree
    # exactly once both reverse on the same bar (the SAR resets to the same extreme point); over 16
    # instruments x 1m..4H x 60 starts the latest agreement came after 164 bars.
    warmup_bars=SAR_WARMUP,
    description="Distance of the close from Wilder's Parabolic SAR (0.02, max 0.2): (close / sar - 1) * 100",
    units="percent",
    source="(close / TA-Lib SAR(high, low, 0.02, 0.2) - 1) * 100 (Wilder 1978)",
)
def sar_distance(ohlcv: pd.DataFrame) -> pd.Series:
    return _pct_above(ohlcv["close"], talib.SAR(ohlcv["high"], ohlcv["low"], 0.02, 0.2))


def _midpoint(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    """Ichimoku's midpoint of the last ``n`` bars: (highest high + lowest low) / 2."""
    return talib.MIDPRICE(ohlcv["high"], ohlcv["low"], n)


_ICHIMOKU_SOURCE = "Ichimoku Kinko Hyo (Hosoda, 1969): TA-Lib MIDPRICE(high, low, n)"


@feature(
    "ichimoku_tenkan",
    "trend",
    warmup_bars=TENKAN - 1,
    description="Ichimoku conversion line (tenkan-sen): (9-bar highest high + 9-bar lowest low) / 2",
    units="USDT",
    source=_ICHIMOKU_SOURCE,
)
def ichimoku_tenkan(ohlcv: pd.DataFrame) -> pd.Series:
    return _midpoint(ohlcv, TENKAN)


@feature(
    "ichimoku_kijun",
    "trend",
    warmup_bars=KIJUN - 1,
    description="Ichimoku base line (kijun-sen): (26-bar highest high + 26-bar lowest low) / 2",
    units="USDT",
    source=_ICHIMOKU_SOURCE,
)
def ichimoku_kijun(ohlcv: pd.DataFrame) -> pd.Series:
    return _midpoint(ohlcv, KIJUN)


@feature(
    "ichimoku_senkou_a",
    "trend",
    warmup_bars=KIJUN - 1 + DISPLACEMENT,
    description="Ichimoku leading span A as displayed at this bar: (tenkan + kijun) / 2 of 26 bars ago",
    units="USDT",
    source=f"{_ICHIMOKU_SOURCE}; ((tenkan + kijun) / 2).shift(+26)",
)
def ichimoku_senkou_a(ohlcv: pd.DataFrame) -> pd.Series:
    return ((ichimoku_tenkan(ohlcv) + ichimoku_kijun(ohlcv)) / 2).shift(DISPLACEMENT)


@feature(
    "ichimoku_senkou_b",
    "trend",
    warmup_bars=SENKOU_B - 1 + DISPLACEMENT,
    description="Ichimoku leading span B as displayed at this bar: the 52-bar midpoint of 26 bars ago",
    units="USDT",
    source=f"{_ICHIMOKU_SOURCE}; midpoint(52).shift(+26)",
)
def ichimoku_senkou_b(ohlcv: pd.DataFrame) -> pd.Series:
    return _midpoint(ohlcv, SENKOU_B).shift(DISPLACEMENT)


@feature(
    "ichimoku_cloud_position",
    "trend",
    warmup_bars=SENKOU_B - 1 + DISPLACEMENT,
    description="Close against the cloud displayed at this bar: +1 above both leading spans, -1 below both, 0 inside",
    units="sign -1/0/+1",
    source=f"{_ICHIMOKU_SOURCE}; sign against senkou A and B",
)
def ichimoku_cloud_position(ohlcv: pd.DataFrame) -> pd.Series:
    span_a, span_b = ichimoku_senkou_a(ohlcv), ichimoku_senkou_b(ohlcv)
    close = ohlcv["close"]
    position = (close > np.maximum(span_a, span_b)).astype("float64") - (close < np.minimum(span_a, span_b))
    return position.mask(span_a.isna() | span_b.isna())
