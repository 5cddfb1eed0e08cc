"""The ML cycle's rules by hand: which models are active, drift drops, feature pruning, labels and specs."""

from __future__ import annotations

import pytest

from blofin_stack.config import Settings
from blofin_stack.ml.base import TRADE_INPUTS
from blofin_stack.ml.dataset import SCALE_FREE_FEATURES
from blofin_stack.ml.deploy import available_features
from blofin_stack.pipeline.ml_cycle import (
    PRUNE_FRACTION,
    Entry,
    drop_pct,
    label_of_stored,
    model_spec,
    prune_features,
    select_active,
)


def test_the_top_k_by_skill_are_active_one_per_name_suspects_untouched() -> None:
    entries = [
        Entry("model_001", "direction_predictor", 2.0, "active", 1),
        Entry("model_002", "risk_scorer", 9.0, "candidate", 2),
        Entry("model_003", "direction_predictor", 3.0, "candidate", 3),  # a better version of model_001
        Entry("model_004", "price_predictor", -1.0, "candidate", 4),
        Entry("model_005", "momentum_classifier", 50.0, "suspect", 5),  # never active, whatever its skill
        Entry("model_006", "volatility_regressor", None, "candidate", 6),
        Entry("model_007", "ml_regime_detector", 1.0, "archived", 7),  # archived stays archived
        Entry("model_008", "ml_exit_timing", 3.0, "candidate", 8),  # ties model_003: the newer first
    ]
    plan = select_active(entries, keep=3)
    assert {k for k, (status, _) in plan.items() if status == "active"} == {"model_002", "model_008", "model_003"}
    assert plan["model_001"][0] == "archived" and "superseded by model_003" in plan["model_001"][1]
    assert plan["model_004"] == ("archived", "below the top 3 by out-of-sample skill (skill -1.00)")
    assert plan["model_006"] == ("archived", "no out-of-sample skill")
    assert "model_005" not in plan and "model_007" not in plan
    assert plan["model_002"][1].startswith("top 3 by out-of-sample skill (rank 1")
    # fewer candidates than places: all of them (one per name), even below the baseline
    assert select_active([Entry("a", "x", -3.0, "candidate")], keep=5) == {
        "a": ("active", "top 5 by out-of-sample skill (rank 1, skill -3.00)")
    }


def test_drop_pct_is_a_fall_of_accuracy_or_a_rise_of_mae_in_percent() -> None:
    assert drop_pct("accuracy", 0.50, 0.45) == pytest.approx(10.0)
    assert drop_pct("accuracy", 0.50, 0.55) == pytest.approx(-10.0)
    assert drop_pct("mae", 0.010, 0.012) == pytest.approx(20.0)
    assert drop_pct("mae", 0.010, 0.009) == pytest.approx(-10.0)
    assert drop_pct("accuracy", 0.0, 0.3) == 0.0


def test_pruning_drops_features_below_one_percent_of_the_top_and_keeps_trade_inputs() -> None:
    features = ["a", "b", "c", "d", *TRADE_INPUTS]
    importances = {"a": 0.5, "b": 0.5 * PRUNE_FRACTION, "c": 0.004, "d": 0.0, "trade_side": 0.0, "bars_held": 0.1}
    kept, dropped = prune_features(features, importances)
    assert dropped == ["c", "d"]  # b sits exactly at 1 % of the top: kept
    assert kept == ["a", "b", *TRADE_INPUTS]
    assert prune_features(features, None) == (features, [])


def test_labels_of_stored_models_and_available_features(settings: Settings) -> None:
    assert label_of_stored({"name": "direction_forest", "label_name": "direction_6"}).horizon == 6
    assert label_of_stored({"name": "risk_scorer", "label_name": "risk_score_12"}).name == "risk_score_12"
    trade = label_of_stored({"name": "ml_exit_timing", "label_name": "exit_timing", "horizon": 40})
    assert (trade.name, trade.task, trade.horizon) == ("exit_timing", "classification", 40)
    assert label_of_stored({"name": "risk_scorer", "label_name": "risk_score_48"}) is None  # not a label the zoo builds
    assert available_features(["rsi_14", "rsi_21", "1H:ema_21", "no_such_feature"]) == {
        "rsi_14",
        "rsi_21",
        "1H:ema_21",
        *TRADE_INPUTS,
    }


def test_model_specs_take_the_cycle_features_trade_inputs_and_horizon(settings: Settings) -> None:
    spec = model_spec("ml_exit_timing", ["rsi_14", "returns"], settings)
    assert spec.features == ("rsi_14", "returns", *TRADE_INPUTS)
    assert model_spec("ml_entry_classifier", list(SCALE_FREE_FEATURES), settings).features[-1] == "trade_side"
    short = settings.model_copy(update={"ml_horizon_bars": 6})
    assert model_spec("direction_logistic", ["rsi_14"], short).label.name == "direction_6"
    assert model_spec("risk_scorer", ["rsi_14"], short).label.name == "risk_score_12"  # its own horizon
