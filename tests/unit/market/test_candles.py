"""Candle aggregation on hand-built bars with hand-computed results, plus one check against pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blofin_stack.market.candles import resample_ohlcv, trades_to_candles

MIN = 60_000
HOUR = 60 * MIN
T = 1_746_316_800_000  # 2025-05-04T00:00:00Z

# Ten 1m bars from T; the 5m results below are computed by hand from these rows.
OPEN = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
HIGH = [12, 15, 13, 14, 16, 17, 16.5, 20, 19, 19.5]
LOW = [9, 10, 8, 12, 13, 14, 15, 16, 14, 18]
CLOSE = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
VOLUME = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]


def minutes(*which: int) -> pd.DataFrame:
    """The hand-built 1m bars at the given minute offsets from ``T``."""
    rows = list(which)
    return pd.DataFrame(
        {
            "open": np.array(OPEN, dtype="float64")[rows],
            "high": np.array(HIGH, dtype="float64")[rows],
            "low": np.array(LOW, dtype="float64")[rows],
            "close": np.array(CLOSE, dtype="float64")[rows],
            "volume": np.array(VOLUME, dtype="float64")[rows],
        },
        index=pd.Index(np.array([T + m * MIN for m in rows], dtype="int64"), name="ts"),
    )


def as_rows(frame: pd.DataFrame) -> list[tuple[float, ...]]:
    return [(int(ts), *map(float, row)) for ts, row in zip(frame.index, frame.to_numpy(), strict=True)]


def test_1m_to_5m_values_and_open_time_labels() -> None:
    result = resample_ohlcv(minutes(*range(10)), "5m")
    assert as_rows(result) == [
        (T, 10.0, 16.0, 8.0, 15.0, 15.0),
        (T + 5 * MIN, 15.0, 20.0, 14.0, 20.0, 40.0),
    ]
    assert result.index.name == "ts" and result.index.dtype == np.int64
    assert list(result.columns) == ["open", "high", "low", "close", "volume"]


def test_bucket_is_open_inclusive_end_exclusive() -> None:
    result = resample_ohlcv(minutes(4, 5), "5m", until_ms=T + 10 * MIN)
    # minute 4 ends the first bucket [T, T+5m); minute 5 opens the next one
    assert as_rows(result) == [
        (T, 14.0, 16.0, 13.0, 15.0, 5.0),
        (T + 5 * MIN, 15.0, 17.0, 14.0, 16.0, 6.0),
    ]


def test_trailing_unfinished_bar_dropped_unless_until_says_finished() -> None:
    data = minutes(*range(7))  # the second 5m bucket has minutes 5 and 6 only, ending at T+7m
    assert resample_ohlcv(data, "5m").index.tolist() == [T]
    assert resample_ohlcv(data, "5m", until_ms=T + 10 * MIN - 1).index.tolist() == [T]
    finished = resample_ohlcv(data, "5m", until_ms=T + 10 * MIN)
    assert as_rows(finished) == [
        (T, 10.0, 16.0, 8.0, 15.0, 15.0),
        (T + 5 * MIN, 15.0, 17.0, 14.0, 17.0, 13.0),
    ]


def test_gap_inside_a_bucket_uses_the_minutes_that_exist() -> None:
    result = resample_ohlcv(minutes(0, 1, 3, 4), "5m")  # minute 2 missing
    assert as_rows(result) == [(T, 10.0, 16.0, 9.0, 15.0, 12.0)]


def test_empty_bucket_produces_no_bar() -> None:
    data = pd.concat([minutes(0, 1, 2, 3, 4), minutes(*range(5)).set_axis(T + np.arange(10, 15) * MIN)])
    data.index.name = "ts"
    result = resample_ohlcv(data, "5m")
    assert result.index.tolist() == [T, T + 10 * MIN]  # nothing invented for [T+5m, T+10m)
    assert result.loc[T + 10 * MIN].tolist() == [10.0, 16.0, 8.0, 15.0, 15.0]


def ramp(start: int, n: int) -> pd.DataFrame:
    """``n`` 1m bars from ``start``: open = close = i, high = i + 0.5, low = i - 0.5, volume 1."""
    i = np.arange(n, dtype="float64")
    return pd.DataFrame(
        {"open": i, "high": i + 0.5, "low": i - 0.5, "close": i, "volume": np.ones(n)},
        index=pd.Index(start + np.arange(n, dtype="int64") * MIN, name="ts"),
    )


def test_higher_timeframes_align_to_utc() -> None:
    data = ramp(T + 3 * HOUR + 30 * MIN, 360)  # 03:30 .. 09:29 UTC, i = 0 .. 359
    one_hour = resample_ohlcv(data, "1H")
    assert one_hour.index.tolist() == [T + h * HOUR for h in range(3, 9)]  # 09:00 is unfinished
    assert one_hour.loc[T + 3 * HOUR].tolist() == [0.0, 29.5, -0.5, 29.0, 30.0]  # 03:30-03:59
    assert one_hour.loc[T + 4 * HOUR].tolist() == [30.0, 89.5, 29.5, 89.0, 60.0]

    four_hours = resample_ohlcv(data, "4H", until_ms=T + 12 * HOUR)
    assert as_rows(four_hours) == [
        (T, 0.0, 29.5, -0.5, 29.0, 30.0),  # 00:00 bucket holds 03:30-03:59
        (T + 4 * HOUR, 30.0, 269.5, 29.5, 269.0, 240.0),
        (T + 8 * HOUR, 270.0, 359.5, 269.5, 359.0, 90.0),
    ]
    assert resample_ohlcv(data, "4H").index.tolist() == [T, T + 4 * HOUR]

    assert resample_ohlcv(data, "1D").empty  # the day is not over
    day = resample_ohlcv(data, "1D", until_ms=T + 24 * HOUR)
    assert as_rows(day) == [(T, 0.0, 359.5, -0.5, 359.0, 360.0)]  # labelled at UTC midnight


def test_1m_returns_the_closed_input_bars() -> None:
    data = minutes(0, 1, 2)
    pd.testing.assert_frame_equal(resample_ohlcv(data, "1m"), data)
    assert resample_ohlcv(data, "1m", until_ms=T + 2 * MIN).index.tolist() == [T, T + MIN]


def test_trades_to_1m_bars() -> None:
    trades = pd.DataFrame(
        {
            "ts": [
                T + 1_000,
                T + 20_000,
                T + 20_000,
                T + 59_999,
                T + MIN,
                T + 3 * MIN + 5_000,
                T + 3 * MIN + 30_000,
            ],
            "price": [100.0, 102.0, 98.5, 99.0, 101.0, 105.0, 104.0],
            "size": [1.0, 2.0, 0.25, 0.5, 1.0, 3.0, 1.0],
        }
    )
    bars = trades_to_candles(trades)
    # minute 0: first 100, max 102, min 98.5, last 99 (at 59.999 s), sum 3.75; minute 1: one trade;
    # minute 2 had no trades -> no bar; minute 3 is still trading (last trade at 3m30s) -> excluded
    assert as_rows(bars) == [
        (T, 100.0, 102.0, 98.5, 99.0, 3.75),
        (T + MIN, 101.0, 101.0, 101.0, 101.0, 1.0),
    ]
    finished = trades_to_candles(trades, until_ms=T + 4 * MIN)
    assert as_rows(finished)[-1] == (T + 3 * MIN, 105.0, 105.0, 104.0, 104.0, 4.0)
    assert finished.index.tolist() == [T, T + MIN, T + 3 * MIN]


def test_trades_with_equal_times_keep_exchange_order() -> None:
    trades = pd.DataFrame({"ts": [T, T, T], "price": [100.0, 103.0, 101.0], "size": [1.0, 1.0, 1.0]})
    bar = trades_to_candles(trades, until_ms=T + MIN)
    assert as_rows(bar) == [(T, 100.0, 103.0, 100.0, 101.0, 3.0)]


def test_unsorted_trades_are_refused() -> None:
    trades = pd.DataFrame({"ts": [T + 2_000, T + 1_000], "price": [1.0, 2.0], "size": [1.0, 1.0]})
    with pytest.raises(ValueError, match="sorted"):
        trades_to_candles(trades)


def test_real_btc_1m_to_5m_matches_pandas_resample(btc_1m: pd.DataFrame) -> None:
    ours = resample_ohlcv(btc_1m, "5m")

    timed = btc_1m.set_axis(pd.to_datetime(btc_1m.index, unit="ms", utc=True))
    expected = (
        timed.resample("5min", label="left", closed="left")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .dropna(subset=["open"])
    )
    expected.index = pd.Index(expected.index.as_unit("ms").asi8, name="ts")
    data_end = int(btc_1m.index[-1]) + MIN
    expected = expected[expected.index + 5 * MIN <= data_end]  # only finished buckets

    assert len(ours) > 8_000
    pd.testing.assert_frame_equal(ours, expected, check_exact=False, rtol=1e-12)
