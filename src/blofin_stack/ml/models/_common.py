"""Building blocks shared by the model modules: the scaler pipeline and three small meta-estimators.

Every zoo estimator is ``Pipeline([("scaler", StandardScaler()), ("model", <estimator>)])``: the scaler is a
pipeline step, so ``fit`` fits it on the training rows only and ``predict`` only applies it. The classes
here are plain scikit-learn estimators (``get_params``/``set_params``/``clone`` work, no pickling needed):

* :class:`EncodedXGBClassifier`: XGBoost needs class labels ``0..K-1`` in every training set; a walk-forward
  fold may miss a class (a 7-day window without a "volatile" regime), so the labels are encoded per fit
  and ``classes_`` holds the original values, exactly like a scikit-learn classifier.
* :class:`ClippedRegressor`: clips another regressor's predictions to a range (the risk score's 0-100).
* :class:`RecentSamplesClassifier`: trains the inner classifier on the most recent ``max_samples`` rows
  (rows arrive in time order), for estimators whose cost grows faster than linearly (an RBF SVM).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

#: The name of the last pipeline step (the model proper); the first is ``"scaler"``.
MODEL_STEP = "model"
SCALER_STEP = "scaler"


def scaled(model: Any) -> Pipeline:
    """``StandardScaler`` then ``model``: the scaler is fitted inside ``fit``, on training rows only."""
    return Pipeline([(SCALER_STEP, StandardScaler()), (MODEL_STEP, model)])


def final_estimator(estimator: Any) -> Any:
    """The model step of a zoo pipeline (or the estimator itself when it is not a pipeline)."""
    if isinstance(estimator, Pipeline):
        return estimator.steps[-1][1]
    return estimator


def merged(defaults: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """``defaults`` updated with ``overrides``; an unknown key is an error naming the known ones."""
    out = dict(defaults)
    for key, value in (overrides or {}).items():
        if key not in defaults:
            raise ValueError(f"unknown hyper-parameter {key!r}; known: {', '.join(sorted(defaults))}")
        out[key] = value
    return out


class EncodedXGBClassifier(ClassifierMixin, BaseEstimator):
    """XGBoost's ``XGBClassifier`` with any class labels (encoded to ``0..K-1`` per fit).

    Stored natively: :meth:`save_native` writes XGBoost's own JSON model; :meth:`from_native` rebuilds the
    estimator from it, its hyper-parameters and its classes (kept in the model's ``config.json``).
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_depth: int = 6,
        learning_rate: float = 0.1,
        subsample: float = 0.8,
        colsample_bytree: float = 1.0,
        min_child_weight: float = 1.0,
        reg_lambda: float = 1.0,
        tree_method: str = "hist",
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.tree_method = tree_method
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _booster_model(self) -> Any:
        from xgboost import XGBClassifier

        return XGBClassifier(**self.get_params())

    def fit(self, X: Any, y: Any) -> EncodedXGBClassifier:
        y = np.asarray(y)
        classes, encoded = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"training labels hold a single class ({classes.tolist()}); a classifier needs two")
        self.model_ = self._booster_model().fit(np.asarray(X, dtype="float64"), encoded)
        self.classes_ = classes
        self.n_features_in_ = int(np.asarray(X).shape[1])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(np.asarray(X, dtype="float64"))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    @property
    def feature_importances_(self) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.feature_importances_

    def save_native(self, path: Path) -> None:
        """XGBoost's JSON model file (``Booster.save_model``): no pickle."""
        check_is_fitted(self, "model_")
        self.model_.get_booster().save_model(str(path))

    @classmethod
    def from_native(
        cls, path: Path, params: Mapping[str, Any], classes: list[Any], n_features: int
    ) -> EncodedXGBClassifier:
        from xgboost import XGBClassifier

        est = cls(**params)
        model = XGBClassifier(**est.get_params())
        model.load_model(str(path))
        est.model_ = model
        est.classes_ = np.asarray(classes)
        est.n_features_in_ = int(n_features)
        return est


class ClippedRegressor(RegressorMixin, BaseEstimator):
    """``estimator``'s predictions clipped to ``[lower, upper]`` (``None``: unbounded on that side)."""

    def __init__(self, estimator: Any, lower: float | None = None, upper: float | None = None) -> None:
        self.estimator = estimator
        self.lower = lower
        self.upper = upper

    def fit(self, X: Any, y: Any) -> ClippedRegressor:
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.n_features_in_ = int(np.asarray(X).shape[1])
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return np.clip(self.estimator_.predict(X), self.lower, self.upper)

    @property
    def feature_importances_(self) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.feature_importances_


