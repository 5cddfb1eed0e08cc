"""Price features: raw OHLC, returns, typical prices and the shape of the bar (range, body, wicks, gap).

Candle-pattern flags (TA-Lib CDL*) are in the same group, in :mod:`blofin_stack.features.patterns`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from blofin_stack.features.registry import REGISTRY, family, feature


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


@feature(
    "wclprice",
    "price",
    description="Weighted close price (high + low + 2 * close) / 4",
    units="USDT",
    source="TA-Lib WCLPRICE(high, low, close)",
)
def wclprice(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.WCLPRICE(ohlcv["high"], ohlcv["low"], ohlcv["close"])


@feature(
    "avgprice",
    "price",
    description="Average price (open + high + low + close) / 4",
    units="USDT",
    source="TA-Lib AVGPRICE(open, high, low, close)",
)
def avgprice(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.AVGPRICE(ohlcv["open"], ohlcv["high"], ohlcv["low"], ohlcv["close"])


@feature(
    "range_pct",
    "price",
    description="Bar range as a percentage of the close: (high - low) / close * 100",
    units="percent",
    source="(high - low) / close * 100",
)
def range_pct(ohlcv: pd.DataFrame) -> pd.Series:
    return (ohlcv["high"] - ohlcv["low"]) / ohlcv["close"] * 100


def _pct_of_open(ohlcv: pd.DataFrame, length: pd.Series) -> pd.Series:
    """A price distance within the bar as a percentage of the bar's open."""
    return length / ohlcv["open"] * 100


@feature(
    "body_pct",
    "price",
    description="Candle body as a percentage of the open: |close - open| / open * 100",
    units="percent",
    source="|close - open| / open * 100",
)
def body_pct(ohlcv: pd.DataFrame) -> pd.Series:
    return _pct_of_open(ohlcv, (ohlcv["close"] - ohlcv["open"]).abs())


@feature(
    "upper_wick_pct",
    "price",
    description="Upper shadow as a percentage of the open: (high - max(open, close)) / open * 100",
    units="percent",
    source="(high - max(open, close)) / open * 100",
)
def upper_wick_pct(ohlcv: pd.DataFrame) -> pd.Series:
    return _pct_of_open(ohlcv, ohlcv["high"] - np.maximum(ohlcv["open"], ohlcv["close"]))


@feature(
    "lower_wick_pct",
    "price",
    description="Lower shadow as a percentage of the open: (min(open, close) - low) / open * 100",
    units="percent",
    source="(min(open, close) - low) / open * 100",
)
def lower_wick_pct(ohlcv: pd.DataFrame) -> pd.Series:
    return _pct_of_open(ohlcv, np.minimum(ohlcv["open"], ohlcv["close"]) - ohlcv["low"])


@feature(
    "close_position",
    "price",
    description="Where the close sits in the bar's range: (close - low) / (high - low); 0.5 when high == low",
    units="fraction 0..1",
    source="(close - low) / (high - low) (stochastic of one bar)",
)
def close_position(ohlcv: pd.DataFrame) -> pd.Series:
    span = ohlcv["high"] - ohlcv["low"]
    return ((ohlcv["close"] - ohlcv["low"]) / span.where(span > 0)).fillna(0.5)


@feature(
    "gap_pct",
    "price",
    warmup_bars=1,
    description="Opening gap against the previous bar's close: (open / close[t-1] - 1) * 100",
    units="percent",
    source="(open[t] / close[t-1] - 1) * 100",
)
def gap_pct(ohlcv: pd.DataFrame) -> pd.Series:
    return (ohlcv["open"] / ohlcv["close"].shift(1) - 1) * 100


@family(
    "returns_{n}",
    "price",
    warmup=lambda n: n,
    description="Simple return of the close over {n} bars: close[t] / close[t-{n}] - 1",
    units="fraction",
    source="close[t] / close[t-n] - 1",
)
def returns_n(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return ohlcv["close"].pct_change(n)


for _name in ("returns_5", "returns_20"):
    REGISTRY.register(REGISTRY.resolve(_name))
