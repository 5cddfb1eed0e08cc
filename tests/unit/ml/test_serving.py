"""Model predictions as features: out of sample only (NaN before ``available_from``), equal to the
fitted pipeline's own predictions on the causal inputs, and passing the look-ahead audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from blofin_stack.audit.lookahead import audit_features
from blofin_stack.features import REGISTRY, compute_features
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.ml.serving import PositionModel, model_feature_specs, register_model_features
from helpers import toy_entry_model

INPUTS = ["rsi_14", "roc_10", "trade_side"]


@pytest.fixture(scope="module")
def bars(btc_1m: pd.DataFrame) -> pd.DataFrame:
    return resample_ohlcv(btc_1m.iloc[: 10 * 1440], "5m")


def fitted_classifier(bars: pd.DataFrame) -> Pipeline:
    return toy_entry_model(bars, INPUTS)


def test_entry_model_gives_long_and_short_probabilities_out_of_sample_only(
    bars: pd.DataFrame, isolated_plugins: None
) -> None:
    model = fitted_classifier(bars)
    start = int(bars.index[len(bars) // 2])
    specs = model_feature_specs("toy_entry", model, INPUTS, "5m", available_from=start, model_id="model_042")
    names = register_model_features(specs)
    assert names == ["ml:toy_entry:long", "ml:toy_entry:short"]
    assert REGISTRY.resolve("ml:toy_entry:long").warmup_bars == max(REGISTRY.resolve(n).warmup_bars for n in INPUTS[:2])
    out = compute_features(bars, names)
    before = out.index < start
    assert out[before].isna().all().all()  # the model's training period is never scored
    inputs = compute_features(bars, INPUTS[:2]).loc[~before]
    for name, side in (("ml:toy_entry:long", 1.0), ("ml:toy_entry:short", -1.0)):
        X = np.column_stack([inputs.to_numpy(), np.full(len(inputs), side)])
        expected = model.predict_proba(X)[:, 1]
        np.testing.assert_allclose(out.loc[~before, name].to_numpy(), expected)
    assert ((out.loc[~before] >= 0) & (out.loc[~before] <= 1)).all().all()
    assert not np.allclose(out.loc[~before, "ml:toy_entry:long"], out.loc[~before, "ml:toy_entry:short"])
    assert "model_042" in REGISTRY.resolve(names[0]).description


def test_model_features_pass_the_lookahead_audit(bars: pd.DataFrame, isolated_plugins: None) -> None:
    model = fitted_classifier(bars)
    names = register_model_features(
        model_feature_specs("toy_entry", model, INPUTS, "5m", available_from=int(bars.index[300]))
    )
    findings = audit_features(bars.iloc[:1500], names, timeframe="5m", n_cuts=20)
    assert [f.ok for f in findings] == [True, True], [f.detail for f in findings]


def test_regressor_gives_one_feature_and_position_models_none(bars: pd.DataFrame, isolated_plugins: None) -> None:
    x = compute_features(bars, ["rsi_14"]).dropna()
    target = bars["close"].pct_change().shift(-1).loc[x.index].fillna(0.0).to_numpy()
    regressor = LinearRegression().fit(x.to_numpy(), target)
    specs = model_feature_specs("toy_return", regressor, ["rsi_14"], "5m", available_from=0)
    assert [s.name for s in specs] == ["ml:toy_return"] and specs[0].units == "model output"
    register_model_features(specs)
    out = compute_features(bars, ["ml:toy_return"])["ml:toy_return"]
    valid = x.index
    np.testing.assert_allclose(out.loc[valid].to_numpy(), regressor.predict(x.to_numpy()))
    assert out.drop(valid).isna().all()  # warm-up bars: inputs missing, no prediction
    # an exit model needs the open position's state, which a bar feature cannot know
    assert model_feature_specs("toy_exit", regressor, ["rsi_14", "bars_held", "open_return"], "5m", 0) == []


def test_a_model_refuses_bars_of_another_timeframe(bars: pd.DataFrame, isolated_plugins: None) -> None:
    model = fitted_classifier(bars)
    names = register_model_features(model_feature_specs("toy_entry", model, INPUTS, "5m", available_from=0))
    one_minute = bars.set_axis(bars.index[0] + 60_000 * np.arange(len(bars)))
    with pytest.raises(ValueError, match="toy_entry is fitted on 5m bars; these bars are 1 minutes apart"):
        compute_features(one_minute, names[:1])
    exit_model = PositionModel("toy_exit", model, tuple(INPUTS), 0, "model_001", "5m")
    with pytest.raises(ValueError, match="toy_exit is fitted on 5m bars"):
        exit_model.exit_probability(one_minute, np.array([5]), 1.0, 1, 100.0)
