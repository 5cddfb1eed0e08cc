"""Out-of-sample metrics of one walk-forward fold, each beside a naive baseline and the lift over it.

Everything here is computed on the TEST rows of a fold; the baselines are fitted on the TRAINING labels
only and then applied to the test rows, exactly like a model.

**Classifiers** (:func:`classification_metrics`): ``accuracy``; ``precision``, ``recall`` and ``f1`` (binary
with the larger class as the positive one when the model's classes and the labels make two classes, macro
averages over the model's classes and any class only the test labels hold otherwise; 0 where undefined, e.g.
no positive prediction); ``roc_auc`` (binary, or one-vs-rest macro for more classes; ``None`` when a class is
missing from the test labels, where it is undefined); ``log_loss`` (natural log, per sample; classes the model
never saw get probability 0, clipped by scikit-learn to machine epsilon, so a model that cannot predict a
class pays for it). Baseline: the majority class of the training labels, with the training class frequencies
as its probabilities (ties go to the smallest class).

**Regressors** (:func:`regression_metrics`): ``mae``, ``rmse`` (label units), ``r2`` (``None`` with fewer than
two test rows), ``mape`` (mean of ``|y - yhat| / |y|`` over the test rows whose target is not zero, as a
fraction: 0.25 = 25 %; zero targets are left out because the ratio is undefined there; ``None`` when every
target is zero). For returns MAPE is dominated by targets near zero and says little; MAE and R2 are the
honest ones. Baselines (``baseline=``): ``zero`` (forecast 0: returns and changes), ``mean`` (the training
mean: volatility, risk score), ``last`` (persistence: the most recent label value known when the forecast
is made, i.e. the label of the sample ``horizon`` rows earlier within the same instrument, which became
known at the close of the forecast bar; before that the training labels supply it, and the training mean
where even those are missing).

**Lift** = model minus baseline for metrics where higher is better (accuracy, precision, recall, F1,
ROC-AUC, R2) and baseline minus model where lower is better (log loss, MAE, RMSE, MAPE): positive lift
always means the model beats the baseline. ``None`` where either side is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from sklearn import metrics as skm

Task = Literal["classification", "regression"]

#: Metrics where a higher value is better; all others are lower-is-better.
HIGHER_IS_BETTER = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "r2"})
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse", "r2", "mape")
BASELINES = ("majority", "zero", "mean", "last")


def _float(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _expand_proba(proba: np.ndarray, classes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Columns of ``proba`` (in ``classes`` order) placed at ``labels``; zero columns for unknown classes."""
    out = np.zeros((len(proba), len(labels)))
    where = np.searchsorted(labels, classes)
    out[:, where] = proba
    total = out.sum(axis=1, keepdims=True)  # float32 models (XGBoost) sum to 1 only approximately
    return np.divide(out, total, out=np.full_like(out, 1.0 / out.shape[1]), where=total > 0)


def classification_metrics(
    y_true: Any, y_pred: Any, proba: Any | None = None, classes: Sequence[Any] | None = None
) -> dict[str, float | None]:
    """Accuracy, precision, recall, F1, ROC-AUC and log loss of a classifier's test predictions.

    Args:
        y_true: test labels.
        y_pred: predicted classes.
        proba: predicted probabilities, one column per class in ``classes`` order (``None``: no ROC-AUC
            and log loss).
        classes: the classes the model knows (its ``classes_``), the column order of ``proba``;
            default: the sorted union of ``y_true`` and ``y_pred``.

    Returns:
        ``{accuracy, precision, recall, f1, roc_auc, log_loss}`` as floats, ``None`` where undefined.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} rows, y_pred {len(y_pred)}")
    if len(y_true) == 0:
        return dict.fromkeys(CLASSIFICATION_METRICS)
    known = np.unique(np.concatenate([y_true, y_pred])) if classes is None else np.asarray(classes)
    out: dict[str, float | None] = {"accuracy": _float(skm.accuracy_score(y_true, y_pred))}
    seen = np.unique(np.concatenate([known, y_true, y_pred]))
    if len(seen) <= 2:
        average, kw = "binary", {"pos_label": seen[-1]}
    else:
        average, kw = "macro", {"labels": seen}
    for name, func in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        out[name] = _float(func(y_true, y_pred, average=average, zero_division=0, **kw))
    out["roc_auc"] = None
    out["log_loss"] = None
    if proba is None:
        return out
    proba = np.asarray(proba, dtype="float64")
    if proba.ndim != 2 or proba.shape != (len(y_true), len(known)):
        raise ValueError(f"proba must have shape ({len(y_true)}, {len(known)}) (rows, classes); got {proba.shape}")
    labels = np.unique(np.concatenate([known, y_true]))
    full = _expand_proba(proba, known, labels)
    out["log_loss"] = _float(skm.log_loss(y_true, full, labels=labels))
    present = np.unique(y_true)
    if len(present) == len(labels) and len(labels) >= 2:
        if len(labels) == 2:
            out["roc_auc"] = _float(skm.roc_auc_score(y_true == labels[1], full[:, 1]))
        else:
            norm = full / np.clip(full.sum(axis=1, keepdims=True), 1e-300, None)
            out["roc_auc"] = _float(skm.roc_auc_score(y_true, norm, multi_class="ovr", average="macro", labels=labels))
    return out


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float | None]:
    """MAE, RMSE, R2 and MAPE (zero targets left out; a fraction) of a regressor's test predictions."""
    y_true = np.asarray(y_true, dtype="float64")
    y_pred = np.asarray(y_pred, dtype="float64")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} rows, y_pred {len(y_pred)}")
    if len(y_true) == 0:
        return dict.fromkeys(REGRESSION_METRICS)
    err = y_pred - y_true
    nonzero = y_true != 0
    return {
        "mae": _float(np.mean(np.abs(err))),
        "rmse": _float(np.sqrt(np.mean(err**2))),
        "r2": _float(skm.r2_score(y_true, y_pred)) if len(y_true) >= 2 else None,
        "mape": _float(np.mean(np.abs(err[nonzero]) / np.abs(y_true[nonzero]))) if nonzero.any() else None,
    }


