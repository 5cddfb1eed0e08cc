"""Volatility regressor: how volatile will the next 12 bars be?

* **Predicts**: the realised volatility of the next 12 bars (5m bars: the next hour), in the label's units
  (standard deviation of log returns per bar, not annualised, if the label factory keeps its default).
* **Target**: ``labels.forward_volatility(12)``.
* **Features**: the dataset's scale-free features (``dataset.SCALE_FREE_FEATURES``), pooled over instruments.
* **Architecture**: ``StandardScaler`` -> scikit-learn ``HistGradientBoostingRegressor`` with the seed's
  gradient-boosting settings (100 iterations, learning rate 0.1, max depth 5, no leaf-count cap, no early
  stopping so the 100 iterations are kept and no random validation split is drawn). Chosen over
  ``GradientBoostingRegressor`` with the same settings because it is ~100x faster: 0.4 s against 45 s for
  30,000 rows x 30 features on this machine (histogram binning of the features, 255 bins).
* **Stored as** one skops file of the whole pipeline (``skops``).
* **Source**: operator seed 004 (``volatility_regressor.py``: gradient boosting, n_estimators 100,
  learning_rate 0.1, max_depth 5); baseline: the training mean of the volatility.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline

from blofin_stack.ml.base import LabelSpec
from blofin_stack.ml.models._common import merged, scaled

NAME = "volatility_regressor"
MODEL_TYPE = "gradient_boosting"
TIMEFRAME = "5m"
HORIZON = 12
FILE_FORMAT = "skops"
BASELINE = "mean"
DESCRIPTION = "Realised volatility of the next 12 bars (5m bars: the next hour)"
HYPERPARAMS: dict[str, Any] = {
    "max_iter": 100,
    "learning_rate": 0.1,
    "max_depth": 5,
    "max_leaf_nodes": None,
    "early_stopping": False,
    "random_state": 0,
}


def make(hyperparams: Mapping[str, Any] | None = None) -> Pipeline:
    """A fresh ``StandardScaler`` + histogram gradient-boosting regressor pipeline."""
    return scaled(HistGradientBoostingRegressor(**merged(HYPERPARAMS, hyperparams)))


def default_label() -> LabelSpec:
    from blofin_stack.ml import labels

    return labels.forward_volatility(HORIZON)
