"""Oscillators: slow stochastic, Commodity Channel Index and Williams %R."""

from __future__ import annotations

import pandas as pd
import talib

from blofin_stack.features.registry import REGISTRY, family, feature

STOCH_K, STOCH_SLOW_K, STOCH_D = 14, 3, 3
_SMA = talib.MA_Type.SMA
_STOCH_SOURCE = "TA-Lib STOCH(high, low, close, 14, 3, SMA, 3, SMA) (Lane)"
#: TA-Lib emits %K and %D from the same bar: 14-bar range, then two SMA(3) smoothings.
_STOCH_WARMUP = (STOCH_K - 1) + (STOCH_SLOW_K - 1) + (STOCH_D - 1)


def _stoch(ohlcv: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(slow %K, slow %D): raw %K over 14 bars smoothed by SMA(3), then %D = SMA(3) of slow %K."""
    return talib.STOCH(ohlcv["high"], ohlcv["low"], ohlcv["close"], STOCH_K, STOCH_SLOW_K, _SMA, STOCH_D, _SMA)


@feature(
    "stoch_k",
    "oscillators",
    warmup_bars=_STOCH_WARMUP,
    description="Slow stochastic %K (14, 3): SMA(3) of the close's position in the 14-bar high-low range",
    units="0-100",
    source=_STOCH_SOURCE,
)
def stoch_k(ohlcv: pd.DataFrame) -> pd.Series:
    return _stoch(ohlcv)[0]


@feature(
    "stoch_d",
    "oscillators",
    warmup_bars=_STOCH_WARMUP,
    description="Slow stochastic %D: SMA(3) of stoch_k",
    units="0-100",
    source=_STOCH_SOURCE,
)
def stoch_d(ohlcv: pd.DataFrame) -> pd.Series:
    return _stoch(ohlcv)[1]


@family(
    "cci_{n}",
    "oscillators",
    warmup=lambda n: n - 1,
    description="Commodity Channel Index over {n} bars: (typical price - SMA) / (0.015 * mean deviation)",
    units="index (about -100..100 typical)",
    source="TA-Lib CCI(high, low, close, n) (Lambert 1980)",
    min_n=2,
)
def cci(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.CCI(ohlcv["high"], ohlcv["low"], ohlcv["close"], n)


REGISTRY.register(REGISTRY.resolve("cci_20"))


@feature(
    "williams_r",
    "oscillators",
    warmup_bars=13,
    description="Williams %R over 14 bars: (highest high - close) / (highest high - lowest low) * -100",
    units="-100..0",
    source="TA-Lib WILLR(high, low, close, 14)",
)
def williams_r(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.WILLR(ohlcv["high"], ohlcv["low"], ohlcv["close"], 14)
