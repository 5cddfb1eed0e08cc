"""Higher-timeframe features joined onto lower bars use only higher bars closed by the lower bar's close."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blofin_stack.features import FeatureError, UnknownFeatureError, compute_features, max_warmup
from blofin_stack.features.registry import REGISTRY, ema_warmup

M5 = 300_000
H1 = 3_600_000
DAY0 = 1_748_736_000_000  # 2025-06-01 00:00 UTC


def five_minute_bars(start: int, count: int) -> pd.DataFrame:
    """5m bars whose close is the bar's position (0, 1, 2, ...) so values identify bars."""
    ts = start + M5 * np.arange(count)
    close = np.arange(count, dtype=float)
    return pd.DataFrame(
        {"open": close, "high": close + 0.5, "low": close - 0.5, "close": close, "volume": 1.0},
        index=pd.Index(ts, name="ts"),
    )


def test_hour_value_appears_on_the_5m_bar_that_closes_the_hour() -> None:
    bars = five_minute_bars(DAY0, 36)  # three full hours
    got = compute_features(bars, ["1H:close"])["1H:close"].to_numpy()
    # hour 0 is bars 0..11 (close of the hour = close of bar 11); it becomes known at bar 11's close
    assert np.isnan(got[:11]).all()
    assert (got[11:23] == 11).all()
    assert (got[23:35] == 23).all()
    assert got[35] == 35


def test_partly_covered_first_hour_is_dropped() -> None:
    bars = five_minute_bars(DAY0 + 30 * 60_000, 30)  # starts at 00:30: the 00:00 hour is incomplete
    got = compute_features(bars, ["1H:close"])["1H:close"].to_numpy()
    # bars 0..5 are 00:30..00:55 (incomplete hour, dropped); hour 01:00 is bars 6..17, closing at bar 17
    assert np.isnan(got[:17]).all()
    assert (got[17:29] == 17).all()


def test_gap_keeps_the_last_closed_value() -> None:
    bars = five_minute_bars(DAY0, 48).drop(index=DAY0 + M5 * np.arange(12, 24))  # hour 1 missing entirely
    got = compute_features(bars, ["1H:close"])["1H:close"].to_numpy()
    # rows: hour 0 (12 bars), hour 2 (12 bars), hour 3 (12 bars)
    assert (got[11:23] == 11).all()  # during hour 2, the newest closed hour on record is hour 0
    assert got[23] == 35  # hour 2 closes at its last bar (close value = bar position 35)


def test_higher_timeframe_feature_is_causal(btc_1m: pd.DataFrame) -> None:
    from blofin_stack.market.candles import resample_ohlcv

    bars = resample_ohlcv(btc_1m.iloc[-12_000:], "5m")
    names = ["1H:ema_21", "4H:rsi_14", "15m:close"]
    full = compute_features(bars, names)
    for cut in np.linspace(400, len(bars) - 1, 25).astype(int):
        prefix = compute_features(bars.iloc[: cut + 1], names)
        pd.testing.assert_frame_equal(prefix, full.iloc[: cut + 1])


def test_lower_timeframe_prefix_is_refused() -> None:
    hourly = five_minute_bars(DAY0, 12)
    hourly.index = pd.Index(DAY0 + H1 * np.arange(12), name="ts")
    with pytest.raises(FeatureError, match="5m is not a higher timeframe"):
        compute_features(hourly, ["5m:close"])


def test_names_and_warmups() -> None:
    spec = REGISTRY.resolve("60m:ema_21")
    assert spec.name == "1H:ema_21" and spec.timeframe == "1H" and spec.warmup_bars == ema_warmup(21)
    assert max_warmup(["1H:ema_21", "rsi_14"], "5m") == (ema_warmup(21) + 2) * 12
    with pytest.raises(ValueError, match="pass timeframe"):
        max_warmup(["1H:ema_21"])
    with pytest.raises(UnknownFeatureError, match="unknown timeframe '7X'"):
        REGISTRY.resolve("7X:ema_21")
    with pytest.raises(UnknownFeatureError, match="cannot be nested"):
        REGISTRY.resolve("4H:1H:ema_21")