def _last_values(
    y_train: np.ndarray,
    y_test: np.ndarray,
    horizon: int,
    groups_train: np.ndarray | None,
    groups_test: np.ndarray | None,
) -> np.ndarray:
    fallback = float(np.mean(y_train)) if len(y_train) else 0.0
    if groups_test is None:
        groups_train = np.zeros(len(y_train), dtype=np.int64)
        groups_test = np.zeros(len(y_test), dtype=np.int64)
    elif groups_train is None:
        raise ValueError("groups_test given without groups_train")
    pred = np.full(len(y_test), fallback)
    for group in np.unique(groups_test):
        tr = y_train[groups_train == group]
        rows = np.flatnonzero(groups_test == group)
        series = np.concatenate([tr, y_test[rows]])
        source = len(tr) + np.arange(len(rows)) - horizon
        ok = source >= 0
        pred[rows[ok]] = series[source[ok]]
    return pred


def baseline_predictions(
    task: Task,
    y_train: Any,
    n_test: int,
    *,
    baseline: str | None = None,
    classes: Sequence[Any] | None = None,
    y_test: Any | None = None,
    horizon: int = 1,
    groups_train: Any | None = None,
    groups_test: Any | None = None,
) -> tuple[np.ndarray, np.ndarray | None, list[Any] | None]:
    """The naive forecast for ``n_test`` test rows, fitted on the training labels only.

    Args:
        task: ``classification`` or ``regression``.
        y_train: the training labels of the fold.
        n_test: number of test rows.
        baseline: ``majority`` (classification; the default there), ``zero`` (regression default),
            ``mean`` or ``last``.
        classes: classification only: the class order of the returned probabilities (default: the
            sorted training classes). Classes absent from training get probability 0.
        y_test, horizon, groups_train, groups_test: ``last`` only: the test labels (used only at a lag of
            ``horizon`` rows, i.e. once they are known), the label horizon in rows, and the instrument of
            each training and test row (rows of one instrument in time order).

    Returns:
        ``(predictions, probabilities, classes)``; the last two are ``None`` for regression.
    """
    y_train = np.asarray(y_train)
    if len(y_train) == 0:
        raise ValueError("no training labels: a baseline needs at least one")
    if task == "classification":
        if baseline not in (None, "majority"):
            raise ValueError(f"classification baseline must be 'majority', got {baseline!r}")
        values, counts = np.unique(y_train, return_counts=True)
        majority = values[np.argmax(counts)]
        order = values if classes is None else np.asarray(classes)
        freq = dict(zip(values.tolist(), (counts / counts.sum()).tolist(), strict=True))
        row = np.array([freq.get(c, 0.0) for c in order.tolist()])
        return np.full(n_test, majority), np.tile(row, (n_test, 1)), order.tolist()
    if task != "regression":
        raise ValueError(f"task must be classification or regression, got {task!r}")
    baseline = baseline or "zero"
    y_train = y_train.astype("float64")
    if baseline == "zero":
        return np.zeros(n_test), None, None
    if baseline == "mean":
        return np.full(n_test, float(np.mean(y_train))), None, None
    if baseline == "last":
        if y_test is None:
            raise ValueError("the 'last' baseline needs y_test (used only at a lag of `horizon` rows)")
        y_test = np.asarray(y_test, dtype="float64")
        if len(y_test) != n_test:
            raise ValueError(f"y_test has {len(y_test)} rows, n_test is {n_test}")
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1 for the 'last' baseline, got {horizon}")
        gtr = None if groups_train is None else np.asarray(groups_train)
        gte = None if groups_test is None else np.asarray(groups_test)
        return _last_values(y_train, y_test, horizon, gtr, gte), None, None
    raise ValueError(f"unknown baseline {baseline!r}; known: {', '.join(BASELINES)}")


