"""Volume-weighted features: session VWAP, its bands, distance from it, volume-weighted momentum, the
volume-weighted moving average, Money Flow Index and Ease of Movement.

The VWAP session (and its standard-deviation bands) is the UTC day: sums restart at every UTC midnight,
so the value at bar t uses the bars of t's UTC day up to and including t. Its warm-up is one day of 1m
bars (1440): after the first UTC midnight in the history the value no longer depends on where history
starts (a day holds at most 1440 bars of any timeframe of 1m or longer).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from blofin_stack.features.price import hl2, hlc3, log_returns
from blofin_stack.features.registry import feature
from blofin_stack.market.timeframes import DAY_MS

VWAP_WARMUP = 1440
VWM_PERIOD = 14
VWAP_BAND_SIGMAS = 2.0
VWMA_PERIOD = 20
MFI_PERIOD = 14
EOM_PERIOD = 14
#: Volume unit of Arms' box ratio (as in pandas-ta's ``eom``): volume is counted in units of 1e8.
EOM_DIVISOR = 100_000_000


def _session_vwap(ohlcv: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(vwap, sigma, cumulative volume) of the UTC-day session so far.

    sigma is the volume-weighted standard deviation of the typical price over the session so far:
    sigma^2 = cumsum(v * hlc3^2) / cumsum(v) - vwap^2 (clipped at 0 against rounding).
    """
    day = ohlcv.index.to_numpy() // DAY_MS
    volume = ohlcv["volume"]
    typical = hlc3(ohlcv)
    cum_volume = volume.groupby(day).cumsum()
    mean = (typical * volume).groupby(day).cumsum() / cum_volume
    variance = (typical * typical * volume).groupby(day).cumsum() / cum_volume - mean * mean
    return mean, np.sqrt(variance.clip(lower=0.0)), cum_volume


@feature(
    "vwap",
    "volume_weighted",
    warmup_bars=VWAP_WARMUP,
    description="Session VWAP anchored at UTC midnight: cumsum(typical price * volume) / cumsum(volume)",
    units="USDT",
    source="VWAP of hlc3 over the UTC day so far",
)
def vwap(ohlcv: pd.DataFrame) -> pd.Series:
    return _session_vwap(ohlcv)[0]


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
    mean, sigma, cum_volume = _session_vwap(ohlcv)
    z = (ohlcv["close"] - mean) / sigma.where(sigma > 1e-12 * mean)
    return z.fillna(0.0).where(cum_volume > 0)


_BAND_SOURCE = "VWAP standard-deviation bands: vwap +- 2 sigma, sigma^2 = cumsum(v * hlc3^2) / cumsum(v) - vwap^2"


@feature(
    "vwap_upper_2",
    "volume_weighted",
    warmup_bars=VWAP_WARMUP,
    description="Upper session VWAP band: vwap + 2 * session volume-weighted sigma of the typical price",
    units="USDT",
    source=_BAND_SOURCE,
)
def vwap_upper_2(ohlcv: pd.DataFrame) -> pd.Series:
    mean, sigma, _ = _session_vwap(ohlcv)
    return mean + VWAP_BAND_SIGMAS * sigma


@feature(
    "vwap_lower_2",
    "volume_weighted",
    warmup_bars=VWAP_WARMUP,
    description="Lower session VWAP band: vwap - 2 * session volume-weighted sigma of the typical price",
    units="USDT",
    source=_BAND_SOURCE,
)
def vwap_lower_2(ohlcv: pd.DataFrame) -> pd.Series:
    mean, sigma, _ = _session_vwap(ohlcv)
    return mean - VWAP_BAND_SIGMAS * sigma


@feature(
    "vwma_20",
    "volume_weighted",
    warmup_bars=VWMA_PERIOD - 1,
    description="Volume-weighted moving average of the close over 20 bars: sum(close * volume) / sum(volume)",
    units="USDT",
    source="TA-Lib SUM(close * volume, 20) / TA-Lib SUM(volume, 20)",
)
def vwma_20(ohlcv: pd.DataFrame) -> pd.Series:
    volume = ohlcv["volume"]
    return talib.SUM(ohlcv["close"] * volume, VWMA_PERIOD) / talib.SUM(volume, VWMA_PERIOD)


@feature(
    "close_to_vwma_20",
    "volume_weighted",
    warmup_bars=VWMA_PERIOD - 1,
    description="Distance of the close from vwma_20: (close / vwma_20 - 1) * 100",
    units="percent",
    source="(close / vwma_20 - 1) * 100",
)
def close_to_vwma_20(ohlcv: pd.DataFrame) -> pd.Series:
    return (ohlcv["close"] / vwma_20(ohlcv) - 1) * 100


@feature(
    "mfi_14",
    "volume_weighted",
    warmup_bars=MFI_PERIOD,
    description="Money Flow Index over 14 bars: RSI-like ratio of up- to down-bar money flow (typical price x volume)",
    units="0-100",
    source="TA-Lib MFI(high, low, close, volume, 14) (Quong & Soudack 1989)",
)
def mfi_14(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.MFI(ohlcv["high"], ohlcv["low"], ohlcv["close"], ohlcv["volume"], MFI_PERIOD)


@feature(
    "eom_14",
    "volume_weighted",
    warmup_bars=EOM_PERIOD,
    description=(
        "Arms' Ease of Movement, 14-bar SMA of (hl2 - previous hl2) / ((volume / 1e8) / (high - low)); "
        "0 on a bar with no range or no volume"
    ),
    units="USDT^2 per 1e8 base units",
    source="Arms (1996), Ease of Movement; divisor 1e8 as pandas-ta eom; TA-Lib SMA",
)
def eom_14(ohlcv: pd.DataFrame) -> pd.Series:
    high, low, volume = ohlcv["high"], ohlcv["low"], ohlcv["volume"]
    midpoint_move = hl2(ohlcv).diff()
    per_bar = midpoint_move * (high - low) * EOM_DIVISOR / volume.where(volume > 0)
    return talib.SMA(per_bar.fillna(0.0).where(midpoint_move.notna()), EOM_PERIOD)
