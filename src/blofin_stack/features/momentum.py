"""Momentum features: RSI, momentum (price change) and rate of change as parameterised families, and
TA-Lib's other momentum oscillators (CMO, PPO, APO, TRIX, BOP, Aroon, Ultimate Oscillator).

The common members (``rsi_14``, ``rsi_7``, ``rsi_21``, ``momentum_10``, ``roc_12``, ...) are also
registered as exact features so they are listed, grouped and covered by the causality and warm-up tests.
"""

from __future__ import annotations

import pandas as pd
import talib

from blofin_stack.features.registry import REGISTRY, family, feature, strict_ema_warmup, strict_wilder_warmup

AROON_PERIOD = 25
TRIX_PERIOD = 15
FAST, SLOW = 12, 26
_EMA = talib.MA_Type.EMA


@family(
    "rsi_{n}",
    "momentum",
    warmup=strict_wilder_warmup,
    description="Wilder's Relative Strength Index over {n} bars",
    units="0-100",
    source="TA-Lib RSI(close, n) (Wilder 1978)",
    min_n=2,
)
def rsi(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.RSI(ohlcv["close"], n)


@family(
    "momentum_{n}",
    "momentum",
    warmup=lambda n: n,
    description="Price change over {n} bars: close[t] - close[t-{n}]",
    units="USDT",
    source="TA-Lib MOM(close, n)",
)
def momentum(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.MOM(ohlcv["close"], n)


@family(
    "roc_{n}",
    "momentum",
    warmup=lambda n: n,
    description="Rate of change over {n} bars: (close[t] / close[t-{n}] - 1) * 100",
    units="percent",
    source="TA-Lib ROC(close, n)",
)
def roc(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.ROC(ohlcv["close"], n)


for _name in ("rsi_14", "rsi_7", "rsi_21", "momentum_10", "momentum_20", "roc_1", "roc_12"):
    REGISTRY.register(REGISTRY.resolve(_name))


@feature(
    "cmo_14",
    "momentum",
    warmup_bars=strict_wilder_warmup(14),
    description="Chande Momentum Oscillator over 14 bars: 100 * (up - down) / (up + down), Wilder-smoothed",
    units="-100..100",
    source="TA-Lib CMO(close, 14) (Chande 1994; TA-Lib smooths like RSI: cmo = 2 * rsi - 100)",
)
def cmo_14(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.CMO(ohlcv["close"], 14)


@feature(
    "ppo",
    "momentum",
    warmup_bars=strict_ema_warmup(SLOW),
    description="Percentage Price Oscillator: (EMA(12) - EMA(26)) / EMA(26) * 100",
    units="percent",
    source="TA-Lib PPO(close, 12, 26, EMA)",
)
def ppo(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.PPO(ohlcv["close"], FAST, SLOW, _EMA)


@feature(
    "apo",
    "momentum",
    warmup_bars=strict_ema_warmup(SLOW),
    description="Absolute Price Oscillator: EMA(12) - EMA(26) of the close (same values as macd_12_26)",
    units="USDT",
    source="TA-Lib APO(close, 12, 26, EMA)",
)
def apo(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.APO(ohlcv["close"], FAST, SLOW, _EMA)


@feature(
    "trix_15",
    "momentum",
    # three chained EMAs, then a 1-bar rate of change of a slowly moving value: strict, and they add up
    warmup_bars=3 * strict_ema_warmup(TRIX_PERIOD) + 1,
    description="TRIX: 1-bar rate of change of the triple-smoothed EMA(15) of the close",
    units="percent",
    source="TA-Lib TRIX(close, 15) (Hutson 1983)",
)
def trix_15(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.TRIX(ohlcv["close"], TRIX_PERIOD)


@feature(
    "bop",
    "momentum",
    description="Balance of Power: (close - open) / (high - low); 0 when high == low",
    units="-1..1",
    source="TA-Lib BOP(open, high, low, close) (Livshin 2001)",
)
def bop(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.BOP(ohlcv["open"], ohlcv["high"], ohlcv["low"], ohlcv["close"])


def _aroon(ohlcv: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(Aroon down, Aroon up) over 25 bars."""
    return talib.AROON(ohlcv["high"], ohlcv["low"], AROON_PERIOD)


_AROON_SOURCE = "TA-Lib AROON(high, low, 25) (Chande 1995)"


@feature(
    "aroon_up_25",
    "momentum",
    warmup_bars=AROON_PERIOD,
    description="Aroon up: 100 * (25 - bars since the 25-bar high) / 25",
    units="0-100",
    source=_AROON_SOURCE,
)
def aroon_up_25(ohlcv: pd.DataFrame) -> pd.Series:
    return _aroon(ohlcv)[1]


@feature(
    "aroon_down_25",
    "momentum",
    warmup_bars=AROON_PERIOD,
    description="Aroon down: 100 * (25 - bars since the 25-bar low) / 25",
    units="0-100",
    source=_AROON_SOURCE,
)
def aroon_down_25(ohlcv: pd.DataFrame) -> pd.Series:
    return _aroon(ohlcv)[0]


@feature(
    "aroon_osc_25",
    "momentum",
    warmup_bars=AROON_PERIOD,
    description="Aroon oscillator: aroon_up_25 - aroon_down_25",
    units="-100..100",
    source="TA-Lib AROONOSC(high, low, 25) (Chande 1995)",
)
def aroon_osc_25(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.AROONOSC(ohlcv["high"], ohlcv["low"], AROON_PERIOD)


@feature(
    "ultosc",
    "momentum",
    warmup_bars=28,
    description="Ultimate Oscillator (7, 14, 28): weighted average of buying pressure / true range over 3 windows",
    units="0-100",
    source="TA-Lib ULTOSC(high, low, close, 7, 14, 28) (Williams 1985)",
)
def ultosc(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.ULTOSC(ohlcv["high"], ohlcv["low"], ohlcv["close"], 7, 14, 28)