def lift(model: Mapping[str, float | None], base: Mapping[str, float | None]) -> dict[str, float | None]:
    """Per metric, how much the model beats the baseline (positive = better, whatever the metric's sense)."""
    out: dict[str, float | None] = {}
    for name, value in model.items():
        other = base.get(name)
        if value is None or other is None:
            out[name] = None
        else:
            out[name] = value - other if name in HIGHER_IS_BETTER else other - value
    return out


def evaluate(
    task: Task,
    y_train: Any,
    y_test: Any,
    y_pred: Any,
    proba: Any | None = None,
    *,
    classes: Sequence[Any] | None = None,
    baseline: str | None = None,
    horizon: int = 1,
    groups_train: Any | None = None,
    groups_test: Any | None = None,
) -> dict[str, Any]:
    """One fold's out-of-sample metrics, the baseline's and the lift.

    ``classes``: the model's classes (column order of ``proba``), default the sorted union of the training
    and test labels. ``baseline`` (and for ``last``: ``horizon``, ``groups_*``): see
    :func:`baseline_predictions`.

    Returns:
        ``{"oos": {...}, "baseline": {...}, "lift": {...}, "baseline_kind": str, "n_train": int,
        "n_test": int}``.
    """
    y_train = np.asarray(y_train)
    y_test = np.asarray(y_test)
    n_test = len(y_test)
    if task == "classification":
        if classes is None:
            classes = np.unique(np.concatenate([y_train, y_test])).tolist()
        oos = classification_metrics(y_test, y_pred, proba, classes)
        base_pred, base_proba, base_classes = baseline_predictions(task, y_train, n_test, classes=classes)
        base = classification_metrics(y_test, base_pred, base_proba, base_classes)
        kind = "majority"
    else:
        oos = regression_metrics(y_test, y_pred)
        kind = baseline or "zero"
        base_pred, _, _ = baseline_predictions(
            task,
            y_train,
            n_test,
            baseline=kind,
            y_test=y_test,
            horizon=horizon,
            groups_train=groups_train,
            groups_test=groups_test,
        )
        base = regression_metrics(y_test, base_pred)
    return {
        "oos": oos,
        "baseline": base,
        "lift": lift(oos, base),
        "baseline_kind": kind,
        "n_train": len(y_train),
        "n_test": n_test,
    }


def aggregate(fold_results: Sequence[Mapping[str, Any]], weighting: str = "plain") -> dict[str, Any]:
    """Mean and standard deviation over folds of every metric of :func:`evaluate`'s results.

    ``weighting``: ``plain`` (default: each fold counts once, so a short last fold weighs as much as a full
    one: folds are the unit of evidence) or ``samples`` (weighted by each fold's ``n_test``). The standard
    deviation is the sample one across folds (ddof=1, weighted the same way; ``None`` with one fold). A
    metric that is ``None`` in a fold is left out for that fold; ``counts`` says how many folds each metric
    averages.

    Returns:
        ``{"mean": {"oos": {...}, "baseline": {...}, "lift": {...}}, "std": {...}, "counts": {...},
        "folds": n, "weighting": ...}``.
    """
    if weighting not in ("plain", "samples"):
        raise ValueError(f"weighting must be 'plain' or 'samples', got {weighting!r}")
    parts = ("oos", "baseline", "lift")
    mean: dict[str, dict[str, float | None]] = {p: {} for p in parts}
    std: dict[str, dict[str, float | None]] = {p: {} for p in parts}
    counts: dict[str, dict[str, int]] = {p: {} for p in parts}
    for part in parts:
        names: list[str] = []
        for fold in fold_results:
            names += [n for n in fold.get(part, {}) if n not in names]
        for name in names:
            values, weights = [], []
            for fold in fold_results:
                value = fold.get(part, {}).get(name)
                if value is not None:
                    values.append(float(value))
                    weights.append(float(fold.get("n_test", 1)) if weighting == "samples" else 1.0)
            counts[part][name] = len(values)
            if not values or sum(weights) <= 0:
                mean[part][name], std[part][name] = None, None
                continue
            v, w = np.asarray(values), np.asarray(weights)
            m = float(np.average(v, weights=w))
            mean[part][name] = m
            if len(v) < 2:
                std[part][name] = None
            else:
                # weighted sample variance with reliability weights (plain weights give the usual ddof=1)
                denom = w.sum() - (w**2).sum() / w.sum()
                std[part][name] = float(np.sqrt(np.sum(w * (v - m) ** 2) / denom)) if denom > 0 else None
    return {"mean": mean, "std": std, "counts": counts, "folds": len(fold_results), "weighting": weighting}
