"""Price features: raw OHLC, returns and typical prices."""

from __future__ import annotations

import numpy as np
import pandas as pd

from blofin_stack.features.registry import feature


@feature("open", "price", description="Bar open price", units="USDT", source="OHLCV")
def open_(ohlcv: pd.DataFrame) -> pd.Series:
    return ohlcv["open"]


@feature("high", "price", description="Bar high price", units="USDT", source="OHLCV")
def high(ohlcv: pd.DataFrame) -> pd.Series:
    return ohlcv["high"]


@feature("low", "price", description="Bar low price", units="USDT", source="OHLCV")
def low(ohlcv: pd.DataFrame) -> pd.Series:
    return ohlcv["low"]


@feature("close", "price", description="Bar close price", units="USDT", source="OHLCV")
def close(ohlcv: pd.DataFrame) -> pd.Series:
    return ohlcv["close"]


@feature(
    "returns",
    "price",
    warmup_bars=1,
    description="Simple return of the close over the previous bar",
    units="fraction",
    source="close[t] / close[t-1] - 1",
)
def returns(ohlcv: pd.DataFrame) -> pd.Series:
    return ohlcv["close"].pct_change()


@feature(
    "log_returns",
    "price",
    warmup_bars=1,
    description="Log return of the close over the previous bar",
    units="log ratio",
    source="ln(close[t] / close[t-1])",
)
def log_returns(ohlcv: pd.DataFrame) -> pd.Series:
    close_ = ohlcv["close"]
    return pd.Series(np.log(close_ / close_.shift(1)), index=ohlcv.index)


@feature("hl2", "price", description="Median price (high + low) / 2", units="USDT", source="TA-Lib MEDPRICE")
def hl2(ohlcv: pd.DataFrame) -> pd.Series:
    return (ohlcv["high"] + ohlcv["low"]) / 2


@feature(
    "hlc3",
    "price",
    description="Typical price (high + low + close) / 3",
    units="USDT",
    source="TA-Lib TYPPRICE",
)
def hlc3(ohlcv: pd.DataFrame) -> pd.Series:
    return (ohlcv["high"] + ohlcv["low"] + ohlcv["close"]) / 3
