"""Direction predictor: will the close be higher or lower 12 bars from now?

* **Predicts**: the sign of the forward return over 12 bars (on 5m bars: the next hour), as a class
  (``0`` down, ``1`` up) with its probability.
* **Target**: ``labels.direction(12)``; the label's dead zone (if the label factory sets one) drops the
  samples whose move is too small to call.
* **Features**: the dataset's scale-free features (``dataset.SCALE_FREE_FEATURES``), pooled over instruments.
* **Architecture**: ``StandardScaler`` -> XGBoost gradient-boosted trees (``hist`` tree method, 100 trees of
  depth 6, learning rate 0.1, row subsample 0.8, ``n_jobs=1``: the trainer runs models in parallel).
  Classes are encoded per fit (:class:`~blofin_stack.ml.models._common.EncodedXGBClassifier`).
* **Stored as** XGBoost's own JSON model plus the scaler in skops (``xgboost-json``).
* **Source**: operator seed 004 (``ml_pipeline/models/direction_predictor.py``: XGBoost, max_depth 6,
  learning_rate 0.1, n_estimators 100, subsample 0.8 in seed 003's metadata example). Expect an
  out-of-sample accuracy near 50 % on 5m crypto; anything above the too-good bound is a leak suspect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.pipeline import Pipeline

from blofin_stack.ml.base import LabelSpec
from blofin_stack.ml.models._common import EncodedXGBClassifier, merged, scaled

NAME = "direction_predictor"
MODEL_TYPE = "xgboost"
TIMEFRAME = "5m"
HORIZON = 12
FILE_FORMAT = "xgboost-json"
BASELINE = "majority"
DESCRIPTION = "Direction (up/down) of the close 12 bars ahead (5m bars: one hour), with its probability"
HYPERPARAMS: dict[str, Any] = {
    "n_estimators": 100,
    "max_depth": 6,
    "learning_rate": 0.1,
    "subsample": 0.8,
    "tree_method": "hist",
    "n_jobs": 1,
    "random_state": 0,
}


def make(hyperparams: Mapping[str, Any] | None = None) -> Pipeline:
    """A fresh, unfitted ``StandardScaler`` + XGBoost classifier pipeline."""
    return scaled(EncodedXGBClassifier(**merged(HYPERPARAMS, hyperparams)))


def default_label() -> LabelSpec:
    from blofin_stack.ml import labels

    return labels.direction(HORIZON)
