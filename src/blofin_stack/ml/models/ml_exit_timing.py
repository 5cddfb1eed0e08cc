"""ML exit timing: for an open position, does closing now beat holding to the strategy's own exit?

* **Predicts**: the probability that closing the position at this bar's close gives a better net return
  than holding it until the strategy's exit; class ``1`` close now, ``0`` hold. The ML exit wrapper closes a
  position early when it exceeds a threshold.
* **Target**: ``exit_timing``: ``labels.exit_timing_label(trades, bars)`` (from ``labels.exit_timing``: closing
  at the next open, after the same fees and slippage, beats the trade's actual exit). The spec holds a
  template of that label (name and task; its ``func`` raises).
* **Which trades feed it**: the training orchestration backtests the strategy being wrapped on the training
  window; every bar inside each of its trades (from the entry bar up to the bar before the exit) is one sample, with the
  features at that bar (plus, if the orchestration adds them, the position's state such as bars held and
  open PnL) and the label from the rest of that trade. ``t_end`` is the trade's exit time.
* **Features**: the dataset's scale-free features (``dataset.SCALE_FREE_FEATURES``) at the bar.
* **Architecture**: ``StandardScaler`` -> XGBoost classifier (``hist``; 200 trees of depth 4, learning rate
  0.05, row and column subsample 0.8, min child weight 5).
* **Stored as** XGBoost JSON plus the scaler in skops (``xgboost-json``).
* **Source**: the redesign (issue 5, "ml_exit_timing").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.pipeline import Pipeline

from blofin_stack.ml.base import LabelSpec, ModelSpec
from blofin_stack.ml.models._common import EncodedXGBClassifier, build_spec, merged, scaled, template_label

NAME = "ml_exit_timing"
MODEL_TYPE = "xgboost"
TIMEFRAME = "5m"
FILE_FORMAT = "xgboost-json"
BASELINE = "majority"
DESCRIPTION = "Probability that closing an open position now beats holding it to the strategy's exit"
HYPERPARAMS: dict[str, Any] = {
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


def make(hyperparams: Mapping[str, Any] | None = None) -> Pipeline:
    """A fresh ``StandardScaler`` + XGBoost classifier pipeline."""
    return scaled(EncodedXGBClassifier(**merged(HYPERPARAMS, hyperparams)))


def default_label() -> LabelSpec:
    return template_label(
        "exit_timing",
        "classification",
        "1 if closing at the next open beats the trade's actual exit, else 0; only bars inside a trade",
        "labels.exit_timing_label(trades, bars)",
    )


def spec(**overrides: Any) -> ModelSpec:
    """The zoo entry; ``overrides``: ``label``, ``features``, ``hyperparams``, ``description``, ..."""
    return build_spec(
        name=NAME,
        model_type=MODEL_TYPE,
        make=make,
        hyperparams=HYPERPARAMS,
        file_format=FILE_FORMAT,
        description=DESCRIPTION,
        label=default_label,
        overrides=overrides,
    )
