"""Momentum features: RSI, momentum (price change) and rate of change, as parameterised families.

The seed's members (``rsi_14``, ``rsi_7``, ``momentum_10``, ``roc_12``) are also registered as exact
features so they are listed, grouped and covered by the causality and warm-up tests.
"""

from __future__ import annotations

import pandas as pd
import talib

from blofin_stack.features.registry import REGISTRY, family, strict_wilder_warmup


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


for _name in ("rsi_14", "rsi_7", "momentum_10", "roc_12"):
    REGISTRY.register(REGISTRY.resolve(_name))
