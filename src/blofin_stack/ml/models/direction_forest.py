"""Direction by a random forest: the bagged-trees member of the direction ensembles.

* **Predicts**: the sign of the forward return over 12 bars (5m bars: the next hour), class ``0`` down or
  ``1`` up, with its probability (the share of trees voting up): the same target as
  ``direction_predictor``, so that the ensembles combine models of one label on the same folds.
* **Target**: ``labels.direction(12)`` (``direction_predictor.default_label``).
* **Features**: the dataset's scale-free features (``dataset.SCALE_FREE_FEATURES``), pooled over instruments.
* **Architecture**: ``StandardScaler`` -> scikit-learn ``RandomForestClassifier`` (100 trees of depth 8,
  ``sqrt`` features per split, min leaf 5, ``n_jobs=1``: the trainer runs models in parallel). Trained on
  the most recent 10 000 rows of each training window (``max_train_samples``): a fit then takes about a
  second on one core.
* **Stored as** one skops file of the whole pipeline (``skops``).
* **Source**: the ML cycle's ensembles (issue 5, item 7) need several members with one target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

from blofin_stack.ml.models._common import merged, scaled
from blofin_stack.ml.models.direction_predictor import HORIZON
from blofin_stack.ml.models.direction_predictor import default_label as default_label  # the same target

NAME = "direction_forest"
MODEL_TYPE = "random_forest"
TIMEFRAME = "5m"
FILE_FORMAT = "skops"
BASELINE = "majority"
MAX_TRAIN_SAMPLES = 10_000
DESCRIPTION = f"Direction (up/down) of the close {HORIZON} bars ahead by a random forest, with its probability"
HYPERPARAMS: dict[str, Any] = {
    "n_estimators": 100,
    "max_depth": 8,
    "max_features": "sqrt",
    "min_samples_leaf": 5,
    "n_jobs": 1,
    "random_state": 0,
}


def make(hyperparams: Mapping[str, Any] | None = None) -> Pipeline:
    """A fresh, unfitted ``StandardScaler`` + random forest classifier pipeline."""
    return scaled(RandomForestClassifier(**merged(HYPERPARAMS, hyperparams)))
