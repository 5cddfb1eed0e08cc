"""Volume-weighted features: session VWAP, its bands, distance from it, and volume-weighted momentum.

The VWAP session (and its standard-deviation bands) is the UTC day: sums restart at every UTC midnight,
so the value at bar t uses the bars of t's UTC day up to and including t. Its warm-up is one day of 1m
bars (1440): after the first UTC midnight in the history the value no longer depends on where history
starts (a day holds at most 1440 bars of any timeframe of 1m or longer).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from blofin_stack.features.price import hlc3, log_returns
from blofin_stack.features.registry import feature

DAY_MS = 86_400_000
VWAP_WARMUP = 1440
VWM_PERIOD = 14


@feature(
    "vwap",
    "volume_weighted",
    warmup_bars=VWAP_WARMUP,
    description="Session VWAP anchored at UTC midnight: cumsum(typical price * volume) / cumsum(volume)",
    units="USDT",
    source="VWAP of hlc3 over the UTC day so far",
)
def vwap(ohlcv: pd.DataFrame) -> pd.Series:
    day = ohlcv.index.to_numpy() // DAY_MS
    volume = ohlcv["volume"]
    return (hlc3(ohlcv) * volume).groupby(day).cumsum() / volume.groupby(day).cumsum()


@feature(
    "vwap_distance",
    "volume_weighted",
    warmup_bars=VWAP_WARMUP,
    description="Distance of the close from the session VWAP: (close / vwap - 1) * 100",
    units="percent",
    source="(close / vwap - 1) * 100",
)
def vwap_distance(ohlcv: pd.DataFrame) -> pd.Series:
    return (ohlcv["close"] / vwap(ohlcv) - 1) * 100


@feature(
    "volume_weighted_momentum",
    "volume_weighted",
    warmup_bars=VWM_PERIOD,
    description=(
        "14-bar momentum with bars weighted by relative volume: sum(r_i * v_i) / mean(v_i) over the last 14 "
        "bars, r_i the 1-bar log return; equals the 14-bar log return when volume is constant"
    ),
    units="log ratio",
    source="TA-Lib SUM(log_return * volume, 14) / (TA-Lib SUM(volume, 14) / 14)",
)
def volume_weighted_momentum(ohlcv: pd.DataFrame) -> pd.Series:
    volume = ohlcv["volume"]
    return talib.SUM(log_returns(ohlcv) * volume, VWM_PERIOD) / (talib.SUM(volume, VWM_PERIOD) / VWM_PERIOD)


@feature(
    "vwap_zscore",
    "volume_weighted",
    warmup_bars=VWAP_WARMUP,
    description=(
        "Distance of the close from the session VWAP in session standard deviations: (close - vwap) / sigma, "
        "sigma the volume-weighted standard deviation of the typical price over the UTC day so far "
        "(0 while sigma is 0, e.g. on a day's first bar: no band yet, so no stretch)"
    ),
    units="standard deviations",
    source="VWAP standard-deviation bands: sigma^2 = cumsum(v * hlc3^2) / cumsum(v) - vwap^2",
)
def vwap_zscore(ohlcv: pd.DataFrame) -> pd.Series:
    day = ohlcv.index.to_numpy() // DAY_MS
    volume = ohlcv["volume"]
    typical = hlc3(ohlcv)
    cum_volume = volume.groupby(day).cumsum()
    mean = (typical * volume).groupby(day).cumsum() / cum_volume
    variance = (typical * typical * volume).groupby(day).cumsum() / cum_volume - mean * mean
    sigma = np.sqrt(variance.clip(lower=0.0))
    z = (ohlcv["close"] - mean) / sigma.where(sigma > 1e-12 * mean)
    return z.fillna(0.0).where(cum_volume > 0)
