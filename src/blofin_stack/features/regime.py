"""Regime features: directional movement (ADX, DX, +DI, -DI), trend/range flags, a volatility regime and
its flags, a combined trend regime, Kaufman's efficiency ratio and the Choppiness Index.

Flags are 0.0/1.0 floats, NaN while their inputs are still warming up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from blofin_stack.features.registry import feature, strict_wilder_warmup, wilder_warmup
from blofin_stack.features.volatility import atr_pct_14

ADX_PERIOD = 14
TRENDING_ADX = 25.0
RANGING_ADX = 20.0
VOL_REGIME_WINDOW = 500
VOL_REGIME_LOW, VOL_REGIME_HIGH = 0.25, 0.75
VOL_REGIME_WARMUP = strict_wilder_warmup(14) + VOL_REGIME_WINDOW - 1
ER_PERIOD = 10
CHOP_PERIOD = 14

#: +DI/-DI are Wilder-smoothed ranges; ADX Wilder-smooths DX built from them, so the warm-ups chain.
DI_WARMUP = strict_wilder_warmup(ADX_PERIOD)
ADX_WARMUP = DI_WARMUP + wilder_warmup(ADX_PERIOD)
_DMI_SOURCE = "Wilder's directional movement (1978)"


def _hlc(ohlcv: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    return ohlcv["high"], ohlcv["low"], ohlcv["close"]


def _flag(condition: pd.Series, *inputs: pd.Series) -> pd.Series:
    """``condition`` as 0.0/1.0, NaN where any input is NaN (still warming up)."""
    warming = pd.concat(inputs, axis=1).isna().any(axis=1)
    return condition.astype("float64").mask(warming)


@feature(
    "adx_14",
    "regime",
    warmup_bars=ADX_WARMUP,
    description="Average Directional Index over 14 bars: trend strength regardless of direction",
    units="0-100",
    source=f"TA-Lib ADX(high, low, close, 14) ({_DMI_SOURCE})",
)
def adx_14(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.ADX(*_hlc(ohlcv), ADX_PERIOD)


@feature(
    "plus_di_14",
    "regime",
    warmup_bars=DI_WARMUP,
    description="Plus directional indicator (+DI) over 14 bars",
    units="0-100",
    source=f"TA-Lib PLUS_DI(high, low, close, 14) ({_DMI_SOURCE})",
)
def plus_di_14(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.PLUS_DI(*_hlc(ohlcv), ADX_PERIOD)


@feature(
    "minus_di_14",
    "regime",
    warmup_bars=DI_WARMUP,
    description="Minus directional indicator (-DI) over 14 bars",
    units="0-100",
    source=f"TA-Lib MINUS_DI(high, low, close, 14) ({_DMI_SOURCE})",
)
def minus_di_14(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.MINUS_DI(*_hlc(ohlcv), ADX_PERIOD)


def _trending(ohlcv: pd.DataFrame, direction: int) -> pd.Series:
    """1.0 while ADX > 25 and the DI of ``direction`` (+1 up, -1 down) leads the other."""
    adx, plus, minus = adx_14(ohlcv), plus_di_14(ohlcv), minus_di_14(ohlcv)
    leads = plus > minus if direction > 0 else minus > plus
    return _flag((adx > TRENDING_ADX) & leads, adx, plus, minus)


@feature(
    "is_trending_up",
    "regime",
    warmup_bars=ADX_WARMUP,
    description="1 when adx_14 > 25 and +DI > -DI (a strong uptrend), else 0",
    units="flag 0/1",
    source=_DMI_SOURCE,
)
def is_trending_up(ohlcv: pd.DataFrame) -> pd.Series:
    return _trending(ohlcv, +1)


@feature(
    "is_trending_down",
    "regime",
    warmup_bars=ADX_WARMUP,
    description="1 when adx_14 > 25 and -DI > +DI (a strong downtrend), else 0",
    units="flag 0/1",
    source=_DMI_SOURCE,
)
def is_trending_down(ohlcv: pd.DataFrame) -> pd.Series:
    return _trending(ohlcv, -1)


@feature(
    "is_ranging",
    "regime",
    warmup_bars=ADX_WARMUP,
    description="1 when adx_14 < 20 (no trend to speak of), else 0",
    units="flag 0/1",
    source=_DMI_SOURCE,
)
def is_ranging(ohlcv: pd.DataFrame) -> pd.Series:
    adx = adx_14(ohlcv)
    return _flag(adx < RANGING_ADX, adx)


@feature(
    "volatility_regime",
    "regime",
    warmup_bars=VOL_REGIME_WARMUP,
    description=(
        "Volatility regime from the percentile rank of atr_pct_14 within the trailing 500 bars (this bar "
        "included): 0 low (rank <= 25%), 1 normal, 2 high (rank > 75%)"
    ),
    units="class 0/1/2",
    source="rolling(500) percentile rank of TA-Lib ATR(14) / close",
)
def volatility_regime(ohlcv: pd.DataFrame) -> pd.Series:
    rank = atr_pct_14(ohlcv).rolling(VOL_REGIME_WINDOW).rank(pct=True)
    regime = np.select([rank <= VOL_REGIME_LOW, rank > VOL_REGIME_HIGH], [0.0, 2.0], default=1.0)
    return pd.Series(regime, index=ohlcv.index).mask(rank.isna())


@feature(
    "is_volatile",
    "regime",
    warmup_bars=VOL_REGIME_WARMUP,
    description="1 when volatility_regime == 2 (atr_pct_14 in the top quarter of its trailing 500 bars), else 0",
    units="flag 0/1",
    source="volatility_regime == 2",
)
def is_volatile(ohlcv: pd.DataFrame) -> pd.Series:
    regime = volatility_regime(ohlcv)
    return _flag(regime == 2, regime)


@feature(
    "is_quiet",
    "regime",
    warmup_bars=VOL_REGIME_WARMUP,
    description="1 when volatility_regime == 0 (atr_pct_14 in the bottom quarter of its trailing 500 bars), else 0",
    units="flag 0/1",
    source="volatility_regime == 0",
)
def is_quiet(ohlcv: pd.DataFrame) -> pd.Series:
    regime = volatility_regime(ohlcv)
    return _flag(regime == 0, regime)


@feature(
    "trend_regime",
    "regime",
    warmup_bars=max(ADX_WARMUP, VOL_REGIME_WARMUP),
    description=(
        "Combined regime, first match wins: 3 volatile (is_volatile), 1 trending up (is_trending_up), "
        "2 trending down (is_trending_down), else 0 ranging / no trend"
    ),
    units="class 0/1/2/3",
    source="is_volatile, is_trending_up, is_trending_down (Wilder's directional movement, ATR percentile rank)",
)
def trend_regime(ohlcv: pd.DataFrame) -> pd.Series:
    volatile, up, down = is_volatile(ohlcv), is_trending_up(ohlcv), is_trending_down(ohlcv)
    regime = np.select([volatile == 1, up == 1, down == 1], [3.0, 1.0, 2.0], default=0.0)
    return _flag(pd.Series(regime, index=ohlcv.index), volatile, up, down)


@feature(
    "dx_14",
    "regime",
    warmup_bars=DI_WARMUP,
    description="Directional movement index over 14 bars: 100 * |+DI - -DI| / (+DI + -DI) (ADX before smoothing)",
    units="0-100",
    source=f"TA-Lib DX(high, low, close, 14) ({_DMI_SOURCE})",
)
def dx_14(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.DX(*_hlc(ohlcv), ADX_PERIOD)


@feature(
    "efficiency_ratio_10",
    "regime",
    warmup_bars=ER_PERIOD,
    description=(
        "Kaufman efficiency ratio over 10 bars: |close - close[t-10]| / sum of |1-bar close changes|; "
        "1 a straight move, near 0 noise (0 when the close did not move)"
    ),
    units="fraction 0..1",
    source="|close[t] - close[t-10]| / TA-Lib SUM(|close change|, 10) (Kaufman 1995)",
)
def efficiency_ratio_10(ohlcv: pd.DataFrame) -> pd.Series:
    close = ohlcv["close"]
    path = talib.SUM(close.diff().abs(), ER_PERIOD)
    net = (close - close.shift(ER_PERIOD)).abs()
    return (net / path.where(path > 0)).mask(path == 0, 0.0)


@feature(
    "choppiness_14",
    "regime",
    warmup_bars=CHOP_PERIOD,
    description=(
        "Choppiness Index over 14 bars: 100 * log10(sum(true range) / (highest high - lowest low)) / log10(14); "
        "near 100 choppy, low values trending"
    ),
    units="0-100",
    source="TA-Lib SUM(TRANGE, 14), MAX(high, 14), MIN(low, 14) (Dreiss)",
)
def choppiness_14(ohlcv: pd.DataFrame) -> pd.Series:
    high, low, close = _hlc(ohlcv)
    true_range_sum = talib.SUM(talib.TRANGE(high, low, close), CHOP_PERIOD)
    span = talib.MAX(high, CHOP_PERIOD) - talib.MIN(low, CHOP_PERIOD)
    return 100 * np.log10(true_range_sum / span.where(span > 0)) / np.log10(CHOP_PERIOD)


@feature(
    "funding_rate",
    "regime",
    description=(
        "Perpetual funding rate of the last settlement before the bar's close (positive: longs pay shorts, "
        "a crowded long side); NaN where the store holds no funding rates for the instrument"
    ),
    units="fraction of notional per funding interval",
    source="exchange funding settlements joined as of each bar's close (market.candles.attach_funding)",
)
def funding_rate(ohlcv: pd.DataFrame) -> pd.Series:
    if "funding_rate" in ohlcv:
        return ohlcv["funding_rate"].astype("float64")
    return pd.Series(np.nan, index=ohlcv.index)
