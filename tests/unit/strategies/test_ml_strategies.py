"""Strategies that use the entry classifier: they say why they cannot run without it; with it, ``ml_gbt_5m``
enters exactly where the model is confident, an ML-filtered strategy keeps a subset of its base's entries,
both trade only on out-of-sample bars and pass the look-ahead audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blofin_stack.audit.lookahead import audit_strategy
from blofin_stack.backtest.engine import run_backtest
from blofin_stack.features import compute_features
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.ml.serving import model_feature_specs, register_model_features
from blofin_stack.strategies import get_strategy
from blofin_stack.strategies.base import frame_with_features
from blofin_stack.strategies.ema_crossover import EmaCrossover
from blofin_stack.strategies.ml_filter import ml_filtered
from helpers import toy_entry_model

LONG, SHORT = "ml:ml_entry_classifier:long", "ml:ml_entry_classifier:short"
INPUTS = ["rsi_14", "roc_10", "trade_side"]


@pytest.fixture(scope="module")
def bars(btc_1m: pd.DataFrame) -> pd.DataFrame:
    return resample_ohlcv(btc_1m.iloc[: 12 * 1440], "5m")


@pytest.fixture
def with_model(bars: pd.DataFrame, isolated_plugins: None) -> int:
    """Registers a toy entry classifier fitted on the first half; returns where its predictions start."""
    half = len(bars) // 2
    start = int(bars.index[half])
    model = toy_entry_model(bars.iloc[:half], INPUTS)
    register_model_features(model_feature_specs("ml_entry_classifier", model, INPUTS, "5m", start))
    return start


def signals_of(name: str, bars: pd.DataFrame, **params: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    strategy = get_strategy(name)
    resolved = strategy.resolve_params(params)
    frame = frame_with_features(bars, compute_features(bars, strategy.features_for(resolved)))
    return frame, strategy.signals(frame, resolved)


@pytest.mark.parametrize("name", ["ml_gbt_5m", "ema_crossover_ml"])
def test_without_a_model_they_say_why(name: str) -> None:
    reason = get_strategy(name).unavailable_reason()
    assert reason is not None and "entry classifier" in reason


def test_ml_gbt_5m_enters_where_the_model_is_confident(bars: pd.DataFrame, with_model: int) -> None:
    assert get_strategy("ml_gbt_5m").unavailable_reason() is None
    frame, signals = signals_of("ml_gbt_5m", bars, threshold=0.52)
    long_p, short_p = frame[LONG].to_numpy(), frame[SHORT].to_numpy()
    with np.errstate(invalid="ignore"):
        expected_long = (long_p >= 0.52) & (long_p > short_p)
        expected_short = (short_p >= 0.52) & (short_p > long_p)
    np.testing.assert_array_equal(signals["entry_long"].to_numpy(), expected_long)
    np.testing.assert_array_equal(signals["entry_short"].to_numpy(), expected_short)
    entries = signals["entry_long"] | signals["entry_short"]
    assert entries.sum() > 10 and not entries[bars.index < with_model].any()  # out of sample only
    result = run_backtest(
        get_strategy("ml_gbt_5m"), bars, inst_id="BTC-USDT", timeframe="5m", params={"threshold": 0.52}
    )
    assert len(result.trades) > 0 and (result.trades["entry_ts"] > with_model).all()
    finding = audit_strategy(bars, get_strategy("ml_gbt_5m"), {"threshold": 0.52}, n_cuts=15)
    assert finding.ok, finding.detail


def test_ml_filter_keeps_a_subset_of_the_base_entries(bars: pd.DataFrame, with_model: int) -> None:
    wrapped = ml_filtered(EmaCrossover)
    assert wrapped.name == "ema_crossover_ml" and wrapped.base_strategy == "ema_crossover"
    assert set(wrapped.params) == {*EmaCrossover.params, "ml_threshold"}
    frame, filtered = signals_of("ema_crossover_ml", bars, ml_threshold=0.5)
    _, plain = signals_of("ema_crossover", bars)
    for side, feature in (("long", LONG), ("short", SHORT)):
        with np.errstate(invalid="ignore"):
            confident = frame[feature].to_numpy() >= 0.5
        np.testing.assert_array_equal(filtered[f"entry_{side}"], plain[f"entry_{side}"].to_numpy() & confident)
        pd.testing.assert_series_equal(filtered[f"exit_{side}"], plain[f"exit_{side}"])
    kept = filtered[["entry_long", "entry_short"]].to_numpy().sum()
    assert 0 < kept < plain[["entry_long", "entry_short"]].to_numpy()[bars.index >= with_model].sum()
    assert audit_strategy(bars, get_strategy("ema_crossover_ml"), n_cuts=15).ok
