"""Leakage canaries on hand-built and real data: each fires on what it is meant to catch and stays quiet
on honest inputs (including a class balance that shifts between training and test windows)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blofin_stack.features import REGISTRY
from blofin_stack.features.registry import FeatureSpec
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.ml import labels
from blofin_stack.ml.canaries import alignment, permutation_lift, permutation_verdict, too_good


# ------------------------------------------------------------------------------------------------ too good
@pytest.mark.parametrize(
    ("label", "timeframe", "accuracy", "passed"),
    [
        (labels.direction(12), "5m", 0.70, False),  # 1 hour ahead at 70 %: not believable
        (labels.direction(12), "5m", 0.60, True),
        (labels.direction(12), "1H", 0.70, True),  # 12 hours ahead: outside the bound's scope
        (labels.forward_volatility(12), "5m", 0.90, True),  # not a direction label
    ],
)
def test_too_good(label: labels.LabelSpec, timeframe: str, accuracy: float, passed: bool) -> None:
    verdict = too_good(label, timeframe, accuracy, 0.65)
    assert verdict.passed is passed
    if not passed:
        assert f"{accuracy:.3f} > 0.65" in verdict.detail


# --------------------------------------------------------------------------------------------- permutation
def test_permutation_lift_sees_rows_not_class_balance() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(4000) < 0.6).astype(int)  # test window: 60 % up (training majority was down)
    knows = permutation_lift("classification", y, y.copy(), rng)
    assert knows[0] == pytest.approx(1 - (0.6**2 + 0.4**2), abs=0.03) and knows[0] > 10 * knows[1]
    # a no-information model predicting a 50/50 mix beats "always down" by ~10 points here, not chance
    guess = rng.integers(0, 2, 4000)
    lift, error = permutation_lift("classification", y, guess, rng)
    assert np.mean(guess == y) - np.mean(y == 0) > 0.05
    assert abs(lift) < 3 * error + 0.01
    assert permutation_verdict([(lift, error)] * 2, "accuracy").passed
    assert not permutation_verdict([knows] * 2, "accuracy").passed
    anti = permutation_lift("classification", y, 1 - y, rng)  # the exact opposite knows the rows just as well
    assert anti[0] < -0.3 and not permutation_verdict([anti], "accuracy").passed


def test_permutation_lift_for_regressors_is_relative_to_the_chance_error() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(0, 0.01, 3000)
    lift, error = permutation_lift("regression", y, y + rng.normal(0, 0.001, 3000), rng)
    assert lift > 0.8 and error < 0.05
    noise_lift, noise_error = permutation_lift("regression", y, rng.normal(0, 0.01, 3000), rng)
    assert abs(noise_lift) < 3 * noise_error + 0.01
    verdict = permutation_verdict([(noise_lift, noise_error)], "mae")
    assert verdict.passed and "chance" in verdict.detail
    assert permutation_verdict([], "mae").passed


# ------------------------------------------------------------------------------------------------ alignment
@pytest.fixture(scope="module")
def bars(btc_1m: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"BTC-USDT": resample_ohlcv(btc_1m.iloc[: 15 * 1440], "5m")}


def planted(name: str, func: object, warmup: int = 0) -> FeatureSpec:
    return FeatureSpec(name, "custom", func, warmup, "planted by a test", "fraction", "test")  # type: ignore[arg-type]


def test_alignment_passes_causal_features(bars: dict[str, pd.DataFrame]) -> None:
    verdict = alignment(bars, ["rsi_14", "roc_10", "atr_pct_14"], labels.direction(12), "5m")
    assert verdict.passed, verdict.detail


def test_alignment_catches_a_feature_that_encodes_the_label(
    bars: dict[str, pd.DataFrame], isolated_plugins: None
) -> None:
    label = labels.direction(12)
    future = labels.forward_return(12)
    REGISTRY.register(planted("leak_future_return", lambda b: future.func(b)))
    # a smoothed copy: no longer equal, still tied to the label at lag 0 only
    REGISTRY.register(planted("leak_blurred", lambda b: future.func(b).rolling(3, min_periods=1).mean()))
    verdict = alignment(bars, ["rsi_14", "leak_future_return", "leak_blurred"], label, "5m")
    assert not verdict.passed
    assert "feature leak_future_return fails the look-ahead audit" in verdict.detail
    assert "feature leak_future_return equals the label's defining series" in verdict.detail
    assert "feature leak_blurred tracks the label's defining series at lag 0" in verdict.detail
    assert "rsi_14" not in verdict.detail
