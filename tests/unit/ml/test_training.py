"""Training one model on real bars: walk-forward OOS metrics beside the baseline, the canaries, a capped
model judged against the same baseline, the deployed fit ending where it is told to."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from blofin_stack.features import REGISTRY
from blofin_stack.features.registry import FeatureSpec
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.market.timeframes import DAY_MS
from blofin_stack.ml import labels
from blofin_stack.ml.base import Dataset
from blofin_stack.ml.dataset import build_dataset
from blofin_stack.ml.models import get_spec
from blofin_stack.ml.splits import WalkForward
from blofin_stack.ml.training import train_model

FEATURES = ["rsi_14", "roc_10", "atr_pct_14", "bbands_percent_b"]
SPLIT = WalkForward(train_days=4, test_days=2, embargo_hours=2)


@pytest.fixture(scope="module")
def bars(btc_1m: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"BTC-USDT": resample_ohlcv(btc_1m.iloc[: 16 * 1440], "5m")}


@pytest.fixture(scope="module")
def data(bars: dict[str, pd.DataFrame]) -> Dataset:
    return build_dataset(bars, FEATURES, labels.direction(12), "5m")


def test_honest_features_score_near_the_baseline(data: Dataset) -> None:
    spec = get_spec("direction_logistic")
    folds = SPLIT.split(data)
    result = train_model(spec, data, folds, train_days=4)
    assert len(result.folds) == len(folds) >= 3
    for fold in result.folds:
        assert fold["baseline_kind"] == "majority" and fold["n_test"] > 0
        assert 0.35 < fold["oos"]["accuracy"] < 0.65
    assert result.status == "candidate" and result.reasons == []
    assert {c.name: c.passed for c in result.canaries} == {"permutation": True, "too_good": True}
    assert abs(result.skill or 0.0) < 25


def test_capped_model_is_judged_against_the_whole_folds_baseline(data: Dataset) -> None:
    folds = SPLIT.split(data)
    y = data.y.to_numpy()
    # the last 500 training rows of one fold have the other majority class than the whole fold
    assert any((y[f.train].mean() > 0.5) != (y[f.train[-500:]].mean() > 0.5) for f in folds)
    full = train_model(get_spec("direction_logistic"), data, folds, permutation_folds=0)
    capped = train_model(
        replace(get_spec("direction_logistic"), max_train_samples=500), data, folds, permutation_folds=0
    )
    for a, b in zip(full.folds, capped.folds, strict=True):
        assert a["baseline"] == b["baseline"]


def test_deployed_fit_ends_at_deploy_end(data: Dataset) -> None:
    end = int(data.t[len(data.t) // 2])
    result = train_model(get_spec("direction_logistic"), data, SPLIT.split(data), train_days=3, deploy_end=end)
    first, last = result.train_window
    assert last <= end and first >= end - 3 * DAY_MS - 5 * 60_000
    fitted_on = (data.t_end <= end) & (data.t >= end - 3 * DAY_MS)
    assert result.estimator.n_features_in_ == len(FEATURES) and fitted_on.sum() > 100
    with pytest.raises(ValueError, match="no samples with labels known by"):
        train_model(get_spec("direction_logistic"), data, SPLIT.split(data), deploy_end=int(data.t.min()) - 1)


def test_a_feature_that_encodes_the_label_makes_the_model_suspect(
    bars: dict[str, pd.DataFrame], isolated_plugins: None
) -> None:
    future = labels.forward_return(12)
    REGISTRY.register(FeatureSpec("peek", "custom", lambda b: future.func(b), 0, "planted leak", "fraction", "test"))
    data = build_dataset(bars, [*FEATURES, "peek"], labels.direction(12), "5m")
    result = train_model(get_spec("direction_logistic"), data, SPLIT.split(data))
    assert result.status == "suspect"
    assert result.summary["mean"]["oos"]["accuracy"] > 0.9
    verdicts = {c.name: c for c in result.canaries}
    assert not verdicts["too_good"].passed and "too good to be true" in result.reasons[0]
    assert "lift over chance" in verdicts["permutation"].detail  # it ran; whether it fires too is luck here
    assert np.isfinite(result.skill or np.nan)
