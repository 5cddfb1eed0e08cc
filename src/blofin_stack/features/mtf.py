"""Multi-timeframe features: a feature of a higher timeframe joined onto lower bars, causally.

``1H:ema_21`` on 5m bars: the 5m bars are aggregated into 1H bars, ``ema_21`` is computed on those,
and each 5m bar gets the value of the newest 1H bar that had **closed by the 5m bar's close**: for a
lower bar opening at ``t`` with length ``s``, the higher bar opening at ``T`` (length ``S``) counts when
``T + S <= t + s``. A first higher bar that the lower bars only partly cover is dropped (its OHLC would
be wrong), and a missing higher bar (a gap) leaves the last known value in force (an as-of join).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.market.timeframes import timeframe_ms


def bar_step_ms(ohlcv: pd.DataFrame) -> int:
    """Bar length of ``ohlcv`` in ms: the smallest step between open times (0 for fewer than 2 bars)."""
    ts = ohlcv.index.to_numpy(dtype="int64")
    return int(np.diff(ts).min()) if len(ts) > 1 else 0


def higher_timeframe_values(
    ohlcv: pd.DataFrame, timeframe: str, compute: Callable[[pd.DataFrame], pd.Series]
) -> np.ndarray:
    """``compute`` evaluated on ``timeframe`` bars built from ``ohlcv`` and joined back onto its bars.

    Args:
        ohlcv: house OHLCV layout of the lower timeframe.
        timeframe: the higher timeframe (``15m 1H 4H 1D``...).
        compute: the feature function to run on the higher bars.

    Returns:
        float64 array aligned to ``ohlcv`` (NaN before the first closed higher bar).

    Raises:
        ValueError: ``timeframe`` is shorter than the bars of ``ohlcv``.
    """
    n = len(ohlcv)
    out = np.full(n, np.nan)
    step = bar_step_ms(ohlcv)
    if step == 0:
        return out
    high_step = timeframe_ms(timeframe)
    if high_step < step:
        raise ValueError(f"{timeframe} is not a higher timeframe than the {step // 60_000}m bars it is joined onto")
    ts = ohlcv.index.to_numpy(dtype="int64")
    if ts[0] % high_step:  # the first higher bar is only partly covered: skip to the next boundary
        first = np.searchsorted(ts, ts[0] - ts[0] % high_step + high_step)
        ohlcv = ohlcv.iloc[first:]
    if len(ohlcv) == 0:
        return out
    higher = resample_ohlcv(ohlcv, timeframe, until_ms=int(ts[-1]) + step, source_step_ms=step)
    if len(higher) == 0:
        return out
    values = np.asarray(compute(higher), dtype="float64")
    newest_closed = (ts + step) // high_step * high_step - high_step  # open time of the newest closed bar
    position = np.searchsorted(higher.index.to_numpy(dtype="int64"), newest_closed, side="right") - 1
    known = position >= 0
    out[known] = values[position[known]]
    return out
