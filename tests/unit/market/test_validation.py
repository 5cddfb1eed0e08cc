"""validate_candles: one test per rule (rejection, file, row and rule in the message), and the happy path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blofin_stack.market.validation import CandleValidationError, Violation, validate_candles

T0 = 1_746_373_740_000  # 2025-05-04T15:49:00Z, a whole minute
SOURCE = "BTC-USDT.csv.gz"


def good_rows(n: int = 5) -> pd.DataFrame:
    """``n`` valid 1m candles in file order: open 100+i, high +2, low -1, close +1, volume 10+i."""
    base = np.arange(n, dtype="float64")
    return pd.DataFrame(
        {
            "ts": T0 + np.arange(n, dtype="int64") * 60_000,
            "open": 100 + base,
            "high": 102 + base,
            "low": 99 + base,
            "close": 101 + base,
            "volume": 10 + base,
        }
    )


def rejection(raw: pd.DataFrame) -> CandleValidationError:
    with pytest.raises(CandleValidationError) as info:
        validate_candles(raw, SOURCE)
    return info.value


def assert_names(error: CandleValidationError, row: int, rule: str) -> None:
    """The message names the file, the row and the rule; the error carries the same facts."""
    message = str(error)
    assert message.startswith(f"{SOURCE}: rejected")
    assert f"row {row} " in message
    assert f"{rule}:" in message
    assert error.source == SOURCE
    assert all(isinstance(v, Violation) for v in error.violations)
    assert (row, rule) in {(v.row, v.rule) for v in error.violations}
    assert error.counts[rule] >= 1


def test_valid_candles_pass_and_come_back_in_house_layout() -> None:
    raw = good_rows(4)
    frame = validate_candles(raw, SOURCE)
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame.index.name == "ts"
    assert frame.index.dtype == np.int64
    assert all(frame[c].dtype == np.float64 for c in frame.columns)
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert frame.index.tolist() == [T0, T0 + 60_000, T0 + 120_000, T0 + 180_000]
    assert frame.loc[T0 + 60_000].tolist() == [101.0, 103.0, 100.0, 102.0, 11.0]


def test_text_numbers_and_int_prices_are_converted_to_float() -> None:
    raw = good_rows(2).astype({"open": "int64"}).astype({"close": str})
    frame = validate_candles(raw, SOURCE)
    assert frame["open"].tolist() == [100.0, 101.0]
    assert frame["close"].tolist() == [101.0, 102.0]
    assert frame["close"].dtype == np.float64


def test_empty_input_gives_empty_house_frame() -> None:
    frame = validate_candles(good_rows(0), SOURCE)
    assert frame.empty and frame.index.dtype == np.int64


def test_missing_column_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"missing column.*volume"):
        validate_candles(good_rows(2).drop(columns="volume"), SOURCE)


def test_nan() -> None:
    raw = good_rows()
    raw.loc[2, "close"] = np.nan
    error = rejection(raw)
    assert_names(error, row=3, rule="nan")
    assert error.counts == {"nan": 1}
    assert "missing close" in str(error)


def test_nan_in_ts() -> None:
    raw = good_rows().astype({"ts": "float64"})
    raw.loc[0, "ts"] = np.nan
    error = rejection(raw)
    assert_names(error, row=1, rule="nan")
    assert "row 1 (ts=nan): nan: missing ts" in str(error)


def test_non_numeric() -> None:
    raw = good_rows().astype({"high": object})
    raw.loc[1, "high"] = "abc"
    error = rejection(raw)
    assert_names(error, row=2, rule="non_numeric")
    assert "high='abc'" in str(error)
    assert error.counts == {"non_numeric": 1}


def test_infinite_value_is_non_numeric() -> None:
    raw = good_rows()
    raw.loc[4, "volume"] = np.inf
    assert_names(rejection(raw), row=5, rule="non_numeric")


def test_non_positive_price() -> None:
    raw = good_rows()
    raw.loc[3, ["open", "low"]] = [0.0, -1.0]
    error = rejection(raw)
    assert_names(error, row=4, rule="non_positive_price")
    assert "open=0.0, low=-1.0 <= 0" in str(error)


def test_high_below_body() -> None:
    raw = good_rows()
    raw.loc[1, ["open", "high", "low", "close"]] = [95010.0, 95000.0, 94000.0, 95001.0]
    error = rejection(raw)
    assert_names(error, row=2, rule="high_below_body")
    assert "high=95000.0 < max(open=95010.0, close=95001.0)" in str(error)
    assert error.counts == {"high_below_body": 1}


def test_low_above_body() -> None:
    raw = good_rows()
    raw.loc[4, "low"] = 104.5  # open 104, close 105: the low must not exceed 104
    error = rejection(raw)
    assert_names(error, row=5, rule="low_above_body")
    assert "low=104.5 > min(open=104.0, close=105.0)" in str(error)


def test_high_below_low() -> None:
    raw = good_rows()
    # high >= open = close, so the high is fine against the body; a high below the low always puts
    # the low above the body too, so both rules fire
    raw.loc[0, ["open", "high", "low", "close"]] = [101.0, 101.5, 101.8, 101.0]
    error = rejection(raw)
    assert_names(error, row=1, rule="high_below_low")
    assert "high=101.5 < low=101.8" in str(error)
    assert error.counts == {"low_above_body": 1, "high_below_low": 1}


def test_negative_volume() -> None:
    raw = good_rows()
    raw.loc[2, "volume"] = -0.5
    error = rejection(raw)
    assert_names(error, row=3, rule="negative_volume")
    assert "volume=-0.5 < 0" in str(error)
    assert error.counts == {"negative_volume": 1}


def test_zero_volume_is_valid() -> None:
    raw = good_rows()
    raw.loc[2, "volume"] = 0.0
    assert validate_candles(raw, SOURCE)["volume"].iloc[2] == 0.0


def test_duplicate_ts() -> None:
    raw = good_rows()
    raw.loc[3, "ts"] = raw.loc[2, "ts"]
    error = rejection(raw)
    assert_names(error, row=4, rule="duplicate_ts")
    assert f"ts={T0 + 120_000} already on row 3" in str(error)
    assert error.counts == {"duplicate_ts": 1}


def test_unsorted_ts() -> None:
    raw = good_rows()
    raw.loc[[1, 2], "ts"] = raw.loc[[2, 1], "ts"].to_numpy()
    error = rejection(raw)
    assert_names(error, row=3, rule="unsorted_ts")
    assert error.counts == {"unsorted_ts": 1}


def test_off_minute_ts() -> None:
    raw = good_rows()
    raw.loc[4, "ts"] += 1_500
    error = rejection(raw)
    assert_names(error, row=5, rule="off_minute_ts")
    assert "remainder 1500" in str(error)


def test_ts_out_of_range_before_2009_and_from_2100() -> None:
    raw = good_rows(3)
    raw["ts"] = [
        1_230_767_940_000,  # 2008-12-31T23:59:00Z: rejected
        1_230_768_000_000,  # 2009-01-01T00:00:00Z: first accepted minute
        4_102_444_800_000,  # 2100-01-01T00:00:00Z: rejected
    ]
    error = rejection(raw)
    assert_names(error, row=1, rule="ts_out_of_range")
    assert_names(error, row=3, rule="ts_out_of_range")
    assert error.counts == {"ts_out_of_range": 2}


def test_ts_in_microseconds_is_out_of_range() -> None:
    raw = good_rows()
    raw["ts"] *= 1000
    error = rejection(raw)
    assert_names(error, row=1, rule="ts_out_of_range")
    assert error.counts == {"ts_out_of_range": 5}


def test_message_counts_per_rule_and_shows_at_most_five_examples() -> None:
    raw = good_rows(20)
    raw.loc[[3, 7, 11, 15], "volume"] = -1.0
    raw.loc[[5, 9, 13], "close"] = np.nan
    error = rejection(raw)
    message = str(error)
    assert message.startswith(f"{SOURCE}: rejected, 7 violations (negative_volume: 4, nan: 3); ")
    assert error.total == 7
    assert [v.row for v in error.violations] == [4, 6, 8, 10, 12, 14, 16]
    shown = [f"row {r} " for r in (4, 6, 8, 10, 12)]
    assert all(s in message for s in shown)
    assert "row 14 " not in message
    assert message.endswith("; ...")
