"""Trend features: moving averages, Donchian channel bounds and a moving-average trend direction.

``sma_{n}``, ``ema_{n}``, ``donchian_high_{n}`` and ``donchian_low_{n}`` are parameterised families; the
seed's members are also registered as exact features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from blofin_stack.features.registry import REGISTRY, ema_warmup, family, feature


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


for _name in ("ema_9", "ema_21", "sma_50", "sma_200", "donchian_high_20", "donchian_low_20"):
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
