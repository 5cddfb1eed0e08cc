"""Oscillators: slow, fast and RSI stochastics, Commodity Channel Index, Williams %R and the detrended
price oscillator.

TA-Lib's STOCH/STOCHF emit %K and %D from the same bar (the lookback of the whole function), so both
lines share one warm-up.
"""

from __future__ import annotations

import pandas as pd
import talib

from blofin_stack.features.registry import REGISTRY, family, feature, strict_wilder_warmup

STOCH_K, STOCH_SLOW_K, STOCH_D = 14, 3, 3
_SMA = talib.MA_Type.SMA
_STOCH_SOURCE = "TA-Lib STOCH(high, low, close, 14, 3, SMA, 3, SMA) (Lane)"
#: TA-Lib emits %K and %D from the same bar: 14-bar range, then two SMA(3) smoothings.
_STOCH_WARMUP = (STOCH_K - 1) + (STOCH_SLOW_K - 1) + (STOCH_D - 1)
_FAST_STOCH_WARMUP = (STOCH_K - 1) + (STOCH_D - 1)
STOCHRSI_RSI = 14
#: RSI (strict Wilder warm-up), then the 14-bar stochastic of it and two SMA(3) smoothings.
_STOCHRSI_WARMUP = strict_wilder_warmup(STOCHRSI_RSI) + _STOCH_WARMUP
DPO_PERIOD = 20


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


for _name in ("cci_14", "cci_20"):
    REGISTRY.register(REGISTRY.resolve(_name))


@feature(
    "williams_r",
    "oscillators",
    warmup_bars=13,
    description="Williams %R over 14 bars: (highest high - close) / (highest high - lowest low) * -100",
    units="-100..0",
    source="TA-Lib WILLR(high, low, close, 14)",
)
def williams_r(ohlcv: pd.DataFrame) -> pd.Series:
    return williams_r_n(ohlcv, 14)


@family(
    "williams_r_{n}",
    "oscillators",
    warmup=lambda n: n - 1,
    description="Williams %R over {n} bars: (highest high - close) / (highest high - lowest low) * -100",
    units="-100..0",
    source="TA-Lib WILLR(high, low, close, n)",
    min_n=2,
)
def williams_r_n(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.WILLR(ohlcv["high"], ohlcv["low"], ohlcv["close"], n)


def _stoch_fast(ohlcv: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(fast %K, fast %D): raw %K over 14 bars and its SMA(3)."""
    return talib.STOCHF(ohlcv["high"], ohlcv["low"], ohlcv["close"], STOCH_K, STOCH_D, _SMA)


_STOCHF_SOURCE = "TA-Lib STOCHF(high, low, close, 14, 3, SMA) (Lane)"


@feature(
    "stoch_fast_k",
    "oscillators",
    warmup_bars=_FAST_STOCH_WARMUP,
    description="Fast stochastic %K (14): the close's position in the 14-bar high-low range, unsmoothed",
    units="0-100",
    source=_STOCHF_SOURCE,
)
def stoch_fast_k(ohlcv: pd.DataFrame) -> pd.Series:
    return _stoch_fast(ohlcv)[0]


@feature(
    "stoch_fast_d",
    "oscillators",
    warmup_bars=_FAST_STOCH_WARMUP,
    description="Fast stochastic %D: SMA(3) of stoch_fast_k",
    units="0-100",
    source=_STOCHF_SOURCE,
)
def stoch_fast_d(ohlcv: pd.DataFrame) -> pd.Series:
    return _stoch_fast(ohlcv)[1]


def _stochrsi(ohlcv: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(%K, %D) of the stochastic RSI (14, 14, 3, 3): the slow stochastic applied to RSI(14)."""
    rsi = talib.RSI(ohlcv["close"], STOCHRSI_RSI)
    return talib.STOCH(rsi, rsi, rsi, STOCH_K, STOCH_SLOW_K, _SMA, STOCH_D, _SMA)


_STOCHRSI_SOURCE = (
    "TA-Lib STOCH(rsi, rsi, rsi, 14, 3, SMA, 3, SMA) of TA-Lib RSI(close, 14) (Chande & Kroll 1994; "
    "14,14,3,3 as charting packages show it - TA-Lib STOCHRSI has no %K smoothing)"
)


@feature(
    "stochrsi_k",
    "oscillators",
    warmup_bars=_STOCHRSI_WARMUP,
    description="Stochastic RSI %K (14, 14, 3): SMA(3) of RSI(14)'s position in its 14-bar range",
    units="0-100",
    source=_STOCHRSI_SOURCE,
)
def stochrsi_k(ohlcv: pd.DataFrame) -> pd.Series:
    return _stochrsi(ohlcv)[0]


@feature(
    "stochrsi_d",
    "oscillators",
    warmup_bars=_STOCHRSI_WARMUP,
    description="Stochastic RSI %D: SMA(3) of stochrsi_k",
    units="0-100",
    source=_STOCHRSI_SOURCE,
)
def stochrsi_d(ohlcv: pd.DataFrame) -> pd.Series:
    return _stochrsi(ohlcv)[1]


@feature(
    "dpo_20",
    "oscillators",
    warmup_bars=(DPO_PERIOD - 1) + DPO_PERIOD // 2 + 1,
    description=(
        "Detrended price oscillator, causal form: close minus the SMA(20) of 11 bars ago, "
        "close[t] - sma_20[t - 11] (the centred charting form, which lines the SMA up half a window later, looks ahead)"
    ),
    units="USDT",
    source="close[t] - TA-Lib SMA(close, 20)[t - (20 // 2 + 1)]",
)
def dpo_20(ohlcv: pd.DataFrame) -> pd.Series:
    return ohlcv["close"] - talib.SMA(ohlcv["close"], DPO_PERIOD).shift(DPO_PERIOD // 2 + 1)
