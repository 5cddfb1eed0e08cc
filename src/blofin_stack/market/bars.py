"""Loading closed bars of any timeframe from the 1m store, with warm-up history."""

from __future__ import annotations

import pandas as pd

from blofin_stack.market.candles import attach_funding, resample_ohlcv
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import MINUTE_MS, timeframe_ms


def load_bars(
    store: MarketStore,
    inst_id: str,
    timeframe: str,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    warmup_bars: int = 0,
) -> pd.DataFrame:
    """Closed ``timeframe`` bars of ``inst_id`` opening in ``[start_ms - warmup_bars bars, end_ms)``.

    Args:
        store: the market store.
        inst_id: instrument, e.g. ``BTC-USDT``.
        timeframe: ``1m 5m 15m 1H 4H 1D`` or an alias.
        start_ms: first bar open time of the window (ms UTC; aligned down to the timeframe);
            ``None`` = from the first stored bar.
        end_ms: data up to this time counts (ms UTC); only bars closed by then are returned.
            ``None`` = up to the end of the newest stored 1m bar.
        warmup_bars: extra bars of history to load before ``start_ms`` for indicator warm-up.

    Returns:
        House OHLCV frame (int64 ``ts`` index of open times in ms, float64 OHLCV), plus a
        ``funding_rate`` column when the store holds funding rates for ``inst_id``
        (:func:`~blofin_stack.market.candles.attach_funding`).

    Raises:
        UnknownInstrumentError, TimeframeError.
    """
    step = timeframe_ms(timeframe)
    end = end_ms if end_ms is not None else store.last_ts(inst_id) + MINUTE_MS
    begin = None if start_ms is None else (start_ms // step - warmup_bars) * step
    bars = resample_ohlcv(store.read_candles(inst_id, begin, end), timeframe, until_ms=end)
    funding = store.read_funding(inst_id)
    return bars if funding is None else attach_funding(bars, funding, step)
