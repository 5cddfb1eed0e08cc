"""ML regime detector: which regime will the next window be in?

* **Predicts**: the regime of the next 48 bars (5m bars: the next 4 hours) as one of four classes
  (``0`` ranging, ``1`` trending up, ``2`` trending down, ``3`` volatile; ``labels.REGIMES``), with
  probabilities.
* **Target**: ``labels.regime_next(48)``: volatile when the next window's volatility exceeds 1.5 x the
  trailing one, else trending when its return exceeds one trailing-volatility band, else ranging. 48 bars
  rather than 12 because a regime over one hour of 5m bars is mostly noise.
* **Which data feed it**: bars, not trades: every bar of every instrument in the training window is a
  sample (pooled over instruments), with its label from the following 48 bars. Strategies read its
  probabilities to switch rule sets (trend vs mean reversion) by regime.
* **Features**: the dataset's scale-free features (``dataset.SCALE_FREE_FEATURES``), pooled over instruments.
* **Architecture**: ``StandardScaler`` -> XGBoost multi-class classifier (``hist``; 150 trees per class of
  depth 5, learning rate 0.1, row subsample 0.8, column subsample 0.8). A class absent from a training
  window is simply not predicted (classes are encoded per fit).
* **Stored as** XGBoost JSON plus the scaler in skops (``xgboost-json``).
* **Source**: the redesign (issue 5, "ml_regime_detector").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.pipeline import Pipeline

from blofin_stack.ml.base import LabelSpec
from blofin_stack.ml.models._common import EncodedXGBClassifier, merged, scaled

NAME = "ml_regime_detector"
MODEL_TYPE = "xgboost"
TIMEFRAME = "5m"
WINDOW = 48
FILE_FORMAT = "xgboost-json"
BASELINE = "majority"
DESCRIPTION = "Regime of the next 48 bars (trending up / trending down / ranging / volatile), with probabilities"
HYPERPARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "max_depth": 5,
    "learning_rate": 0.1,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "tree_method": "hist",
    "n_jobs": 1,
    "random_state": 0,
}


def make(hyperparams: Mapping[str, Any] | None = None) -> Pipeline:
    """A fresh ``StandardScaler`` + XGBoost multi-class classifier pipeline."""
    return scaled(EncodedXGBClassifier(**merged(HYPERPARAMS, hyperparams)))


def default_label() -> LabelSpec:
    from blofin_stack.ml import labels

    return labels.regime_next(WINDOW)
