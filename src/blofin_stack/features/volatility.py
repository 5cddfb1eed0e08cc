"""Volatility features: average true range, standard deviation, Bollinger Bands and Keltner width."""

from __future__ import annotations

import pandas as pd
import talib

from blofin_stack.features.registry import REGISTRY, ema_warmup, family, feature, strict_wilder_warmup

BBANDS_PERIOD = 20
BBANDS_STDDEVS = 2.0


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


@feature(
    "std_dev_20",
    "volatility",
    warmup_bars=19,
    description="Population standard deviation of the close over 20 bars",
    units="USDT",
    source="TA-Lib STDDEV(close, 20, 1)",
)
def std_dev_20(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.STDDEV(ohlcv["close"], 20, 1)


def _bbands(ohlcv: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(upper, middle, lower) Bollinger Bands: SMA(20) +- 2 population standard deviations."""
    return talib.BBANDS(ohlcv["close"], BBANDS_PERIOD, BBANDS_STDDEVS, BBANDS_STDDEVS, talib.MA_Type.SMA)


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
    upper, middle, lower = _bbands(ohlcv)
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


@feature(
    "keltner_width",
    "volatility",
    warmup_bars=max(ema_warmup(20), strict_wilder_warmup(10)),
    description=(
        "Keltner channel width: channel EMA(20) +- 2 * ATR(10), width (upper - lower) / EMA(20) = 4 * ATR(10) / EMA(20)"
    ),
    units="fraction",
    source="Keltner channel (Chester Keltner 1960, ATR form popularised by Linda Raschke); TA-Lib EMA, ATR",
)
def keltner_width(ohlcv: pd.DataFrame) -> pd.Series:
    return 4 * atr(ohlcv, 10) / talib.EMA(ohlcv["close"], 20)
