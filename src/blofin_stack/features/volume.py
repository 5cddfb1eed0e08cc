"""Volume features: raw volume, its averages, relative volume and signed-volume flow.

Volume is in base currency (e.g. BTC for BTC-USDT). Cumulative On-Balance Volume and the cumulative
Accumulation/Distribution line are deliberately not features: their levels depend on where history
starts, so no finite warm-up makes them honest. Their windowed forms carry the same information and do
not: ``obv_{n}`` (OBV's change over n bars), ``obv_slope_20`` (that change per unit of volume) and
``cmf_20`` (Chaikin Money Flow). ``adosc`` (Chaikin's A/D oscillator) is kept: it is the difference of
two EMAs of the A/D line, in which the line's start-dependent constant cancels, so only the EMAs'
seeds depend on the start, and they fade.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from blofin_stack.features.registry import REGISTRY, family, feature, strict_ema_warmup

ADOSC_FAST, ADOSC_SLOW = 3, 10
CMF_PERIOD = 20
FORCE_PERIOD = 13


@feature("volume", "volume", description="Bar volume", units="base currency", source="OHLCV")
def volume(ohlcv: pd.DataFrame) -> pd.Series:
    return ohlcv["volume"]


@family(
    "volume_sma_{n}",
    "volume",
    warmup=lambda n: n - 1,
    description="{n}-bar simple moving average of volume",
    units="base currency",
    source="TA-Lib SMA(volume, n)",
    min_n=2,
)
def volume_sma(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    return talib.SMA(ohlcv["volume"], n)


@family(
    "volume_zscore_{n}",
    "volume",
    warmup=lambda n: n - 1,
    description="Rolling z-score of volume over the last {n} bars: (volume - mean) / population std",
    units="std devs",
    source="(volume - TA-Lib SMA(volume, n)) / TA-Lib STDDEV(volume, n, 1)",
    min_n=2,
)
def volume_zscore(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    vol = ohlcv["volume"]
    return (vol - talib.SMA(vol, n)) / talib.STDDEV(vol, n, 1)


@family(
    "obv_{n}",
    "volume",
    warmup=lambda n: n,
    description=(
        "On-Balance Volume change over {n} bars: sum of sign(close change) * volume over the last {n} bars "
        "(the windowed form of OBV, whose cumulative level depends on where history starts)"
    ),
    units="base currency",
    source="TA-Lib SUM(sign(close[t] - close[t-1]) * volume, n) = MOM(OBV, n) (Granville 1963)",
)
def obv(ohlcv: pd.DataFrame, n: int) -> pd.Series:
    signed = np.sign(ohlcv["close"].diff()) * ohlcv["volume"]
    return talib.SUM(signed, n)


for _name in ("volume_sma_20", "volume_sma_50", "volume_zscore_20", "obv_20"):
    REGISTRY.register(REGISTRY.resolve(_name))


@feature(
    "volume_ema_9",
    "volume",
    warmup_bars=strict_ema_warmup(9),
    description="9-bar exponential moving average of volume (alpha = 2/10, seeded with the SMA)",
    units="base currency",
    source="TA-Lib EMA(volume, 9)",
)
def volume_ema_9(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.EMA(ohlcv["volume"], 9)


@feature(
    "volume_ratio",
    "volume",
    warmup_bars=19,
    description="Relative volume: volume / volume_sma_20 (1.0 = an average bar)",
    units="ratio",
    source="volume / TA-Lib SMA(volume, 20)",
)
def volume_ratio(ohlcv: pd.DataFrame) -> pd.Series:
    return ohlcv["volume"] / volume_sma(ohlcv, 20)


@feature(
    "obv_slope_20",
    "volume",
    warmup_bars=20,
    description=(
        "Change of On-Balance Volume over 20 bars divided by the volume of those bars: the net "
        "signed-volume fraction, -1 (every bar closed down) to +1 (every bar closed up)"
    ),
    units="fraction -1..1",
    source="TA-Lib MOM(OBV(close, volume), 20) / TA-Lib SUM(volume, 20)",
)
def obv_slope_20(ohlcv: pd.DataFrame) -> pd.Series:
    return obv(ohlcv, 20) / talib.SUM(ohlcv["volume"], 20)


@feature(
    "volume_change",
    "volume",
    warmup_bars=1,
    description="Change of volume against the previous bar: volume[t] / volume[t-1] - 1 (NaN after a zero-volume bar)",
    units="fraction",
    source="volume[t] / volume[t-1] - 1",
)
def volume_change(ohlcv: pd.DataFrame) -> pd.Series:
    previous = ohlcv["volume"].shift(1)
    return ohlcv["volume"] / previous.where(previous > 0) - 1


@feature(
    "quote_volume",
    "volume",
    description="Bar turnover in quote currency, approximated as close * volume",
    units="USDT",
    source="close * volume",
)
def quote_volume(ohlcv: pd.DataFrame) -> pd.Series:
    return ohlcv["close"] * ohlcv["volume"]


@feature(
    "adosc",
    "volume",
    # The A/D line's start-dependent constant cancels in EMA(3) - EMA(10); the EMAs' seeds (the first A/D
    # value) are as large as the oscillator itself, hence the strict warm-up of the slow EMA.
    warmup_bars=strict_ema_warmup(ADOSC_SLOW),
    description="Chaikin A/D oscillator: EMA(3) - EMA(10) of the Accumulation/Distribution line",
    units="base currency",
    source="TA-Lib ADOSC(high, low, close, volume, 3, 10) (Chaikin)",
)
def adosc(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.ADOSC(ohlcv["high"], ohlcv["low"], ohlcv["close"], ohlcv["volume"], ADOSC_FAST, ADOSC_SLOW)


@feature(
    "cmf_20",
    "volume",
    warmup_bars=CMF_PERIOD - 1,
    description=(
        "Chaikin Money Flow over 20 bars: sum(money flow volume) / sum(volume), money flow volume = "
        "volume * ((close - low) - (high - close)) / (high - low), 0 when high == low"
    ),
    units="fraction -1..1",
    source="TA-Lib SUM(MFV, 20) / TA-Lib SUM(volume, 20) (Chaikin)",
)
def cmf_20(ohlcv: pd.DataFrame) -> pd.Series:
    high, low, close, vol = ohlcv["high"], ohlcv["low"], ohlcv["close"], ohlcv["volume"]
    span = high - low
    multiplier = ((close - low) - (high - close)) / span.where(span > 0)
    return talib.SUM(multiplier.fillna(0.0) * vol, CMF_PERIOD) / talib.SUM(vol, CMF_PERIOD)


@feature(
    "force_index_13",
    "volume",
    warmup_bars=1 + strict_ema_warmup(FORCE_PERIOD),
    description="Elder's force index: EMA(13) of (close - previous close) * volume",
    units="USDT x base currency",
    source="TA-Lib EMA((close[t] - close[t-1]) * volume, 13) (Elder 1993)",
)
def force_index_13(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.EMA(ohlcv["close"].diff() * ohlcv["volume"], FORCE_PERIOD)
