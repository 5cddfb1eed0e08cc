"""Volatility features: true range and ATR, standard deviations and z-scores, Bollinger Bands, Keltner
channel, and range-based volatility estimators (Parkinson, Garman-Klass, Rogers-Satchell).

The estimators are per-bar volatilities (fractions per bar, NOT annualised): the square root of the
20-bar mean of each estimator's per-bar variance. Multiply by sqrt(bars per year) to annualise.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import talib

from blofin_stack.features.price import log_returns, returns
from blofin_stack.features.registry import REGISTRY, ema_warmup, family, feature, strict_wilder_warmup

BBANDS_PERIOD = 20
BBANDS_STDDEVS = 2.0
KELTNER_EMA, KELTNER_ATR, KELTNER_ATRS = 20, 10, 2.0
KELTNER_WARMUP = max(ema_warmup(KELTNER_EMA), strict_wilder_warmup(KELTNER_ATR))
VOL_WINDOW = 20


@family(
    "atr_{n}",
    "volatility",
    warmup=strict_wilder_warmup,
    description="Wilder's Average True Range over {n} bars",
    units="USDT",
    source="TA-Lib ATR(high, low, close, n) (Wilder 1978)",
)
def atr(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.ATR(ohlcv["high"], ohlcv["low"], ohlcv["close"], n)


REGISTRY.register(REGISTRY.resolve("atr_14"))


@feature(
    "atr_pct_14",
    "volatility",
    warmup_bars=strict_wilder_warmup(14),
    description="atr_14 as a percentage of the close (scale-free volatility)",
    units="percent",
    source="TA-Lib ATR(14) / close * 100",
)
def atr_pct_14(ohlcv: pd.DataFrame) -> pd.Series:
    return atr(ohlcv, 14) / ohlcv["close"] * 100


@family(
    "std_dev_{n}",
    "volatility",
    warmup=lambda n: n - 1,
    description="Population standard deviation of the close over {n} bars",
    units="USDT",
    source="TA-Lib STDDEV(close, n, 1)",
    min_n=2,
)
def std_dev(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.STDDEV(ohlcv["close"], n, 1)


REGISTRY.register(REGISTRY.resolve("std_dev_20"))


def _bbands(ohlcv: pd.DataFrame, period: int = BBANDS_PERIOD) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(upper, middle, lower) Bollinger Bands: SMA(period) +- 2 population standard deviations."""
    return talib.BBANDS(ohlcv["close"], period, BBANDS_STDDEVS, BBANDS_STDDEVS, talib.MA_Type.SMA)


_BBANDS_SOURCE = "TA-Lib BBANDS(close, 20, 2, 2, SMA) (Bollinger)"


@feature(
    "bbands_upper",
    "volatility",
    warmup_bars=BBANDS_PERIOD - 1,
    description="Upper Bollinger Band: SMA(20) + 2 std",
    units="USDT",
    source=_BBANDS_SOURCE,
)
def bbands_upper(ohlcv: pd.DataFrame) -> pd.Series:
    return _bbands(ohlcv)[0]


@feature(
    "bbands_middle",
    "volatility",
    warmup_bars=BBANDS_PERIOD - 1,
    description="Middle Bollinger Band: SMA(20) of the close",
    units="USDT",
    source=_BBANDS_SOURCE,
)
def bbands_middle(ohlcv: pd.DataFrame) -> pd.Series:
    return _bbands(ohlcv)[1]


@feature(
    "bbands_lower",
    "volatility",
    warmup_bars=BBANDS_PERIOD - 1,
    description="Lower Bollinger Band: SMA(20) - 2 std",
    units="USDT",
    source=_BBANDS_SOURCE,
)
def bbands_lower(ohlcv: pd.DataFrame) -> pd.Series:
    return _bbands(ohlcv)[2]


