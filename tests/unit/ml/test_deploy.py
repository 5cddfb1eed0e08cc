"""Deploying stored models into trading: the active entry classifier becomes model features and the active
exit model the position model; the ML strategies can run; a retired model's features go; a model whose
features are missing is refused with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blofin_stack.features import REGISTRY, UnknownFeatureError, compute_features
from blofin_stack.features.registry import FeatureSpec
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.ml import deploy
from blofin_stack.ml.deploy import activate_trading_models
from blofin_stack.ml.models import get_spec
from blofin_stack.ml.serving import POSITION_MODELS
from blofin_stack.ml.store import load_model, save_model, update_status
from blofin_stack.strategies import get_strategy

ENTRY_INPUTS = ["rsi_14", "roc_10", "trade_side"]
EXIT_INPUTS = ["rsi_14", "trade_side", "bars_held", "open_return"]


@pytest.fixture(scope="module")
def bars(btc_1m: pd.DataFrame) -> pd.DataFrame:
    return resample_ohlcv(btc_1m.iloc[: 6 * 1440], "5m")


@pytest.fixture
def fresh(isolated_plugins: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """No model deployed in this process before the test, none after it."""
    monkeypatch.setattr(deploy, "_DEPLOYED", {})
    for name in list(POSITION_MODELS):
        monkeypatch.delitem(POSITION_MODELS, name)


def store_model(root: Path, name: str, inputs: list[str], available_from: int, status: str = "active") -> Path:
    """A zoo model fitted on random inputs, stored with the given status and ``available_from``."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, len(inputs)))
    y = (X[:, 0] + rng.standard_normal(300) > 0).astype(float)
    spec = get_spec(name, features=tuple(inputs))
    estimator = spec.make(spec.hyperparams).fit(X, y)
    metadata = {"status": status, "training": {"available_from": available_from}}
    return save_model(root, spec, estimator, metadata, {"features": inputs, "timeframe": "5m"})


def test_active_entry_classifier_becomes_features_and_the_strategies_run(
    bars: pd.DataFrame, tmp_path: Path, fresh: None
) -> None:
    assert get_strategy("ml_gbt_5m").unavailable_reason() is not None
    start = int(bars.index[len(bars) // 2])
    folder = store_model(tmp_path, "ml_entry_classifier", ENTRY_INPUTS, start)
    served = activate_trading_models(tmp_path)
    assert served["ml_entry_classifier"] == folder.name and "no active version" in served["ml_exit_timing"]
    assert get_strategy("ml_gbt_5m").unavailable_reason() is None
    assert get_strategy("ema_crossover_ml").unavailable_reason() is None
    assert "exit model" in (get_strategy("macd_crossover_mlexit").unavailable_reason() or "")

    out = compute_features(bars, ["ml:ml_entry_classifier:long", "ml:ml_entry_classifier:short"])
    assert out[out.index < start].isna().all().all()
    estimator, _, _ = load_model(folder)
    inputs = compute_features(bars, ENTRY_INPUTS[:2]).loc[out.index >= start]
    X = np.column_stack([inputs.to_numpy(), np.ones(len(inputs))])
    np.testing.assert_allclose(
        out.loc[out.index >= start, "ml:ml_entry_classifier:long"], estimator.predict_proba(X)[:, 1]
    )

    # loaded once per process: a second call does not read the model files again
    def boom(path: Path) -> None:
        raise AssertionError("reloaded")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deploy, "load_stored", boom)
        assert activate_trading_models(tmp_path)["ml_entry_classifier"] == folder.name

    # retired: the features go and the strategies say why they cannot run
    update_status(folder, "archived", "superseded")
    assert "no active version" in activate_trading_models(tmp_path)["ml_entry_classifier"]
    with pytest.raises(UnknownFeatureError):
        REGISTRY.resolve("ml:ml_entry_classifier:long")
    assert get_strategy("ml_gbt_5m").unavailable_reason() is not None


def test_active_exit_model_becomes_the_position_model(tmp_path: Path, fresh: None) -> None:
    folder = store_model(tmp_path, "ml_exit_timing", EXIT_INPUTS, 1_700_000_000_000)
    assert activate_trading_models(tmp_path)["ml_exit_timing"] == folder.name
    model = POSITION_MODELS["ml_exit_timing"]
    assert model.inputs == tuple(EXIT_INPUTS) and model.available_from == 1_700_000_000_000
    assert model.bar_features == ["rsi_14"]
    strategy = get_strategy("macd_crossover_mlexit")
    assert strategy.unavailable_reason() is None and "rsi_14" in strategy.features_for(strategy.resolve_params())


def test_suspect_or_unloadable_models_are_not_served(tmp_path: Path, fresh: None) -> None:
    store_model(tmp_path, "ml_entry_classifier", ENTRY_INPUTS, 0, status="suspect")
    assert "no active version" in activate_trading_models(tmp_path)["ml_entry_classifier"]
    # a model trained on a plugin feature that is not loaded in this process
    REGISTRY.register(FeatureSpec("plugin_only", "custom", lambda b: b["close"], 0, "a plugin feature", "USDT", "test"))
    folder = store_model(tmp_path, "ml_entry_classifier", ["plugin_only", "trade_side"], 0)
    REGISTRY.unregister("plugin_only")
    served = activate_trading_models(tmp_path)["ml_entry_classifier"]
    assert served.startswith(f"{folder.name} cannot be loaded") and "plugin_only" in served
    assert get_strategy("ml_gbt_5m").unavailable_reason() is not None
