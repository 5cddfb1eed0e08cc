"""Candle aggregation: 1m bars into higher timeframes, and trades into 1m bars.

Rules (the same as exchanges publish their own candles):

* a bar of timeframe ``tf`` covers ``[open, open + tf)`` and is labelled by its open time; buckets are
  aligned to multiples of ``tf`` from the Unix epoch, i.e. to UTC midnight for ``1D`` and to
  00:00/04:00/... UTC for ``4H``;
* open = first, high = max, low = min, close = last, volume = sum of the bars or trades inside it;
* a bucket with no data produces no bar: gaps are never filled with invented prices; a bucket with
  some minutes missing is built from the minutes that exist;
* the trailing bucket is dropped unless it is finished: ``open + tf <= until_ms``, where ``until_ms``
  defaults to the end of the last input bar (or, for trades, to the last trade's time, so the minute
  that is still trading is dropped).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from blofin_stack.market.store import OHLCV_COLUMNS, empty_ohlcv
from blofin_stack.market.timeframes import MINUTE_MS, timeframe_ms


def _aggregate(
    ts: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    step_ms: int,
    until_ms: int,
    extra: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    if len(ts) == 0:
        return empty_ohlcv()
    bucket = ts - ts % step_ms
    starts = np.concatenate(([0], np.flatnonzero(np.diff(bucket)) + 1))
    ends = np.concatenate((starts[1:], [len(ts)])) - 1
    frame = pd.DataFrame(
        {
            "open": open_[starts],
            "high": np.maximum.reduceat(high, starts),
            "low": np.minimum.reduceat(low, starts),
            "close": close[ends],
            "volume": np.add.reduceat(volume, starts),
            **{name: values[ends] for name, values in (extra or {}).items()},
        },
        index=pd.Index(bucket[starts], name="ts"),
    )
    return frame[frame.index.to_numpy() + step_ms <= until_ms]


def resample_ohlcv(
    candles: pd.DataFrame, timeframe: str, *, until_ms: int | None = None, source_step_ms: int = MINUTE_MS
) -> pd.DataFrame:
    """Aggregate candles into ``timeframe`` bars (closed bars only).

    Args:
        candles: house OHLCV layout, int64 ``ts`` index of open times (ms UTC, sorted, unique) of bars
            ``source_step_ms`` long (1m by default; any timeframe that divides the target works).
        timeframe: target timeframe (``1m 5m 15m 1H 4H 1D`` or an alias such as ``60m``).
        until_ms: the time up to which data is complete (ms). Default: end of the last input bar.
        source_step_ms: bar length of ``candles`` in ms.

    Returns:
        OHLCV frame of the target timeframe in the same layout; a target equal to the source returns the
        input's closed bars. Other columns (e.g. ``funding_rate``) carry the value of the bucket's last bar.

    Raises:
        TimeframeError: unknown timeframe.
        ValueError: the target is shorter than the source or not a multiple of it.
    """
    step = timeframe_ms(timeframe)
    if step < source_step_ms or step % source_step_ms:
        raise ValueError(f"cannot aggregate {source_step_ms // MINUTE_MS}m bars into {timeframe} bars")
    ts = candles.index.to_numpy(dtype="int64")
    if until_ms is None:
        until_ms = int(ts[-1]) + source_step_ms if len(ts) else 0
    if step == source_step_ms:
        return candles.loc[ts + step <= until_ms]
    cols = [candles[name].to_numpy(dtype="float64") for name in OHLCV_COLUMNS]
    extra = {name: candles[name].to_numpy() for name in candles.columns if name not in OHLCV_COLUMNS}
    open_, high, low, close, volume = cols
    return _aggregate(ts, open_, high, low, close, volume, step_ms=step, until_ms=until_ms, extra=extra)


def trades_to_candles(trades: pd.DataFrame, *, until_ms: int | None = None) -> pd.DataFrame:
    """Build 1m candles from trades.

    Args:
        trades: columns ``ts`` (int64 trade time, ms UTC), ``price`` (USDT), ``size`` (base currency),
            in exchange order (ascending ``ts``; ties keep their order, e.g. by trade id).
        until_ms: the time up to which trades are complete. Default: the last trade's time, so the
            minute that may still receive trades is not emitted.

    Returns:
        OHLCV frame of 1m bars; minutes without trades have no bar.

    Raises:
        ValueError: trades not sorted by ``ts``.
    """
    ts = trades["ts"].to_numpy(dtype="int64")
    if len(ts) and np.any(np.diff(ts) < 0):
        raise ValueError("trades must be sorted by ts")
    price = trades["price"].to_numpy(dtype="float64")
    size = trades["size"].to_numpy(dtype="float64")
    if until_ms is None:
        until_ms = int(ts[-1]) if len(ts) else 0
    return _aggregate(ts, price, price, price, price, size, step_ms=MINUTE_MS, until_ms=until_ms)


def attach_funding(bars: pd.DataFrame, funding: pd.DataFrame, step_ms: int) -> pd.DataFrame:
    """``bars`` with a ``funding_rate`` column: the last settlement **strictly before** each bar's close.

    A settlement at the very instant a bar closes is not counted as known at that close.

    Args:
        bars: house OHLCV layout, bars ``step_ms`` long.
        funding: int64 ``ts`` index of settlement times (ms, ascending), float64 ``funding_rate``.
        step_ms: bar length in ms.

    Returns:
        A copy of ``bars`` with float64 ``funding_rate`` (fraction per funding interval; NaN before the
        first settlement).
    """
    closes = bars.index.to_numpy(dtype="int64") + step_ms
    settled = funding.index.to_numpy(dtype="int64")
    position = np.searchsorted(settled, closes, side="left") - 1
    rates = funding["funding_rate"].to_numpy(dtype="float64")
    values = np.where(position >= 0, rates[np.maximum(position, 0)], np.nan)
    return bars.assign(funding_rate=values)
