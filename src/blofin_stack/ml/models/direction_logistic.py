"""Direction by logistic regression: the linear member of the direction ensembles.

* **Predicts**: the sign of the forward return over 12 bars (5m bars: the next hour), class ``0`` down or
  ``1`` up, with its probability: the same target as ``direction_predictor``, so that the ensembles
  (:mod:`blofin_stack.ml.ensembles`) combine models of one label on the same walk-forward folds.
* **Target**: ``labels.direction(12)`` (``direction_predictor.default_label``).
* **Features**: the dataset's scale-free features (``dataset.SCALE_FREE_FEATURES``), pooled over instruments.
* **Architecture**: ``StandardScaler`` -> scikit-learn ``LogisticRegression`` (L2, ``C=1``, lbfgs, up to 1000
  iterations). A linear model is the honest reference for the trees: if it does as well, the trees found
  nothing non-linear.
* **Stored as** one skops file of the whole pipeline (``skops``).
* **Source**: the ML cycle's ensembles (issue 5, item 7) need several members with one target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from blofin_stack.ml.models._common import merged, scaled
from blofin_stack.ml.models.direction_predictor import HORIZON
from blofin_stack.ml.models.direction_predictor import default_label as default_label  # the same target

NAME = "direction_logistic"
MODEL_TYPE = "logistic_regression"
TIMEFRAME = "5m"
FILE_FORMAT = "skops"
BASELINE = "majority"
DESCRIPTION = f"Direction (up/down) of the close {HORIZON} bars ahead by logistic regression, with its probability"
HYPERPARAMS: dict[str, Any] = {"C": 1.0, "max_iter": 1000, "solver": "lbfgs", "random_state": 0}


def make(hyperparams: Mapping[str, Any] | None = None) -> Pipeline:
    """A fresh, unfitted ``StandardScaler`` + logistic regression pipeline."""
    return scaled(LogisticRegression(**merged(HYPERPARAMS, hyperparams)))
