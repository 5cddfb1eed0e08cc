"""compute_features, FeatureManager and hand-checked values of a few features."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blofin_stack.features import (
    REGISTRY,
    FeatureError,
    FeatureManager,
    FeatureSpec,
    UnknownFeatureError,
    compute_features,
)
from blofin_stack.features.registry import FeatureRegistry
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import MINUTE_MS

DAY_MS = 86_400_000
INST = "BTC-USDT"
STORED_DAYS = 4


def _frame(rows: Sequence[tuple[float, float, float, float]], first_ts: int) -> pd.DataFrame:
    """1m OHLCV bars from (high, low, close, volume) rows; open = previous close (or close)."""
    high, low, close, volume = (np.array(col, dtype="float64") for col in zip(*rows, strict=True))
    open_ = np.concatenate(([close[0]], close[:-1]))
    index = pd.Index(first_ts + MINUTE_MS * np.arange(len(rows)), name="ts")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index)


@pytest.fixture
def midnight_bars() -> pd.DataFrame:
    """Six 1m bars, 23:58 to 00:03 UTC: two before midnight, four after."""
    rows = [(102, 98, 100, 1), (106, 100, 103, 3), (111, 105, 108, 2), (99, 93, 96, 6), (100, 94, 97, 2)]
    rows.append((98, 92, 95, 4))
    return _frame(rows, first_ts=20_000 * DAY_MS - 2 * MINUTE_MS)


def _assert_close(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal within 1e-6 relative to each value or to the column's median magnitude."""
    assert list(got.columns) == list(expected.columns)
    assert got.index.equals(expected.index)
    for name in got:
        scale = float(np.nanmedian(np.abs(expected[name])))
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, atol=1e-6 * scale, err_msg=name)


# ---------------------------------------------------------------------------------- compute_features
def test_compute_features_shape_and_dtype(midnight_bars: pd.DataFrame) -> None:
    names = ["close", "rsi_14", "vwap", "rsi_21", "close"]
    out = compute_features(midnight_bars, names)
    assert list(out.columns) == ["close", "rsi_14", "vwap", "rsi_21"]
    assert out.index.equals(midnight_bars.index)
    assert (out.dtypes == "float64").all()


def test_every_registered_feature_computes(btc_1m: pd.DataFrame) -> None:
    out = compute_features(btc_1m.iloc[:2000], REGISTRY.names())
    assert out.shape == (2000, len(REGISTRY.names()))
    assert (out.dtypes == "float64").all()


def test_typo_names_a_suggestion(midnight_bars: pd.DataFrame) -> None:
    with pytest.raises(UnknownFeatureError, match="did you mean bbands_width"):
        compute_features(midnight_bars, ["bbands_widht"])


@pytest.mark.parametrize(
    "func",
    [
        lambda o: o["close"].iloc[1:],
        lambda o: o["close"].set_axis(o.index + 1),
        lambda o: o["no_such_column"],
    ],
    ids=["short", "shifted-index", "raises"],
)
def test_misaligned_or_failing_feature_raises(midnight_bars: pd.DataFrame, func) -> None:
    registry = FeatureRegistry()
    registry.register(FeatureSpec("bad", "custom", func, 0, "bad", "USDT", "test"))
    with pytest.raises(FeatureError, match="'bad'"):
        compute_features(midnight_bars, ["bad"], registry)


# ------------------------------------------------------------------------------ hand-checked values
def test_price_features_by_hand(midnight_bars: pd.DataFrame) -> None:
    out = compute_features(midnight_bars, ["returns", "hl2", "donchian_high_3"])
    np.testing.assert_allclose(out["returns"], [np.nan, 0.03, 108 / 103 - 1, 96 / 108 - 1, 97 / 96 - 1, 95 / 97 - 1])
    np.testing.assert_allclose(out["hl2"], [100, 103, 108, 96, 97, 95])
    np.testing.assert_allclose(out["donchian_high_3"], [np.nan, np.nan, 111, 111, 111, 100])


def test_vwap_restarts_at_utc_midnight(midnight_bars: pd.DataFrame) -> None:
    out = compute_features(midnight_bars, ["vwap", "vwap_distance"])
    # typical prices (h + l + c) / 3: 100, 103 | 108, 96, 97, 95; volumes 1, 3 | 2, 6, 2, 4
    expected = [100, (100 + 3 * 103) / 4, 108, (2 * 108 + 6 * 96) / 8, (2 * 108 + 6 * 96 + 2 * 97) / 10]
    expected.append((2 * 108 + 6 * 96 + 2 * 97 + 4 * 95) / 14)
    np.testing.assert_allclose(out["vwap"], expected)
    closes = midnight_bars["close"].to_numpy()
    np.testing.assert_allclose(out["vwap_distance"], [(c / v - 1) * 100 for c, v in zip(closes, expected, strict=True)])