@feature(
    "bbands_width",
    "volatility",
    warmup_bars=BBANDS_PERIOD - 1,
    description="Bollinger bandwidth: (upper - lower) / middle",
    units="fraction",
    source=_BBANDS_SOURCE,
)
def bbands_width(ohlcv: pd.DataFrame) -> pd.Series:
    return bbands_width_n(ohlcv, BBANDS_PERIOD)


@family(
    "bbands_width_{n}",
    "volatility",
    warmup=lambda n: n - 1,
    description="Bollinger bandwidth over {n} bars: (upper - lower) / middle of SMA({n}) +- 2 std",
    units="fraction",
    source="TA-Lib BBANDS(close, n, 2, 2, SMA) (Bollinger)",
    min_n=2,
)
def bbands_width_n(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    upper, middle, lower = _bbands(ohlcv, n)
    return (upper - lower) / middle


@feature(
    "bbands_percent_b",
    "volatility",
    warmup_bars=BBANDS_PERIOD - 1,
    description="Bollinger %B: (close - lower) / (upper - lower); 0 at the lower band, 1 at the upper",
    units="fraction",
    source=_BBANDS_SOURCE,
)
def bbands_percent_b(ohlcv: pd.DataFrame) -> pd.Series:
    upper, _, lower = _bbands(ohlcv)
    return (ohlcv["close"] - lower) / (upper - lower)


def _keltner(ohlcv: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(centre, half-width) of the Keltner channel: EMA(20) and 2 * ATR(10)."""
    return talib.EMA(ohlcv["close"], KELTNER_EMA), KELTNER_ATRS * atr(ohlcv, KELTNER_ATR)


_KELTNER_SOURCE = "Keltner channel (Chester Keltner 1960, ATR form popularised by Linda Raschke); TA-Lib EMA, ATR"


@feature(
    "keltner_width",
    "volatility",
    warmup_bars=KELTNER_WARMUP,
    description=(
        "Keltner channel width: channel EMA(20) +- 2 * ATR(10), width (upper - lower) / EMA(20) = 4 * ATR(10) / EMA(20)"
    ),
    units="fraction",
    source=_KELTNER_SOURCE,
)
def keltner_width(ohlcv: pd.DataFrame) -> pd.Series:
    centre, half_width = _keltner(ohlcv)
    return 2 * half_width / centre


@feature(
    "keltner_upper",
    "volatility",
    warmup_bars=KELTNER_WARMUP,
    description="Upper Keltner band: EMA(20) + 2 * ATR(10)",
    units="USDT",
    source=_KELTNER_SOURCE,
)
def keltner_upper(ohlcv: pd.DataFrame) -> pd.Series:
    centre, half_width = _keltner(ohlcv)
    return centre + half_width


@feature(
    "keltner_lower",
    "volatility",
    warmup_bars=KELTNER_WARMUP,
    description="Lower Keltner band: EMA(20) - 2 * ATR(10)",
    units="USDT",
    source=_KELTNER_SOURCE,
)
def keltner_lower(ohlcv: pd.DataFrame) -> pd.Series:
    centre, half_width = _keltner(ohlcv)
    return centre - half_width


@feature(
    "true_range",
    "volatility",
    warmup_bars=1,
    description="True range: max(high, previous close) - min(low, previous close)",
    units="USDT",
    source="TA-Lib TRANGE(high, low, close) (Wilder 1978)",
)
def true_range(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.TRANGE(ohlcv["high"], ohlcv["low"], ohlcv["close"])


def _rolling_zscore(values: pd.Series, n: int) -> pd.Series:
    """(value - mean) / population std over the trailing ``n`` bars, this bar included."""
    return (values - talib.SMA(values, n)) / talib.STDDEV(values, n, 1)


@feature(
    "close_zscore_20",
    "volatility",
    warmup_bars=VOL_WINDOW - 1,
    description="Rolling z-score of the close over 20 bars: (close - SMA(20)) / population std(20)",
    units="std devs",
    source="(close - TA-Lib SMA(close, 20)) / TA-Lib STDDEV(close, 20, 1)",
)
def close_zscore_20(ohlcv: pd.DataFrame) -> pd.Series:
    return _rolling_zscore(ohlcv["close"], VOL_WINDOW)


@feature(
    "returns_zscore_20",
    "volatility",
    warmup_bars=VOL_WINDOW,
    description="Rolling z-score of the 1-bar return over 20 bars: (returns - mean(20)) / population std(20)",
    units="std devs",
    source="(returns - TA-Lib SMA(returns, 20)) / TA-Lib STDDEV(returns, 20, 1)",
)
def returns_zscore_20(ohlcv: pd.DataFrame) -> pd.Series:
    return _rolling_zscore(returns(ohlcv), VOL_WINDOW)


@feature(
    "realized_vol_20",
    "volatility",
    warmup_bars=VOL_WINDOW,
    description="Realised volatility: population standard deviation of the 1-bar log returns over 20 bars",
    units="fraction per bar",
    source="TA-Lib STDDEV(ln(close[t] / close[t-1]), 20, 1)",
)
def realized_vol_20(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.STDDEV(log_returns(ohlcv), VOL_WINDOW, 1)


def _mean_variance_vol(per_bar_variance: pd.Series) -> pd.Series:
    """sqrt of the 20-bar mean of a per-bar variance estimate (clipped at 0 against rounding)."""
    return np.sqrt(talib.SMA(per_bar_variance, VOL_WINDOW).clip(lower=0.0))


def _log_ratios(ohlcv: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """ln(high/open), ln(low/open), ln(close/open) and ln(high/low)."""
    log_open = np.log(ohlcv["open"])
    log_high, log_low = np.log(ohlcv["high"]), np.log(ohlcv["low"])
    return log_high - log_open, log_low - log_open, np.log(ohlcv["close"]) - log_open, log_high - log_low


@feature(
    "parkinson_vol_20",
    "volatility",
    warmup_bars=VOL_WINDOW - 1,
    description="Parkinson high-low volatility over 20 bars: sqrt(mean(ln(high/low)^2) / (4 ln 2)), per bar",
    units="fraction per bar",
    source="Parkinson (1980), J. Business 53(1); TA-Lib SMA",
)
def parkinson_vol_20(ohlcv: pd.DataFrame) -> pd.Series:
    high_low = _log_ratios(ohlcv)[3]
    return _mean_variance_vol(high_low**2 / (4 * math.log(2)))


@feature(
    "garman_klass_vol_20",
    "volatility",
    warmup_bars=VOL_WINDOW - 1,
    description=(
        "Garman-Klass OHLC volatility over 20 bars: sqrt(mean(0.5 ln(high/low)^2 - (2 ln 2 - 1) ln(close/open)^2)), "
        "per bar"
    ),
    units="fraction per bar",
    source="Garman & Klass (1980), J. Business 53(1); TA-Lib SMA",
)
def garman_klass_vol_20(ohlcv: pd.DataFrame) -> pd.Series:
    _, _, close_open, high_low = _log_ratios(ohlcv)
    return _mean_variance_vol(0.5 * high_low**2 - (2 * math.log(2) - 1) * close_open**2)


@feature(
    "rogers_satchell_vol_20",
    "volatility",
    warmup_bars=VOL_WINDOW - 1,
    description=(
        "Rogers-Satchell drift-independent volatility over 20 bars: "
        "sqrt(mean(ln(h/c) ln(h/o) + ln(l/c) ln(l/o))), per bar"
    ),
    units="fraction per bar",
    source="Rogers & Satchell (1991), Ann. Appl. Probab. 1(4); TA-Lib SMA",
)
def rogers_satchell_vol_20(ohlcv: pd.DataFrame) -> pd.Series:
    high_open, low_open, close_open, _ = _log_ratios(ohlcv)
    return _mean_variance_vol(high_open * (high_open - close_open) + low_open * (low_open - close_open))
