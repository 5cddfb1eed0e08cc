"""Training one model of the zoo: purged walk-forward validation, leakage canaries, the deployed fit.

For each walk-forward fold (:class:`~blofin_stack.ml.splits.WalkForward`) a fresh estimator is fitted on
the fold's training window only (its scaler included) and scored on the fold's test window next to the
naive baseline (:func:`~blofin_stack.ml.validation.evaluate`). The canaries run on the same folds. The
model that is stored and used is then fitted on the most recent training window.

The model's **skill**, used to rank models, is its out-of-sample improvement over the baseline, scaled so
that 0 is the baseline and 100 perfect: for classifiers ``(accuracy - baseline accuracy) /
(1 - baseline accuracy)``, for regressors ``(baseline MAE - MAE) / baseline MAE``, averaged over folds, x 100.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from blofin_stack.market.timeframes import DAY_MS
from blofin_stack.ml.base import Dataset, ModelSpec
from blofin_stack.ml.canaries import CanaryResult, permutation_lift, permutation_verdict, too_good
from blofin_stack.ml.splits import Fold
from blofin_stack.ml.validation import aggregate, evaluate


@dataclass
class TrainingResult:
    """What training one model produced.

    Attributes:
        folds: per fold: its boundaries (``Fold.describe()``) and ``evaluate``'s output.
        summary: :func:`~blofin_stack.ml.validation.aggregate` over the folds.
        skill: see the module docstring (None when no fold could be scored).
        status: ``candidate`` or ``suspect``; ``reasons``: why suspect (empty otherwise).
        estimator: fitted on the most recent training window (the deployed model).
        oos: per fold, ``(test positions, predictions)``: probabilities of the positive/each class for
            classifiers, values for regressors (for ensembles and stacking).
        importances: feature -> importance of the deployed model, when the model has them.
    """

    spec: ModelSpec
    features: list[str]
    folds: list[dict[str, Any]]
    summary: dict[str, Any]
    skill: float | None
    status: str
    reasons: list[str]
    canaries: list[CanaryResult]
    estimator: Any = field(repr=False)
    oos: list[tuple[np.ndarray, np.ndarray]] = field(repr=False)
    importances: dict[str, float] | None
    train_window: tuple[int, int]
    samples: int
    seconds: float


def _rows(spec: ModelSpec, rows: np.ndarray) -> np.ndarray:
    if spec.max_train_samples is not None and len(rows) > spec.max_train_samples:
        return rows[-spec.max_train_samples :]
    return rows


def _fitted(spec: ModelSpec, X: np.ndarray, y: np.ndarray) -> Any:
    """A fresh estimator of ``spec`` fitted on ``X``, ``y`` (scaler included). Epoch caps are deliberate,
    so an optimiser stopping at its cap is not worth a warning."""
    estimator = spec.make(spec.hyperparams)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    return estimator


def _fit_predict(
    spec: ModelSpec, data: Dataset, train: np.ndarray, test: np.ndarray, y_train: np.ndarray
) -> tuple[Any, np.ndarray, np.ndarray | None]:
    estimator = _fitted(spec, data.X.iloc[train].to_numpy(), y_train)
    X_test = data.X.iloc[test].to_numpy()
    prediction = np.asarray(estimator.predict(X_test))
    proba = np.asarray(estimator.predict_proba(X_test)) if spec.task == "classification" else None
    return estimator, prediction, proba


def _score(spec: ModelSpec, data: Dataset, fold: Fold, y_train: np.ndarray, baseline: str | None) -> dict[str, Any]:
    """One fold: fit on the fold's training rows (the last ``max_train_samples`` of them for a capped
    model), score on its test rows beside the baseline of the WHOLE training fold (the same baseline for
    every model of the dataset, capped or not)."""
    train = _rows(spec, fold.train)
    estimator, prediction, proba = _fit_predict(spec, data, train, fold.test, y_train[-len(train) :])
    classes = getattr(estimator, "classes_", None)
    result = evaluate(
        spec.task,
        y_train,
        data.y.iloc[fold.test].to_numpy(),
        prediction,
        proba,
        classes=None if classes is None else list(classes),
        baseline=baseline,
        horizon=data.label.horizon,
        groups_train=data.inst[fold.train],
        groups_test=data.inst[fold.test],
    )
    result["_prediction"] = proba if proba is not None else prediction
    result["_predicted"] = prediction
    return result


def skill_of(task: str, summary: dict[str, Any]) -> float | None:
    """Out-of-sample skill over the baseline, 0 = baseline, 100 = perfect (module docstring)."""
    mean = summary.get("mean", {})
    oos, base = mean.get("oos", {}), mean.get("baseline", {})
    if task == "classification":
        model, reference = oos.get("accuracy"), base.get("accuracy")
        if model is None or reference is None or reference >= 1:
            return None
        return 100.0 * (model - reference) / (1.0 - reference)
    model, reference = oos.get("mae"), base.get("mae")
    if model is None or not reference:
        return None
    return 100.0 * (reference - model) / reference


def _importances(estimator: Any, features: Sequence[str]) -> dict[str, float] | None:
    for step in (estimator, *getattr(estimator, "named_steps", {}).values()):
        model = getattr(step, "estimator", step)
        values = getattr(model, "feature_importances_", None)
        if values is not None and len(values) == len(features):
            return {f: float(v) for f, v in zip(features, values, strict=True)}
    return None


def train_model(
    spec: ModelSpec,
    data: Dataset,
    folds: Sequence[Fold],
    *,
    train_days: float = 7.0,
    baseline: str | None = None,
    max_direction_accuracy: float = 0.65,
    permutation_folds: int = 2,
    extra_canaries: Sequence[CanaryResult] = (),
    seed: int = 0,
    deploy_end: int | None = None,
) -> TrainingResult:
    """Validate ``spec`` on ``data`` over ``folds``, run the canaries, and fit the deployed model.

    Args:
        spec: the model (its ``make`` builds a fresh pipeline each time).
        data: the dataset (features in ``data.features`` order).
        folds: purged, embargoed walk-forward folds of ``data``.
        train_days: length of the deployed model's training window (the most recent days of samples).
        baseline: the regression baseline (``zero``, ``mean``, ``last``; see ``validation``).
        max_direction_accuracy: the "too good" bound for direction models.
        permutation_folds: how many folds the permutation canary retrains on shuffled labels.
        extra_canaries: canaries run by the caller (e.g. :func:`~blofin_stack.ml.canaries.alignment`).
        seed: the label shuffle's seed.
        deploy_end: the deployed model trains on samples whose labels are known by this time (ms): the
            ``train_days`` before it. Default: the newest data. Set it before the strategies' backtest
            window (minus the embargo) so that backtests using the model are out of sample.

    Raises:
        ValueError: no folds.
    """
    if not folds:
        raise ValueError(f"{spec.name}: no walk-forward folds to validate on")
    started = time.perf_counter()
    y = data.y.to_numpy()
    results, oos = [], []
    for fold in folds:
        scored = _score(spec, data, fold, y[fold.train], baseline)
        oos.append((fold.test, scored.pop("_prediction")))
        scored.pop("_predicted")
        results.append({**fold.describe(), **scored})
    summary = aggregate(results)
    skill = skill_of(spec.task, summary)

    rng = np.random.default_rng(seed)
    primary = "accuracy" if spec.task == "classification" else "mae"
    shuffled_lifts = []
    for fold in folds[:permutation_folds]:
        scored = _score(spec, data, fold, rng.permutation(y[fold.train]), baseline)
        shuffled_lifts.append(permutation_lift(spec.task, y[fold.test], scored["_predicted"], rng))
    canaries = [
        permutation_verdict(shuffled_lifts, primary),
        too_good(data.label, data.timeframe, summary["mean"]["oos"].get("accuracy"), max_direction_accuracy),
        *extra_canaries,
    ]
    reasons = [c.detail for c in canaries if not c.passed]

    latest = int(data.t_end.max()) if deploy_end is None else deploy_end
    recent = np.flatnonzero((data.t_end <= latest) & (data.t >= latest - int(train_days * DAY_MS)))
    if len(recent) == 0:
        raise ValueError(f"{spec.name}: no samples with labels known by {latest} to fit the deployed model on")
    recent = _rows(spec, recent)
    estimator = _fitted(spec, data.X.iloc[recent].to_numpy(), y[recent])
    return TrainingResult(
        spec=spec,
        features=list(data.features),
        folds=results,
        summary=summary,
        skill=skill,
        status="suspect" if reasons else "candidate",
        reasons=reasons,
        canaries=canaries,
        estimator=estimator,
        oos=oos,
        importances=_importances(estimator, data.features),
        train_window=(int(data.t[recent].min()), int(data.t_end[recent].max())),
        samples=len(data),
        seconds=time.perf_counter() - started,
    )