def test_vwap_zscore_by_hand(midnight_bars: pd.DataFrame) -> None:
    z = compute_features(midnight_bars, ["vwap_zscore"])["vwap_zscore"].to_numpy()
    closes = midnight_bars["close"].to_numpy()
    # session 2: typical prices 108, 96, 97, 95 with volumes 2, 6, 2, 4; population variance weighted by volume
    prices, volumes = np.array([108.0, 96, 97, 95]), np.array([2.0, 6, 2, 4])
    for k in range(1, 4):
        p, v = prices[: k + 1], volumes[: k + 1]
        mean = (p * v).sum() / v.sum()
        sigma = math.sqrt(((p - mean) ** 2 * v).sum() / v.sum())
        assert math.isclose(z[2 + k], (closes[2 + k] - mean) / sigma, rel_tol=1e-9)
    assert z[0] == 0.0 and z[2] == 0.0  # a session's first bar has no band: no stretch


def test_volume_ratio_by_hand() -> None:
    volumes = [float(v % 7 + 1) for v in range(25)]
    bars = _frame([(101, 99, 100, v) for v in volumes], first_ts=0)
    out = compute_features(bars, ["volume_ratio"])["volume_ratio"].to_numpy()
    assert np.isnan(out[:19]).all()
    for t in range(19, 25):
        assert math.isclose(out[t], volumes[t] / (sum(volumes[t - 19 : t + 1]) / 20), rel_tol=1e-12)


# ----------------------------------------------------------------------------------- FeatureManager
@pytest.fixture
def store(tmp_path: Path, btc_1m: pd.DataFrame) -> MarketStore:
    """A market store holding the last few days of real BTC-USDT 1m candles."""
    market = MarketStore(tmp_path / "market")
    market.write_candles(INST, btc_1m.iloc[-STORED_DAYS * 1440 :])
    return market


def test_get_features_1m_matches_full_history(store: MarketStore) -> None:
    names = ["close", "rsi_14", "macd_signal_9", "bbands_width", "vwap", "volume_ratio", "adx_14"]
    got = FeatureManager(store).get_features(INST, "1m", names, lookback_bars=100)
    full = store.read_candles(INST)
    assert len(got) == 100
    assert got.index.dtype == "int64"
    assert got.index[-1] == store.last_ts(INST) == full.index[-1]
    _assert_close(got, compute_features(full, names).iloc[-100:])


def test_get_features_5m_ends_at_last_closed_bar(store: MarketStore) -> None:
    names = ["close", "rsi_14", "stoch_d", "sma_50", "atr_pct_14"]
    end_ms = store.last_ts(INST) - 7 * MINUTE_MS  # mid-bar: the 5m bar in progress is left out
    got = FeatureManager(store).get_features(INST, "5m", names, lookback_bars=60, end_ms=end_ms)
    bars = resample_ohlcv(store.read_candles(INST), "5m", until_ms=end_ms)
    assert len(got) == 60
    assert got.index[-1] + 5 * MINUTE_MS <= end_ms < got.index[-1] + 10 * MINUTE_MS
    assert got.index[-1] == bars.index[-1]
    _assert_close(got, compute_features(bars, names).iloc[-60:])


def test_list_available_features(store: MarketStore) -> None:
    listed = FeatureManager(store).list_available_features()
    exact = [entry for entry in listed if "family" not in entry]
    assert len(exact) >= 30
    for entry in exact:
        keys = {"name", "group", "description", "units", "warmup_bars", "timeframe", "source", "available_from"}
        assert set(entry) == keys
        assert all(value != "" for value in entry.values()), entry
        assert isinstance(entry["warmup_bars"], int)
    patterns = {entry["name"] for entry in listed if "family" in entry}
    assert {"rsi_{n}", "ema_{n}", "sma_{n}", "donchian_high_{n}", "atr_{n}", "cci_{n}"} <= patterns


def test_feature_groups(store: MarketStore) -> None:
    manager = FeatureManager(store)
    assert "rsi_14" in manager.get_feature_group("momentum")
    assert {"vwap", "volume_weighted_momentum"} <= set(manager.get_feature_group("volume_weighted"))
    with pytest.raises(ValueError, match="unknown feature group"):
        manager.get_feature_group("astrology")