class RecentSamplesClassifier(ClassifierMixin, BaseEstimator):
    """Fits ``estimator`` on the last ``max_samples`` training rows (the most recent: rows are in time order).

    ``n_train_samples_`` records how many rows were used. ``max_samples=None`` keeps all.
    """

    def __init__(self, estimator: Any, max_samples: int | None = None) -> None:
        self.estimator = estimator
        self.max_samples = max_samples

    def fit(self, X: Any, y: Any) -> RecentSamplesClassifier:
        X = np.asarray(X, dtype="float64")
        y = np.asarray(y)
        if self.max_samples is not None and len(y) > self.max_samples:
            X, y = X[-self.max_samples :], y[-self.max_samples :]
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        self.n_train_samples_ = len(y)
        self.n_features_in_ = int(X.shape[1])
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    def decision_function(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)


def default_features() -> tuple[str, ...]:
    """The dataset's scale-free features (they pool across instruments): the zoo's default inputs."""
    from blofin_stack.ml import dataset

    return tuple(dataset.SCALE_FREE_FEATURES)


#: Boosted trees for the trade datasets (hundreds to a few hundred thousand rows): small, regularised trees.
TRADE_TREE_PARAMS: dict[str, Any] = {
    "n_estimators": 200,
    "max_depth": 4,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 5.0,
    "tree_method": "hist",
    "n_jobs": 1,
    "random_state": 0,
}


def build_spec(model: ModuleType, overrides: Mapping[str, Any]) -> Any:
    """The :class:`~blofin_stack.ml.base.ModelSpec` of a zoo module, its defaults overridden by ``overrides``.

    The module gives ``NAME``, ``MODEL_TYPE``, ``make``, ``HYPERPARAMS``, ``DESCRIPTION``, ``default_label()``
    (called only when no label is given), ``FILE_FORMAT`` or ``file_format(hyperparams)``, and optionally
    ``default_features()`` (else :func:`default_features`) and ``MAX_TRAIN_SAMPLES``. ``overrides`` may set
    ``label`` (a LabelSpec), ``features``, ``hyperparams`` (merged into the defaults, unknown keys refused),
    ``description``, ``max_train_samples`` and ``file_format``.

    Raises:
        ValueError: an unknown override or hyper-parameter.
    """
    from blofin_stack.ml.base import ModelSpec

    known = {"label", "features", "hyperparams", "description", "max_train_samples", "file_format"}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown spec override(s) {sorted(unknown)}; known: {sorted(known)}")
    hyperparams = merged(model.HYPERPARAMS, overrides.get("hyperparams"))
    label = overrides.get("label")
    features = overrides.get("features")
    fmt = model.file_format(hyperparams) if hasattr(model, "file_format") else model.FILE_FORMAT
    return ModelSpec(
        name=model.NAME,
        model_type=model.MODEL_TYPE,
        label=label if label is not None else model.default_label(),
        features=tuple(features) if features is not None else getattr(model, "default_features", default_features)(),
        hyperparams=hyperparams,
        make=model.make,
        file_format=overrides.get("file_format", fmt),
        description=overrides.get("description", model.DESCRIPTION),
        max_train_samples=overrides.get("max_train_samples", getattr(model, "MAX_TRAIN_SAMPLES", None)),
    )


def template_label(name: str, task: Any, description: str, build_with: str) -> Any:
    """A placeholder :class:`~blofin_stack.ml.base.LabelSpec` for labels that need a backtest's trades.

    Trade labels exist only per instrument and per backtest (``labels.trade_label(trades, bars)``,
    ``labels.exit_timing_label(trades, bars)``), so the zoo can only say what the label is: its name and
    task. Its ``func`` raises, naming the factory the training orchestration must use; ``horizon`` is 0
    because the real label sets it from the longest trade.
    """
    from blofin_stack.ml.base import LabelSpec

    def unavailable(ohlcv: Any) -> Any:
        raise ValueError(
            f"label {name!r} is built from a backtest's trades: use {build_with} per instrument "
            "and pass it as the spec's label"
        )

    return LabelSpec(name, task, 0, unavailable, unavailable, description)
