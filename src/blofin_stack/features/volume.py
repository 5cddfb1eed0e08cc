"""Volume features: raw volume, its averages, relative volume and signed-volume flow.

Volume is in base currency (e.g. BTC for BTC-USDT). Cumulative On-Balance Volume is deliberately not a
feature: its level depends on where history starts, so no finite warm-up makes it honest. Its windowed,
scale-free change (``obv_slope_20``) carries the same information and does not.
"""

from __future__ import annotations

import pandas as pd
import talib

from blofin_stack.features.registry import feature, strict_ema_warmup


@feature("volume", "volume", description="Bar volume", units="base currency", source="OHLCV")
def volume(ohlcv: pd.DataFrame) -> pd.Series:
    return ohlcv["volume"]


@feature(
    "volume_sma_20",
    "volume",
    warmup_bars=19,
    description="20-bar simple moving average of volume",
    units="base currency",
    source="TA-Lib SMA(volume, 20)",
)
def volume_sma_20(ohlcv: pd.DataFrame) -> pd.Series:
    return talib.SMA(ohlcv["volume"], 20)


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
    return ohlcv["volume"] / volume_sma_20(ohlcv)


@feature(
    "volume_zscore_20",
    "volume",
    warmup_bars=19,
    description="Rolling z-score of volume over the last 20 bars: (volume - mean) / population std",
    units="std devs",
    source="(volume - TA-Lib SMA(volume, 20)) / TA-Lib STDDEV(volume, 20, 1)",
)
def volume_zscore_20(ohlcv: pd.DataFrame) -> pd.Series:
    vol = ohlcv["volume"]
    return (vol - talib.SMA(vol, 20)) / talib.STDDEV(vol, 20, 1)


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
    obv = talib.OBV(ohlcv["close"], ohlcv["volume"])
    return talib.MOM(obv, 20) / talib.SUM(ohlcv["volume"], 20)
