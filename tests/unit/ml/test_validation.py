"""Out-of-sample metrics against scikit-learn, baselines by hand, lift signs, aggregation over folds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from blofin_stack.ml.validation import (
    aggregate,
    baseline_predictions,
    classification_metrics,
    evaluate,
    lift,
    regression_metrics,
)


def _binary(n: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(float)
    p1 = np.clip(0.4 + 0.3 * (y - 0.4) + 0.2 * rng.standard_normal(n), 0.01, 0.99)
    proba = np.column_stack([1 - p1, p1])
    return y, (p1 > 0.5).astype(float), proba


def _multi(n: int = 500, seed: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(float)
    logits = rng.standard_normal((n, 3))
    logits[np.arange(n), y.astype(int)] += 1.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba.argmax(axis=1).astype(float), proba


def test_binary_classification_metrics_match_sklearn() -> None:
    y, pred, proba = _binary()
    got = classification_metrics(y, pred, proba, [0.0, 1.0])
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba))


def test_multiclass_metrics_are_macro_and_one_vs_rest() -> None:
    y, pred, proba = _multi()
    got = classification_metrics(y, pred, proba, [0.0, 1.0, 2.0])
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, average="macro"))
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba))


def test_roc_auc_is_none_when_a_class_is_missing_from_the_test_labels() -> None:
    y, pred, proba = _multi()
    keep = y != 2.0
    got = classification_metrics(y[keep], pred[keep], proba[keep], [0.0, 1.0, 2.0])
    assert got["roc_auc"] is None
    assert got["log_loss"] == pytest.approx(skm.log_loss(y[keep], proba[keep], labels=[0.0, 1.0, 2.0]))
    yb, pb, probab = _binary()
    only_zero = yb == 0.0
    assert classification_metrics(yb[only_zero], pb[only_zero], probab[only_zero], [0.0, 1.0])["roc_auc"] is None


def test_a_class_the_model_never_saw_costs_log_loss() -> None:
    y = np.array([0.0, 1.0, 2.0, 1.0])
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5], [0.4, 0.6]])  # model knows classes 0 and 1 only
    got = classification_metrics(y, proba.argmax(axis=1).astype(float), proba, [0.0, 1.0])
    full = np.column_stack([proba, np.zeros(4)])
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, full, labels=[0.0, 1.0, 2.0]))
    assert got["log_loss"] > 5  # the unseen class gets ~machine-epsilon probability
    assert got["f1"] == pytest.approx(skm.f1_score(y, proba.argmax(axis=1), average="macro", labels=[0, 1, 2]))


def test_classification_without_probabilities_and_bad_shapes() -> None:
    y, pred, proba = _binary()
    got = classification_metrics(y, pred)
    assert got["roc_auc"] is None and got["log_loss"] is None and got["accuracy"] is not None
    with pytest.raises(ValueError, match="proba must have shape"):
        classification_metrics(y, pred, proba[:, :1], [0.0, 1.0])
    with pytest.raises(ValueError, match="rows"):
        classification_metrics(y, pred[:-1])


def test_regression_metrics_match_sklearn_and_mape_skips_zero_targets() -> None:
    rng = np.random.default_rng(3)
    y = rng.standard_normal(300)
    y[::10] = 0.0
    pred = y + 0.3 * rng.standard_normal(300)
    got = regression_metrics(y, pred)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert got["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(y, pred)))
    assert got["r2"] == pytest.approx(skm.r2_score(y, pred))
    nz = y != 0
    assert got["mape"] == pytest.approx(np.mean(np.abs(pred[nz] - y[nz]) / np.abs(y[nz])))
    assert regression_metrics(np.zeros(5), np.ones(5))["mape"] is None
    assert regression_metrics([1.0], [2.0])["r2"] is None


def test_majority_baseline_from_training_labels_with_training_frequencies() -> None:
    y_train = np.array([0, 0, 1, 2, 2, 2], dtype=float)
    pred, proba, classes = baseline_predictions("classification", y_train, 4, classes=[0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(pred, [2.0] * 4)
    np.testing.assert_allclose(proba, [[2 / 6, 1 / 6, 3 / 6, 0.0]] * 4)
    assert classes == [0.0, 1.0, 2.0, 3.0]
    tie, _, _ = baseline_predictions("classification", np.array([1.0, 0.0, 1.0, 0.0]), 1)
    assert tie[0] == 0.0  # ties go to the smallest class


def test_regression_baselines_use_the_training_labels_only() -> None:
    y_train = np.array([1.0, 2.0, 3.0, 6.0])
    zero, _, _ = baseline_predictions("regression", y_train, 3)
    np.testing.assert_array_equal(zero, [0.0, 0.0, 0.0])
    mean, _, _ = baseline_predictions("regression", y_train, 3, baseline="mean")
    np.testing.assert_array_equal(mean, [3.0, 3.0, 3.0])
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_predictions("regression", y_train, 3, baseline="median")
    with pytest.raises(ValueError, match="majority"):
        baseline_predictions("classification", y_train, 3, baseline="mean")


def test_last_value_baseline_uses_labels_known_horizon_rows_earlier_per_instrument() -> None:
    y_train = np.array([1.0, 10.0, 2.0, 20.0, 3.0, 30.0])
    g_train = np.array(["A", "B", "A", "B", "A", "B"])
    y_test = np.array([4.0, 40.0, 5.0, 50.0, 6.0, 60.0])
    g_test = g_train.copy()
    pred, _, _ = baseline_predictions(
        "regression", y_train, 6, baseline="last", y_test=y_test, horizon=2, groups_train=g_train, groups_test=g_test
    )
    # A: train 1 2 3, test 4 5 6 -> forecasts 2 3 4 (the label 2 rows earlier); B likewise
    np.testing.assert_array_equal(pred, [2.0, 20.0, 3.0, 30.0, 4.0, 40.0])
    flat, _, _ = baseline_predictions("regression", [1.0], 3, baseline="last", y_test=[5.0, 6.0, 7.0], horizon=2)
    np.testing.assert_array_equal(flat, [1.0, 1.0, 5.0])  # training mean before any label is known
    with pytest.raises(ValueError, match="needs y_test"):
        baseline_predictions("regression", y_train, 6, baseline="last")


def test_lift_is_positive_when_the_model_is_better() -> None:
    model = {"accuracy": 0.6, "log_loss": 0.60, "mae": 1.0, "rmse": 2.0, "r2": 0.1, "mape": 0.5, "roc_auc": None}
    base = {"accuracy": 0.5, "log_loss": 0.69, "mae": 1.5, "rmse": 2.5, "r2": 0.0, "mape": 0.4, "roc_auc": 0.5}
    got = lift(model, base)
    assert got["accuracy"] == pytest.approx(0.1)
    assert got["log_loss"] == pytest.approx(0.09)
    assert got["mae"] == pytest.approx(0.5)
    assert got["rmse"] == pytest.approx(0.5)
    assert got["r2"] == pytest.approx(0.1)
    assert got["mape"] == pytest.approx(-0.1)  # worse MAPE: negative lift
    assert got["roc_auc"] is None


def test_evaluate_classifier_against_majority() -> None:
    y_train = np.array([0, 0, 0, 1] * 25, dtype=float)
    y_test = np.array([0, 1] * 20, dtype=float)
    proba = np.column_stack([1 - y_test * 0.9, y_test * 0.9 + 0.05])
    proba = proba / proba.sum(axis=1, keepdims=True)
    result = evaluate("classification", y_train, y_test, y_test, proba, classes=[0.0, 1.0])
    assert result["oos"]["accuracy"] == 1.0
    assert result["baseline"]["accuracy"] == 0.5  # majority class 0 on a balanced test set
    assert result["baseline"]["roc_auc"] == pytest.approx(0.5)
    assert result["baseline"]["log_loss"] == pytest.approx(-(np.log(0.75) + np.log(0.25)) / 2)
    assert result["lift"]["accuracy"] == pytest.approx(0.5)
    assert result["lift"]["log_loss"] > 0
    assert result["baseline_kind"] == "majority"
    assert (result["n_train"], result["n_test"]) == (100, 40)


def test_evaluate_regressor_with_mean_and_zero_baselines() -> None:
    y_train = np.array([1.0, 3.0])
    y_test = np.array([2.0, 2.0, 4.0])
    pred = np.array([2.0, 2.0, 3.0])
    by_mean = evaluate("regression", y_train, y_test, pred, baseline="mean")
    assert by_mean["baseline"]["mae"] == pytest.approx((0 + 0 + 2) / 3)
    assert by_mean["oos"]["mae"] == pytest.approx(1 / 3)
    assert by_mean["lift"]["mae"] == pytest.approx(1 / 3)
    by_zero = evaluate("regression", y_train, y_test, pred)
    assert by_zero["baseline_kind"] == "zero"
    assert by_zero["baseline"]["mae"] == pytest.approx(8 / 3)


def test_aggregate_plain_and_sample_weighted() -> None:
    folds = [
        {
            "oos": {"accuracy": 0.5, "roc_auc": None},
            "baseline": {"accuracy": 0.5},
            "lift": {"accuracy": 0.0},
            "n_test": 100,
        },
        {
            "oos": {"accuracy": 0.6, "roc_auc": 0.6},
            "baseline": {"accuracy": 0.5},
            "lift": {"accuracy": 0.1},
            "n_test": 300,
        },
        {
            "oos": {"accuracy": 0.7, "roc_auc": 0.7},
            "baseline": {"accuracy": 0.4},
            "lift": {"accuracy": 0.3},
            "n_test": 100,
        },
    ]
    plain = aggregate(folds)
    assert plain["folds"] == 3 and plain["weighting"] == "plain"
    assert plain["mean"]["oos"]["accuracy"] == pytest.approx(0.6)
    assert plain["std"]["oos"]["accuracy"] == pytest.approx(np.std([0.5, 0.6, 0.7], ddof=1))
    assert plain["mean"]["oos"]["roc_auc"] == pytest.approx(0.65)
    assert plain["counts"]["oos"]["roc_auc"] == 2
    assert plain["mean"]["lift"]["accuracy"] == pytest.approx(0.4 / 3)
    weighted = aggregate(folds, weighting="samples")
    assert weighted["mean"]["oos"]["accuracy"] == pytest.approx((0.5 * 100 + 0.6 * 300 + 0.7 * 100) / 500)
    one = aggregate(folds[:1])
    assert one["std"]["oos"]["accuracy"] is None
    assert one["mean"]["oos"]["roc_auc"] is None
    with pytest.raises(ValueError, match="weighting"):
        aggregate(folds, weighting="median")
